"""Weight pruning patterns and their masks (numpy only: importable without torch).

A pattern is what ``--prune`` and a config's ``prune`` key say:

* ``"N:M"`` (``2:4``, ``1:4``, ``4:8``; M a power of two up to 16, ``1 <= N < M``):
  structured sparsity.  A conv weight ``[Cout, Cin/g, kh, kw]`` or linear ``[Cout, Cin]``
  is viewed as ``W[Cout, K]`` (``K = Cin/g * kh * kw``, row-major); each row is cut into
  groups of M consecutive reduction elements (the last group of a row is shorter when M
  does not divide K) and every group keeps its N largest magnitudes;
* a fraction in ``[0, 1)`` (``0.5``): element-wise magnitude pruning, the
  ``round(fraction * numel)`` smallest magnitudes of each layer become zero;
* ``"dense"``: no pruning (to exempt a layer in a ``[[layer]]`` rule).

Ties are broken by position (the earlier element is kept), so a mask is a function of the
weight alone.  ``GradualPruning`` raises a layer's sparsity during QAT (Zhu & Gupta 2017:
``s_t = s (1 - (1 - t / T)^3)``); an N:M mask is recomputed from the weights each epoch
until the ramp ends, then frozen.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_M = 16


@dataclass(frozen=True)
class PruneSpec:
    """A parsed pattern: N:M (``n``, ``m``) or element-wise (``fraction``)."""

    n: int | None = None
    m: int | None = None
    fraction: float | None = None

    @property
    def structured(self) -> bool:
        return self.m is not None

    @property
    def pattern(self) -> str:
        """What the exported images record: ``"N:M"`` or ``"element"``."""
        return f"{self.n}:{self.m}" if self.structured else "element"

    @property
    def target(self) -> float:
        """The fraction of zeros the pattern asks for (N:M: 1 - N/M)."""
        return 1.0 - self.n / self.m if self.structured else self.fraction

    def __str__(self) -> str:
        return self.pattern if self.structured else f"{self.fraction:g}"


def parse_prune(text: str, what: str = "--prune") -> PruneSpec | None:
    """``"2:4"`` -> PruneSpec(2, 4); ``"0.5"`` -> PruneSpec(fraction=0.5); ``"dense"`` -> None."""
    if not isinstance(text, str):
        raise ValueError(f"{what} takes a string like \"2:4\" or \"0.5\", got {text!r}")
    t = text.strip()
    if t == "dense":
        return None
    if ":" in t:
        a, _, b = t.partition(":")
        try:
            n, m = int(a), int(b)
        except ValueError:
            raise ValueError(f"{what} {text}: N:M takes two integers, e.g. 2:4") from None
        if n < 1:
            raise ValueError(f"{what} {text}: N must be at least 1")
        if n >= m:
            raise ValueError(f"{what} {text}: N must be smaller than M")
        if m & (m - 1):
            raise ValueError(f"{what} {text}: M must be a power of two")
        if m > MAX_M:
            raise ValueError(f"{what} {text}: M must be at most {MAX_M}")
        return PruneSpec(n=n, m=m)
    try:
        f = float(t)
    except ValueError:
        raise ValueError(f"{what} {text}: expected N:M (e.g. 2:4), a sparsity fraction in [0, 1) "
                         "(e.g. 0.5) or dense") from None
    if not 0.0 <= f < 1.0:
        raise ValueError(f"{what} {text}: the sparsity fraction must be in [0, 1)")
    return PruneSpec(fraction=f)


def _order(mag: np.ndarray) -> np.ndarray:
    """Indices sorting ``mag`` (1-D) by descending magnitude, earlier position first on ties."""
    return np.lexsort((np.arange(mag.size), -mag))


def magnitude_mask(w: np.ndarray, fraction: float) -> np.ndarray:
    """1 where kept: all but the ``round(fraction * numel)`` smallest magnitudes."""
    mag = np.abs(np.asarray(w, dtype=np.float64)).reshape(-1)
    keep = mag.size - int(round(fraction * mag.size))
    mask = np.zeros(mag.size, dtype=np.uint8)
    mask[_order(mag)[:keep]] = 1
    return mask.reshape(np.shape(w))


def nm_groups(w2d: np.ndarray, m: int, fill=0) -> np.ndarray:
    """``W[Cout, K]`` -> ``[Cout, G, m]``: groups of M consecutive k of each row, the short
    last group padded with ``fill``."""
    cout, k = w2d.shape
    g = -(-k // m)
    if g * m != k:
        w2d = np.pad(w2d, ((0, 0), (0, g * m - k)), constant_values=fill)
    return w2d.reshape(cout, g, m)


def nm_mask(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """1 where kept: the N largest magnitudes of every group of M along each row's K."""
    w = np.asarray(w, dtype=np.float64)
    rows = w.reshape(w.shape[0], -1)
    k = rows.shape[1]
    mag = nm_groups(np.abs(rows), m, fill=-1.0).reshape(-1, m)  # padding never wins a slot
    # descending magnitude, earlier position first on ties: rank by (-mag, position)
    order = np.lexsort((np.broadcast_to(np.arange(m), mag.shape), -mag), axis=-1)
    mask = np.zeros(mag.shape, dtype=np.uint8)
    np.put_along_axis(mask, order[:, :n], 1, axis=-1)
    mask = mask.reshape(rows.shape[0], -1)[:, :k]
    return mask.reshape(w.shape)


