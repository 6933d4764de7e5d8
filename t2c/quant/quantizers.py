"""Built-in quantizers: MinMax, MSE, Percentile (post-training), LSQ (QAT), AdaRound and QDrop
(post-training with layer-wise reconstruction, ``t2c.convert.reconstruct``)."""
from __future__ import annotations

import math

import torch
from torch import nn

from .base import QTensor, Quantizer


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


class AdaRoundQuantizer(Quantizer, name="adaround"):
    """AdaRound (Nagel et al., 2020, "Up or Down? Adaptive Rounding for Post-Training
    Quantization"): each weight rounds down or up, as learned on calibration data.

    The scale comes from min/max like ``minmax``.  ``t2c.convert.reconstruct`` then
    optimises, layer by layer, a continuous variable ``alpha`` per weight through the
    rectified sigmoid ``h(alpha) = clamp(sigmoid(alpha) (zeta - gamma) + gamma, 0, 1)``
    (zeta = 1.1, gamma = -0.1): the layer output with weights ``s (floor(w / s) + h)`` is
    fitted to the float layer's output, with the regulariser
    ``lambda sum(1 - |2h - 1|^beta)`` annealed (beta 20 -> 2) to push every ``h`` to 0 or 1.
    The result is a plain 0/1 ``rounding`` per weight: codes
    ``clamp(floor(w / s) + rounding, qmin, qmax)`` on both paths (fake-quant and integer),
    so the integer weights are what was learned.  A weight that is exactly zero (pruned)
    keeps code 0.  Before reconstruction it rounds to nearest, as ``minmax``.
    """

    ZETA, GAMMA = 1.1, -0.1
    needs_reconstruction = True

    def __init__(self, *args, iters: int = 1000, reg_weight: float = 0.01, lr: float = 1e-2,
                 beta: tuple[float, float] = (20.0, 2.0), warmup: float = 0.2, **kwargs):
        super().__init__(*args, **kwargs)
        self.iters, self.reg_weight, self.lr = iters, reg_weight, lr
        self.beta, self.warmup = beta, warmup
        self.register_buffer("rounding", torch.zeros(0, dtype=torch.uint8))  # empty: nearest
        self.alpha: nn.Parameter | None = None  # only while reconstructing

    def _floor(self, w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return torch.floor(w.detach() / self._channel_view(scale, w).to(w.dtype))

    def start_reconstruction(self, w: torch.Tensor) -> nn.Parameter:
        """Initialise ``alpha`` so that ``h(alpha)`` equals each weight's rounding remainder."""
        v = w.detach().to(torch.float64) / self._channel_view(self.get_scale(), w)
        rest = (v - torch.floor(v)).clamp(1e-6, 1 - 1e-6)
        alpha = -torch.log((self.ZETA - self.GAMMA) / (rest - self.GAMMA) - 1)
        self.alpha = nn.Parameter(alpha.to(w.dtype))
        return self.alpha

    def soft_rounding(self) -> torch.Tensor:
        return torch.clamp(torch.sigmoid(self.alpha) * (self.ZETA - self.GAMMA) + self.GAMMA, 0, 1)

    def regulariser(self, beta: float) -> torch.Tensor:
        return (1 - (2 * self.soft_rounding() - 1).abs().pow(beta)).sum()

    def finish_reconstruction(self) -> None:
        """Fix ``rounding = h(alpha) >= 0.5`` (alpha >= 0) and drop ``alpha``."""
        self.rounding = (self.alpha.detach() >= 0).to(torch.uint8)
        self.alpha = None

    def _codes(self, w: torch.Tensor, scale: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        q = torch.clamp(self._floor(w, scale) + r, self.qmin, self.qmax)
        return torch.where(w.detach() == 0, torch.zeros_like(q), q)

    def _check_shape(self, w: torch.Tensor) -> None:
        if tuple(self.rounding.shape) != tuple(w.shape):
            raise ValueError(f"adaround: the learned rounding has shape {tuple(self.rounding.shape)}, the "
                             f"weight {tuple(w.shape)}")

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        if self.alpha is None and self.rounding.numel() == 0:
            return super().fake_quant(x)
        scale = self.get_scale()
        if self.alpha is not None:
            r = self.soft_rounding()
        else:
            self._check_shape(x)
            r = self.rounding.to(x.dtype)
        q = self._codes(x, scale, r) * self._channel_view(scale, x).to(x.dtype)
        return q + (x - x.detach())  # weights keep a straight-through gradient (QAT after AdaRound)

    @torch.no_grad()
    def quantize(self, x: torch.Tensor) -> QTensor:
        if self.rounding.numel() == 0:
            return super().quantize(x)
        self._check_shape(x)
        x = x.detach().to(torch.float64)
        scale = self.export_scale()
        q = self._codes(x, scale, self.rounding.to(torch.float64)).to(torch.int64)
        return QTensor(q, scale.clone(), self.zero_point.clone(), self.bits, self.signed)


class QDropQuantizer(LSQQuantizer, name="qdrop"):
    """QDrop (Wei et al., 2022, "QDrop: Randomly Dropping Quantization for Extremely Low-bit
    Post-Training Quantization"): an activation quantizer with a learned step (as LSQ)
    fitted by layer-wise reconstruction (``t2c.convert.reconstruct``), during which each
    element's quantization is dropped (its float value passes) with probability
    ``drop_prob`` (0.5 as in the paper), so the weights are fitted to a flatter
    neighbourhood of the activation noise.  Outside reconstruction (and in the integer
    path) it is an ordinary quantizer with the learned scale.
    """

    needs_reconstruction = True

    def __init__(self, *args, drop_prob: float = 0.5, iters: int = 500, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= drop_prob <= 1.0:
            raise ValueError(f"qdrop: drop_prob must be in [0, 1], got {drop_prob}")
        self.drop_prob = drop_prob
        self.iters = iters  # reconstruction steps when the layer's weights do not set them (AdaRound)
        self.dropping = False  # set by reconstruction only

    def fake_quant(self, x: torch.Tensor) -> torch.Tensor:
        y = super().fake_quant(x)
        if self.dropping and self.drop_prob > 0:
            return torch.where(torch.rand_like(x) < self.drop_prob, x, y)
        return y
