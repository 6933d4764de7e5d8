"""The bit-exact executor of an IntGraph.

Conv, linear and matmul accumulators come from ``t2c.gemm``: int8 GEMMs
(``torch._int_mm``) where the operands fit 8 bits, chunked exact float32 GEMMs where they
do not, int64 numpy without torch; all three give the same integers.  Everything after
the accumulator (requantization, pooling, the softmax / LayerNorm / table units) is
``t2c.arith`` in int64.  ``run(..., gemm_path=...)`` forces one path; the tests run whole
models through every path and require every layer equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import arith, gemm, movement
from .ir import (Add, Affine, AvgPool2d, AvgPoolWindows, Concat, ConstAdd, Constant, Conv2d, Flatten, IntGraph,
                 LayerNorm, Linear, Lut, MatMul, MaxPool2d, Movement, Mul, ReLU, Requant, Softmax)

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
    gemm: dict[str, str] = field(default_factory=dict)  # layer -> GEMM path used (t2c.gemm.PATHS)


def layer_path(op, graph: IntGraph) -> str:
    """The GEMM path ``t2c.gemm.choose`` picks for a conv/linear/matmul ``op`` of ``graph``
    (cached on the op while its weight array, its input range and torch's presence stay the same)."""
    spec = graph.tensors[op.inputs[0]]
    key = (getattr(op, "weight", None) is not None and id(op.weight), spec.qmin, spec.qmax, gemm.torch_available())
    cached = op.__dict__.get("_path")
    if cached is None or cached[0] != key:
        cached = op.__dict__["_path"] = (key, _choose_path(op, graph))
    return cached[1]


def _choose_path(op, graph: IntGraph) -> str:
    spec = graph.tensors[op.inputs[0]]
    if isinstance(op, MatMul):
        other = graph.tensors[op.inputs[1]]
        fit = all(gemm.int8_shift(min(t.qmin, z), max(t.qmax, z)) is not None
                  for t, z in ((spec, op.a_zero_point), (other, op.b_zero_point)))
        return "int64" if not gemm.torch_available() else "int8" if fit else "float32"
    return gemm.choose(op.weight, spec.qmin, spec.qmax, op.x_zero_point)


def gemm_plan(op, path: str, x_range: tuple[int, int]) -> gemm.WeightGemm:
    """The op's cached ``WeightGemm`` for ``path`` (rebuilt if its weight array was replaced)."""
    plans = op.__dict__.setdefault("_gemm", {})
    key = (path, x_range)
    plan = plans.get(key)
    if plan is None or plan[0] is not op.weight:
        plan = plans[key] = (op.weight, gemm.WeightGemm(op.weight, getattr(op, "groups", 1), path,
                                                         op.x_zero_point, x_range))
    return plan[1]


def _conv(op: Conv2d, ins, plan):
    acc, path = plan.conv(ins[0], op.weight.shape[2:], op.stride, op.padding, op.dilation, op.bias)
    return acc, apply_requant(op.requant, acc, ins[1] if len(ins) > 1 else None, 1), path


def _linear(op: Linear, ins, plan):
    acc, path = plan.linear(ins[0], op.bias)
    return acc, apply_requant(op.requant, acc, ins[1] if len(ins) > 1 else None, acc.ndim - 1), path


def _matmul(op: MatMul, ins, path):
    acc, path = gemm.matmul(ins[0], ins[1], op.a_zero_point, op.b_zero_point, path)
    return acc, apply_requant(op.requant, acc, None, acc.ndim - 1), path


def _window_slices(x: np.ndarray, kernel, stride, padding, dilation, pad_value):
    """Yield the kh*kw strided views whose elementwise reduction is the pooled output."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    if ph or pw:
        x = gemm.pad_hw(x, ph, pw, pad_value)
    ho = (x.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (x.shape[3] - dw * (kw - 1) - 1) // sw + 1
    for i in range(kh):
        for j in range(kw):
            yield x[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]


def apply_requant(rq: Requant, acc, residual=None, channel_axis: int = 1) -> np.ndarray:
    """``t2c.arith`` requantization with per-channel params broadcast on ``channel_axis``."""
    shape = [1] * np.ndim(acc)
    shape[channel_axis] = -1

    def per_channel(v):
        v = np.asarray(v, dtype=np.int64)
        return v.reshape(shape) if v.size > 1 else v.reshape(())

    m, s = per_channel(rq.m), per_channel(rq.s)
    if residual is None:
        return arith.requantize(acc, m, s, rq.zero_point, rq.qmin, rq.qmax)
    r = np.subtract(residual, rq.residual_zero_point, dtype=np.int64)
    r *= per_channel(rq.residual_m)
    return arith.requantize_sum([np.multiply(acc, m, dtype=np.int64), r], s,
                                rq.zero_point, rq.qmin, rq.qmax)


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


def _window_sum(op, x) -> np.ndarray:
    """``sum over each window of (x - x_zero_point)``, padding a real 0 (both average pools)."""
    views = _window_slices(np.asarray(x, dtype=np.int64) - op.x_zero_point, op.kernel, op.stride, op.padding,
                           (1, 1), 0)
    acc = next(views).copy()
    for v in views:
        acc += v
    return acc


def _avgpool(op: AvgPool2d, ins):
    acc = _window_sum(op, ins[0])
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
    acc = _window_sum(op, ins[0])
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


GEMM_OPS = (Conv2d, Linear, MatMul)  # their accumulators come from t2c.gemm


def run_op(op, inputs: list[np.ndarray], graph: IntGraph | None = None, gemm_path: str | None = None):
    """(accumulator or None, output, GEMM path or None) of one op on integer inputs.

    ``gemm_path`` forces a path for conv/linear/matmul (``t2c.gemm.PATHS``; a layer whose
    operands do not fit int8 runs ``float32`` instead); None takes the graph's choice.
    """
    if not isinstance(op, GEMM_OPS):
        return (*EXECUTORS[type(op)](op, inputs), None)
    path = gemm_path or (layer_path(op, graph) if graph is not None else _default_path())
    if isinstance(op, MatMul):
        return _matmul(op, inputs, path)
    x_range = _input_range(op, graph, inputs[0])
    if path == "int8" and (layer_path(op, graph) if graph is not None else
                           gemm.choose(op.weight, *x_range, op.x_zero_point)) != "int8":
        path = "float32"
    return GEMM_EXECUTORS[type(op)](op, inputs, gemm_plan(op, path, x_range))


def _default_path() -> str:
    return "float32" if gemm.torch_available() else "int64"


def _input_range(op, graph, x) -> tuple[int, int]:
    """The declared code range of the op's input (its observed range when no graph is given)."""
    if graph is not None:
        spec = graph.tensors[op.inputs[0]]
        return spec.qmin, spec.qmax
    x = np.asarray(x)
    return int(x.min(initial=0)), int(x.max(initial=0))


GEMM_EXECUTORS = {Conv2d: _conv, Linear: _linear}


def _reads(op) -> list[str]:
    """The tensors ``op`` reads: its inputs and, for data movement, the tensors whose
    shapes its symbolic sizes name (``{"dim_of": tensor}``)."""
    names = list(op.inputs)
    if isinstance(op, Movement):
        todo = [op.args]
        while todo:
            a = todo.pop()
            if isinstance(a, dict):
                if "dim_of" in a:
                    names.append(a["dim_of"])
                todo.extend(a.values())
            elif isinstance(a, (list, tuple)):
                todo.extend(a)
    return names


def _last_uses(graph: IntGraph) -> dict[str, int]:
    """tensor -> index of the last op that reads it (the graph output is never freed)."""
    last = {}
    for i, op in enumerate(graph.ops):
        for t in _reads(op):
            last[t] = i
    last.pop(graph.output, None)
    return last


def run(graph: IntGraph, x, record: bool = False, gemm_path: str | None = None) -> RunResult:
    """Run ``graph`` on integer input ``x``; with ``record`` keep every layer's tensors.

    ``gemm_path``: None (default) lets each layer take its path (``t2c.gemm.choose``: int8
    where operands fit, float32 otherwise, int64 without torch); "int8", "float32" or
    "int64" forces one where it applies.  Every path gives the same integers (tests run
    whole models through each); ``RunResult.gemm`` records the path each layer took.
    """
    if gemm_path is not None and gemm_path not in gemm.PATHS:
        raise ValueError(f"unknown GEMM path {gemm_path!r}; choose from {', '.join(gemm.PATHS)}")
    if gemm_path in ("int8", "float32") and not gemm.torch_available():
        raise RuntimeError(f"the {gemm_path} GEMM path needs torch; use gemm_path='int64'")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"IntGraph.run takes integer codes, got {x.dtype} (use graph.quantize_input)")
    spec = graph.tensors[graph.input]
    if x.min(initial=spec.qmin) < spec.qmin or x.max(initial=spec.qmax) > spec.qmax:
        raise ValueError(f"input codes outside [{spec.qmin}, {spec.qmax}]")
    env = {graph.input: x.astype(np.int64)}
    result = RunResult(output=None)
    last_use = {} if record else _last_uses(graph)
    for i, op in enumerate(graph.ops):
        ins = [env[t] for t in op.inputs]
        if isinstance(op, Movement):
            acc, out, path = None, np.ascontiguousarray(movement.apply(op.fn, ins[0], op.args,
                                                                       lambda n: env[n].shape)), None
        else:
            acc, out, path = run_op(op, ins, graph, gemm_path)
        env[op.output] = out
        for t in _reads(op):  # a tensor no later op reads is freed (batches of activations are large)
            if last_use.get(t) == i:
                env.pop(t, None)
        if path is not None:
            result.gemm[op.name] = path
        if record:
            result.layers[op.name] = LayerRecord(ins, out, acc)
    result.output = env[graph.output]
    return result
