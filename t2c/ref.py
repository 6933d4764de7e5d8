"""The bit-exact executor of an IntGraph.

Convolutions and matmuls are im2col (``torch.nn.functional.unfold``) + float32 GEMMs,
and they are exact: the K dimension is cut into chunks small enough that, for the
actual input, ``sum over the chunk of |x - zx| * |w| <= 2**24`` for every output
channel.  Every partial sum a GEMM forms inside a chunk (in whatever order, with or
without FMA) is then an integer of at most 24 bits, which float32 represents exactly;
the chunk results are added in float64 (exact below 2**53; the converter already
proved the whole accumulator below 2**31).  Typical 8-bit layers need one to four
chunks, so the integer model runs at float32 GEMM speed.  Everything after the
accumulator is ``t2c.arith`` in int64.

``run(..., integer_gemm=True)`` computes the same accumulators with int64 numpy
(windows by ``sliding_window_view``, ``tensordot`` / ``matmul`` on int64): no float and
no torch anywhere, several times slower.  The tests run whole models both ways and
require identical results; use it to convince yourself, or where float32 GEMMs are not
wanted at all.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import arith, movement
from .ir import (Add, Affine, AvgPool2d, AvgPoolWindows, Concat, ConstAdd, Constant, Conv2d, Flatten, IntGraph,
                 LayerNorm, Linear, Lut, MatMul, MaxPool2d, Movement, Mul, ReLU, Requant, Softmax)

FLOAT32_EXACT = 1 << 24  # every integer of magnitude <= 2**24 is a float32


@dataclass
class LayerRecord:
    """What one layer saw and produced (all integer arrays)."""

    inputs: list[np.ndarray]
    output: np.ndarray
    acc: np.ndarray | None = None  # int32-valued accumulator before requantization


@dataclass
class RunResult:
    output: np.ndarray
    layers: dict[str, LayerRecord] = field(default_factory=dict)


class ExactGemm:
    """``w @ cols`` for integer ``w`` [G, O, K] and integer ``cols`` [N, G, K, L], exactly.

    Built once per weight tensor: the float32 weights and the running sums of |w|
    along K that decide where to cut K for a given input magnitude.
    """

    def __init__(self, weight: np.ndarray, groups: int):
        import torch

        w = np.asarray(weight, dtype=np.int64)
        self.groups = groups
        self.w = torch.from_numpy(w.reshape(groups, w.shape[0] // groups, -1).astype(np.float32))
        absw = np.abs(w.reshape(w.shape[0], -1))
        # running sums per output channel, with a leading 0: sums[c, k] = sum(|w[c, :k]|)
        self.sums = np.concatenate([np.zeros((absw.shape[0], 1), np.int64), np.cumsum(absw, axis=1)], 1)
        self._chunks: dict[int, list[tuple[int, int]]] = {}

    def chunks(self, dx: int) -> list[tuple[int, int]]:
        """Cut [0, K) so that every chunk's |x| * |w| sum stays within float32's exact range."""
        if dx not in self._chunks:
            self._chunks[dx] = self._cut(dx)
        return self._chunks[dx]

    def _cut(self, dx: int) -> list[tuple[int, int]]:
        k = self.sums.shape[1] - 1
        if dx == 0:
            return [(0, k)]
        limit = FLOAT32_EXACT // dx
        out, k0 = [], 0
        while k0 < k:
            grow = (self.sums[:, k0 + 1:] - self.sums[:, k0:k0 + 1]).max(axis=0)  # non-decreasing
            k1 = k0 + max(1, int(np.searchsorted(grow, limit, side="right")))
            out.append((k0, k1))
            k0 = k1
        return out

    def __call__(self, cols, dx: int) -> np.ndarray:
        """``[N, G, O, L]`` accumulators as int64 (exact); ``cols`` a float32 torch tensor."""
        import torch

        chunks = self.chunks(dx)
        plain = self.groups == 1 and cols.shape[0] == 1  # one 2-D GEMM per chunk (the common case)
        w = self.w[0] if plain else self.w
        c = cols[0, 0] if plain else cols
        acc = None
        for k0, k1 in chunks:
            part = torch.matmul(w[..., k0:k1], c[..., k0:k1, :])
            if len(chunks) == 1:  # one exact float32 GEMM: its integers fit int64 directly
                acc = part
                break
            part = part.double()
            acc = part if acc is None else acc.add_(part)
        out = acc.numpy().astype(np.int64)
        return out.reshape(1, 1, *out.shape) if plain else out


def gemm_plan(op) -> ExactGemm:
    """The op's cached ExactGemm (rebuilt if its weight array was replaced)."""
    plan = op.__dict__.get("_gemm")
    if plan is None or plan[0] is not op.weight:
        plan = (op.weight, ExactGemm(op.weight, getattr(op, "groups", 1)))
        op.__dict__["_gemm"] = plan
    return plan[1]


