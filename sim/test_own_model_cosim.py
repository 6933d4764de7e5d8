"""Your own model through the command line only, into the RTL (README, "Your own model").

A fresh model file (its own class: convs with BN + ReLU, a max pool, a residual add, a
Linear head; input 1x1x16x16), a state dict and calibration samples are written into a
directory outside the repository; then, with the `t2c` CLI alone:
``t2c convert`` -> ``t2c golden --graph`` -> ``t2c export --graph --all --format coe`` ->
``t2c sim --golden DIR --layer conv_a`` passes on Icarus and Verilator.  A config file
with per-layer rules (W4A4 everywhere, the first and last layer W8A8) gives golden vectors
whose W4A4 and W8A8 layers co-simulate too.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from t2c.sim import toolchain

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "own_model"
CONFIG = (EXAMPLE / "w4a4_first_w8.toml").read_text()  # W4A4, stem.0 W8A8, head skipped


def t2c(*args: str, cwd: Path) -> str:
    out = subprocess.run([sys.executable, "-m", "t2c.cli", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, f"t2c {' '.join(args)}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user") / "project"
    root.mkdir()
    shutil.copy(EXAMPLE / "mynet.py", root / "mynet.py")
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), str(root)], check=True, capture_output=True,
                   timeout=300)
    (root / "q.toml").write_text(CONFIG)
    return root


MODEL = ["--model", "mynet.py:MyNet", "--weights", "weights.pt", "--input-shape", "1x1x16x16",
         "--calib", "calib.npy"]


@pytest.fixture(scope="module")
def golden(project) -> Path:
    t2c("convert", *MODEL, "--out", "net.t2c", cwd=project)
    t2c("golden", "--graph", "net.t2c", "--out", "golden", cwd=project)
    out = t2c("export", "--graph", "net.t2c", "--all", "--format", "coe", "--out", "coe", cwd=project)
    assert "coe memory images" in out and (project / "coe" / "conv_a.weight.coe").is_file()
    return project / "golden"


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_own_model_layer_cosimulates(sim, project, golden):
    toolchain.require_simulator(sim)
    out = t2c("sim", "--golden", str(golden), "--layer", "conv_a", "--sim", sim, cwd=project)
    assert out.startswith(f"conv_a mynet {sim}: PASS 0/512 mismatches")


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_per_layer_config_cosimulates(sim, project):
    toolchain.require_simulator(sim)
    gdir = project / f"golden-w4-{sim}"
    t2c("golden", *MODEL, "--config", "q.toml", "--out", gdir.name, cwd=project)
    manifest = json.loads((gdir / "manifest.json").read_text())
    bits = {e["name"]: e["attrs"].get("wbits") for e in manifest["layers"]}
    assert bits["stem.0"] == 8 and bits["conv_a"] == 4 and bits["conv_b"] == 4 and bits["head"] == 8
    for layer in ("stem.0", "conv_a", "conv_b", "head"):
        out = t2c("sim", "--golden", gdir.name, "--layer", layer, "--sim", sim, cwd=project)
        assert " PASS 0/" in out, out


def test_batch_runs_in_one_engine_run(project, tmp_path):
    """--batch 3: the golden input holds three images; a conv runs them stacked along H in
    one engine run (K-steps and cycles as the timing formula says for the stacked layer),
    and a flipped bit in the last image is named with its batch index."""
    from t2c.export import engine as E
    from t2c.sim.golden_dirs import open_golden
    from t2c.sim.layers import run_layer
    from t2c.sim.units import SimOptions
    from t2c.sim.units.layer_engine import timing
    from test_layers import flip_bit

    sim = toolchain.first_simulator()
    t2c("golden", *MODEL, "--batch", "3", "--out", "golden-b3", cwd=project)
    t2c("golden", *MODEL, "--out", "golden-b1", cwd=project)
    one = run_layer(open_golden(project / "golden-b1"), "conv_a", SimOptions(sim=sim, tag="batch1"))
    three = run_layer(open_golden(project / "golden-b3"), "conv_a", SimOptions(sim=sim, tag="batch3"))
    assert one.passed and three.passed, three.message
    assert three.compared == 3 * one.compared and three.stats["images"] == 3
    stacked = E.stack_batch(E.EngineLayer.from_golden(open_golden(project / "golden-b1"), "conv_a"), 3).layer
    assert (three.stats["eng_steps"], three.cycles) == timing(stacked, E.Geometry())
    shutil.copytree(project / "golden-b3", tmp_path / "g")
    idx, old, new = flip_bit(tmp_path / "g", "conv_a", 2 * 512 + 7, 0)
    assert idx[0] == 2
    bad = run_layer(open_golden(tmp_path / "g"), "conv_a", SimOptions(sim=sim, tag="batch3-flip"))
    assert bad.mismatches == 1 and [(m.index, m.expected, m.got) for m in bad.first] == [(idx, new, old)]
