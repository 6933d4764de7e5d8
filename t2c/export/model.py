"""Export an IntGraph's integer parameters as memory images, one directory per model.

For every layer with parameters it writes (names ``<layer>.<tensor>.<ext>``):

* ``weight``: conv ``[Cout, Cin/g, kh, kw]`` / linear ``[Cout, Cin]`` tiled for an array
  with ``lanes`` output channels per row (``tile(w, lanes)``: for each tile of ``lanes``
  output channels, one row per reduction index ``k = (cin, kh, kw)``), packed with the
  weight layout (default: one row per word, ``elem = wbits``, two's complement);
* ``bias`` (int32), ``m`` (uint32 multiplier), ``s`` (shift), ``residual_m``: one word
  per output channel;
* ``table`` / ``exp_table`` of LUT and softmax layers, ``gain``/``offset`` of LayerNorm,
  ``value`` of constants: one element per word at their natural width;

plus, for a pruned layer named in ``sparsity`` (default ``graph.meta["sparsity"]``,
layer -> ``"N:M"`` or ``"element"``), its compressed weight images beside the dense
one (``t2c.export.sparse``, docs/formats.md "Sparse weight images"):

* N:M: ``weight_nm_values`` (one word per group of M consecutive k of a row: its N
  values, signed ``wbits`` each) and ``weight_nm_index`` (same addresses: the N
  positions in the group, ``log2(M)`` bits each);
* element: ``weight_mask`` (1 bit per element of ``W[Cout, K]``, 32-bit words, each
  row starting a word) and ``weight_nz`` (the non-zeros in row-major order, ``lanes``
  per word);

plus ``memories.json`` (the sidecar: layer, tensor, layout, width, depth, sha256 of
every file; the sparse records also ``pattern``, ``n``, ``m``, ``wbits``,
``weight_shape``, ...) written by ``write_sidecar``.  The directory appears
atomically: a bad input (unknown layer, a layout too narrow for the values, a weight
that does not meet its declared N:M pattern) writes nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..fileio import OutputKind, check_output_target, output_dir
from ..ir import IntGraph
from .formats import EXTENSIONS, sidecar_files, write_memory, write_sidecar
from .layout import Layout, tile
from .sparse import LAYOUT_OPTIONS, check_nm, parse_pattern, write_sparse_images


MEMORIES_OUTPUT = OutputKind("memory images", sidecar_files)


def _bits_for(a: np.ndarray) -> tuple[int, bool]:
    """Smallest (bits, signed) holding every value of ``a`` (at least 2 bits)."""
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    signed = lo < 0
    bits = max(2, max(abs(lo), hi).bit_length() + (1 if signed else 0))
    return bits, signed


def _scalar_layout(a: np.ndarray) -> Layout:
    """One element per word, word width rounded up to 8 bits."""
    bits, signed = _bits_for(a)
    if a.dtype.kind == "i" and bits <= 32 and a.size and np.abs(a).max() > 2 ** 16:
        bits = 32  # int32 biases / multipliers keep their declared width
    word = max(8, -(-bits // 8) * 8)
    return Layout(word_bits=word, elem_bits=word, signed=signed)


def weight_layout(wbits: int, lanes: int, spec: str | None = None) -> Layout:
    """The weight memory layout: keys given in ``spec`` override the default (one row per word)."""
    base = {"word_bits": wbits * lanes, "elem_bits": wbits, "signed": True}
    if spec:
        given = Layout.parse(spec).to_dict()
        base.update({k: given[k] for k in _spec_keys(spec)})
        if "values_per_word" not in _spec_keys(spec):
            base["values_per_word"] = base["word_bits"] // base["elem_bits"]
    return Layout.from_dict(base)


def _spec_keys(spec: str) -> set[str]:
    """The layout keys a spec string names explicitly (aliases and flags resolved)."""
    keys = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        key = part.split("=", 1)[0].strip() if "=" in part else part
        keys.add(_KEY_OF.get(key, key))
    return keys


_KEY_OF = {"word": "word_bits", "elem": "elem_bits", "vpw": "values_per_word", "order": "lane_order",
           "pow2": "depth_pow2", "signed": "signed", "unsigned": "signed", "lsb_first": "lane_order",
           "msb_first": "lane_order", "little": "endian", "big": "endian"}


def layer_tensors(op, lanes: int) -> Iterable[tuple[str, np.ndarray, bool]]:
    """(tensor name, 2-D or 1-D integer array, is_weight) for one op's parameters."""
    for name, arr in op.params().items():
        arr = np.asarray(arr, dtype=np.int64)
        if name == "weight":
            yield name, tile(arr, lanes), True
        else:
            yield name, arr.reshape(-1), False


