"""host/engine_driver.c (the C driver sketch of rtl/engine_axi.v) compiles cleanly against the
header generated from rtl/engine_regs.rdl, and would not against a register map without
the names it uses (the check can fail)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HOST = Path(__file__).resolve().parents[1] / "host"


def gcc(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-I", str(HOST), "-c", str(src),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)


@pytest.fixture
def have_gcc():
    if not shutil.which("gcc"):
        pytest.skip("gcc not found")


def test_c_driver_compiles(have_gcc, tmp_path):
    proc = gcc(HOST / "engine_driver.c", tmp_path / "engine_driver.o")
    assert proc.returncode == 0, proc.stderr
    syms = subprocess.run(["nm", str(tmp_path / "engine_driver.o")], capture_output=True, text=True).stdout
    for name in ("t2c_engine_check", "t2c_engine_load_layer", "t2c_engine_run", "t2c_engine_read_output"):
        assert f" T {name}" in syms, name


def test_c_driver_check_can_fail(have_gcc, tmp_path):
    """A driver naming a register the map does not have does not compile."""
    bad = tmp_path / "bad_driver.c"
    bad.write_text((HOST / "engine_driver.c").read_text().replace("e->CTRL =", "e->CONTROL ="))
    proc = gcc(bad, tmp_path / "bad.o")
    assert proc.returncode != 0 and "CONTROL" in proc.stderr
