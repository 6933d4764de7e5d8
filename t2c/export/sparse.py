"""Compressed memory images of pruned weights: N:M structured and element-wise (bitmask).

A conv weight ``[Cout, Cin/g, kh, kw]`` or linear ``[Cout, Cin]`` is viewed as the matrix
``W[Cout, K] = w.reshape(Cout, -1)`` (``K = prod(shape[1:])``, row-major).

**N:M.**  Group ``g`` of row ``o`` covers ``k`` in ``[g*M, (g+1)*M)``; when ``M`` does not
divide ``K`` the last group of each row is shorter (its missing positions read as zero).
A weight meets N:M when no group holds more than ``N`` non-zeros.  Each group is stored as
exactly ``N`` slots ``(value, index)`` with the *canonical* rule:

* the slots hold the group's non-zero positions plus, as *fill slots*, the smallest
  positions of ``[0, M)`` that hold no non-zero (as many as needed to make ``N``);
* the slots are in increasing position order, so the indices of a group are strictly
  increasing, and every index is ``< M``;
* a slot's value is the weight at its position (0 for a fill slot), so a non-zero value
  always sits at a position ``<`` the group's real length; fill slots lie beyond the
  real length only when that length is smaller than ``N``.

Every dense weight that meets N:M has exactly one such encoding, and ``nm_decompress``
accepts only that one: an index out of range, out of order, a fill slot that is not a
smallest free position or a non-zero beyond the real length raises ``ValueError``.

**Element-wise.**  One mask bit per element of ``W`` (1 = non-zero) and the non-zero
values in row-major order.  A stored value of 0, a mask bit that is not 0/1, or a number
of set bits different from the number of values raises ``ValueError``.

On disk (through ``write_memory``, so every format, the sidecar and its sha256 work as
for the dense images; see docs/formats.md, "Sparse weight images"):

=================================  ===========================================================
``<layer>.weight_nm_values.<ext>``  one word per group (address ``o*G + g``): its N values,
                                    signed ``wbits`` each, slot 0 in the low bits
``<layer>.weight_nm_index.<ext>``   one word per group, same address: its N indices,
                                    unsigned ``log2(M)`` bits each, slot 0 in the low bits
``<layer>.weight_mask.<ext>``       the ``[Cout, K]`` mask, 1 bit per element, 32-bit words,
                                    each row of W starting a new word
``<layer>.weight_nz.<ext>``         the non-zero values, signed ``wbits``, ``lanes`` per word
=================================  ===========================================================

Each record's meta holds ``layer``, ``tensor``, ``pattern`` (``"2:4"`` / ``"element"``),
``wbits``, ``weight_shape`` and ``n``, ``m``, ``groups`` (N:M) or ``nnz`` (element), so
``read_sparse_weight(directory, layer)`` needs nothing else.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..sparsity import nm_groups, parse_prune
from .formats import EXTENSIONS, SIDECAR_NAME, read_memory, read_sidecar, write_memory, write_sidecar
from .layout import Layout, as_int_array, check_fits

ELEMENT = "element"
NM_VALUES, NM_INDEX = "weight_nm_values", "weight_nm_index"
MASK, NZ = "weight_mask", "weight_nz"
SPARSE_TENSORS = (NM_VALUES, NM_INDEX, MASK, NZ)
MASK_WORD_BITS = 32
LAYOUT_OPTIONS = ("lane_order", "endian", "depth_pow2")  # what a caller may change in the layouts



# =================================================================================
# patterns
# =================================================================================

def parse_pattern(spec: str | Sequence[int] | None, what: str = "sparsity pattern") -> tuple[int, int] | None:
    """``"2:4"`` -> ``(2, 4)``; ``"element"`` (or None) -> None.

    N:M needs ``1 <= N < M <= 16`` with M a power of two (``t2c.sparsity.parse_prune``);
    anything else is a one-line ValueError starting with ``what``.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == ELEMENT):
        return None
    if isinstance(spec, str):
        text = spec.strip()
    else:
        try:
            text = "{}:{}".format(*(int(x) for x in spec))
        except (TypeError, ValueError, IndexError):
            text = repr(spec)
    if ":" not in text:
        raise ValueError(f"{what} {spec!r}: expected N:M (e.g. 2:4) or {ELEMENT!r}")
    p = parse_prune(text, what)
    return p.n, p.m


