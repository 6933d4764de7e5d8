"""The bit-exact executor of an IntGraph.

Convolutions and matmuls run as im2col + a float64 BLAS GEMM.  That is exact: the
converter proves ``|bias| + sum |x - zx| * |w| < 2**31`` for every layer, so every
partial sum of the GEMM, in whatever order BLAS adds, is an integer below 2**53 and
float64 represents it exactly.  Everything after the accumulator is ``t2c.arith`` in
int64.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import arith
from .ir import Add, AvgPool2d, Conv2d, Flatten, IntGraph, Linear, MaxPool2d, ReLU, Requant


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


def _windows(x: np.ndarray, kernel, stride, padding, dilation, pad_value) -> np.ndarray:
    """``[N, C, Ho, Wo, kh, kw]`` view of the padded input's sliding windows."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    win = sliding_window_view(x, (span_h, span_w), axis=(2, 3))
    return win[:, :, ::sh, ::sw, ::dh, ::dw]


def conv_accumulate(x, weight, bias, x_zero_point, stride, padding, dilation, groups) -> np.ndarray:
    """``bias + sum((x - zx) * w)`` for a grouped 2-D conv, exact, as int64 ``[N, Cout, Ho, Wo]``."""
    xf = np.asarray(x, dtype=np.float64) - x_zero_point  # padding with 0 == padding with zx
    cout, cin_g, kh, kw = weight.shape
    win = _windows(xf, (kh, kw), stride, padding, dilation, 0.0)
    n, c, ho, wo = win.shape[:4]
    # [N, Ho, Wo, G, Cin_g*kh*kw]  (one copy: the im2col matrix)
    cols = win.reshape(n, groups, cin_g, ho, wo, kh, kw).transpose(0, 3, 4, 1, 2, 5, 6)
    cols = cols.reshape(n * ho * wo, groups, cin_g * kh * kw)
    w = np.asarray(weight, dtype=np.float64).reshape(groups, cout // groups, cin_g * kh * kw)
    if groups == 1:
        acc = cols[:, 0, :] @ w[0].T  # [P, Cout]: one GEMM
    else:
        acc = np.einsum("pgk,gok->pgo", cols, w, optimize=True).reshape(n * ho * wo, cout)
    acc = acc.reshape(n, ho, wo, cout).transpose(0, 3, 1, 2)
    return acc.astype(np.int64) + np.asarray(bias, dtype=np.int64).reshape(1, -1, 1, 1)


def linear_accumulate(x, weight, bias, x_zero_point) -> np.ndarray:
    xf = np.asarray(x, dtype=np.float64) - x_zero_point
    acc = xf @ np.asarray(weight, dtype=np.float64).T
    return acc.astype(np.int64) + np.asarray(bias, dtype=np.int64)


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


def _conv(op: Conv2d, ins):
    acc = conv_accumulate(ins[0], op.weight, op.bias, op.x_zero_point, op.stride, op.padding,
                          op.dilation, op.groups)
    return acc, apply_requant(op.requant, acc, ins[1] if len(ins) > 1 else None, 1)


def _linear(op: Linear, ins):
    acc = linear_accumulate(ins[0], op.weight, op.bias, op.x_zero_point)
    return acc, apply_requant(op.requant, acc, ins[1] if len(ins) > 1 else None, acc.ndim - 1)


def _add(op: Add, ins):
    a = np.asarray(ins[0], dtype=np.int64) - op.a_zero_point
    return None, apply_requant(op.requant, a, ins[1], 1 if a.ndim > 1 else 0)


def _maxpool(op: MaxPool2d, ins):
    x = np.asarray(ins[0], dtype=np.int64)
    pad = np.iinfo(np.int64).min
    win = _windows(x, op.kernel, op.stride, op.padding, op.dilation, pad)
    return None, win.max(axis=(4, 5))


def _avgpool(op: AvgPool2d, ins):
    x = np.asarray(ins[0], dtype=np.int64) - op.x_zero_point
    acc = _windows(x, op.kernel, op.stride, op.padding, (1, 1), 0).sum(axis=(4, 5))
    return acc, apply_requant(op.requant, acc, None, 1)


def _flatten(op: Flatten, ins):
    x = np.asarray(ins[0])
    return None, x.reshape(x.shape[0], -1)


def _relu(op: ReLU, ins):
    return None, np.clip(np.asarray(ins[0], dtype=np.int64), op.zero_point, op.qmax)


EXECUTORS = {Conv2d: _conv, Linear: _linear, Add: _add, MaxPool2d: _maxpool,
             AvgPool2d: _avgpool, Flatten: _flatten, ReLU: _relu}


def run_op(op, inputs: list[np.ndarray]):
    """(accumulator or None, output) of one op on integer inputs."""
    return EXECUTORS[type(op)](op, inputs)


def run(graph: IntGraph, x, record: bool = False) -> RunResult:
    """Run ``graph`` on integer input ``x``; with ``record`` keep every layer's tensors."""
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
        acc, out = run_op(op, ins)
        env[op.output] = out
        if record:
            result.layers[op.name] = LayerRecord(ins, out, acc)
    result.output = env[graph.output]
    return result
