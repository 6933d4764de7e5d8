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

import numpy as np
import torch

from .. import arith
from ..ir import (Add, AvgPool2d, Concat, Constant, Conv2d, Flatten, IntGraph, LayerNorm, Linear, Lut,
                  MatMul, MaxPool2d, Movement, ReLU, Requant, Softmax, TensorSpec)
from .capture import FNode
from .qmodel import QModel, sdpa_factor


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

    def avgpool(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        a = fn.attrs
        if a.get("adaptive"):
            (h, w), (oh, ow) = x.shape[2:], a["output_size"]
            oh, ow = oh or h, ow or w
            if h % oh or w % ow:
                raise ValueError(f"layer {fn.name!r}: adaptive average pool {h}x{w} -> {oh}x{ow} "
                                 "has unequal windows; only divisible sizes convert exactly")
            kernel, stride, padding = (h // oh, w // ow), (h // oh, w // ow), (0, 0)
        else:
            kernel, stride, padding = a["kernel"], a["stride"], a["padding"]
        n = kernel[0] * kernel[1]
        rq = self.requant(fn, x.scale / (n * out.scale), out)
        return AvgPool2d(fn.name, [x.name], fn.name, kernel=tuple(kernel), stride=tuple(stride),
                         padding=tuple(padding), x_zero_point=x.zero_point, requant=rq)

    def const(self, fn: FNode):
        self.add_spec(self.spec_from_quantizer(fn.name))
        q = self.qm.act_quantizer(fn.name).quantize(self.qm.weight(fn.name))
        return Constant(fn.name, [], fn.name, value=_np(q.q).astype(np.int64))

    def lut(self, fn: FNode):
        x = self.tensors[fn.inputs[0]]
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        table = arith.build_lut(arith.LUT_FUNCTIONS[fn.attrs["fn"]], x.bits, x.signed, x.scale, x.zero_point,
                                out.scale, out.zero_point, out.bits, out.signed)
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
        out = self.add_spec(self.spec_from_quantizer(fn.name))
        n = x.shape[-1]
        gamma = _np(self.qm.weight(fn.name)).astype(np.float64)
        beta = _np(self.qm.bias(fn.name)).astype(np.float64)
        g_real = gamma * np.sqrt(n) / out.scale
        gmax = float(np.abs(g_real).max(initial=0.0))
        limit = (1 << arith.LAYERNORM_GAIN_BITS) - 1
        shift = 30 if gmax == 0 else int(np.clip(np.floor(np.log2(limit / gmax)), 0, 30))
        gain = np.clip(arith.round_half_up(g_real * 2.0 ** shift), -limit, limit).astype(np.int64)
        bound = float(1 << (shift + 16))
        offset = arith.round_half_up(np.clip(beta / out.scale * 2.0 ** shift, -bound, bound)).astype(np.int64)
        eps_int = int(min(arith.round_half_up(n ** 3 * fn.attrs["eps"] / x.scale ** 2), 1 << 60))
        return LayerNorm(fn.name, [x.name], fn.name, x_zero_point=x.zero_point, gain=gain, offset=offset,
                         gain_shift=shift, eps_int=eps_int, zero_point=out.zero_point,
                         qmin=out.qmin, qmax=out.qmax)

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
        if fn.kind == "maxpool":
            a = fn.attrs
            return MaxPool2d(fn.name, [x.name], fn.name, kernel=tuple(a["kernel"]),
                             stride=tuple(a["stride"]), padding=tuple(a["padding"]),
                             dilation=tuple(a["dilation"]))
        if fn.kind == "flatten":
            return Flatten(fn.name, [x.name], fn.name)
        if fn.kind == "move":
            return Movement(fn.name, [x.name], fn.name, fn=fn.attrs["fn"], args=fn.attrs["args"])
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
                "lut": low.lut, "softmax": low.softmax, "matmul": low.matmul,
                "layernorm": low.layernorm, "concat": low.concat, "const": low.const}
    for fn in qmodel.nodes:
        if fn.kind == "input":
            low.add_spec(low.spec_from_quantizer("input"))
        elif fn.kind == "output":
            output = fn.inputs[0]
        else:
            ops.append(lowerers.get(fn.kind, low.passthrough)(fn))
    config = qmodel.config
    return IntGraph(ops, low.tensors, "input", output,
                    meta={"contract_version": arith.CONTRACT_VERSION,
                          "wbit": config.wbit, "abit": config.abit,
                          "multiplier_bits": config.multiplier_bits,
                          "fused": {fn.name: list(fn.attrs["fused"]) for fn in qmodel.nodes
                                    if fn.attrs.get("fused")},
                          "quantization": {"config": config.to_dict(),
                                           "layers": {name: lc.to_dict()
                                                      for name, lc in qmodel.layer_configs.items()}}})
