"""``quantize(model, config) -> QModel``: the fused model with quantizers attached.

A QModel runs the fused float graph (BatchNorm folded) with a weight quantizer on
every conv/linear and an output quantizer on every layer that produces a new scale
(input, conv, linear, add, avgpool).  Max-pool, flatten and ReLU keep their input's
scale, as they do in the integer graph.  It is an ordinary ``nn.Module``:

* ``qmodel.calibrate(batches)`` observes float activations, then fixes the scales;
* QAT is plain training of the QModel (straight-through rounding, LSQ scales learn);
* ``t2c.convert(qmodel, example)`` lowers it to the integer-only ``IntGraph``.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..quant import Quantizer, quantizer_class, round_half_up_ste
from .capture import FNode, capture

# layers whose output gets its own quantizer (a new scale)
SCALED_KINDS = ("input", "conv", "linear", "add", "avgpool")


@dataclass
class QConfig:
    """How to quantize a model.  Plain data; pass it to ``t2c.quantize``."""

    wbit: int = 8
    abit: int = 8
    weight_quantizer: str = "minmax"
    act_quantizer: str = "minmax"
    per_channel: bool = True
    io_bits: int | None = 8  # model input and final output bits (None: abit)
    multiplier_bits: int = 32  # requantization multiplier width (quantize_multiplier bits)
    weight_kwargs: dict = field(default_factory=dict)
    act_kwargs: dict = field(default_factory=dict)

    def __post_init__(self):
        for what, b in (("wbit", self.wbit), ("abit", self.abit), ("io_bits", self.io_bits or 8)):
            if not 2 <= b <= 8:
                raise ValueError(f"{what} must be in 2..8, got {b}")
        if self.multiplier_bits not in (16, 32):
            raise ValueError(f"multiplier_bits must be 16 or 32, got {self.multiplier_bits}")


def _key(name: str) -> str:
    return name.replace(".", "/")  # nn.ModuleDict keys cannot hold dots


class QModel(nn.Module):
    """A captured model with quantizers; see the module docstring."""

    def __init__(self, nodes: list[FNode], config: QConfig):
        super().__init__()
        self.config = config
        self.nodes = nodes
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.wq = nn.ModuleDict()
        self.aq = nn.ModuleDict()
        self.scale_source: dict[str, str] = {}  # tensor name -> layer whose aq gives its scale
        wcls = quantizer_class(config.weight_quantizer)
        acls = quantizer_class(config.act_quantizer)
        io_bits = config.io_bits or config.abit
        last = nodes[-1].inputs[0]
        for fn in nodes:
            if fn.kind in ("conv", "linear"):
                k = _key(fn.name)
                self.weights[k] = nn.Parameter(fn.weight.to(torch.float32).clone())
                bias = fn.bias if fn.bias is not None else torch.zeros(fn.weight.shape[0], dtype=torch.float64)
                self.biases[k] = nn.Parameter(bias.to(torch.float32).clone())
                fn.weight = fn.bias = None  # the parameters live here now
                self.wq[k] = wcls(config.wbit, signed=True, symmetric=True,
                                  per_channel=config.per_channel, ch_axis=0, **config.weight_kwargs)
            if fn.kind in SCALED_KINDS:
                bits = io_bits if fn.name in ("input", last) else config.abit
                self.aq[_key(fn.name)] = acls(bits, signed=None, **config.act_kwargs)
                self.scale_source[fn.name] = fn.name
            elif fn.kind != "output":
                self.scale_source[fn.name] = self.scale_source[fn.inputs[0]]

    # ---- lookups used by convert()
    def act_quantizer(self, tensor: str) -> Quantizer:
        """The quantizer that defines the scale / zero point of ``tensor``."""
        return self.aq[_key(self.scale_source[tensor])]

    def weight_quantizer(self, layer: str) -> Quantizer:
        return self.wq[_key(layer)]

    def weight(self, layer: str) -> torch.Tensor:
        return self.weights[_key(layer)]

    def bias(self, layer: str) -> torch.Tensor:
        return self.biases[_key(layer)]

    @property
    def layer_names(self) -> list[str]:
        return [fn.name for fn in self.nodes if fn.kind not in ("input", "output")]

    # ---- modes
    def quantizers(self) -> Iterable[Quantizer]:
        return [*self.wq.values(), *self.aq.values()]

    @contextlib.contextmanager
    def float_mode(self):
        """Run the fused float model (quantizers bypassed) inside this block."""
        saved = [q.enabled for q in self.quantizers()]
        for q in self.quantizers():
            q.enabled = False
        try:
            yield self
        finally:
            for q, e in zip(self.quantizers(), saved):
                q.enabled = e

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor]) -> "QModel":
        """Observe float activations on ``batches`` and fix every scale / zero point."""
        qs = list(self.quantizers())
        for q in qs:
            q.observing = True
        n = 0
        try:
            for x in batches:
                self(x)
                n += 1
        finally:
            for q in qs:
                q.observing = False
        if n == 0:
            raise ValueError("calibrate() got no batches")
        for q in qs:
            q.compute_qparams()
        return self

    # ---- forward
    def _bias(self, fn: FNode, x_scale: torch.Tensor, dtype) -> torch.Tensor:
        """Bias fake-quantized to the accumulator grid ``s_x * s_w`` (as convert stores it)."""
        b = self.bias(fn.name).to(dtype)
        wq = self.weight_quantizer(fn.name)
        if not wq.enabled or wq.observing or not self.act_quantizer(fn.inputs[0]).enabled:
            return b
        step = (x_scale * wq.get_scale()).to(dtype)
        return round_half_up_ste(b / step) * step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, {})

    def _run(self, x: torch.Tensor, env: dict[str, torch.Tensor]) -> torch.Tensor:
        for fn in self.nodes:
            kind = fn.kind
            if kind == "input":
                env[fn.name] = self.aq["input"](x)
                continue
            if kind == "output":
                return env[fn.inputs[0]]
            x_in = env[fn.inputs[0]]
            if kind in ("conv", "linear"):
                w = self.weight_quantizer(fn.name)(self.weight(fn.name).to(x_in.dtype))
                b = self._bias(fn, self.act_quantizer(fn.inputs[0]).get_scale(), x_in.dtype)
                if kind == "conv":
                    y = F.conv2d(x_in, w, b, fn.attrs["stride"], fn.attrs["padding"],
                                 fn.attrs["dilation"], fn.attrs["groups"])
                else:
                    y = F.linear(x_in, w, b)
                if fn.residual is not None:
                    y = y + env[fn.residual]
            elif kind == "add":
                y = x_in + env[fn.inputs[1]]
            elif kind == "maxpool":
                a = fn.attrs
                y = F.max_pool2d(x_in, a["kernel"], a["stride"], a["padding"], a["dilation"])
            elif kind == "avgpool":
                a = fn.attrs
                if a.get("adaptive"):
                    y = F.adaptive_avg_pool2d(x_in, a["output_size"])
                else:
                    y = F.avg_pool2d(x_in, a["kernel"], a["stride"], a["padding"])
            elif kind == "flatten":
                y = torch.flatten(x_in, 1)
            elif kind == "relu":
                y = F.relu6(x_in) if fn.attrs.get("relu6") else F.relu(x_in)
            else:  # pragma: no cover
                raise AssertionError(kind)
            if fn.act == "relu":
                y = F.relu(y)
            elif fn.act == "relu6":
                y = F.relu6(y)
            if kind in SCALED_KINDS:
                y = self.aq[_key(fn.name)](y)
            env[fn.name] = y
        raise AssertionError("graph has no output node")

    @torch.no_grad()
    def tensor_shapes(self, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
        """Shape of every layer's output for input ``x`` (used by convert)."""
        env: dict[str, torch.Tensor] = {}
        self._run(x, env)
        return {k: tuple(v.shape) for k, v in env.items()}


def quantize(model: nn.Module, config: QConfig | None = None) -> QModel:
    """Capture ``model`` (any fx-traceable module), fuse it and attach quantizers."""
    return QModel(capture(model), config or QConfig())
