"""Quantizer base class: one object, two paths.

* Training path (``forward``): fake-quant ``(clamp(round(x / scale) + zp) - zp) * scale``
  with a straight-through estimator for the rounding, so a QModel trains like any module.
* Inference path (``quantize``): the integers themselves plus ``scale`` / ``zero_point``.

Rounding is half-up (``floor(v + 0.5)``), the same rule as the integer contract in
``t2c.arith``, so the fake-quant model and the integer reference disagree only where
the requantization multiplier rounds (at the 2**-31 level) or the bias rounds.

A subclass decides how ``scale``/``zero_point`` are found: override ``observe`` (collect
statistics during calibration) and ``compute_qparams`` (turn them into a scale), or
make the scale a learned parameter (see ``LSQQuantizer``).  Subclasses register
themselves by name: ``class MyQ(Quantizer, name="my-q")``; configs then say ``"my-q"``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

_REGISTRY: dict[str, type["Quantizer"]] = {}


# Names other toolkits use for scales t2c's integer contract cannot carry exactly: refused
# with the reason instead of "unknown" (docs/quantizers.md, "Token-wise and channel-wise").
_REFUSED = dict.fromkeys(
    ("minmax_token", "lsq_token", "qdrop_token", "smoothquant_token"),
    "per-token activation scales would need one requantization multiplier per (token, output channel) "
    "and do not factor out of attention x V")
_REFUSED["minmax_channel"] = ("per-channel scales on a layer's input do not factor out of its sum over "
                              "input channels; use --smoothquant ALPHA, the exact fold")


def quantizer_class(name: str) -> type["Quantizer"]:
    """The quantizer class registered under ``name`` (error lists the known names)."""
    if name in _REFUSED and name not in _REGISTRY:
        raise ValueError(f"quantizer {name!r} is not offered: {_REFUSED[name]} (docs/quantizers.md); "
                         f"registered: {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown quantizer {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def registered_quantizers() -> list[str]:
    return sorted(_REGISTRY)


def round_half_up_ste(v: torch.Tensor) -> torch.Tensor:
    """floor(v + 0.5) forward, identity gradient backward."""
    return v + (torch.floor(v + 0.5) - v).detach()


@dataclass(frozen=True)
class QTensor:
    """Integers with the affine map ``real = scale * (q - zero_point)``."""

    q: torch.Tensor  # int64
    scale: torch.Tensor  # float, per tensor (0-d) or per channel
    zero_point: torch.Tensor  # int64, same shape as scale
    bits: int
    signed: bool


class Quantizer(nn.Module):
    """Uniform affine quantizer, per tensor or per channel, 2..8 bits (16 allowed).

    ``signed=None`` (activations) picks unsigned with zero point 0 when calibration
    saw no negative value (outputs of ReLU), otherwise signed with a zero point.
    ``symmetric=True`` (weights) forces zero point 0 and ``[-2**(b-1)+1, 2**(b-1)-1]``
    scaling of ``max|x|``.
    """

    name = "base"

    def __init_subclass__(cls, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None:
            if name in _REGISTRY:
                raise ValueError(f"quantizer name {name!r} is already registered by {_REGISTRY[name]}")
            cls.name = name
            _REGISTRY[name] = cls

    def __init__(self, bits: int = 8, signed: bool | None = True, symmetric: bool = False,
                 per_channel: bool = False, ch_axis: int = 0):
        super().__init__()
        if not 2 <= bits <= 16:
            raise ValueError(f"bit width must be in 2..16, got {bits}")
        self.bits = bits
        self.signed_request = signed
        self.symmetric = symmetric
        self.per_channel = per_channel
        self.ch_axis = ch_axis
        self.observing = False
        self.enabled = True
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("zero_point", torch.zeros((), dtype=torch.int64))
        self.register_buffer("min_val", torch.tensor(float("inf"), dtype=torch.float64))
        self.register_buffer("max_val", torch.tensor(float("-inf"), dtype=torch.float64))
        self.register_buffer("signed_flag", torch.tensor(bool(signed) if signed is not None else True))

    # ---- ranges
    @property
    def signed(self) -> bool:
        return bool(self.signed_flag)

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def calibrated(self) -> bool:
        return bool(torch.isfinite(self.min_val).all())

    # ---- statistics
    def _reduce_dims(self, x: torch.Tensor) -> tuple[int, ...]:
        if not self.per_channel:
            return tuple(range(x.dim()))
        return tuple(d for d in range(x.dim()) if d != self.ch_axis % x.dim())

    def _channel_view(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Reshape a per-channel vector to broadcast against ``like``."""
        if t.dim() == 0:
            return t
        shape = [1] * like.dim()
        shape[self.ch_axis % like.dim()] = -1
        return t.reshape(shape)

    def observe(self, x: torch.Tensor) -> None:
        """Collect statistics of one calibration batch (default: running min / max)."""
        dims = self._reduce_dims(x)
        x = x.detach().to(torch.float64)
        lo, hi = x.amin(dim=dims), x.amax(dim=dims)
        if not self.calibrated:
            self.min_val, self.max_val = lo, hi
        else:
            self.min_val = torch.minimum(self.min_val, lo)
            self.max_val = torch.maximum(self.max_val, hi)

    def range_for_qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (lo, hi) real range to map onto the integer grid; observers override."""
        return self.min_val, self.max_val

    def compute_qparams(self) -> None:
        """Turn the observed statistics into ``scale`` and ``zero_point``."""
        if not self.calibrated:
            raise RuntimeError(f"{type(self).__name__} was never calibrated (no data observed)")
        lo, hi = self.range_for_qparams()
        lo = torch.minimum(lo, torch.zeros_like(lo))
        hi = torch.maximum(hi, torch.zeros_like(hi))
        if self.signed_request is None:
            self.signed_flag.fill_(bool((self.min_val < 0).any()))
        if self.symmetric or not self.signed:
            # zero point 0: symmetric signed, or unsigned non-negative data
            amax = torch.maximum(hi, -lo) if self.signed else hi
            qmax = self.qmax if not self.signed else (1 << (self.bits - 1)) - 1
            scale = amax / qmax
            zp = torch.zeros_like(scale, dtype=torch.int64)
        else:
            scale = (hi - lo) / (self.qmax - self.qmin)
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            zp = (self.qmin - torch.floor(lo / scale + 0.5)).to(torch.int64)
            zp = zp.clamp(self.qmin, self.qmax)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        self.set_qparams(scale, zp)

    def set_qparams(self, scale: torch.Tensor, zero_point: torch.Tensor) -> None:
        # Scales are kept at float32 precision: the float64 statistics that produced them
        # may differ in the last bits between CPUs; the rounding to float32 makes the
        # integer parameters (and so the golden files) reproducible across machines.
        self.scale = scale.detach().to(torch.float32).to(torch.float64).clone()
        self.zero_point = zero_point.detach().to(torch.int64).clone()

    # ---- the two paths
    def get_scale(self) -> torch.Tensor:
        """The scale used by both paths (LSQ returns its learned parameter)."""
        return self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observing:
            self.observe(x)
            return x
        if not self.enabled:
            return x
        return self.fake_quant(x)

    def training_scale(self, x: torch.Tensor) -> torch.Tensor:
        """The scale the fake-quant path differentiates through (LSQ rescales its gradient)."""
        return self.get_scale()

    def export_scale(self) -> torch.Tensor:
        """The scale the integer path uses: ``get_scale()`` rounded to float32 precision."""
        return self.get_scale().detach().to(torch.float32).to(torch.float64)

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        scale = self._channel_view(self.training_scale(x), x).to(x.dtype)
        zp = self._channel_view(self.zero_point, x).to(x.dtype)
        # clamp before rounding (same codes, since the bounds are integers) so values
        # inside the range get a gradient of exactly 1 and clipped ones exactly 0
        v = torch.clamp(x / scale, self.qmin - zp, self.qmax - zp)
        return round_half_up_ste(v) * scale

    @torch.no_grad()
    def quantize(self, x: torch.Tensor) -> QTensor:
        """The inference path: integer codes (int64) with their scale and zero point."""
        x = x.detach().to(torch.float64)
        scale = self.export_scale()
        zp = self.zero_point
        v = x / self._channel_view(scale, x)
        q = torch.clamp(torch.floor(v + 0.5).to(torch.int64) + self._channel_view(zp, x),
                        self.qmin, self.qmax)
        return QTensor(q, scale.clone(), zp.clone(), self.bits, self.signed)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Calibrated state has shapes an uncalibrated quantizer lacks (per-channel scales,
        # AdaRound's per-weight rounding): take them from the state dict, so a saved QModel
        # loads into a freshly built one.
        for name, t in [*self._buffers.items(), *self._parameters.items()]:
            saved = state_dict.get(prefix + name)
            if t is not None and saved is not None and saved.shape != t.shape:
                new = torch.empty_like(saved, dtype=t.dtype)
                if name in self._parameters:
                    self._parameters[name] = nn.Parameter(new, requires_grad=t.requires_grad)
                else:
                    self._buffers[name] = new
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        kind = "per-channel" if self.per_channel else "per-tensor"
        sign = {True: "signed", False: "unsigned", None: "auto-signed"}[self.signed_request]
        return f"bits={self.bits}, {sign}, {kind}, symmetric={self.symmetric}"