def sparse_patterns(graph: IntGraph, sparsity: dict[str, str] | None) -> dict[str, tuple[int, int] | None]:
    """Layer -> parsed pattern (``(n, m)`` or None for element-wise) of ``sparsity``
    (None: ``graph.meta["sparsity"]``); every name must be a layer with a weight."""
    if sparsity is None:
        sparsity = graph.meta.get("sparsity") or {}
    if not isinstance(sparsity, dict):
        raise ValueError(f"sparsity must map layer names to 'N:M' or 'element', got {type(sparsity).__name__}")
    weighted = {op.name for op in graph.ops if "weight" in op.params()}
    out = {}
    for name, pat in sparsity.items():
        if name not in weighted:
            raise ValueError(f"sparsity names {name!r}, which is not a layer with a weight; "
                             f"weighted layers: {', '.join(sorted(weighted)) or 'none'}")
        if not isinstance(pat, str):
            raise ValueError(f"sparsity of layer {name!r}: expected 'N:M' or 'element', got {pat!r}")
        out[name] = parse_pattern(pat, f"sparsity of layer {name!r}")
    return out


def export_model(graph: IntGraph, out: str | Path, fmt: str = "hex", layers: list[str] | None = None,
                 lanes: int = 8, layout: str | None = None, progress: bool = False,
                 force: bool = False, sparsity: dict[str, str] | None = None) -> list[dict]:
    """Write memory images of ``layers`` (default: all with parameters) under ``out``.

    ``sparsity`` (layer -> ``"N:M"`` / ``"element"``; None: ``graph.meta["sparsity"]``)
    adds the compressed weight images of those layers (same directory, format and
    sidecar); ``layout``'s ``lane_order``, ``endian`` and ``pow2`` apply to them too.
    ``out`` must be new, empty or a previous ``export_model`` output (``force``: any
    directory); everything is checked before anything is written.
    """
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(EXTENSIONS)}")
    ops = [graph.op(name) for name in layers] if layers else graph.ops  # unknown name: KeyError lists
    ops = [op for op in ops if op.params()]
    if not ops:
        raise ValueError("nothing to export: the selected layers have no parameters")
    sparse_opts = {}
    if layout:
        given = Layout.parse(layout).to_dict()  # a bad key fails here, before anything is written
        sparse_opts = {k: given[k] for k in _spec_keys(layout) if k in LAYOUT_OPTIONS}
    patterns = sparse_patterns(graph, sparsity)
    for op in ops:
        if patterns.get(op.name) is not None:  # an N:M weight must meet its pattern
            check_nm(op.weight, *patterns[op.name], what=f"layer {op.name!r} weight")
    check_output_target(out, MEMORIES_OUTPUT, force)
    records = []
    with output_dir(out, MEMORIES_OUTPUT, force) as tmp:
        it = ops
        if progress:
            from tqdm import tqdm

            it = tqdm(ops, desc=f"export {fmt}", unit="layer")
        for op in it:
            for tname, arr, is_weight in layer_tensors(op, lanes):
                lay = weight_layout(op.wbits, lanes, layout) if is_weight else _scalar_layout(arr)
                path = tmp / f"{op.name}.{tname}{EXTENSIONS[fmt]}"
                try:
                    rec = write_memory(path, arr, lay, fmt, meta={"layer": op.name, "tensor": tname,
                                                                 "op": op.kind})
                except ValueError as e:
                    raise ValueError(f"layer {op.name!r} tensor {tname!r}: {e}") from e
                records.append(rec)
            if op.name in patterns:
                records += write_sparse_images(tmp, op.name, op.weight, op.wbits, patterns[op.name] or "element",
                                               fmt, lanes=lanes, layout=sparse_opts, meta={"op": op.kind},
                                               sidecar=False)
        write_sidecar(tmp, records)
    return records
