"""Memory images of the unit testbenches and the simulators' output dumps.

Input images are ``$readmemh`` files written by :func:`t2c.export.write_words` (the same
writer as ``t2c export``) with one guard word after the data, ``GUARD_PATTERN`` cut to the
word width: a testbench proves the whole file was loaded by reading that word back
(a missing or short file leaves x on Icarus and 0 on Verilator, and a test could
otherwise pass on them).  Outputs are read back with :func:`t2c.export.read_dump`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..export.formats import read_dump, write_words
from ..export.layout import as_limbs, guard_value, limbs_to_int


def to_words(values, bits: int) -> np.ndarray:
    """Integers (two's complement when negative) as ``[n, limbs]`` unsigned ``bits``-bit words."""
    v = np.asarray(values).reshape(-1)
    lo, hi = -(1 << (bits - 1)), (1 << bits) - 1
    if v.dtype != object and bits <= 62:
        a = v.astype(np.int64)
        if a.size and (int(a.min()) < lo or int(a.max()) > hi):
            raise ValueError(f"values {int(a.min())}..{int(a.max())} do not fit {bits} bits")
        return (a & np.int64((1 << bits) - 1)).astype(np.uint64).reshape(-1, 1)
    ints = [int(x) for x in v.tolist()]
    if ints and (min(ints) < lo or max(ints) > hi):
        raise ValueError(f"values {min(ints)}..{max(ints)} do not fit {bits} bits")
    return as_limbs([x & ((1 << bits) - 1) for x in ints], bits)


@dataclass(frozen=True)
class Image:
    """An input image: the HDL file parameter that names it, where it is, its data words,
    and the words to read back after the run to prove it was loaded: ``checks`` are
    (index, unsigned word) pairs of ``memory`` (a hierarchical name below the top, e.g.
    ``u_x.mem`` for the tb_image instance ``u_x``).  A guarded image checks its guard word;
    a table without one (a ROM's INIT_FILE) checks every entry."""

    parameter: str
    path: Path
    words: int
    memory: str | None = None
    checks: tuple[tuple[int, int], ...] = ()


def write_image(path, values, bits: int, *, parameter: str, memory: str | None = None,
                guard: bool = True) -> Image:
    """Write ``values`` (one per word) as a ``$readmemh`` image, plus a guard word.

    Without ``guard`` (a ROM table loaded by the unit itself, at most a few thousand words)
    every word is checked instead: an unloaded table reads 0 on Verilator, which a table
    of mostly zeros would otherwise pass.
    """
    path = Path(path).resolve()
    words = to_words(values, bits)
    n = int(words.shape[0])
    if guard:
        checks = ((n, guard_value(bits)),)
        words = np.concatenate([words, as_limbs([guard_value(bits)], bits)])
    else:
        checks = tuple((i, limbs_to_int(words[i])) for i in range(n))
    write_words(path, words, bits, "hex")
    return Image(parameter, path, n, memory, checks if memory else ())


def read_values(path, bits: int, signed: bool, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``$writememh`` dump as integers: ``(values, valid)`` (int64, or object above 62 bits)."""
    limbs, valid = read_dump(path, bits, count)
    if bits <= 62:
        v = limbs[:, 0].astype(np.int64)
        if signed:
            v = np.where(v >> (bits - 1) & 1, v - (1 << bits), v)
        return v, valid
    ints = [limbs_to_int(w) for w in limbs]
    if signed:
        ints = [x - (1 << bits) if x >> (bits - 1) else x for x in ints]
    return np.array(ints, dtype=object), valid
