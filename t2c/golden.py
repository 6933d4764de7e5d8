"""Golden vectors: every layer's integer tensors as ``.npy`` plus a checksummed manifest.

Layout of ``<out>/``::

    manifest.json            model, contract version, layer order, shapes, widths, sha256 of every
                             file, and ``manifest_sha256``: the digest of the manifest itself
    <layer>/input.npy        the layer's (first) input codes
    <layer>/residual.npy     second input (fused residual / add operand), if any
    <layer>/weight.npy, bias.npy, m.npy, s.npy, residual_m.npy   integer parameters
    <layer>/acc.npy          int32 accumulator before requantization (conv, linear, avgpool)
    <layer>/output.npy       the layer's output codes

Arrays are stored in the narrowest of int8/int16/int32/int64 that holds them; files
are byte-for-byte reproducible.  The whole directory is written atomically.
``read_golden`` verifies every checksum (the manifest's own included) and that every array
agrees with what the manifest says of it (shape, dtype, codes within their bit widths,
weights within ``wbits``), and names the file that does not.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import arith
from .fileio import OutputKind, check_output_target, output_dir, seal_intact, sealed, sha256_bytes, sha256_file
from .ir import IntGraph

MANIFEST = "manifest.json"
FORMAT_VERSION = 2  # 2: the manifest checksums itself (manifest_sha256)
SEAL = "manifest_sha256"


class GoldenError(ValueError):
    """A golden directory is missing, incomplete or corrupted."""


def _owned(root: Path) -> set[str] | None:
    """The files a golden manifest in ``root`` lists (itself included), None if none."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        files = set(manifest["sha256"]) | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files if "format_version" in manifest else None


GOLDEN_OUTPUT = OutputKind("golden vectors", _owned)


def narrow(a: np.ndarray) -> np.ndarray:
    """The same integers in the narrowest standard signed dtype that holds them."""
    a = np.asarray(a)
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    for dt in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.ascontiguousarray(a.astype(dt))
    raise OverflowError("values do not fit int64")


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, narrow(a), allow_pickle=False)
    return buf.getvalue()


def write_golden(graph: IntGraph, x_int: np.ndarray, out: str | Path, progress: bool = False,
                 force: bool = False, stimulus=None) -> Path:
    """Run ``graph`` on ``x_int`` and write every layer's tensors under ``out`` atomically.

    ``out`` must be new, empty or a previous golden directory (``force`` replaces any
    directory; see :func:`t2c.fileio.output_dir`): the check runs before the graph does.
    ``stimulus`` (a :class:`t2c.stimulus.Stimulus`) adds, beside each layer it has variants
    for, the crafted cases it makes (manifest ``variants``; each an ordinary layer entry
    named ``<layer>~<variant>``, its expected output from the reference).
    """
    out = Path(out)
    check_output_target(out, GOLDEN_OUTPUT, force)
    result = graph.run(x_int, record=True)
    layers, variants = [], {}
    files: dict[str, str] = {}
    ops = graph.ops
    if progress:
        from tqdm import tqdm

        ops = tqdm(ops, desc="golden" if stimulus is None else f"golden + {stimulus.kind} stimulus", unit="layer")
    with output_dir(out, GOLDEN_OUTPUT, force) as tmp:
        written: dict[str, str] = {}  # sha256 -> file: a variant's unchanged arrays share the layer's files

        def put(rel: str, array: np.ndarray, share: bool = False) -> dict:
            data = _npy_bytes(array)
            digest = sha256_bytes(data)
            if share and digest in written:
                rel = written[digest]
            else:
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                files[rel] = digest
                written[digest] = rel
            return {"file": rel, "shape": list(np.shape(array)), "dtype": str(narrow(array).dtype)}

        for op in ops:
            rec = result.layers[op.name]
            in_specs = [graph.tensors[t] for t in op.inputs]
            out_spec = graph.tensors[op.output]
            layers.append(layer_entry(put, op, rec.inputs, rec.acc, rec.output, in_specs, out_spec))
            if stimulus is not None:
                shared = lambda rel, a: put(rel, a, share=True)  # noqa: E731
                made = [layer_entry(shared, v.op, v.inputs, v.acc, v.output, v.in_specs, v.out_spec)
                        for v in stimulus.variants(op, rec.inputs, in_specs, out_spec)]
                if made:
                    variants[op.name] = made
        manifest = {
            "format_version": FORMAT_VERSION,
            "contract_version": arith.CONTRACT_VERSION,
            "model": graph.meta.get("model"),
            "meta": graph.meta,
            "input": {**put("input.npy", x_int), **_spec_dict(graph.tensors[graph.input])},
            "output": {**put("output.npy", result.output), **_spec_dict(graph.tensors[graph.output])},
            "layers": layers,
            **({"stimulus": stimulus.describe(), "variants": variants} if stimulus is not None else {}),
            "sha256": dict(sorted(files.items())),
        }
        (tmp / MANIFEST).write_text(json.dumps(sealed(manifest, SEAL), indent=1, sort_keys=True) + "\n")
    return out


