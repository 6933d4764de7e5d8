"""Lint: every rtl/*.v is one module, clean under `verilator --lint-only -Wall` and
`iverilog -g2005 -Wall`, with its default parameters and with the corner parameter
sets below (generate branches differ).  The testbench wrappers in sim/hdl/ are linted
the same way (with --timing: they generate their clock with delays).
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import simutil as su

# Extra parameter sets per module (the defaults are always linted).
CORNERS = {
    "mac_array": [dict(ROWS=1, COLS=1, ABITS=2, WBITS=2, ACCW=6, A_SIGNED=0),
                  dict(ROWS=3, COLS=5, ABITS=5, WBITS=3, ACCW=16)],
    "mac_pe": [dict(AXW=4, WBITS=2, ACCW=6), dict(AXW=10, WBITS=8, ACCW=16)],
    "requant": [dict(LANES=1, MULT_BITS=16, OUTW=9),
                dict(LANES=2, ACCW=16, MULT_BITS=8, SHIFT_BITS=5, OUTW=4)],
    "lut": [dict(FRAC_BITS=4), dict(IN_BITS=1, FRAC_BITS=1, OUT_BITS=16, OUT_SIGNED=0)],
    "tb_mac_array": [dict(ROWS=1, COLS=3, ABITS=2)],
    "tb_lut": [dict(IN_BITS=2, FRAC_BITS=3)],
    "layernorm": [dict(MAX_N=1, IN_SIGNED=0, OUT_BITS=2, MAX_SHIFT=1),
                  dict(MAX_N=192, IN_BITS=4, MAX_SHIFT=31, OFF_BITS=48, EPS_BITS=60)],
    "tb_layernorm": [dict(MAX_N=17, IN_SIGNED=0, MAX_SHIFT=7, EPS_BITS=40)],
    "tb_requant": [dict(ADD_BITS=41), dict(LANES=1, MULT_BITS=16, OUTW=9, ADD_BITS=48)],
    "divider": [dict(DIVISOR_BITS=1, QUOTIENT_BITS=1), dict(DIVISOR_BITS=1, QUOTIENT_BITS=2),
                dict(DIVISOR_BITS=25, QUOTIENT_BITS=26), dict(DIVISOR_BITS=21, QUOTIENT_BITS=8),
                dict(DIVISOR_BITS=33, QUOTIENT_BITS=40)],
    "tb_divider": [dict(DIVISOR_BITS=1, QUOTIENT_BITS=1, GAPS=1),
                   dict(DIVISOR_BITS=33, QUOTIENT_BITS=40, NDIV=3)],
    "row_counter": [dict(MAX_N=1), dict(MAX_N=2), dict(MAX_N=17)],
    "tb_image": [dict(WIDTH=1, LANES=3, WORDS=6)],
    "tb_dump": [dict(WIDTH=1, LANES=3, NVEC=2)],
}


def _cases():
    files = sorted(su.RTL_DIR.glob("*.v")) + sorted(su.HDL_DIR.glob("*.v"))
    for f in files:
        for i, params in enumerate([{}] + CORNERS.get(f.stem, [])):
            yield pytest.param(f, params, id=f"{f.parent.name}/{f.stem}-{i}")


CASES = list(_cases())


def _run(cmd) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{out}"
    return out


def test_one_module_per_file():
    for f in sorted(su.RTL_DIR.glob("*.v")):
        text = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)
        text = re.sub(r"//.*", "", text)
        mods = re.findall(r"^\s*module\s+(\w+)", text, re.M)
        assert mods == [f.stem], f"{f}: modules {mods}, expected exactly [{f.stem!r}]"


@pytest.mark.parametrize("path, params", CASES)
def test_verilator_lint(path, params):
    su.setup_path()
    if not shutil.which("verilator"):
        pytest.skip(su.INSTALL_HINTS["verilator"])
    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", path.stem,
           "-y", str(su.RTL_DIR), "-y", str(su.HDL_DIR)]
    if path.parent == su.HDL_DIR:
        cmd.append("--timing")
    cmd += [f"-G{k}={v}" for k, v in params.items()] + [str(path)]
    out = _run(cmd)
    assert "%Warning" not in out and "%Error" not in out, out


@pytest.mark.parametrize("path, params", CASES)
def test_iverilog_2005(path, params):
    if not shutil.which("iverilog"):
        pytest.skip(su.INSTALL_HINTS["icarus"])
    cmd = ["iverilog", "-g2005", "-Wall", "-o", "/dev/null", "-s", path.stem,
           f"-y{su.RTL_DIR}", f"-y{su.HDL_DIR}"]
    cmd += [f"-P{path.stem}.{k}={v}" for k, v in params.items()] + [str(path)]
    out = _run(cmd)
    assert not re.search(r"warning|error", out, re.I), out
