"""Your own RTL in t2c's testbenches (docs/testbench.md, "Verify your own accelerator").

* ``T2C_RTL_DIR`` holding a broken copy of one of t2c's units makes that unit's own test
  *and* a layer that uses it fail: the library search finds the user's file first in
  every test and co-simulation, not only in the layer engine.
* The worked example ``examples/own_rtl/requant.v`` (another microarchitecture of the
  requantizer, same ports) passes the requantizer's unit test and a layer on the
  engine; a deliberately broken copy of it fails and names the element.
* The worked example ``examples/own_unit`` (a LUT unit with its own ports and table
  layout, verified through a thin HDL wrapper and a layout description only) passes
  ``t2c sim`` on digits-vit's GELU layers; a broken copy fails and names the element.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from t2c.cli import main
from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.hdl import RTL_DIR
from t2c.sim.layers import run_layer
from t2c.sim.units import SimOptions, load_unit_file, units

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# unit -> (text of rtl/<unit>.v, its broken replacement, the unit's own test (pytest -k
# selection), a model layer that uses the unit)
BROKEN = {
    "requant": ("zp2_q   <= {zp1_q, 1'b1};", "zp2_q   <= {zp1_q, 1'b0};",  # no rounding term
                ("sim/test_requant.py", "icarus and mult16 and not wrong"), ("digits-cnn", "conv3")),
    "mac_pe": ("(f2_q ? b2_q : acc_q)", "(f2_q ? {ACCW{1'b0}} : acc_q)",
               ("sim/test_mac_array.py", "icarus and 4x3 and not wrong"), ("digits-cnn", "conv2")),
    "lut": ("ti_q <= mem[idx];", "ti_q <= mem[idx] ^ 1;",
            ("sim/test_lut.py", "icarus and gelu8 and not f4"), ("digits-vit", "blocks.0.mlp.act")),
    "softmax": ("+ {{(PW-RB){1'b0}}, 1'b1, {(RB-1){1'b0}}};", ";",   # no rounding term
                ("sim/test_softmax.py", "test_softmax_random and icarus"),
                ("digits-vit", "blocks.0.attn.softmax")),
    "layernorm": ("lq     = {qmin_q[OUT_BITS], qmin_q} - {zy_q[OUT_BITS], zy_q};",
                  "lq     = {qmin_q[OUT_BITS], qmin_q} - {zy_q[OUT_BITS], zy_q} + 1'b1;",
                  ("sim/test_layernorm.py", "test_layernorm_random and icarus"), ("digits-vit", "blocks.0.norm1")),
}


def broken_copy(module: str, directory: Path) -> Path:
    good, bad, _, _ = BROKEN[module]
    text = (RTL_DIR / f"{module}.v").read_text()
    assert text.count(good) == 1, f"rtl/{module}.v changed: update this test's edit"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{module}.v").write_text(text.replace(good, bad))
    return directory


def run_pytest(test_file: str, selection: str, rtl_dir: Path | None) -> subprocess.CompletedProcess:
    env = dict(os.environ, T2C_SIMS="icarus")
    env.pop("PYTEST_XDIST_WORKER", None)
    if rtl_dir is not None:
        env["T2C_RTL_DIR"] = str(rtl_dir)
    else:
        env.pop("T2C_RTL_DIR", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           test_file, "-k", selection], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.parametrize("module", list(BROKEN))
def test_broken_unit_fails_its_own_test_and_the_layer_using_it(module, tmp_path, monkeypatch):
    toolchain.require_simulator("icarus")
    _, _, (test_file, selection), (model, layer) = BROKEN[module]
    rtl = broken_copy(module, tmp_path / "rtl")
    good = run_pytest(test_file, selection, None)
    assert good.returncode == 0 and " passed" in good.stdout, good.stdout[-2000:]
    bad = run_pytest(test_file, selection, rtl)
    assert bad.returncode == 1 and " failed" in bad.stdout, bad.stdout[-2000:]
    golden = open_golden(ensure_golden(model))
    res = run_layer(golden, layer, SimOptions(sim="icarus", rtl_dirs=(rtl,), tag=f"broken-{module}"))
    assert res.mismatches > 0 and "expected" in res.message, res.message


# ------------------------------------------------------------------ worked example: same ports
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_own_requantizer_passes_the_engine_layers(sim, request):
    toolchain.require_simulator(sim)
    golden = open_golden(ensure_golden("digits-cnn"))
    for layer in ("conv4", "fc"):  # the fused residual (addend) and a linear layer
        res = run_layer(golden, layer, SimOptions(sim=sim, rtl_dirs=(EXAMPLES / "own_rtl",),
                                                  tag=f"{request.node.name}-{layer}"))
        assert res.passed, res.message


def test_own_requantizer_passes_the_requant_unit_test():
    toolchain.require_simulator("icarus")
    res = run_pytest("sim/test_requant.py", "icarus and not wrong", EXAMPLES / "own_rtl")
    assert res.returncode == 0 and " passed" in res.stdout, res.stdout[-2000:]


def test_broken_own_requantizer_fails_and_names_the_element(tmp_path, capsys):
    toolchain.require_simulator("icarus")
    text = (EXAMPLES / "own_rtl" / "requant.v").read_text()
    good = "($signed({hi_q[VALW-1], hi_q}) <<< 16)"
    assert good in text
    (tmp_path / "requant.v").write_text(text.replace(good, "($signed({hi_q[VALW-1], hi_q}) <<< 15)"))
    code = main(["sim", "--layer", "conv3", "--rtl-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL" in out and "as (n, c, h, w):" in out and "expected" in out, out


# ------------------------------------------------------------------ worked example: own ports
def _own_unit_argv(layer: str, rtl_dir: Path, sim: str = "icarus") -> list[str]:
    return ["sim", "--model", "digits-vit", "--layer", layer, "--sim", sim,
            "--unit", str(EXAMPLES / "own_unit" / "my_lut_unit.py"), "--rtl-dir", str(rtl_dir)]


@pytest.fixture
def registry_restored():
    saved = dict(units())
    yield
    units().clear()
    units().update(saved)


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_own_unit_with_its_own_ports_passes(sim, registry_restored, capsys):
    toolchain.require_simulator(sim)
    for layer in ("blocks.0.mlp.act", "blocks.1.mlp.act"):
        assert main(_own_unit_argv(layer, EXAMPLES / "own_unit", sim)) == 0
        out = capsys.readouterr().out
        assert "PASS" in out and "my_lut unit" in out, out


def test_broken_own_unit_fails_and_names_the_element(tmp_path, registry_restored, capsys):
    toolchain.require_simulator("icarus")
    for f in ("tb_my_lut.v",):
        (tmp_path / f).write_text((EXAMPLES / "own_unit" / f).read_text())
    text = (EXAMPLES / "own_unit" / "my_lut.v").read_text()
    good = "out_value <= table_mem[addr];"
    assert good in text
    (tmp_path / "my_lut.v").write_text(text.replace(good, "out_value <= table_mem[addr + 1'b1];"))
    assert main(_own_unit_argv("blocks.0.mlp.act", tmp_path)) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "as (n, t, c):" in out and "expected" in out, out


def test_unit_file_that_registers_nothing_is_refused(tmp_path, registry_restored):
    f = tmp_path / "empty_unit.py"
    f.write_text("x = 1\n")
    with pytest.raises(ValueError, match="registered no unit"):
        load_unit_file(f)