def mask_for(w: np.ndarray, spec: PruneSpec, fraction: float | None = None) -> np.ndarray:
    """The mask of ``spec`` for weight ``w`` (``fraction`` overrides an element-wise target)."""
    if spec.structured:
        return nm_mask(w, spec.n, spec.m)
    return magnitude_mask(w, spec.fraction if fraction is None else fraction)


def sparsity(w: np.ndarray) -> float:
    """The fraction of elements that are exactly zero."""
    w = np.asarray(w)
    return float((w == 0).sum()) / max(1, w.size)


class GradualPruning:
    """Raise the sparsity of every pruned layer of a QModel during QAT.

    ``schedule = GradualPruning(qmodel, epochs)``, then call ``schedule(epoch)`` at the
    start of every epoch (``t2c.models.train_digits.train(..., on_epoch=schedule)``).
    Element-wise layers follow ``s_t = s (1 - (1 - t / T)^3)`` with ``T = ramp * epochs``
    (the target is reached after ``ramp`` of the epochs and then held); N:M layers get
    their mask recomputed from the current weights each epoch until ``T``, then frozen.
    The masks live in the QModel (``qmodel.set_mask``), so fine-tuning keeps them.
    """

    def __init__(self, qmodel, epochs: int, ramp: float = 2 / 3):
        if epochs < 1:
            raise ValueError("GradualPruning needs epochs >= 1")
        self.qmodel = qmodel
        self.ramp_epochs = max(1, int(round(ramp * epochs)))
        self.layers = {name: lc.prune_spec for name, lc in qmodel.layer_configs.items()
                       if lc.prune_spec is not None and name in qmodel.masked_layers()}
        if not self.layers:
            raise ValueError("GradualPruning: no layer of this QModel is pruned (set QConfig(prune=...))")

    def fraction_at(self, spec: PruneSpec, epoch: int) -> float:
        t = min(1.0, epoch / self.ramp_epochs)
        return spec.target * (1.0 - (1.0 - t) ** 3)

    def __call__(self, epoch: int) -> None:
        if epoch > self.ramp_epochs:
            return
        for name, spec in self.layers.items():
            w = self.qmodel.dense_weight(name)
            if spec.structured:
                mask = mask_for(w, spec)
            else:
                mask = mask_for(w, spec, self.fraction_at(spec, epoch))
            self.qmodel.set_mask(name, mask)
