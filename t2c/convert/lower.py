"""``convert(qmodel, example_input) -> IntGraph``: fold every scale into integers.

Per conv / linear layer with input scale ``s_x``, per-channel weight scale ``s_w``
and output scale ``s_y``:

* ``weight = wq.quantize(w)`` (signed, zero point 0), ``bias = round_half_up(b / (s_x s_w))``;
* ``(m, s) = quantize_multiplier(s_x s_w / s_y)`` per channel;
* a fused residual ``r`` (scale ``s_r``) gets ``m_r = round_half_up(s_r / s_y * 2**s)``
  sharing ``s`` (``quantize_multiplier_common``);
* ReLU is ``qmin = zy``; ReLU6 also lowers ``qmax`` to ``zy + round_half_up(6 / s_y)``.

The accumulator bound ``|bias| + K * max|x - zx| * 2**(wbits-1)`` must stay below
2**31 or the layer is refused (``AccumulatorOverflowError``).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .. import arith
from ..ir import (Add, Affine, AvgPool2d, AvgPoolWindows, Concat, ConstAdd, Constant, Conv2d, Flatten, IntGraph,
                  LayerNorm, Linear, Lut, MatMul, MaxPool2d, Movement, Mul, ReLU, Requant, Softmax, TensorSpec)
from .capture import FNode
from .qmodel import QModel, lut_function, sdpa_factor


class AccumulatorOverflowError(ValueError):
    """A layer's int32 accumulator could overflow for its bit widths and K."""


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class _Lowering:
    def __init__(self, qmodel: QModel, shapes: dict[str, tuple[int, ...]]):
        self.qm = qmodel
        self.cfg = qmodel.config
        self.shapes = shapes
        self.tensors: dict[str, TensorSpec] = {}
        self.saturated: list[str] = []  # layers whose bias was saturated to fit int32

    # ---- tensor specs
    def spec_from_quantizer(self, name: str) -> TensorSpec:
        q = self.qm.act_quantizer(name)
        return TensorSpec(name, self.shapes[name], q.bits, q.signed,
                          int(q.zero_point), float(q.export_scale()))

    def add_spec(self, spec: TensorSpec) -> TensorSpec:
        self.tensors[spec.name] = spec
        return spec

    # ---- requantization
    def requant(self, fn: FNode, real, out: TensorSpec, residual: TensorSpec | None = None) -> Requant:
        real = np.atleast_1d(np.asarray(real, dtype=np.float64))
        bits = self.cfg.multiplier_bits
        qmin, qmax = out.qmin, out.qmax
        if fn.act in ("relu", "relu6"):
            qmin = out.zero_point
        if fn.act == "relu6":
            qmax = min(qmax, out.zero_point + int(arith.round_half_up(6.0 / out.scale)))
        if residual is None:
            m, s = arith.quantize_multiplier(real, bits)
            return Requant(np.asarray(m, np.int64), np.asarray(s, np.int64), out.zero_point, qmin, qmax)
        r_real = np.full_like(real, residual.scale / out.scale)
        ms, s = arith.quantize_multiplier_common(np.stack([real, r_real]), bits)
        return Requant(ms[0], np.asarray(s, np.int64), out.zero_point, qmin, qmax,
                       residual_m=ms[1], residual_zero_point=residual.zero_point)

    def check_accumulator(self, fn: FNode, k: int, x: TensorSpec, wbits: int, bias: np.ndarray):
        bound = arith.accumulator_bound(k, x.bits, x.signed, x.zero_point, wbits,
                                        int(np.abs(bias).max(initial=0)))
        if bound > arith.INT32_MAX:
            raise AccumulatorOverflowError(
                f"layer {fn.name!r}: int32 accumulator could overflow: K={k}, "
                f"{x.bits}-bit {'signed' if x.signed else 'unsigned'} input (zero point {x.zero_point}), "
                f"{wbits}-bit weights, max|bias|={int(np.abs(bias).max(initial=0))}: "
                f"bound {bound} > 2**31-1. Use fewer bits, a smaller K, or split the layer."
            )

    # ---- layers
    def weighted(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        wq = self.qm.weight_quantizer(fn.name)
        qw = wq.quantize(self.qm.weight(fn.name))
        w_int = _np(qw.q).astype(np.int64)
        w_scale = np.broadcast_to(_np(qw.scale), (w_int.shape[0],)).astype(np.float64)
        acc_scale = x.scale * w_scale
        b = _np(self.qm.bias(fn.name)).astype(np.float64)
        b_int = arith.round_half_up(b / acc_scale).astype(np.int64)
        k = int(np.prod(w_int.shape[1:]))
        limit = arith.bias_limit(k, x.bits, x.signed, x.zero_point, wq.bits)
        if limit and np.abs(b_int).max(initial=0) > limit:  # saturate, as QModel._bias does
            warnings.warn(f"layer {fn.name!r}: bias up to {int(np.abs(b_int).max())} accumulator units "
                          f"(input scale {x.scale:.3g}) saturated to +-{limit} to fit int32", stacklevel=2)
            b_int = np.clip(b_int, -limit, limit)
            self.saturated.append(fn.name)
        self.check_accumulator(fn, k, x, wq.bits, b_int)
        residual = self.tensors[fn.residual] if fn.residual else None
        rq = self.requant(fn, acc_scale / out.scale, out, residual)
        inputs = [x.name] + ([residual.name] if residual else [])
        common = dict(name=fn.name, inputs=inputs, output=fn.name, weight=w_int, bias=b_int,
                      x_zero_point=x.zero_point, wbits=wq.bits, requant=rq)
        if fn.kind == "conv":
            a = fn.attrs
            return Conv2d(**common, stride=a["stride"], padding=a["padding"],
                          dilation=a["dilation"], groups=a["groups"])
        return Linear(**common)

    def add(self, fn: FNode):
        a, b = (self.tensors[n] for n in fn.inputs)
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        rq = self.requant(fn, a.scale / out.scale, out, b)
        return Add(fn.name, [a.name, b.name], fn.name, a_zero_point=a.zero_point, requant=rq)

    def pool_geometry(self, fn: FNode, x: TensorSpec):
        """Per axis: window starts, ends (clipped to the padded input) and, for adaptive
        pooling, None for kernel/stride/padding (windows of unequal starts)."""
        a = fn.attrs
        (h, w) = x.shape[2:]
        if a.get("adaptive"):
            oh, ow = (o if o is not None else n for o, n in zip(a["output_size"], (h, w)))
            return [arith.adaptive_windows(n, o) for n, o in ((h, oh), (w, ow))], None
        ceil = a.get("ceil_mode", False)
        return ([arith.pool_windows(n, k, st, p, ceil)
                 for n, k, st, p in zip((h, w), a["kernel"], a["stride"], a["padding"])],
                (tuple(a["kernel"]), tuple(a["stride"]), tuple(a["padding"])))

    def _spec_like(self, name, x: TensorSpec, shape) -> TensorSpec:
        return self.add_spec(TensorSpec(name, tuple(shape), x.bits, x.signed, x.zero_point, x.scale))

    def _gather_windows(self, fn: FNode, x: TensorSpec, windows, fill: int):
        """Movement that lays windows of unequal starts out on a uniform grid: per axis,
        window i's taps at [i*k, i*k + size_i), the rest the code ``fill``.  (ops, tensor, k)"""
        ops, cur = [], x
        sizes = [int((e - st).max()) for st, e in windows]
        pad = self._spec_like(f"{fn.name}.fill", x, (*x.shape[:2], x.shape[2] + 1, x.shape[3] + 1))
        ops.append(Movement(pad.name, [x.name], pad.name, fn="pad", args=[[0, 1, 0, 1], fill]))
        cur = pad
        for axis, ((st, e), k, n) in enumerate(zip(windows, sizes, x.shape[2:])):
            idx = [int(st[i] + j) if st[i] + j < e[i] else n for i in range(len(st)) for j in range(k)]
            shape = list(cur.shape)
            shape[2 + axis] = len(idx)
            t = self._spec_like(f"{fn.name}.{'rows' if axis == 0 else 'cols'}", x, shape)
            ops.append(Movement(t.name, [cur.name], t.name, fn="take", args=[2 + axis, idx]))
            cur = t
        return ops, cur, tuple(sizes)

    def avgpool(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        a = fn.attrs
        ((rs, re_), (cs, ce)), uniform = self.pool_geometry(fn, x)
        h, w = x.shape[2:]
        ops = []
        if uniform is None:  # adaptive
            if h % len(rs) == 0 and w % len(cs) == 0:  # equal windows: a plain average pool
                k = (h // len(rs), w // len(cs))
                rq = self.requant(fn, x.scale / (k[0] * k[1] * out.scale), out)
                return AvgPool2d(fn.name, [x.name], fn.name, kernel=k, stride=k, padding=(0, 0),
                                 x_zero_point=x.zero_point, requant=rq)
            ops, src, kernel = self._gather_windows(fn, x, ((rs, re_), (cs, ce)), x.zero_point)
            stride, padding = kernel, (0, 0)
            div = np.outer(re_ - rs, ce - cs)
        else:
            kernel, stride, padding = uniform
            src = x
            extra = [int(st[-1]) + k - n - p for st, k, n, p in zip((rs, cs), kernel, (h, w), padding)]
            if any(v > 0 for v in extra):  # ceil mode: windows past the right/bottom padding
                src = self._spec_like(f"{fn.name}.pad", x, (*x.shape[:2], h + max(extra[0], 0),
                                                            w + max(extra[1], 0)))
                ops.append(Movement(src.name, [x.name], src.name, fn="pad",
                                    args=[[0, max(extra[1], 0), 0, max(extra[0], 0)], x.zero_point]))
            if a.get("divisor_override"):
                div = np.full((len(rs), len(cs)), int(a["divisor_override"]))
            elif a.get("count_include_pad", True):
                div = np.outer(re_ - rs, ce - cs)
            else:
                div = np.outer(np.minimum(re_, h) - np.maximum(rs, 0), np.minimum(ce, w) - np.maximum(cs, 0))
        if np.all(div == div.flat[0]):  # one divisor: a plain average pool
            rq = self.requant(fn, x.scale / (int(div.flat[0]) * out.scale), out)
            op = AvgPool2d(fn.name, [src.name], fn.name, kernel=tuple(kernel), stride=tuple(stride),
                           padding=tuple(padding), x_zero_point=x.zero_point, requant=rq)
        else:
            rq = self.requant(fn, (x.scale / (div * out.scale)).reshape(-1), out)
            op = AvgPoolWindows(fn.name, [src.name], fn.name, kernel=tuple(kernel), stride=tuple(stride),
                                padding=tuple(padding), x_zero_point=x.zero_point, requant=rq)
        return [*ops, op]

    def maxpool(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        self._spec_like(fn.name, x, self.shapes[fn.name])
        a = fn.attrs
        ((rs, re_), (cs, ce)), uniform = self.pool_geometry(fn, x)
        h, w = x.shape[2:]
        if uniform is None:  # adaptive
            ops, src, kernel = self._gather_windows(fn, x, ((rs, re_), (cs, ce)), x.qmin)
            return [*ops, MaxPool2d(fn.name, [src.name], fn.name, kernel=kernel, stride=kernel)]
        kernel, stride, padding = uniform
        ops, src = [], x
        dil = tuple(a.get("dilation", (1, 1)))
        if a.get("ceil_mode"):
            ho, wo = self.shapes[fn.name][2:]
            need = [(o - 1) * st + d * (k - 1) + 1 - (n + 2 * p)
                    for o, st, d, k, n, p in zip((ho, wo), stride, dil, kernel, (h, w), padding)]
            if any(v > 0 for v in need):  # the minimum code never wins: padding
                src = self._spec_like(f"{fn.name}.pad", x, (*x.shape[:2], h + max(need[0], 0), w + max(need[1], 0)))
                ops.append(Movement(src.name, [x.name], src.name, fn="pad",
                                    args=[[0, max(need[1], 0), 0, max(need[0], 0)], x.qmin]))
        return [*ops, MaxPool2d(fn.name, [src.name], fn.name, kernel=tuple(kernel), stride=tuple(stride),
                                padding=tuple(padding), dilation=dil)]

    def mul(self, fn: FNode):
        a, b = (self.tensors[n] for n in fn.inputs)
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        rq = self.requant(fn, a.scale * b.scale / out.scale, out)
        return Mul(fn.name, [a.name, b.name], fn.name, a_zero_point=a.zero_point, b_zero_point=b.zero_point,
                   requant=rq)

    def affine(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        k = _np(self.qm.weight(fn.name)).astype(np.float64)
        b = _np(self.qm.bias(fn.name)).astype(np.float64)
        qmin, qmax = out.qmin, out.qmax
        if fn.act in ("relu", "relu6"):
            qmin = out.zero_point
        if fn.act == "relu6":
            qmax = min(qmax, out.zero_point + int(arith.round_half_up(6.0 / out.scale)))
        dx = max(x.qmax - x.zero_point, x.zero_point - x.qmin)
        m, addend, s = arith.quantize_affine(k * x.scale / out.scale, b / out.scale, dx, out.zero_point,
                                             qmin, qmax, self.cfg.multiplier_bits)
        rq = Requant(np.asarray(m, np.int64), np.asarray(s, np.int64), out.zero_point, qmin, qmax)
        return Affine(fn.name, [x.name], fn.name, x_zero_point=x.zero_point, addend=np.asarray(addend, np.int64),
                      axis=fn.attrs.get("axis", 1), requant=rq)

    def add_const(self, fn: FNode):
        """A constant in the input's code units; entries so negative that the softmax after
        gives them exactly 0 are clipped there (the output is the same)."""
        x = self.tensors[fn.inputs[0]]
        c = _np(self.qm.weight(fn.name)).astype(np.float64)
        addend = arith.round_half_up(c / x.scale)
        zero_from = int(np.floor((arith.SOFTMAX_EXP_FRAC + 1) * np.log(2.0) / x.scale)) + 1  # exp entry 0
        addend = np.maximum(addend, -(zero_from + (x.qmax - x.qmin))).astype(np.int64)
        lo, hi = x.qmin + int(addend.min(initial=0)), x.qmax + int(addend.max(initial=0))
        bits = max(x.bits, 1 + max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length()))
        qlo, qhi = arith.qrange(bits, True)
        self.add_spec(TensorSpec(fn.name, self.shapes[fn.name], bits, True, x.zero_point, x.scale))
        return ConstAdd(fn.name, [x.name], fn.name, addend=addend, qmin=qlo, qmax=qhi)

    def const(self, fn: FNode):
        self.add_spec(self.spec_from_quantizer(fn.name))
        q = self.qm.act_quantizer(fn.name).quantize(self.qm.weight(fn.name))
        return Constant(fn.name, [], fn.name, value=_np(q.q).astype(np.int64))

    def lut(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        name = fn.attrs["fn"]
        if name in arith.LUT_FUNCTIONS:  # named in the contract: the numpy formula
            f = arith.LUT_FUNCTIONS[name]
        else:  # any other element-wise chain: its torch function, evaluated in float64

            def f(v, g=lut_function(fn)):
                return g(torch.from_numpy(np.asarray(v, dtype=np.float64))).numpy()
        table = arith.build_lut(f, x.bits, x.signed, x.scale, x.zero_point, out.scale, out.zero_point,
                                out.bits, out.signed)
        return Lut(fn.name, [x.name], fn.name, fn=fn.attrs["fn"], table=table, x_qmin=x.qmin)

    def softmax(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        table = arith.exp_lut(x.bits, x.scale, arith.SOFTMAX_EXP_FRAC)
        return Softmax(fn.name, [x.name], fn.name, exp_table=table, qmax=out.qmax)

    def matmul(self, fn: FNode):
        a, b = (self.tensors[n] for n in fn.inputs)
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        k = a.shape[-1]
        dxa = max(a.qmax - a.zero_point, a.zero_point - a.qmin)
        dxb = max(b.qmax - b.zero_point, b.zero_point - b.qmin)
        if k * dxa * dxb > arith.INT32_MAX:
            raise AccumulatorOverflowError(f"layer {fn.name!r}: int32 accumulator could overflow: "
                                           f"K={k}, |a - za| <= {dxa}, |b - zb| <= {dxb}")
        factor = sdpa_factor(fn, a.shape)
        rq = self.requant(fn, a.scale * b.scale * factor / out.scale, out)
        return MatMul(fn.name, [a.name, b.name], fn.name, a_zero_point=a.zero_point,
                      b_zero_point=b.zero_point, requant=rq)

    def layernorm(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        dims = len(fn.attrs.get("shape") or [1])
        if dims > 1:  # over several last dims: flatten them, normalize the last axis, restore
            flat = self._spec_like(f"{fn.name}.flat", x, (*x.shape[:-dims], int(np.prod(x.shape[-dims:]))))
            pre = Movement(flat.name, [x.name], flat.name, fn="flatten", args=[-dims, -1])
            x = flat
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        n = x.shape[-1]
        gamma = _np(self.qm.weight(fn.name)).astype(np.float64).reshape(-1)
        beta = _np(self.qm.bias(fn.name)).astype(np.float64).reshape(-1)
        g_real = gamma * np.sqrt(n) / out.scale
        gmax = float(np.abs(g_real).max(initial=0.0))
        limit = (1 << arith.LAYERNORM_GAIN_BITS) - 1
        shift = 30 if gmax == 0 else int(np.clip(np.floor(np.log2(limit / gmax)), 0, 30))
        gain = np.clip(arith.round_half_up(g_real * 2.0 ** shift), -limit, limit).astype(np.int64)
        bound = float(1 << (shift + 16))
        offset = arith.round_half_up(np.clip(beta / out.scale * 2.0 ** shift, -bound, bound)).astype(np.int64)
        eps_int = int(min(arith.round_half_up(n ** 3 * fn.attrs["eps"] / x.scale ** 2), 1 << 60))
        op = LayerNorm(fn.name, [x.name], fn.name, x_zero_point=x.zero_point, gain=gain, offset=offset,
                       gain_shift=shift, eps_int=eps_int, zero_point=out.zero_point,
                       qmin=out.qmin, qmax=out.qmax)
        if dims == 1:
            return op
        # the layer's own name stays on the normalized tensor in the original shape
        op.name = op.output = f"{fn.name}.norm"
        normed = self.tensors.pop(fn.name)
        self.add_spec(TensorSpec(op.output, x.shape, normed.bits, normed.signed, normed.zero_point, normed.scale))
        self.add_spec(TensorSpec(fn.name, self.shapes[fn.name], normed.bits, normed.signed, normed.zero_point,
                                 normed.scale))
        post = Movement(fn.name, [op.output], fn.name, fn="reshape",
                        args=[[{"dim_of": fn.inputs[0], "index": i} for i in range(len(self.shapes[fn.name]))]])
        return [pre, op, post]

    def concat(self, fn: FNode):
        ins = [self.tensors[n] for n in fn.inputs]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        requants = [self.requant(fn, x.scale / out.scale, out) for x in ins]
        return Concat(fn.name, [x.name for x in ins], fn.name, dim=fn.attrs["dim"],
                      input_zero_points=[x.zero_point for x in ins], requants=requants)

    def passthrough(self, fn: FNode):
        """Layers that keep the codes: maxpool, flatten, relu, move, scale (scale x factor)."""
        x = self.tensors[fn.inputs[0]]
        factor = fn.attrs["factor"] if fn.kind == "scale" else 1.0
        self.add_spec(TensorSpec(fn.name, self.shapes[fn.name], x.bits, x.signed, x.zero_point,
                                 x.scale * factor))
        if fn.kind == "flatten":
            return Flatten(fn.name, [x.name], fn.name)
        if fn.kind == "move":
            args = fn.attrs["args"]
            if fn.attrs["fn"] == "pad":  # zeros: the zero point's code
                args = [args[0], x.zero_point]
            return Movement(fn.name, [x.name], fn.name, fn=fn.attrs["fn"], args=args)
        if fn.kind == "scale":
            return Movement(fn.name, [x.name], fn.name, fn="identity")
        qmax = x.qmax
        if fn.attrs.get("relu6"):
            qmax = min(qmax, x.zero_point + int(arith.round_half_up(6.0 / x.scale)))
        return ReLU(fn.name, [x.name], fn.name, zero_point=x.zero_point, qmax=qmax)


@torch.no_grad()
def convert(qmodel: QModel, example_input: torch.Tensor) -> IntGraph:
    """Lower a calibrated (or trained) QModel to an integer-only IntGraph."""
    uncalibrated = [n for n, q in [*qmodel.aq.items(), *qmodel.wq.items()] if not q.calibrated]
    if uncalibrated:
        raise RuntimeError(f"calibrate the QModel before convert(); uncalibrated quantizers: "
                           f"{', '.join(k.replace('/', '.') for k in uncalibrated[:5])}")
    was_training = qmodel.training
    qmodel.eval()
    try:
        shapes = qmodel.tensor_shapes(example_input)
    finally:
        qmodel.train(was_training)
    low = _Lowering(qmodel, shapes)
    ops = []
    output = None
    lowerers = {"conv": low.weighted, "linear": low.weighted, "add": low.add, "avgpool": low.avgpool,
                "maxpool": low.maxpool, "mul": low.mul, "affine": low.affine, "add_const": low.add_const,
                "lut": low.lut, "softmax": low.softmax, "matmul": low.matmul,
                "layernorm": low.layernorm, "concat": low.concat, "const": low.const}
    for fn in qmodel.nodes:
        if fn.kind == "input":
            low.add_spec(low.spec_from_quantizer("input"))
        elif fn.kind == "output":
            output = fn.inputs[0]
        else:
            lowered = lowerers.get(fn.kind, low.passthrough)(fn)
            ops.extend(lowered if isinstance(lowered, list) else [lowered])
    config = qmodel.config
    extra = {"saturated_bias": low.saturated} if low.saturated else {}
    if qmodel.masked_layers():  # layer -> "N:M" / "element": t2c export writes compressed images
        extra["sparsity"] = {name: qmodel.layer_configs[name].prune_spec.pattern for name in qmodel.masked_layers()}
    return IntGraph(ops, low.tensors, "input", output,
                    meta={"contract_version": arith.CONTRACT_VERSION,
                          "wbit": config.wbit, "abit": config.abit,
                          "multiplier_bits": config.multiplier_bits,
                          "fused": {fn.name: list(fn.attrs["fused"]) for fn in qmodel.nodes
                                    if fn.attrs.get("fused")},
                          "quantization": {"config": config.to_dict(),
                                           "layers": {name: lc.to_dict()
                                                      for name, lc in qmodel.layer_configs.items()}},
                          **extra})
