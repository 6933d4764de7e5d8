"""An independent integer recomputation of each IntGraph layer (for tests).

Accumulators come from torch's own float64 conv2d / linear / pooling on the recorded
integer tensors (exact: every partial sum is an integer below 2**53), not from
t2c.ref's im2col path; the requantization is the contract itself (t2c.arith).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from t2c import arith
import math

import t2c.movement
from t2c.ir import (Add, Affine, AvgPool2d, AvgPoolWindows, Concat, ConstAdd, Constant, Conv2d, Flatten,
                    LayerNorm, Linear, Lut, MatMul, MaxPool2d, Movement, Mul, ReLU, Softmax)


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _to_int(t: torch.Tensor) -> np.ndarray:
    a = t.numpy()
    assert np.array_equal(a, np.round(a)), "float64 accumulator is not an integer"
    return a.astype(np.int64)


def _requant(rq, acc, residual, axis):
    shape = [1] * acc.ndim
    shape[axis] = -1
    m = np.asarray(rq.m).reshape(shape) if np.size(rq.m) > 1 else np.asarray(rq.m).reshape(())
    s = np.asarray(rq.s).reshape(shape) if np.size(rq.s) > 1 else np.asarray(rq.s).reshape(())
    if residual is None:
        return arith.requantize(acc, m, s, rq.zero_point, rq.qmin, rq.qmax)
    mr = np.asarray(rq.residual_m).reshape(m.shape)
    return arith.requantize_sum([acc * m, (residual - rq.residual_zero_point) * mr], s,
                                rq.zero_point, rq.qmin, rq.qmax)


def _py_softmax_row(row, table, qmax):
    """Python-int softmax of one row, written from docs/arithmetic.md."""
    mx = max(row)
    e = [int(table[mx - v]) for v in row]
    total = sum(e)
    recip = (2 * (1 << 40) + total) // (2 * total)
    return [min(max((v * qmax * recip + (1 << 39)) >> 40, 0), qmax) for v in e]


def _py_layernorm_row(row, op):
    n = len(row)
    xc = [v - op.x_zero_point for v in row]
    s1 = sum(xc)
    d = [n * v - s1 for v in xc]
    r = max(math.isqrt(sum(v * v for v in d) + op.eps_int), 1)
    den = r << op.gain_shift
    out = []
    for v, g, b in zip(d, op.gain.tolist(), op.offset.tolist()):
        num = v * g + b * r
        out.append(min(max((2 * num + den) // (2 * den) + op.zero_point, op.qmin), op.qmax))
    return out


def _round_shift(v, s):
    """floor(v / 2**s + 1/2): ``(v + 2**(s-1)) >> s`` in int64 (docs/arithmetic.md)."""
    return (v + (np.int64(1) << (s - np.int64(1)))) >> s


def _py_mul(op, a, b):
    """Element-wise product, written from docs/arithmetic.md (int64: |p * m| < 2**47)."""
    rq = op.requant
    m, s = np.int64(rq.m.reshape(-1)[0]), np.int64(rq.s.reshape(-1)[0])
    p = (np.asarray(a, np.int64) - op.a_zero_point) * (np.asarray(b, np.int64) - op.b_zero_point)
    return np.minimum(np.maximum(_round_shift(p * m, s) + rq.zero_point, rq.qmin), rq.qmax)


def _py_affine(op, x):
    """Per-channel affine from docs/arithmetic.md: one rounding of (x - zx) m + a."""
    x = np.asarray(x, dtype=np.int64)
    shape = [1] * x.ndim
    shape[op.axis] = -1
    rq = op.requant
    m, a, s = (np.asarray(v, np.int64).reshape(shape) for v in (rq.m, op.addend, rq.s))
    y = _round_shift((x - op.x_zero_point) * m + a, s) + rq.zero_point
    return np.minimum(np.maximum(y, rq.qmin), rq.qmax)


def _rows(x, fn):
    x = np.asarray(x, dtype=np.int64)
    flat = x.reshape(-1, x.shape[-1]).tolist()
    return np.array([fn(r) for r in flat], dtype=np.int64).reshape(x.shape)


def recompute(op, inputs):
    """(acc or None, output) for ``op`` on integer ``inputs``, computed independently."""
    if isinstance(op, Constant):
        return None, np.asarray(op.value)
    x = np.asarray(inputs[0], dtype=np.int64)
    res = np.asarray(inputs[1], dtype=np.int64) if len(inputs) > 1 else None
    if isinstance(op, Conv2d):
        acc = F.conv2d(_t(x - op.x_zero_point), _t(op.weight), _t(op.bias), op.stride, op.padding,
                       op.dilation, op.groups)
        acc = _to_int(acc)
        return acc, _requant(op.requant, acc, res, 1)
    if isinstance(op, Linear):
        acc = _to_int(F.linear(_t(x - op.x_zero_point), _t(op.weight), _t(op.bias)))
        return acc, _requant(op.requant, acc, res, acc.ndim - 1)
    if isinstance(op, Add):
        return None, _requant(op.requant, x - op.a_zero_point, res, 1)
    if isinstance(op, MaxPool2d):
        y = F.max_pool2d(_t(x), op.kernel, op.stride, op.padding, op.dilation)
        return None, _to_int(y)
    if isinstance(op, AvgPool2d):
        acc = _to_int(F.avg_pool2d(_t(x - op.x_zero_point), op.kernel, op.stride, op.padding,
                                   count_include_pad=True, divisor_override=1))
        return acc, _requant(op.requant, acc, None, 1)
    if isinstance(op, Flatten):
        return None, x.reshape(x.shape[0], -1)
    if isinstance(op, ReLU):
        return None, np.minimum(np.maximum(x, op.zero_point), op.qmax)
    if isinstance(op, Lut):
        table = {code: int(v) for code, v in zip(range(op.x_qmin, op.x_qmin + op.table.size), op.table)}
        return None, np.vectorize(table.__getitem__, otypes=[np.int64])(x)
    if isinstance(op, Softmax):
        return None, _rows(x, lambda r: _py_softmax_row(r, op.exp_table, op.qmax))
    if isinstance(op, LayerNorm):
        return None, _rows(x, lambda r: _py_layernorm_row(r, op))
    if isinstance(op, MatMul):
        acc = _to_int(torch.matmul(_t(x - op.a_zero_point), _t(res - op.b_zero_point)))
        return acc, _requant(op.requant, acc, None, acc.ndim - 1)
    if isinstance(op, Mul):
        return None, _py_mul(op, x, res)
    if isinstance(op, Affine):
        return None, _py_affine(op, x)
    if isinstance(op, AvgPoolWindows):
        acc = _to_int(F.avg_pool2d(_t(x - op.x_zero_point), op.kernel, op.stride, op.padding,
                                   count_include_pad=True, divisor_override=1))
        ho, wo = acc.shape[2:]
        m = np.asarray(op.requant.m).reshape(1, 1, ho, wo)
        s = np.asarray(op.requant.s).reshape(1, 1, ho, wo)
        return acc, arith.requantize(acc, m, s, op.requant.zero_point, op.requant.qmin, op.requant.qmax)
    if isinstance(op, ConstAdd):
        y = (_t(x) + _t(op.addend)).clamp(op.qmin, op.qmax)
        return None, _to_int(y)
    if isinstance(op, Concat):
        parts = [_requant(rq, np.asarray(t, dtype=np.int64) - z, None, 0)
                 for t, z, rq in zip(inputs, op.input_zero_points, op.requants)]
        return None, np.concatenate(parts, axis=op.dim)
    raise NotImplementedError(type(op))


def check_layer(op, rec) -> None:
    """Assert one recorded layer equals the independent recomputation, element for element."""
    acc, out = recompute(op, rec.inputs)
    if acc is not None:
        assert rec.acc is not None and np.array_equal(rec.acc, acc), f"{op.name}: accumulator differs"
        assert np.abs(acc).max() <= arith.INT32_MAX
    bad = np.flatnonzero(np.asarray(rec.output) != out)
    assert bad.size == 0, f"{op.name}: {bad.size} of {out.size} outputs differ"


def check_movement(op, rec, env_shapes) -> None:
    """Data movement through torch's own ops (the reference uses numpy's)."""
    got = t2c.movement.apply(op.fn, torch.from_numpy(np.asarray(rec.inputs[0])), op.args,
                             lambda n: env_shapes[n]).numpy()
    assert np.array_equal(got, rec.output), f"{op.name}: moved codes differ"


def assert_graph_matches(graph, x_int):
    """Every layer of ``graph`` on ``x_int`` equals the independent recomputation (==)."""
    result = graph.run(x_int, record=True)
    shapes = {graph.input: np.shape(x_int), **{k: np.shape(v.output) for k, v in result.layers.items()}}
    for op in graph.ops:
        if isinstance(op, Movement):
            check_movement(op, result.layers[op.name], shapes)
        else:
            check_layer(op, result.layers[op.name])
    return result
