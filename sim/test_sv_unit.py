"""SystemVerilog sources on the RTL search path: ``M.sv`` is found by library search and
compiled as SystemVerilog (Verilator by default; Icarus with -g2012 when the path holds a
.sv file), and a unit written in it is verified like any other (tests/sv_unit: the
example LUT unit's module in SystemVerilog, with the Verilog wrapper)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from t2c.cli import main
from t2c.sim import toolchain

REPO = Path(__file__).resolve().parents[1]
SV = REPO / "tests" / "sv_unit"
ARGV = ["sim", "--model", "digits-vit", "--layer", "blocks.0.mlp.act",
        "--unit", str(REPO / "examples" / "own_unit" / "my_lut_unit.py")]


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_a_systemverilog_unit_passes_and_a_broken_copy_fails(sim, tmp_path, capsys, monkeypatch):
    toolchain.require_simulator(sim)
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    assert main(ARGV + ["--rtl-dir", str(SV), "--sim", sim]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and f"my_lut, tb_my_lut from {SV}" in out.replace("tb_my_lut, my_lut", "my_lut, tb_my_lut")
    broken = tmp_path / "broken"
    shutil.copytree(SV, broken)
    text = (broken / "my_lut.sv").read_text()
    assert text.count("out_value <= table_mem[addr];") == 1
    off_by_one = text.replace("out_value <= table_mem[addr];", "out_value <= table_mem[addr ^ 1];")
    (broken / "my_lut.sv").write_text(off_by_one)
    assert main(ARGV + ["--rtl-dir", str(broken), "--sim", sim]) == 1
    assert "FAIL 1421/1632 mismatches" in capsys.readouterr().out
