"""A saved integer model: ``net.t2c``, an IntGraph and its golden input on disk (no torch).

``t2c convert`` writes it; ``t2c golden / export / sim / layers --graph net.t2c`` read it and
never import torch.  The directory::

    graph.json       schema, contract version, tensors, ops (attributes; arrays by file),
                     meta (model, full quantization config), golden input, sha256 of every file,
                     and ``graph_sha256``: the digest of graph.json itself
    arrays/<i>/<field>.npy   the integer parameters of op i (weights, biases, m, s, tables, ...)
    input.npy        the golden input codes

is written atomically under the output policy of every t2c writer (t2c.fileio.output_dir)
and verified on load: every checksum, the schema and the arithmetic contract version.
"""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from . import arith
from .fileio import OutputKind, check_output_target, output_dir, seal_intact, sealed, sha256_bytes, sha256_file
from .golden import narrow
from .ir import IntGraph, Requant, TensorSpec, op_classes

GRAPH_JSON = "graph.json"
SCHEMA = "t2c.graph/1"
SEAL = "graph_sha256"  # graph.json's digest of itself (t2c.fileio.sealed)
INPUT = "input.npy"


class GraphFileError(ValueError):
    """A saved integer model is missing, corrupted or of another contract version."""


def _owned(root: Path) -> set[str] | None:
    try:
        doc = json.loads((root / GRAPH_JSON).read_text())
        return set(doc["sha256"]) | {GRAPH_JSON} if doc.get("schema") == SCHEMA else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


GRAPH_OUTPUT = OutputKind("a saved integer model", _owned)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, narrow(np.asarray(a)), allow_pickle=False)
    return buf.getvalue()


class _Writer:
    def __init__(self, root: Path):
        self.root, self.files = root, {}

    def array(self, rel: str, a) -> dict:
        data = _npy(a)
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[rel] = sha256_bytes(data)
        return {"npy": rel}

    def value(self, v, rel: str):
        """JSON for ``v``: arrays go to files, Requant / tuples / lists / dicts recursively."""
        if isinstance(v, np.ndarray):
            return self.array(f"{rel}.npy", v)
        if isinstance(v, Requant):
            return {"requant": {f.name: self.value(getattr(v, f.name), f"{rel}.{f.name}")
                                for f in dataclasses.fields(v)}}
        if isinstance(v, tuple):
            return {"tuple": [self.value(x, f"{rel}.{i}") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{rel}.{i}") for i, x in enumerate(v)]
        if isinstance(v, dict):
            return {"dict": {k: self.value(x, f"{rel}.{k}") for k, x in v.items()}}
        if isinstance(v, np.integer):
            return int(v)
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise TypeError(f"cannot save a {type(v).__name__} ({rel})")


def _read_value(v, root: Path):
    if isinstance(v, dict):
        if "npy" in v:
            return np.load(root / v["npy"], allow_pickle=False).astype(np.int64)
        if "requant" in v:
            return Requant(**{k: _read_value(x, root) for k, x in v["requant"].items()})
        if "tuple" in v:
            return tuple(_read_value(x, root) for x in v["tuple"])
        if "dict" in v:
            return {k: _read_value(x, root) for k, x in v["dict"].items()}
        raise GraphFileError(f"unknown value {sorted(v)} in {root / GRAPH_JSON}")
    if isinstance(v, list):
        return [_read_value(x, root) for x in v]
    return v


def save_graph(graph: IntGraph, x_int: np.ndarray, out: str | Path, force: bool = False) -> Path:
    """Write ``graph`` and its golden input ``x_int`` as a saved integer model at ``out``."""
    out = Path(out)
    check_output_target(out, GRAPH_OUTPUT, force)
    with output_dir(out, GRAPH_OUTPUT, force) as tmp:
        w = _Writer(tmp)
        ops = []
        for i, op in enumerate(graph.ops):
            fields = {f.name: w.value(getattr(op, f.name), f"arrays/{i}/{f.name}")
                      for f in dataclasses.fields(op) if not f.name.startswith("_")}
            ops.append({"kind": op.kind, "fields": fields})
        w.array(INPUT, x_int)
        doc = {"schema": SCHEMA, "contract_version": arith.CONTRACT_VERSION,
               "input": graph.input, "output": graph.output,
               "tensors": {n: dataclasses.asdict(t) for n, t in graph.tensors.items()},
               "ops": ops, "meta": graph.meta, "golden_input": INPUT,
               "sha256": dict(sorted(w.files.items()))}
        (tmp / GRAPH_JSON).write_text(json.dumps(sealed(doc, SEAL), indent=1, sort_keys=True) + "\n")
    return out


def load_graph(path: str | Path) -> tuple[IntGraph, np.ndarray]:
    """A saved integer model: ``(graph, golden input codes)``, every file verified."""
    root = Path(path)
    gpath = root / GRAPH_JSON
    if not gpath.is_file():
        raise GraphFileError(f"{root} is not a saved integer model (no {GRAPH_JSON}; write one with "
                             f"`t2c convert --out {root.name}`)")
    try:
        doc = json.loads(gpath.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise GraphFileError(f"{gpath} is not valid JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise GraphFileError(f"{gpath}: schema {doc.get('schema') if isinstance(doc, dict) else None!r} "
                             f"is not {SCHEMA!r}")
    if doc.get("contract_version") != arith.CONTRACT_VERSION:
        raise GraphFileError(f"{root} uses arithmetic contract {doc.get('contract_version')}, this t2c "
                             f"implements {arith.CONTRACT_VERSION}")
    if SEAL not in doc:
        raise GraphFileError(f"{gpath} carries no {SEAL} (written by an older t2c): convert the model again")
    if not seal_intact(doc, SEAL):
        raise GraphFileError(f"checksum mismatch in {gpath}: the saved model was changed")
    for rel, digest in doc["sha256"].items():
        f = root / rel
        if not f.is_file():
            raise GraphFileError(f"{f} is missing")
        if sha256_file(f) != digest:
            raise GraphFileError(f"checksum mismatch in {f}: the saved model was changed")
    classes = op_classes()
    ops = []
    for entry in doc["ops"]:
        cls = classes.get(entry["kind"])
        if cls is None:
            raise GraphFileError(f"{gpath}: unknown op kind {entry['kind']!r}")
        ops.append(cls(**{k: _read_value(v, root) for k, v in entry["fields"].items()}))
    tensors = {n: TensorSpec(**{**t, "shape": tuple(t["shape"])}) for n, t in doc["tensors"].items()}
    graph = IntGraph(ops, tensors, doc["input"], doc["output"], doc["meta"])
    x = np.load(root / doc["golden_input"], allow_pickle=False).astype(np.int64)
    return graph, x