def pattern_name(nm: tuple[int, int] | None) -> str:
    """``(2, 4)`` -> ``"2:4"``, None -> ``"element"``."""
    return ELEMENT if nm is None else f"{nm[0]}:{nm[1]}"


def index_bits(m: int) -> int:
    """Bits of one N:M index: ``log2(m)``."""
    return max(1, int(m).bit_length() - 1)


def _nm(n: int, m: int) -> tuple[int, int]:
    nm = parse_pattern((n, m))
    assert nm is not None
    return nm


# =================================================================================
# N:M in memory
# =================================================================================

def _as_matrix(w: Any, what: str = "weight") -> np.ndarray:
    a = as_int_array(w, what).astype(np.int64, copy=False)
    if a.ndim < 2:
        raise ValueError(f"{what} must be at least 2-D [Cout, ...], got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape})")
    return a.reshape(a.shape[0], -1)


def _group_counts(w2d: np.ndarray, m: int) -> np.ndarray:
    return (nm_groups(w2d, m) != 0).sum(axis=-1)


def nm_violations(w2d: Any, n: int, m: int) -> int:
    """Number of groups of ``w2d`` (any ``[Cout, ...]`` weight) with more than ``n`` non-zeros."""
    n, m = _nm(n, m)
    return int((_group_counts(_as_matrix(w2d), m) > n).sum())


def check_nm(w: Any, n: int, m: int, what: str = "weight") -> None:
    """Raise ValueError naming the first row/group of ``w`` with more than ``n`` non-zeros."""
    n, m = _nm(n, m)
    w2 = _as_matrix(w, what)
    counts = _group_counts(w2, m)
    bad = counts > n
    if bad.any():
        o, g = (int(i) for i in np.argwhere(bad)[0])
        hi = min((g + 1) * m, w2.shape[1]) - 1
        raise ValueError(
            f"{what} does not meet {n}:{m}: row {o} group {g} (k {g * m}..{hi}) has {int(counts[o, g])} "
            f"non-zeros; {int(bad.sum())} of {bad.size} groups have more than {n}")


def _canonical_index(wp: np.ndarray, n: int) -> np.ndarray:
    """Canonical slot positions ``[Cout, G, n]`` of grouped weights ``[Cout, G, m]`` that meet N:M."""
    nz = wp != 0
    free = ~nz
    need = n - nz.sum(axis=-1, keepdims=True)
    rank = np.cumsum(free, axis=-1) - 1  # rank of a free position among the free ones
    sel = nz | (free & (rank < need))
    return np.nonzero(sel)[-1].reshape(wp.shape[0], wp.shape[1], n).astype(np.int64)


def nm_compress(w: Any, n: int, m: int, what: str = "weight") -> tuple[np.ndarray, np.ndarray]:
    """Dense weight meeting N:M -> ``(values, index)``, both ``[Cout, G, n]`` int64 (module docstring).

    A weight that does not meet N:M raises ValueError (``check_nm``, naming ``what``)."""
    n, m = _nm(n, m)
    w2 = _as_matrix(w, what)
    check_nm(w2, n, m, what)
    wp = nm_groups(w2, m)
    index = _canonical_index(wp, n)
    return np.take_along_axis(wp, index, axis=-1), index


def _first(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0])


