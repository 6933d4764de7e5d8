"""`t2c sim` / `make sim` refuse bad input with one line and exit 2, before any build:
bad option values, unusable golden directories (never reported as an RTL mismatch)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from t2c.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "digits-cnn"


def _one_line(argv, capsys) -> str:
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("t2c")]
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("pixels, why", [("0", "outside the allowed range >= 1"), ("-1", "outside the allowed range"),
                                         ("99999999", "outside 1..16 (the output pixels of conv3)")])
def test_pixels_out_of_range(pixels, why, capsys):
    assert why in _one_line(["sim", "--layer", "conv3", "--pixels", pixels], capsys)


@pytest.mark.parametrize("argv, why", [
    (["sim", "--layer", "conv3", "--rows", "0"], "--rows: 0 is outside the allowed range 1..128"),
    (["sim", "--layer", "conv3", "--cols", "999"], "--cols: 999 is outside the allowed range 1..128"),
    (["sim", "--layer", "nope"], "unknown layer 'nope'"),
    (["sim", "--layer", "flatten"], "data movement, it runs in Python"),
    (["sim"], "say which layer"),
    (["sim", "--layer", "conv3", "--all"], "not both"),
    (["sim", "--layer", "conv3", "--dataset", "test"], "--dataset goes with --all"),
    (["sim", "--all", "--pixels", "3"], "--pixels applies to one layer"),
    (["sim", "--layer", "avgpool", "--pixels", "3"], "--pixels applies to layer-engine layers"),
])
def test_bad_sim_options(argv, why, capsys):
    assert why in _one_line(argv, capsys)


def _corrupt(kind: str, root: Path) -> Path:
    g = root / "golden"
    shutil.copytree(GOLDEN, g)
    manifest = g / "manifest.json"
    if kind == "flipped byte":
        f = g / "conv3" / "weight.npy"
        raw = bytearray(f.read_bytes())
        raw[-3] ^= 0x10
        f.write_bytes(bytes(raw))
    elif kind == "deleted file":
        (g / "conv3" / "bias.npy").unlink()
    elif kind == "contract version":
        doc = json.loads(manifest.read_text())
        doc["contract_version"] = 99
        manifest.write_text(json.dumps(doc))
    elif kind == "truncated manifest":
        manifest.write_text(manifest.read_text()[:500])
    elif kind == "not a golden directory":
        manifest.unlink()
    return g


@pytest.mark.parametrize("kind, why", [("flipped byte", "checksum mismatch in golden file"),
                                       ("deleted file", "bias.npy is missing"),
                                       ("contract version", "uses arithmetic contract 99"),
                                       ("truncated manifest", "is not valid JSON"),
                                       ("not a golden directory", "holds no manifest.json")])
def test_unusable_golden_is_bad_input_not_a_mismatch(kind, why, tmp_path, capsys):
    g = _corrupt(kind, tmp_path)
    msg = _one_line(["sim", "--golden", str(g), "--layer", "conv3"], capsys)
    assert msg.startswith(f"t2c: error: golden vectors in {g} are unusable: ") and why in msg, msg
    msg = _one_line(["sim", "--golden", str(g), "--all"], capsys)
    assert "are unusable" in msg
