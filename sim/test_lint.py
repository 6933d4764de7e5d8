"""Lint: every rtl/*.v is one module, clean under ``verilator --lint-only -Wall`` and
``iverilog -g2005 -Wall``, with its default parameters and with the corner parameter sets
below (generate branches and derived widths differ).  The testbench wrappers in sim/hdl/
are linted the same way (with --timing: they generate their clock with delays).

``CORNERS`` is the one table of lint corners of every module.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from t2c.sim import toolchain
from t2c.sim.hdl import RTL_DIR, TB_DIR

ENGINE_GEOMETRIES = [dict(ROWS=1, COLS=1), dict(ROWS=3, COLS=5, ABITS=4, WBITS=3, OBITS=5, MULT_BITS=16),
                     dict(ROWS=2, COLS=16, ACT_WORDS=1000, W_WORDS=5000, CT_WORDS=7, RES_WORDS=300,
                          OUT_WORDS=300)]
# Extra parameter sets per module (the defaults are always linted).
CORNERS = {
    "mac_array": [dict(ROWS=1, COLS=1, ABITS=2, WBITS=2, ACCW=6, A_SIGNED=0),
                  dict(ROWS=3, COLS=5, ABITS=5, WBITS=3, ACCW=16)],
    "mac_pe": [dict(AXW=4, WBITS=2, ACCW=6), dict(AXW=10, WBITS=8, ACCW=16)],
    "requant": [dict(LANES=1, MULT_BITS=16, OUTW=9),
                dict(LANES=2, ACCW=16, MULT_BITS=8, SHIFT_BITS=5, OUTW=4)],
    "lut": [dict(FRAC_BITS=4), dict(IN_BITS=1, FRAC_BITS=1, OUT_BITS=16, OUT_SIGNED=0)],
    "lut_layer": [dict(IN_BITS=4, OUT_BITS=16, OUT_SIGNED=0)],
    "softmax": [dict(MAX_N=17), dict(MAX_N=1, IN_SIGNED=0, OUT_BITS=4),
                dict(IN_BITS=4, MAX_N=1024, OUT_BITS=16)],
    "layernorm": [dict(MAX_N=1, IN_SIGNED=0, OUT_BITS=2, MAX_SHIFT=1),
                  dict(MAX_N=192, IN_BITS=4, MAX_SHIFT=31, OFF_BITS=48, EPS_BITS=60)],
    "layer_engine": ENGINE_GEOMETRIES,
    "engine_axi": ENGINE_GEOMETRIES,
    "tb_engine_axi": ENGINE_GEOMETRIES[:2],
    "engine_ctrl": [dict(ROWS=1, COLS=1, AAW=1, WAW=1, TAW=1), dict(ROWS=3, COLS=5, AAW=20, TAW=6)],
    "engine_post": [dict(ROWS=1, COLS=1, RAW=1, OAW=1, TAW=1),
                    dict(ROWS=5, COLS=3, ABITS=4, MULT_BITS=16, OBITS=4, RAW=12, OAW=12)],
    "engine_mem": [dict(WIDTH=1, DEPTH=1, PORTS=1), dict(WIDTH=100, DEPTH=1000, PORTS=3)],
    "engine_pixwalk": [dict(PW=8)],
    "tb_mac_array": [dict(ROWS=1, COLS=3, ABITS=2)],
    "tb_lut": [dict(IN_BITS=2, FRAC_BITS=3)],
    "tb_lut_layer": [dict(IN_BITS=6, OUT_BITS=12, X_QMIN=32), dict(NX=64, NSEG=16, QSTEP=1, IN_BITS=4),
                     dict(NX=10, NSEG=5, QSTEP=77, HOLD=1)],
    "tb_softmax": [dict(MAX_N=17, IN_SIGNED=0)],
    "tb_layernorm": [dict(MAX_N=17, IN_SIGNED=0, MAX_SHIFT=7, EPS_BITS=40)],
    "tb_requant": [dict(ADD_BITS=41), dict(LANES=1, MULT_BITS=16, OUTW=9, ADD_BITS=48)],
    "tb_layer_engine": ENGINE_GEOMETRIES[:2],
    "divider": [dict(DIVISOR_BITS=1, QUOTIENT_BITS=1), dict(DIVISOR_BITS=1, QUOTIENT_BITS=2),
                dict(DIVISOR_BITS=25, QUOTIENT_BITS=26), dict(DIVISOR_BITS=21, QUOTIENT_BITS=8),
                dict(DIVISOR_BITS=33, QUOTIENT_BITS=40)],
    "tb_divider": [dict(DIVISOR_BITS=1, QUOTIENT_BITS=1, GAPS=1),
                   dict(DIVISOR_BITS=33, QUOTIENT_BITS=40, NDIV=3)],
    "row_counter": [dict(MAX_N=1), dict(MAX_N=2), dict(MAX_N=17)],
    "eltwise": [dict(LANES=3, IN_BITS=4, OUT_BITS=12, MULT_BITS=16, SHIFT_BITS=5),
                dict(IN_BITS=2, OUT_BITS=2, MULT_BITS=8, SHIFT_BITS=3)],
    "tb_eltwise": [dict(LANES=2, IN_BITS=4, OUT_BITS=12, MULT_BITS=16)],
    "pool": [dict(IN_BITS=2, OUT_BITS=2, ACCW=5, MULT_BITS=8, SHIFT_BITS=3, DIMW=1, AW=2),
             dict(IN_BITS=4, OUT_BITS=12, ACCW=12, MULT_BITS=16, DIMW=8, AW=9),
             dict(IN_BITS=8, OUT_BITS=4, AW=40)],
    "tb_pool": [dict(IN_BITS=4, OUT_BITS=6, ACCW=12, MULT_BITS=16, DIMW=8, NJOBS=3, GAPS=1)],
    "tb_image": [dict(WIDTH=1, LANES=3, WORDS=6)],
    "tb_dump": [dict(WIDTH=1, LANES=3, NVEC=2)],
}


def _files():
    return sorted(RTL_DIR.glob("*.v")) + sorted(TB_DIR.glob("*.v"))


def _cases():
    for f in _files():
        for i, params in enumerate([{}] + CORNERS.get(f.stem, [])):
            yield pytest.param(f, params, id=f"{f.parent.name}/{f.stem}-{i}")


def _run(cmd) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{out}"
    return out


def test_one_module_per_file():
    for f in sorted(RTL_DIR.glob("*.v")):
        text = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)
        text = re.sub(r"//.*", "", text)
        mods = re.findall(r"^\s*module\s+(\w+)", text, re.M)
        assert mods == [f.stem], f"{f}: modules {mods}, expected exactly [{f.stem!r}]"


def test_corner_table_names_real_modules():
    assert set(CORNERS) <= {f.stem for f in _files()}


def verilator_lint(path, params) -> str:
    toolchain.setup_path()
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", path.stem, "-y", str(RTL_DIR),
           "-y", str(TB_DIR)]
    if path.parent == TB_DIR:
        cmd.append("--timing")
    return _run(cmd + [f"-G{k}={v}" for k, v in params.items()] + [str(path)])


def iverilog_lint(path, params) -> str:
    cmd = ["iverilog", "-g2005", "-Wall", "-o", "/dev/null", "-s", path.stem, f"-y{RTL_DIR}", f"-y{TB_DIR}"]
    return _run(cmd + [f"-P{path.stem}.{k}={v}" for k, v in params.items()] + [str(path)])


@pytest.mark.parametrize("path, params", list(_cases()))
def test_verilator_lint(path, params):
    toolchain.setup_path()
    if not shutil.which("verilator"):
        pytest.skip(toolchain.INSTALL_HINTS["verilator"])
    out = verilator_lint(path, params)
    assert "%Warning" not in out and "%Error" not in out, out


@pytest.mark.parametrize("path, params", list(_cases()))
def test_iverilog_2005(path, params):
    if not shutil.which("iverilog"):
        pytest.skip(toolchain.INSTALL_HINTS["icarus"])
    out = iverilog_lint(path, params)
    assert not re.search(r"warning|error", out, re.I), out


def test_lint_can_fail(tmp_path):
    """Verilator -Wall rejects an unused signal and a width mismatch (warnings only);
    Icarus rejects an undeclared net."""
    toolchain.setup_path()
    warn = tmp_path / "warn_unit.v"
    warn.write_text("module warn_unit(input wire [3:0] a_i, output wire [1:0] y_o);\n"
                    "  wire [7:0] unused;\n  assign y_o = a_i;\nendmodule\n")
    bad = tmp_path / "bad_unit.v"
    bad.write_text("module bad_unit(input wire [3:0] a_i, output wire [3:0] y_o);\n"
                   "  assign y_o = a_i + q;\nendmodule\n")
    if shutil.which("verilator"):
        with pytest.raises(AssertionError, match="WIDTH|UNUSED"):
            out = verilator_lint(warn, {})
            assert "%Warning" not in out, out
    if shutil.which("iverilog"):
        with pytest.raises(AssertionError, match="Unable to bind"):
            iverilog_lint(bad, {})