def layer_entry(put, op, inputs, acc, output, in_specs, out_spec) -> dict:
    """One layer's manifest entry, its arrays written with ``put(rel, array)``: the inputs,
    the parameters, the accumulator (if any) and the output, under ``<op.name>/``."""
    entry = {"name": op.name, "op": op.kind, "inputs": list(op.inputs), "output": op.output,
             "attrs": op.attrs(), "tensors": {}}
    for role, arr, spec in zip(("input", "residual"), inputs, in_specs):
        entry["tensors"][role] = {**put(f"{op.name}/{role}.npy", arr), **_spec_dict(spec)}
    for pname, arr in op.params().items():
        entry["tensors"][pname] = put(f"{op.name}/{pname}.npy", arr)
    if acc is not None:
        entry["tensors"]["acc"] = put(f"{op.name}/acc.npy", acc)
    entry["tensors"]["output"] = {**put(f"{op.name}/output.npy", output), **_spec_dict(out_spec)}
    return entry


def _spec_dict(spec) -> dict:
    return {"bits": spec.bits, "signed": spec.signed, "zero_point": spec.zero_point, "scale": spec.scale}


@dataclass
class Golden:
    """A verified golden directory."""

    root: Path
    manifest: dict

    @property
    def layer_names(self) -> list[str]:
        return [layer["name"] for layer in self.manifest["layers"]]

    def layer(self, name: str) -> dict:
        """A layer's manifest entry (a model layer, or a corner variant by its name)."""
        for layer in self.manifest["layers"]:
            if layer["name"] == name:
                return layer
        for variants in self.manifest.get("variants", {}).values():
            for layer in variants:
                if layer["name"] == name:
                    return layer
        raise KeyError(f"unknown layer {name!r} in {self.root}; valid layers: {', '.join(self.layer_names)}")

    def input(self) -> np.ndarray:
        """The golden input codes (int64)."""
        return np.load(self.root / self.manifest["input"]["file"], allow_pickle=False).astype(np.int64)

    def variant_names(self, layer: str) -> list[str]:
        """The corner variants of ``layer`` this directory holds (t2c.stimulus), in order."""
        return [v["name"] for v in self.manifest.get("variants", {}).get(layer, [])]

    def op(self, layer: str):
        """The layer as an IR op (``t2c.ir.op_from_record``): run it again with
        ``t2c.ref.run_op`` on its inputs, e.g. to observe its arithmetic (t2c.coverage)."""
        from .ir import op_from_record

        e = self.layer(layer)
        return op_from_record(e["op"], e["name"], e["inputs"], e["output"], e["attrs"],
                              lambda t: self.tensor(layer, t) if t in e["tensors"] else None)

    def tensor(self, layer: str, tensor: str) -> np.ndarray:
        """One tensor of one layer as int64 (checksum already verified)."""
        entry = self.layer(layer)["tensors"]
        if tensor not in entry:
            raise KeyError(f"layer {layer!r} has no tensor {tensor!r}; it has: {', '.join(entry)}")
        return np.load(self.root / entry[tensor]["file"], allow_pickle=False).astype(np.int64)