def _centered(x, zero_point):
    """``x - zero_point`` as a float32 torch tensor (exact for |values| < 2**24) and its
    largest magnitude."""
    import torch

    xc = np.asarray(x, dtype=np.int64) - zero_point
    dx = int(np.abs(xc).max(initial=0))
    if dx >= FLOAT32_EXACT:
        raise ValueError(f"input magnitude {dx} too large for the exact GEMM")
    return torch.from_numpy(xc.astype(np.float32)), dx


def conv_accumulate(x, weight, bias, x_zero_point, stride, padding, dilation, groups,
                    gemm: ExactGemm | None = None) -> np.ndarray:
    """``bias + sum((x - zx) * w)`` for a grouped 2-D conv, exact, as int64 ``[N, Cout, Ho, Wo]``."""
    import torch.nn.functional as F

    gemm = gemm or ExactGemm(weight, groups)
    xt, dx = _centered(x, x_zero_point)  # padding with 0 == padding with zx
    n, _, h, w_ = xt.shape
    cout, _, kh, kw = weight.shape
    cols = F.unfold(xt, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # [N, C*kh*kw, L]
    cols = cols.view(n, groups, -1, cols.shape[-1])
    acc = gemm(cols, dx).reshape(n, cout, -1)
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w_ + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    return acc.reshape(n, cout, ho, wo) + np.asarray(bias, np.int64).reshape(1, -1, 1, 1)


def linear_accumulate(x, weight, bias, x_zero_point, gemm: ExactGemm | None = None) -> np.ndarray:
    """``bias + (x - zx) @ w.T`` over the last axis, exact, int64."""
    gemm = gemm or ExactGemm(weight, 1)
    xt, dx = _centered(x, x_zero_point)
    lead = xt.shape[:-1]
    cols = xt.reshape(-1, xt.shape[-1]).T.reshape(1, 1, xt.shape[-1], -1)  # [1, 1, K, rows]
    acc = gemm(cols, dx)[0, 0].T.reshape(*lead, -1)
    return acc + np.asarray(bias, np.int64)


def conv_accumulate_int(x, weight, bias, x_zero_point, stride, padding, dilation,
                        groups) -> np.ndarray:
    """``conv_accumulate`` with int64 numpy only (no float, no torch)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xc = np.pad(np.asarray(x, np.int64) - x_zero_point, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c = xc.shape[:2]
    cout, cin_g, kh, kw = weight.shape
    win = sliding_window_view(xc, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # [N, C, Ho, Wo, kh, kw]
    ho, wo = win.shape[2:4]
    w = np.asarray(weight, np.int64).reshape(groups, cout // groups, cin_g, kh, kw)
    acc = np.concatenate([np.tensordot(win[:, g * cin_g:(g + 1) * cin_g], w[g], axes=([1, 4, 5], [1, 2, 3]))
                          for g in range(groups)], axis=-1)  # [N, Ho, Wo, Cout]
    return acc.transpose(0, 3, 1, 2) + np.asarray(bias, np.int64).reshape(1, -1, 1, 1)


def linear_accumulate_int(x, weight, bias, x_zero_point) -> np.ndarray:
    """``linear_accumulate`` with int64 numpy only."""
    xc = np.asarray(x, np.int64) - x_zero_point
    return xc @ np.asarray(weight, np.int64).T + np.asarray(bias, np.int64)


def _window_slices(x: np.ndarray, kernel, stride, padding, dilation, pad_value):
    """Yield the kh*kw strided views whose elementwise reduction is the pooled output."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    ho = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]


def apply_requant(rq: Requant, acc, residual=None, channel_axis: int = 1) -> np.ndarray:
    """``t2c.arith`` requantization with per-channel params broadcast on ``channel_axis``."""
    acc = np.asarray(acc, dtype=np.int64)
    shape = [1] * acc.ndim
    shape[channel_axis] = -1

    def per_channel(v):
        v = np.asarray(v, dtype=np.int64)
        return v.reshape(shape) if v.size > 1 else v.reshape(())

    m, s = per_channel(rq.m), per_channel(rq.s)
    if residual is None:
        return arith.requantize(acc, m, s, rq.zero_point, rq.qmin, rq.qmax)
    r = np.asarray(residual, dtype=np.int64) - rq.residual_zero_point
    return arith.requantize_sum([acc * m, r * per_channel(rq.residual_m)], s,
                                rq.zero_point, rq.qmin, rq.qmax)


def _conv(op: Conv2d, ins, integer_gemm=False):
    args = (ins[0], op.weight, op.bias, op.x_zero_point, op.stride, op.padding, op.dilation, op.groups)
    acc = conv_accumulate_int(*args) if integer_gemm else conv_accumulate(*args, gemm_plan(op))
    return acc, apply_requant(op.requant, acc, ins[1] if len(ins) > 1 else None, 1)


def _linear(op: Linear, ins, integer_gemm=False):
    args = (ins[0], op.weight, op.bias, op.x_zero_point)
    acc = linear_accumulate_int(*args) if integer_gemm else linear_accumulate(*args, gemm_plan(op))
    return acc, apply_requant(op.requant, acc, ins[1] if len(ins) > 1 else None, acc.ndim - 1)


def _add(op: Add, ins):
    a = np.asarray(ins[0], dtype=np.int64) - op.a_zero_point
    return None, apply_requant(op.requant, a, ins[1], 1 if a.ndim > 1 else 0)


def _maxpool(op: MaxPool2d, ins):
    x = np.asarray(ins[0], dtype=np.int64)
    views = _window_slices(x, op.kernel, op.stride, op.padding, op.dilation, np.iinfo(np.int64).min)
    out = next(views).copy()
    for v in views:
        np.maximum(out, v, out=out)
    return None, out


def _avgpool(op: AvgPool2d, ins):
    x = np.asarray(ins[0], dtype=np.int64) - op.x_zero_point
    views = _window_slices(x, op.kernel, op.stride, op.padding, (1, 1), 0)
    acc = next(views).copy()
    for v in views:
        acc += v
    return acc, apply_requant(op.requant, acc, None, 1)


def _flatten(op: Flatten, ins):
    x = np.asarray(ins[0])
    return None, x.reshape(x.shape[0], -1)


def _relu(op: ReLU, ins):
    return None, np.clip(np.asarray(ins[0], dtype=np.int64), op.zero_point, op.qmax)


def _constant(op: Constant, ins):
    return None, np.asarray(op.value, dtype=np.int64)


def _lut(op: Lut, ins):
    return None, arith.lut_lookup(op.table, np.asarray(ins[0], dtype=np.int64) - op.x_qmin)


def _softmax(op: Softmax, ins):
    return None, arith.softmax_int(ins[0], op.exp_table, op.qmax, axis=-1)


def _matmul(op: MatMul, ins, integer_gemm=False):
    dtype = np.int64 if integer_gemm else np.float64  # float64: exact (|acc| < 2**31 proven
    a = np.asarray(ins[0], dtype=dtype) - op.a_zero_point  # at convert time), BLAS speed
    b = np.asarray(ins[1], dtype=dtype) - op.b_zero_point
    acc = np.matmul(a, b).astype(np.int64)
    return acc, apply_requant(op.requant, acc, None, acc.ndim - 1)


def _layernorm(op: LayerNorm, ins):
    return None, arith.layernorm_int(ins[0], op.x_zero_point, op.gain, op.offset, op.gain_shift,
                                     op.eps_int, op.zero_point, op.qmin, op.qmax)


def _concat(op: Concat, ins):
    parts = [apply_requant(rq, np.asarray(x, dtype=np.int64) - z, None, 0)
             for x, z, rq in zip(ins, op.input_zero_points, op.requants)]
    return None, np.concatenate(parts, axis=op.dim)


def _mul(op: Mul, ins):
    rq = op.requant
    return None, arith.multiply(ins[0], op.a_zero_point, ins[1], op.b_zero_point, rq.m.reshape(()),
                                rq.s.reshape(()), rq.zero_point, rq.qmin, rq.qmax)


def _affine(op: Affine, ins):
    x = np.asarray(ins[0], dtype=np.int64)
    shape = [1] * x.ndim
    shape[op.axis] = -1
    rq = op.requant
    m, a, s = (np.asarray(v, np.int64).reshape(shape) for v in (rq.m, op.addend, rq.s))
    return None, arith.affine(x, op.x_zero_point, m, a, s, rq.zero_point, rq.qmin, rq.qmax)


def _avgpool_window(op: AvgPoolWindows, ins):
    x = np.asarray(ins[0], dtype=np.int64) - op.x_zero_point
    views = _window_slices(x, op.kernel, op.stride, op.padding, (1, 1), 0)
    acc = next(views).copy()
    for v in views:
        acc += v
    ho, wo = acc.shape[2:]
    rq = op.requant
    m, s = (np.asarray(v, np.int64).reshape(1, 1, ho, wo) for v in (rq.m, rq.s))
    return acc, arith.requantize(acc, m, s, rq.zero_point, rq.qmin, rq.qmax)


def _const_add(op: ConstAdd, ins):
    return None, np.clip(np.asarray(ins[0], dtype=np.int64) + np.asarray(op.addend, np.int64), op.qmin, op.qmax)


EXECUTORS = {Mul: _mul, Affine: _affine, AvgPoolWindows: _avgpool_window, ConstAdd: _const_add,
             Conv2d: _conv, Linear: _linear, Add: _add, MaxPool2d: _maxpool,
             AvgPool2d: _avgpool, Flatten: _flatten, ReLU: _relu, Constant: _constant,
             Lut: _lut, Softmax: _softmax, MatMul: _matmul, LayerNorm: _layernorm, Concat: _concat}


GEMM_OPS = (Conv2d, Linear, MatMul)  # their executors take integer_gemm


def run_op(op, inputs: list[np.ndarray], integer_gemm: bool = False):
    """(accumulator or None, output) of one op on integer inputs."""
    if integer_gemm and isinstance(op, GEMM_OPS):
        return EXECUTORS[type(op)](op, inputs, integer_gemm=True)
    return EXECUTORS[type(op)](op, inputs)


def torch_available() -> bool:
    """True if torch imports here (the float32-GEMM path needs it; hardware CI has none)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def run(graph: IntGraph, x, record: bool = False, integer_gemm: bool | None = None) -> RunResult:
    """Run ``graph`` on integer input ``x``; with ``record`` keep every layer's tensors.

    ``integer_gemm``: True computes the accumulators in int64 numpy, False with the exact
    float32 GEMMs (torch), None (default) the float32 GEMMs when torch is installed and
    int64 numpy otherwise.  Every path gives the same integers (tests run whole models
    both ways).
    """
    if integer_gemm is None:
        integer_gemm = not torch_available()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"IntGraph.run takes integer codes, got {x.dtype} (use graph.quantize_input)")
    spec = graph.tensors[graph.input]
    if x.min(initial=spec.qmin) < spec.qmin or x.max(initial=spec.qmax) > spec.qmax:
        raise ValueError(f"input codes outside [{spec.qmin}, {spec.qmax}]")
    env = {graph.input: x.astype(np.int64)}
    result = RunResult(output=None)
    for op in graph.ops:
        ins = [env[t] for t in op.inputs]
        if isinstance(op, Movement):
            acc, out = None, np.ascontiguousarray(movement.apply(op.fn, ins[0], op.args, lambda n: env[n].shape))
        else:
            acc, out = run_op(op, ins, integer_gemm)
        env[op.output] = out
        if record:
            result.layers[op.name] = LayerRecord(ins, out, acc)
    result.output = env[graph.output]
    return result
