"""Compare what the RTL produced with the reference: ``==`` on every element, never a tolerance.

:func:`compare` returns a :class:`Comparison`: how many elements were compared, how many
differ, and the first few with their index (named per axis, e.g. ``(n, c, h, w)``),
expected and got (``x`` where the simulator produced an unknown value) and, if given,
the operands at that element.  Every unit, layer and DUT test uses it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_SHOW = 8


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]
    expected: int
    got: int | None          # None: the simulator produced x/z (or no word at all)
    operands: str = ""       # "acc=5, m=7" at this element
    position: str = ""       # where the unit produced it, e.g. "vector 0 beat 1 lane 4"

    def line(self) -> str:
        got = "x" if self.got is None else self.got
        ops = f"  [{self.operands}]" if self.operands else ""
        at = f" at {self.position}" if self.position else ""
        return f"({', '.join(map(str, self.index))}): expected {self.expected}, got {got}{ops}{at}"


@dataclass
class Comparison:
    compared: int
    mismatches: int
    index_names: tuple[str, ...]
    first: list[Mismatch] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.compared > 0

    def message(self, title: str) -> str:
        """``title: 3 of 512 elements differ`` plus the first ones, or ``all N equal``."""
        if not self.mismatches:
            return f"{title}: all {self.compared} elements equal"
        lines = [f"{title}: {self.mismatches} of {self.compared} elements differ",
                 f"  first {len(self.first)} as ({', '.join(self.index_names)}):"]
        lines += [f"    {m.line()}" for m in self.first]
        return "\n".join(lines)


def index_names(shape, kind: str = "") -> tuple[str, ...]:
    """Axis names of a golden tensor: (n, c, h, w) for feature maps, (n, c) / (n, t, c) for
    token tensors, (b0, .., row, col) for a matmul's output."""
    if kind == "matmul":
        return tuple(f"b{i}" for i in range(len(shape) - 2)) + ("row", "col")
    return {4: ("n", "c", "h", "w"), 2: ("n", "c"), 3: ("n", "t", "c"), 1: ("i",)}.get(
        len(shape), tuple(f"d{i}" for i in range(len(shape))))


def compare(expected, got, *, valid=None, mask=None, names=None, inputs=None, position=None,
            max_show: int = MAX_SHOW) -> Comparison:
    """Compare ``got`` with ``expected`` element by element with ``==``.

    ``valid`` (False: the simulator gave x/z) and ``mask`` (False: not computed, not
    compared) broadcast to the shape; ``inputs`` maps operand names to arrays broadcastable
    to it, shown beside each listed mismatch; ``position(index) -> str`` says where the unit
    produced an element (its stream beat, lane, cycle), shown after it.
    """
    expected = np.asarray(expected)
    got = np.asarray(got)
    if expected.shape != got.shape:
        raise ValueError(f"expected shape {expected.shape}, got shape {got.shape}")
    names = tuple(names) if names is not None else index_names(expected.shape)
    if len(names) != expected.ndim:
        raise ValueError(f"{len(names)} index names for {expected.ndim} axes")
    bad = expected != got
    if valid is not None:
        invalid = ~np.broadcast_to(np.asarray(valid, dtype=bool), expected.shape)
        bad = bad | invalid
    else:
        invalid = np.zeros(expected.shape, dtype=bool)
    keep = np.ones(expected.shape, dtype=bool) if mask is None else \
        np.broadcast_to(np.asarray(mask, dtype=bool), expected.shape)
    bad = bad & keep
    ops = {k: np.broadcast_to(np.asarray(v), expected.shape) for k, v in (inputs or {}).items()}
    first = []
    for idx in np.argwhere(bad)[:max_show]:
        t = tuple(int(i) for i in idx)
        first.append(Mismatch(t, int(expected[t]), None if invalid[t] else int(got[t]),
                              " ".join(f"{k}={v[t]}" for k, v in ops.items()), position(t) if position else ""))
    return Comparison(int(keep.sum()), int(bad.sum()), names, first)
