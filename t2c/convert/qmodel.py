"""``quantize(model, config) -> QModel``: the fused model with quantizers attached.

A QModel runs the fused float graph (BatchNorm folded) with a weight quantizer on
every conv/linear and an output quantizer on every layer that produces a new scale
(input, conv, linear, add, mul, affine, avgpool, const, concat, matmul, softmax,
layernorm, lut).  Max-pool, flatten, ReLU, data movement and ``add_const`` (a constant
added on the input's own grid) keep their input's scale; ``scale`` layers multiply it by
a constant.  It is an ordinary ``nn.Module``:

* ``qmodel.calibrate(batches)`` observes float activations, then fixes the scales;
* QAT is plain training of the QModel (straight-through rounding, LSQ scales learn);
* ``t2c.convert(qmodel, example)`` lowers it to the integer-only ``IntGraph``.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .. import arith, movement
from ..qconfig import LayerConfig, QConfig
from ..quant import Quantizer, quantizer_class, round_half_up_ste
from ..sparsity import mask_for
from .capture import FNode, capture

# layers whose output gets its own quantizer (a new scale)
SCALED_KINDS = ("input", "conv", "linear", "add", "mul", "affine", "avgpool", "const", "concat", "matmul",
                "softmax", "layernorm", "lut")
WEIGHTED_KINDS = ("conv", "linear")
TORCH_LUT = {
    "gelu": F.gelu,
    "gelu_tanh": lambda v: F.gelu(v, approximate="tanh"),
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "tanh": torch.tanh,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "softplus": F.softplus,
    "mish": F.mish,
}


def lut_function(fn: FNode):
    """The float function a ``lut`` layer tabulates (torch)."""
    return fn.attrs.get("torch_fn") or TORCH_LUT[fn.attrs["fn"]]


def _key(name: str) -> str:
    return name.replace(".", "/")  # nn.ModuleDict keys cannot hold dots


def sdpa_factor(fn: FNode, q_shape) -> float:
    """The logit scale of a matmul (``scaled_dot_product_attention``'s default 1/sqrt(d))."""
    f = fn.attrs.get("factor")
    return 1.0 / math.sqrt(q_shape[-1]) if f is None else float(f)


def _make_quantizer(name: str, what: str, extra: dict, bits: int, **kwargs) -> Quantizer:
    """``quantizer_class(name)(bits, **kwargs, **extra)``; a key of ``extra`` the quantizer
    does not take is a one-line error naming it."""
    cls = quantizer_class(name)
    try:
        return cls(bits, **kwargs, **extra)
    except TypeError as e:
        raise ValueError(f"{what} {sorted(extra)} do not apply to quantizer {name!r} ({e})") from None


class QModel(nn.Module):
    """A captured model with quantizers; see the module docstring."""

    def __init__(self, nodes: list[FNode], config: QConfig, exact: bool = True):
        super().__init__()
        self.config = config
        self.exact = exact  # after calibration, every layer's value is the integer contract's
        self._integer_cache: tuple | None = None  # (parameter key, IntGraph)
        self.nodes = nodes
        self.by_name = {fn.name: fn for fn in nodes}
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.wq = nn.ModuleDict()
        self.aq = nn.ModuleDict()
        self.masks = nn.Module()  # pruning masks (buffers named like the weights), t2c.sparsity
        self.scale_source: dict[str, str] = {}  # tensor name -> layer whose aq gives its scale
        self.layer_configs: dict[str, LayerConfig] = {}  # effective per-layer settings
        last = nodes[-1].inputs[0]
        for fn in nodes:
            k = _key(fn.name)
            lc = config.for_layer(fn.name, io=fn.name in ("input", last))
            if fn.kind in WEIGHTED_KINDS or fn.kind in SCALED_KINDS:
                self.layer_configs[fn.name] = lc
            if fn.weight is not None:
                self.weights[k] = nn.Parameter(fn.weight.to(torch.float32).clone())
            if fn.kind in WEIGHTED_KINDS and lc.prune_spec is not None:
                self.set_mask(fn.name, mask_for(self.weights[k].detach().numpy(), lc.prune_spec))
            if fn.kind in WEIGHTED_KINDS:
                bias = fn.bias if fn.bias is not None else torch.zeros(fn.weight.shape[0], dtype=torch.float64)
                self.biases[k] = nn.Parameter(bias.to(torch.float32).clone())
                self.wq[k] = _make_quantizer(lc.weight_quantizer, "weight_kwargs", config.weight_kwargs,
                                             lc.wbit, signed=True, symmetric=True, per_channel=lc.per_channel,
                                             ch_axis=0)
            elif fn.bias is not None:
                self.biases[k] = nn.Parameter(fn.bias.to(torch.float32).clone())
            fn.weight = fn.bias = None  # the parameters live here now
            if fn.kind in SCALED_KINDS:
                signed = False if fn.kind == "softmax" else None
                self.aq[k] = _make_quantizer(lc.act_quantizer, "act_kwargs", config.act_kwargs, lc.abit,
                                             signed=signed)
                self.scale_source[fn.name] = fn.name
            elif fn.kind != "output":
                self.scale_source[fn.name] = self.scale_source[fn.inputs[0]]
        config.check_rules(self.layer_configs)

    # ---- lookups used by convert()
    def act_quantizer(self, tensor: str) -> Quantizer:
        """The quantizer that defines the zero point (and, up to ``scale`` layers, the scale)."""
        return self.aq[_key(self.scale_source[tensor])]

    def scale_factor(self, tensor: str) -> float:
        """Product of the ``scale`` layers between ``tensor`` and its quantizer."""
        f = 1.0
        while self.scale_source.get(tensor) != tensor and tensor in self.by_name:
            fn = self.by_name[tensor]
            if fn.kind == "scale":
                f *= fn.attrs["factor"]
            tensor = fn.inputs[0]
        return f

    def weight_quantizer(self, layer: str) -> Quantizer:
        return self.wq[_key(layer)]

    def weight(self, layer: str) -> torch.Tensor:
        """The layer's float weight, its pruning mask applied (pruned elements are exactly 0
        and get no gradient)."""
        k = _key(layer)
        w = self.weights[k]
        mask = getattr(self.masks, k, None)
        return w if mask is None else w * mask.to(w.dtype)

    # ---- pruning masks
    def set_mask(self, layer: str, mask) -> None:
        """Set (or replace, in place) the pruning mask of a conv/linear (1 keeps, 0 prunes)."""
        k = _key(layer)
        m = torch.as_tensor(mask).to(torch.uint8)
        if tuple(m.shape) != tuple(self.weights[k].shape):
            raise ValueError(f"mask of {layer!r} has shape {tuple(m.shape)}, the weight "
                             f"{tuple(self.weights[k].shape)}")
        old = getattr(self.masks, k, None)
        if old is None:
            self.masks.register_buffer(k, m.clone())
        else:
            old.copy_(m)  # bumps the version: the exact forward's cached IntGraph is rebuilt

    def masked_layers(self) -> list[str]:
        return [n for n in self.layer_configs if getattr(self.masks, _key(n), None) is not None]

    def dense_weight(self, layer: str):
        """The layer's float weight before masking (numpy float64): what masks are computed from."""
        return self.weights[_key(layer)].detach().double().numpy()

    def sparsity(self) -> dict[str, tuple[str, float]]:
        """Pruned layer -> (pattern, fraction of weights that are zero)."""
        out = {}
        for name in self.masked_layers():
            spec = self.layer_configs[name].prune_spec
            w = self.weight(name).detach()
            out[name] = (spec.pattern, float((w == 0).sum()) / w.numel())
        return out

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

    @contextlib.contextmanager
    def forward_mode(self, exact: bool):
        """Run with the exact forward on or off inside this block."""
        old = self.exact
        self.exact = exact
        try:
            yield self
        finally:
            self.exact = old

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor]) -> "QModel":
        """Fix every scale / zero point from ``batches``: SmoothQuant's fold first when the
        config asks for it (``t2c.convert.smooth``), then observe the float activations, then
        the layer-wise reconstruction of AdaRound / QDrop quantizers (``t2c.convert.reconstruct``)."""
        batches = list(batches)
        if self.config.smoothquant is not None:
            from .smooth import smooth

            smooth(self, batches, self.config.smoothquant)
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
        for fn in self.nodes:  # softmax outputs: fixed [0, 1] range, 1.0 = qmax exactly
            if fn.kind == "softmax":
                q = self.aq[_key(fn.name)]
                q.set_qparams(torch.tensor(1.0 / q.qmax, dtype=torch.float64), torch.tensor(0))
        from .reconstruct import needs_reconstruction, reconstruct

        if needs_reconstruction(self):
            reconstruct(self, torch.cat([b.to(next(iter(self.weights.values())).dtype) for b in batches]))
        return self

    # ---- forward
    def _bias(self, fn: FNode, x_name: str, dtype) -> torch.Tensor:
        """Bias fake-quantized to the accumulator grid ``s_x * s_w`` (as convert stores it)."""
        b = self.bias(fn.name).to(dtype)
        wq = self.weight_quantizer(fn.name)
        xq = self.act_quantizer(x_name)
        if not wq.enabled or wq.observing or not xq.enabled or xq.observing:
            return b
        step = (xq.get_scale() * self.scale_factor(x_name) * wq.get_scale()).to(dtype)
        k = int(math.prod(self.weight(fn.name).shape[1:]))
        limit = arith.bias_limit(k, xq.bits, bool(xq.signed), int(xq.zero_point), wq.bits)
        q = round_half_up_ste(b / step)
        if limit:  # a bias beyond int32 on the accumulator grid saturates (t2c.arith.bias_limit)
            q = torch.clamp(q, -limit, limit)
        return q * step

    def _on_grid(self, c: torch.Tensor, x_name: str) -> torch.Tensor:
        """A constant rounded to the grid of tensor ``x_name`` (as convert stores it)."""
        xq = self.act_quantizer(x_name)
        if not xq.enabled or xq.observing:
            return c
        step = (xq.get_scale() * self.scale_factor(x_name)).to(c.dtype)
        return round_half_up_ste(c / step) * step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, {}, self._integer_values(x) if self.exact_active() else None)

    # ---- the exact forward
    def exact_active(self) -> bool:
        """True when ``forward`` computes the integer contract: ``exact`` is set and every
        quantizer is calibrated, enabled and not observing (so never during calibration,
        nor inside ``float_mode``)."""
        return self.exact and all(q.enabled and not q.observing and q.calibrated for q in self.quantizers())

    def _parameter_key(self, x: torch.Tensor) -> tuple:
        """Changes whenever a parameter or buffer is replaced or updated in place (optimizer
        steps bump ``_version``), or the input's per-sample shape changes."""
        return (tuple(x.shape[1:]), *((id(t), t._version) for t in (*self.parameters(), *self.buffers())))

    def integer_graph(self, x: torch.Tensor):
        """``t2c.convert(self, x[:1])``, cached while no parameter, buffer or input shape changes."""
        from .lower import convert  # lower imports this module

        key = self._parameter_key(x)
        if self._integer_cache is None or self._integer_cache[0] != key:
            self._integer_cache = (key, convert(self, x[:1].detach()))
        return self._integer_cache[1]

    @torch.no_grad()
    def _integer_values(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every tensor of the IntGraph of the current parameters on ``x``, dequantized:
        ``(code - zero_point) * scale`` in ``x``'s dtype."""
        graph = self.integer_graph(x)
        x_int = graph.quantize_input(x.detach().cpu().numpy())
        run = graph.run(x_int, record=True)
        codes = {graph.input: x_int, **{op.output: run.layers[op.name].output for op in graph.ops}}
        out = {}
        for name, q in codes.items():
            spec = graph.tensors[name]
            out[name] = torch.from_numpy((q - spec.zero_point) * spec.scale).to(x.dtype)
        return out

    def layer_values(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output on ``x`` by this model's forward (exact or fake-quant)."""
        env: dict[str, torch.Tensor] = {}
        self._run(x, env, self._integer_values(x) if self.exact_active() else None)
        return env

    def _layer(self, fn: FNode, env: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The float computation of one fused layer (before its output quantizer)."""
        kind, a = fn.kind, fn.attrs
        if kind == "input":
            return x
        if kind == "const":
            return self.weight(fn.name).to(x.dtype)
        x_in = env[fn.inputs[0]]
        if kind in WEIGHTED_KINDS:
            w = self.weight_quantizer(fn.name)(self.weight(fn.name).to(x_in.dtype))
            b = self._bias(fn, fn.inputs[0], x_in.dtype)
            if kind == "conv":
                y = F.conv2d(x_in, w, b, a["stride"], a["padding"], a["dilation"], a["groups"])
            else:
                y = F.linear(x_in, w, b)
            return y + env[fn.residual] if fn.residual is not None else y
        if kind == "add":
            return x_in + env[fn.inputs[1]]
        if kind == "mul":
            return x_in * env[fn.inputs[1]]
        if kind == "affine":
            shape = [1] * x_in.dim()
            shape[a["axis"]] = -1
            return x_in * self.weight(fn.name).to(x_in.dtype).reshape(shape) + \
                self.bias(fn.name).to(x_in.dtype).reshape(shape)
        if kind == "add_const":
            return x_in + self._on_grid(self.weight(fn.name).to(x_in.dtype), fn.inputs[0])
        if kind == "maxpool":
            if a.get("adaptive"):
                return F.adaptive_max_pool2d(x_in, a["output_size"])
            return F.max_pool2d(x_in, a["kernel"], a["stride"], a["padding"], a["dilation"],
                                ceil_mode=a.get("ceil_mode", False))
        if kind == "avgpool":
            if a.get("adaptive"):
                return F.adaptive_avg_pool2d(x_in, a["output_size"])
            return F.avg_pool2d(x_in, a["kernel"], a["stride"], a["padding"], ceil_mode=a.get("ceil_mode", False),
                                count_include_pad=a.get("count_include_pad", True),
                                divisor_override=a.get("divisor_override"))
        if kind == "flatten":
            return torch.flatten(x_in, 1)
        if kind == "relu":
            return F.relu6(x_in) if a.get("relu6") else F.relu(x_in)
        if kind == "move":
            return movement.apply(a["fn"], x_in, a["args"], lambda n: env[n].shape)
        if kind == "scale":
            return x_in * a["factor"]
        if kind == "lut":  # on a copy: a captured module may work in place (nn.Hardswish(inplace=True))
            return lut_function(fn)(x_in.clone())
        if kind == "softmax":
            return torch.softmax(x_in, dim=-1)
        if kind == "matmul":
            return torch.matmul(x_in, env[fn.inputs[1]]) * sdpa_factor(fn, x_in.shape)
        if kind == "layernorm":
            shape = tuple(a.get("shape") or (x_in.shape[-1],))
            return F.layer_norm(x_in, shape, self.weight(fn.name).to(x_in.dtype).reshape(shape),
                                self.bias(fn.name).to(x_in.dtype).reshape(shape), a["eps"])
        if kind == "concat":
            return torch.cat([env[n] for n in fn.inputs], dim=a["dim"])
        raise AssertionError(kind)  # pragma: no cover

    def layer_output(self, fn: FNode, env: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """One layer with its fused activation, before its output quantizer."""
        y = self._layer(fn, env, x)
        if fn.act == "relu":
            return F.relu(y)
        if fn.act == "relu6":
            return F.relu6(y)
        return y

    def _run(self, x: torch.Tensor, env: dict[str, torch.Tensor],
             integer: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The forward.  With ``integer`` (the exact forward), each layer's float fake-quant
        expression is evaluated on the exact inputs and its value replaced by the integer
        contract's, ``y + (integer - y).detach()``: the value is the integer model's, the
        gradient the straight-through one of the float expression."""
        for fn in self.nodes:
            if fn.kind == "output":
                return env[fn.inputs[0]]
            y = self.layer_output(fn, env, x)
            if fn.kind in SCALED_KINDS:
                y = self.aq[_key(fn.name)](y)
            if integer is not None and fn.name in integer:
                y = y + (integer[fn.name] - y).detach()
            env[fn.name] = y
        raise AssertionError("graph has no output node")

    @torch.no_grad()
    def tensor_shapes(self, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
        """Shape of every layer's output for input ``x`` (used by convert)."""
        env: dict[str, torch.Tensor] = {}
        self._run(x, env)
        return {k: tuple(v.shape) for k, v in env.items()}


def quantize(model: nn.Module, config: QConfig | None = None,
             example_input: torch.Tensor | None = None, exact: bool = True) -> QModel:
    """Capture ``model`` (any fx-traceable module), fuse it and attach quantizers.

    ``example_input`` (optional, e.g. one calibration sample) lets the capture resolve
    Python control flow on shapes and fold parameter-only tensors at that input shape
    (``t2c.convert.capture``); models without such code do not need it.  ``exact=False``
    keeps the float fake-quant forward after calibration (see ``QModel.exact_active``)."""
    return QModel(capture(model, example_input), config or QConfig(), exact=exact)
