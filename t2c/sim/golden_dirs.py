"""Golden directories for co-simulation: the committed ones, any given one, generated ones.

* ``open_golden(dir)`` reads (and verifies) any directory ``t2c golden`` wrote; a problem
  raises :class:`GoldenUnusableError` ("golden vectors in DIR are unusable: ..."), a
  bad-input error (exit 2), never a simulation failure.
* ``golden_dir(model)`` / ``ensure_golden(model)``: a built-in model's golden vectors,
  committed in the repository (``golden/<model>``, also shipped in the wheel), else
  generated once, deterministically, into ``<build root>/golden/<model>`` (this step
  alone needs torch).
"""
from __future__ import annotations

from pathlib import Path

from ..fileio import file_lock
from ..golden import Golden, GoldenError, read_golden
from .toolchain import build_root

_PACKAGE = Path(__file__).resolve().parents[1]  # .../t2c
COMMITTED = [_PACKAGE.parent / "golden", _PACKAGE / "golden_vectors"]  # source checkout, wheel


class GoldenUnusableError(ValueError):
    """A golden directory cannot be used (missing, corrupted, other contract version)."""


def open_golden(path: str | Path) -> Golden:
    """The verified golden directory at ``path`` (GoldenUnusableError naming the problem)."""
    try:
        return read_golden(path)
    except (GoldenError, OSError, ValueError, KeyError, TypeError) as e:
        raise GoldenUnusableError(f"golden vectors in {path} are unusable: {e}") from None


def golden_dir(model: str) -> Path:
    """Where the golden vectors of built-in ``model`` are (or will be generated)."""
    for root in COMMITTED:
        if (root / model / "manifest.json").is_file():
            return root / model
    return build_root() / "golden" / model


def _current(d: Path) -> bool:
    """A generated golden directory of this t2c's arithmetic contract and manifest format
    (else regenerated)."""
    import json

    from .. import arith
    from ..golden import FORMAT_VERSION

    try:
        doc = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return doc.get("contract_version") == arith.CONTRACT_VERSION and doc.get("format_version") == FORMAT_VERSION


def ensure_golden(model: str, log=print) -> Path:
    """The golden directory of built-in ``model``: committed, or generated into the cache
    when missing or made by another arithmetic contract version (needs torch)."""
    d = golden_dir(model)
    committed = any(d.parent == root for root in COMMITTED)
    if committed or _current(d):
        return d
    with file_lock(d.parent / f".{model}.lock"):  # one process (pytest-xdist worker) generates it
        if not _current(d):
            from ..golden import write_golden
            from ..pipeline import prepare

            log(f"generating golden vectors of {model} into {d}")
            p = prepare(model)
            write_golden(p.graph, p.x_int, d, force=True)
    return d


def ensure_corners(model: str, log=print) -> Path:
    """Built-in ``model``'s golden vectors with corner variants of every layer
    (``t2c golden --stimulus corners``), generated once into ``<build root>/golden/<model>-corners``
    (needs torch)."""
    d = build_root() / "golden" / f"{model}-corners"
    with file_lock(d.parent / f".{model}-corners.lock"):
        if not _current(d):
            from ..golden import write_golden
            from ..pipeline import prepare
            from ..stimulus import Stimulus

            log(f"generating golden vectors of {model} with corner variants into {d}")
            p = prepare(model)
            write_golden(p.graph, p.x_int, d, force=True,
                         stimulus=Stimulus("corners", multiplier_bits=int(p.graph.meta.get("multiplier_bits", 32))))
    return d
