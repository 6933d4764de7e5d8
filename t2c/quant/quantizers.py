"""Built-in quantizers: MinMax, MSE, Percentile (post-training) and LSQ (QAT)."""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import Quantizer


class MinMaxQuantizer(Quantizer, name="minmax"):
    """Scale from the running min / max seen during calibration."""


class _ClippedRangeQuantizer(Quantizer):
    """Base of observers that pick a clipped range per batch and average it over batches."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("clip_lo", torch.zeros((), dtype=torch.float64))
        self.register_buffer("clip_hi", torch.zeros((), dtype=torch.float64))
        self.batches = 0

    def add_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        n = self.batches
        self.clip_lo = (self.clip_lo * n + lo) / (n + 1)
        self.clip_hi = (self.clip_hi * n + hi) / (n + 1)
        self.batches = n + 1

    def range_for_qparams(self):
        return self.clip_lo, self.clip_hi


class MSEQuantizer(_ClippedRangeQuantizer, name="mse"):
    """Clip the range to the fraction of min/max that minimises the quantization MSE.

    Each calibration batch (weights: the tensor itself) is searched over ``grid``
    clipping ratios in ``[min_ratio, 1]``; the chosen ranges are averaged over batches.
    """

    def __init__(self, *args, grid: int = 40, min_ratio: float = 0.3, **kwargs):
        super().__init__(*args, **kwargs)
        self.grid = grid
        self.min_ratio = min_ratio

    def _qdq(self, x, lo, hi):
        levels = (1 << self.bits) - 1
        if self.symmetric:
            amax = torch.maximum(hi, -lo)
            scale = (amax / ((1 << (self.bits - 1)) - 1)).clamp_min(1e-12)
            q = torch.clamp(torch.floor(x / scale + 0.5), -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1)
            return q * scale
        scale = ((hi - lo) / levels).clamp_min(1e-12)
        zp = torch.floor(-lo / scale + 0.5)
        q = torch.clamp(torch.floor(x / scale + 0.5) + zp, 0, levels)
        return (q - zp) * scale

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        super().observe(x)
        dims = self._reduce_dims(x)
        x = x.detach().to(torch.float64)
        lo = torch.minimum(x.amin(dim=dims), torch.zeros(()))
        hi = torch.maximum(x.amax(dim=dims), torch.zeros(()))
        best_err, best_lo, best_hi = None, lo, hi
        for r in torch.linspace(self.min_ratio, 1.0, self.grid, dtype=torch.float64):
            clo, chi = lo * r, hi * r
            err = (self._qdq(x, self._channel_view(clo, x), self._channel_view(chi, x)) - x)
            err = err.pow(2).mean(dim=dims)
            if best_err is None:
                best_err, best_lo, best_hi = err, clo, chi
            else:
                better = err < best_err
                best_err = torch.where(better, err, best_err)
                best_lo = torch.where(better, clo, best_lo)
                best_hi = torch.where(better, chi, best_hi)
        self.add_range(best_lo, best_hi)


class PercentileQuantizer(_ClippedRangeQuantizer, name="percentile"):
    """Range from the ``percentile`` / ``100 - percentile`` quantiles, averaged over batches."""

    def __init__(self, *args, percentile: float = 99.99, **kwargs):
        super().__init__(*args, **kwargs)
        self.percentile = percentile

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        super().observe(x)
        x = x.detach().to(torch.float64)
        if self.per_channel:
            flat = x.transpose(0, self.ch_axis % x.dim()).reshape(x.shape[self.ch_axis], -1)
        else:
            flat = x.reshape(1, -1)
        q = torch.tensor([1 - self.percentile / 100, self.percentile / 100], dtype=torch.float64)
        lo, hi = torch.quantile(flat, q, dim=1)
        if not self.per_channel:
            lo, hi = lo[0], hi[0]
        self.add_range(lo, hi)


class LSQQuantizer(Quantizer, name="lsq"):
    """Learned step size (Esser et al., 2020): the scale is a trained parameter.

    Initialised from the min/max calibration; its gradient is scaled by
    ``1 / sqrt(numel * qmax)`` as in the paper.  The zero point stays fixed.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.learned_scale = nn.Parameter(torch.ones((), dtype=torch.float64))

    def set_qparams(self, scale, zero_point):
        super().set_qparams(scale, zero_point)
        with torch.no_grad():
            self.learned_scale = nn.Parameter(self.scale.clone())

    def get_scale(self) -> torch.Tensor:
        return self.learned_scale.abs().clamp_min(1e-12)

    def training_scale(self, x: torch.Tensor) -> torch.Tensor:
        per = x.numel() // max(1, self.learned_scale.numel())
        g = 1.0 / math.sqrt(per * max(1, self.qmax))
        s = self.learned_scale
        s = (s - s * g).detach() + s * g  # value s, gradient scaled by g
        return s.abs().clamp_min(1e-12)