def read_golden(root: str | Path, verify: bool = True) -> Golden:
    """Open a golden directory, checking every file against the manifest's sha256.

    Any problem (missing or unreadable manifest, wrong contract version, a missing or
    changed file) raises :class:`GoldenError` naming the file.
    """
    root = Path(root)
    mpath = root / MANIFEST
    if not mpath.is_file():
        what = "is not a directory" if root.exists() and not root.is_dir() else "holds no manifest.json"
        raise GoldenError(f"{root} {what} (generate golden vectors with `t2c golden`)")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GoldenError(f"{mpath} is not valid JSON ({e}); regenerate it with `t2c golden --force`") from None
    missing = [k for k in ("format_version", "contract_version", "layers", "sha256", "input", "output")
               if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise GoldenError(f"{mpath} is not a t2c golden manifest (no {', '.join(missing)})")
    if manifest["format_version"] != FORMAT_VERSION:
        raise GoldenError(f"{mpath} has format version {manifest['format_version']!r}, "
                          f"this t2c reads {FORMAT_VERSION}")
    if manifest["contract_version"] != arith.CONTRACT_VERSION:
        raise GoldenError(f"{root} uses arithmetic contract {manifest.get('contract_version')}, "
                          f"this t2c implements {arith.CONTRACT_VERSION}")
    if verify:
        if not seal_intact(manifest, SEAL):
            raise GoldenError(f"checksum mismatch in {mpath}: the manifest was changed after t2c wrote it "
                              f"(regenerate it with `t2c golden --force`)")
        for rel, digest in manifest["sha256"].items():
            path = root / rel
            if not path.is_file():
                raise GoldenError(f"golden file {path} is missing")
            got = sha256_file(path)
            if got != digest:
                raise GoldenError(f"checksum mismatch in golden file {path}: "
                                  f"manifest sha256 {digest[:16]}..., file {got[:16]}...")
        for entry in [manifest["input"], manifest["output"]]:
            _check_tensor(root, entry, "")
        every = [*manifest["layers"], *(v for vs in manifest.get("variants", {}).values() for v in vs)]
        for layer in every:
            for name, entry in layer["tensors"].items():
                _check_tensor(root, entry, f"{layer['name']} {name}",
                              layer["attrs"].get("wbits") if name == "weight" else None)
    return Golden(root, manifest)


def code_range(bits: int, signed: bool) -> tuple[int, int]:
    """(lowest, highest) code of a ``bits``-bit signed or unsigned tensor."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def _check_tensor(root: Path, entry: dict, what: str, wbits: int | None = None) -> None:
    """The array in ``entry['file']`` is what the manifest says: shape, dtype, and codes
    within the tensor's ``bits`` (or the weight's ``wbits``)."""
    path = root / entry["file"]
    a = np.load(path, mmap_mode="r", allow_pickle=False)
    label = f"{what} ({path})" if what else str(path)
    if list(a.shape) != list(entry["shape"]) or str(a.dtype) != entry["dtype"]:
        raise GoldenError(f"{label}: the manifest says shape {tuple(entry['shape'])} {entry['dtype']}, "
                          f"the file holds {a.shape} {a.dtype}")
    bits, signed = (wbits, True) if wbits is not None else (entry.get("bits"), entry.get("signed"))
    if bits is None or a.size == 0:
        return
    lo, hi = code_range(int(bits), bool(signed))
    if int(a.min()) < lo or int(a.max()) > hi:
        raise GoldenError(f"{label}: codes {int(a.min())}..{int(a.max())} do not fit the manifest's "
                          f"{bits}-bit {'signed' if signed else 'unsigned'} range {lo}..{hi}")
