"""The pytest plugin (entry point ``pytest11``): in a project outside t2c's repository a
three-line test becomes one test per layer of a golden directory (``--t2c-golden``), each
passing on t2c's RTL; with one weight bit flipped in the golden directory exactly that
layer's test id fails."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from t2c.fileio import sealed
from t2c.golden import SEAL
from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden

TEST = "def test_layer(t2c_layer):\n    t2c_layer.run()\n"


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           *args], cwd=project, capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "T2C_SIMS": "icarus", "PYTEST_ADDOPTS": ""})


def _flip_weight_bit(gdir: Path, layer: str) -> None:
    manifest = json.loads((gdir / "manifest.json").read_text())
    rel = next(e for e in manifest["layers"] if e["name"] == layer)["tensors"]["weight"]["file"]
    w = np.load(gdir / rel)
    w.reshape(-1)[7] ^= 1
    np.save(gdir / rel, w)
    manifest["sha256"][rel] = hashlib.sha256((gdir / rel).read_bytes()).hexdigest()
    (gdir / "manifest.json").write_text(json.dumps(sealed(manifest, SEAL), indent=1, sort_keys=True) + "\n")


def test_one_test_per_layer_and_a_flipped_weight_fails_that_layer_only(tmp_path):
    toolchain.require_simulator("icarus")
    project = tmp_path / "my_accelerator"
    project.mkdir()
    (project / "test_hw.py").write_text(TEST)
    golden = tmp_path / "golden"
    shutil.copytree(ensure_golden("digits-cnn"), golden)
    ok = _pytest(project, f"--t2c-golden={golden}", "--rootdir", str(project))
    assert ok.returncode == 0, ok.stdout[-3000:]
    assert "6 passed" in ok.stdout  # conv1..conv4, avgpool, fc
    _flip_weight_bit(golden, "conv2")
    bad = _pytest(project, f"--t2c-golden={golden}", "--rootdir", str(project), "-rA")
    assert bad.returncode == 1 and "1 failed, 5 passed" in bad.stdout, bad.stdout[-3000:]
    failed = [ln for ln in bad.stdout.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 1 and "test_layer[conv2]" in failed[0], failed
    skipped = _pytest(project, "--rootdir", str(project))
    assert skipped.returncode == 0 and "1 skipped" in skipped.stdout
