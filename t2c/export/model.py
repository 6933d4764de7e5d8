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

plus ``memories.json`` (the sidecar: layer, tensor, layout, width, depth, sha256 of
every file) written by ``write_sidecar``.  The directory appears atomically: a bad
input (unknown layer, a layout too narrow for the values) writes nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from ..fileio import OutputKind, check_output_target, output_dir
from ..ir import IntGraph
from .formats import EXTENSIONS, sidecar_files, write_memory, write_sidecar
from .layout import Layout, tile


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


def export_model(graph: IntGraph, out: str | Path, fmt: str = "hex", layers: list[str] | None = None,
                 lanes: int = 8, layout: str | None = None, progress: bool = False,
                 force: bool = False) -> list[dict]:
    """Write memory images of ``layers`` (default: all with parameters) under ``out``.

    ``out`` must be new, empty or a previous ``export_model`` output (``force``: any
    directory); everything is checked before anything is written.
    """
    if fmt not in EXTENSIONS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(EXTENSIONS)}")
    ops = [graph.op(name) for name in layers] if layers else graph.ops  # unknown name: KeyError lists
    ops = [op for op in ops if op.params()]
    if not ops:
        raise ValueError("nothing to export: the selected layers have no parameters")
    if layout:
        Layout.parse(layout)  # a bad key fails here, before anything is written
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
        write_sidecar(tmp, records)
    return records