def nm_decompress(values: Any, index: Any, n: int, m: int, shape: Sequence[int]) -> np.ndarray:
    """Inverse of ``nm_compress``: the dense int64 weight of ``shape``.

    Validates the encoding and raises ValueError (naming row, group and slot) on an index
    outside ``[0, m)``, indices of a group not strictly increasing, a non-zero value at a
    position beyond the group's real length, or fill slots that are not the canonical
    ones: only the exact output of ``nm_compress`` is accepted.
    """
    n, m = _nm(n, m)
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"weight shape must be [Cout, ...] with every size >= 1, got {shape}")
    cout, k = shape[0], math.prod(shape[1:])
    g = -(-k // m)
    v = as_int_array(values, "N:M values").astype(np.int64, copy=False)
    ix = as_int_array(index, "N:M index").astype(np.int64, copy=False)
    for name, a in (("values", v), ("index", ix)):
        if a.shape != (cout, g, n):
            raise ValueError(f"N:M {name} have shape {a.shape}, expected {(cout, g, n)} for a "
                             f"{'x'.join(map(str, shape))} weight at {n}:{m}")
    bad = (ix < 0) | (ix >= m)
    if bad.any():
        o, gg, s = _first(bad)
        raise ValueError(f"N:M index: row {o} group {gg} slot {s}: index {int(ix[o, gg, s])} "
                         f"outside 0..{m - 1} (corrupted image?)")
    if n > 1:
        bad = np.diff(ix, axis=-1) <= 0
        if bad.any():
            o, gg, _ = _first(bad)
            raise ValueError(f"N:M index: row {o} group {gg}: indices {ix[o, gg].tolist()} are not "
                             f"strictly increasing (corrupted image?)")
    wp = np.zeros((cout, g, m), dtype=np.int64)
    np.put_along_axis(wp, ix, v, axis=-1)
    real = k - (g - 1) * m
    if real < m:
        bad = wp[:, -1, real:] != 0
        if bad.any():
            o, p = _first(bad)
            raise ValueError(f"N:M values: row {o} group {g - 1}: non-zero value {int(wp[o, -1, real + p])} at "
                             f"position {real + p}, beyond the group's length {real} (corrupted image?)")
    canon = _canonical_index(wp, n)
    bad = (canon != ix).any(axis=-1)
    if bad.any():
        o, gg = _first(bad)
        raise ValueError(
            f"N:M index: row {o} group {gg}: indices {ix[o, gg].tolist()} with values {v[o, gg].tolist()} "
            f"are not canonical (fill slots take the smallest free positions: expected "
            f"{canon[o, gg].tolist()}; corrupted image?)")
    return np.ascontiguousarray(wp.reshape(cout, g * m)[:, :k]).reshape(shape)


# =================================================================================
# element-wise (bitmask) in memory
# =================================================================================

def bitmask_compress(w: Any) -> tuple[np.ndarray, np.ndarray]:
    """Dense weight -> ``(mask [Cout, K] int64 0/1, the non-zero values in row-major order)``."""
    w2 = _as_matrix(w)
    nz = w2 != 0
    return nz.astype(np.int64), w2[nz]


def bitmask_decompress(mask: Any, values: Any, shape: Sequence[int]) -> np.ndarray:
    """Inverse of ``bitmask_compress``: the dense int64 weight of ``shape``.

    Raises ValueError when the mask is not ``[Cout, K]`` of 0/1, when a stored value is 0
    (a zero is never stored: it means a corrupted image), or when the number of set bits
    differs from the number of values.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"weight shape must be [Cout, ...] with every size >= 1, got {shape}")
    cout, k = shape[0], math.prod(shape[1:])
    mk = as_int_array(mask, "mask")
    vals = as_int_array(values, "values").astype(np.int64, copy=False).reshape(-1)
    if mk.shape != (cout, k):
        raise ValueError(f"mask has shape {mk.shape}, expected {(cout, k)} for a {'x'.join(map(str, shape))} weight")
    bad = (mk != 0) & (mk != 1)
    if bad.any():
        o, kk = _first(bad)
        raise ValueError(f"mask: row {o} k {kk}: {int(mk[o, kk])} is not a bit")
    zero = vals == 0
    if zero.any():
        raise ValueError(f"bitmask values: value {int(np.argmax(zero))} of {vals.size} is 0; only non-zeros "
                         f"are stored (corrupted image?)")
    sel = mk.astype(bool)
    ones = int(sel.sum())
    if ones != vals.size:
        raise ValueError(f"bitmask: the mask has {ones} set bits but there are {vals.size} values "
                         f"(corrupted image?)")
    dense = np.zeros((cout, k), dtype=np.int64)
    dense[sel] = vals
    return dense.reshape(shape)


# =================================================================================
# layouts
# =================================================================================

def _options(layout: Mapping[str, Any] | None) -> dict[str, Any]:
    opts = dict(layout or {})
    extra = set(opts) - set(LAYOUT_OPTIONS)
    if extra:
        raise ValueError(f"sparse image layouts take only {', '.join(LAYOUT_OPTIONS)}; got {sorted(extra)}")
    return opts


def nm_layouts(n: int, m: int, wbits: int, layout: Mapping[str, Any] | None = None) -> tuple[Layout, Layout]:
    """(values layout, index layout) of N:M images: one group per word in both."""
    n, m = _nm(n, m)
    opts = _options(layout)
    ib = index_bits(m)
    return (Layout(word_bits=n * wbits, elem_bits=wbits, signed=True, **opts),
            Layout(word_bits=n * ib, elem_bits=ib, signed=False, **opts))


def bitmask_layouts(wbits: int, lanes: int = 8, layout: Mapping[str, Any] | None = None,
                    mask_word_bits: int = MASK_WORD_BITS) -> tuple[Layout, Layout]:
    """(mask layout, non-zero values layout) of element-wise images."""
    opts = _options(layout)
    return (Layout(word_bits=mask_word_bits, elem_bits=1, signed=False, **opts),
            Layout(word_bits=lanes * wbits, elem_bits=wbits, signed=True, **opts))


# =================================================================================
# on disk
# =================================================================================

def sparse_file(layer: str, tensor: str, fmt: str) -> str:
    """``<layer>.<tensor><ext>``, as the dense images are named."""
    return f"{layer}.{tensor}{EXTENSIONS[fmt]}"


def write_sparse_images(directory: str | os.PathLike, layer_name: str, w: Any, wbits: int,
                        pattern: str | Sequence[int] | None, fmt: str = "hex", *, lanes: int = 8,
                        layout: Mapping[str, Any] | None = None, mask_word_bits: int = MASK_WORD_BITS,
                        meta: Mapping[str, Any] | None = None, sidecar: bool = True) -> list[dict]:
    """Write the compressed images of one layer's integer weight ``w`` into ``directory``.

    ``pattern``: ``"N:M"`` (values + index images) or ``"element"`` (mask + non-zero
    values images).  Returns the sidecar records.  With ``sidecar`` they are merged into
    ``directory/memories.json`` (records of other files kept, same-named ones replaced);
    ``export_model`` passes False and writes one sidecar for everything.  ``layout`` may
    set ``lane_order``, ``endian``, ``depth_pow2`` of the images; ``meta`` adds record keys.
    Every check (pattern, value range, N:M) runs before the first file is written.
    """
    directory = Path(directory)
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(EXTENSIONS)}")
    nm = parse_pattern(pattern)
    what = f"layer {layer_name!r} weight"
    a = as_int_array(w, what)
    w2 = _as_matrix(a, what)
    wbits = int(wbits)
    if not 2 <= wbits <= 32:
        raise ValueError(f"{what}: wbits must be in 2..32, got {wbits}")
    check_fits(a, -(1 << (wbits - 1)), (1 << (wbits - 1)) - 1, f"{what}: signed {wbits}-bit")
    base = {"layer": layer_name, **(meta or {}), "pattern": pattern_name(nm), "wbits": wbits,
            "weight_shape": [int(s) for s in a.shape]}
    if nm is not None:
        n, m = nm
        values, index = nm_compress(w2, n, m, what)
        lv, li = nm_layouts(n, m, wbits, layout)
        cout, g, _ = values.shape
        base.update(n=n, m=m, groups=g)
        images = [(NM_VALUES, values.reshape(cout * g, n), lv), (NM_INDEX, index.reshape(cout * g, n), li)]
    else:
        mask, nzv = bitmask_compress(w2)
        lm, lz = bitmask_layouts(wbits, lanes, layout, mask_word_bits)
        base["nnz"] = int(nzv.size)
        # an all-zero weight still gets a (one-element, zero) values image: a memory is never empty
        images = [(NZ, nzv if nzv.size else np.zeros(1, np.int64), lz), (MASK, mask, lm)]
    records = []
    for tensor, arr, lay in images:
        path = directory / sparse_file(layer_name, tensor, fmt)
        try:
            records.append(write_memory(path, arr, lay, fmt, meta={"layer": layer_name, "tensor": tensor, **base}))
        except ValueError as e:
            raise ValueError(f"layer {layer_name!r} tensor {tensor!r}: {e}") from e
    if sidecar:
        old = read_sidecar(directory, verify=False) if (directory / SIDECAR_NAME).is_file() else []
        new = {f["file"] for r in records for f in r["files"]}
        keep = [r for r in old if not ({f["file"] for f in r["files"]} & new)]
        write_sidecar(directory, keep + records)
    return records


_META_KEYS = ("pattern", "wbits", "weight_shape", "n", "m", "groups", "nnz")


def read_sparse_weight(directory: str | os.PathLike, layer_name: str,
                       pattern: str | Sequence[int] | None = None, *, verify: bool = True) -> np.ndarray:
    """The dense int64 weight of ``layer_name`` from its compressed images in ``directory``.

    Everything comes from the sidecar records: which pattern (when ``pattern`` is None and
    the layer has images of one kind only), the shape, N and M.  With ``verify`` each
    file's sha256 is checked (``ChecksumError``); a corrupted image that passes (or skips)
    the checksum fails the validation of ``nm_decompress`` / ``bitmask_decompress``
    whenever it is not a canonical encoding (ValueError).
    """
    directory = Path(directory)
    if not (directory / SIDECAR_NAME).is_file():
        raise FileNotFoundError(f"{directory / SIDECAR_NAME}: no sidecar; sparse images are read through it")
    recs = {r["tensor"]: r for r in read_sidecar(directory, verify=False)
            if r.get("layer") == layer_name and r.get("tensor") in SPARSE_TENSORS}
    kinds = {k for k, pair in (("N:M", (NM_VALUES, NM_INDEX)), (ELEMENT, (MASK, NZ))) if pair[0] in recs}
    if not kinds:
        raise ValueError(f"no sparse weight images of layer {layer_name!r} in {directory / SIDECAR_NAME}")
    if pattern is None:
        if len(kinds) > 1:
            raise ValueError(f"layer {layer_name!r} has N:M and element-wise images: give pattern=")
        kind = kinds.pop()
    else:
        want = parse_pattern(pattern)
        kind = ELEMENT if want is None else "N:M"
        if kind not in kinds:
            raise ValueError(f"layer {layer_name!r} has no {pattern_name(want)} images "
                             f"(it has {', '.join(sorted(kinds))})")
    pair = (NM_VALUES, NM_INDEX) if kind == "N:M" else (NZ, MASK)
    missing = [t for t in pair if t not in recs]
    if missing:
        raise ValueError(f"layer {layer_name!r}: {missing[0]} image not in {SIDECAR_NAME}")
    r0, r1 = (recs[t] for t in pair)
    for key in _META_KEYS:
        if r0.get(key) != r1.get(key):
            raise ValueError(f"layer {layer_name!r}: the records of {r0['file']} and {r1['file']} disagree on "
                             f"{key} ({r0.get(key)!r} vs {r1.get(key)!r})")
    shape = tuple(int(s) for s in r0["weight_shape"])
    cout, k = shape[0], math.prod(shape[1:])
    a0 = read_memory(directory / r0["file"], verify=verify)
    a1 = read_memory(directory / r1["file"], verify=verify)
    if kind == "N:M":
        n, m = _nm(r0["n"], r0["m"])
        if pattern is not None and parse_pattern(pattern) != (n, m):
            raise ValueError(f"layer {layer_name!r} has {n}:{m} images, not {pattern_name(parse_pattern(pattern))}")
        g = -(-k // m)
        for rec, arr in ((r0, a0), (r1, a1)):
            if arr.shape != (cout * g, n):
                raise ValueError(f"{rec['file']}: holds {arr.shape}, expected {(cout * g, n)}")
        return nm_decompress(a0.reshape(cout, g, n), a1.reshape(cout, g, n), n, m, shape)
    nnz = int(r0["nnz"])
    if a0.shape != (max(nnz, 1),) or a1.shape != (cout, k):
        raise ValueError(f"{r0['file']} / {r1['file']}: hold {a0.shape} / {a1.shape}, expected "
                         f"{(max(nnz, 1),)} / {(cout, k)}")
    if nnz == 0 and a0[0] != 0:
        raise ValueError(f"{r0['file']}: the placeholder of an all-zero weight must be 0 (corrupted image?)")
    return bitmask_decompress(a1, a0[:nnz], shape)
