"""`make sim` takes only the variables it documents, and passes them on to `t2c sim`."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def make(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(["make", "--no-print-directory", "-n", *args], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    out.stdout = out.stdout.replace("\\\n", " ")  # join the recipe's continued lines
    return out


@pytest.mark.parametrize("var", ["FOO=1", "LAYR=conv3", "golden=x"])
def test_unknown_variable_is_an_error(var):
    out = make("sim", var)
    assert out.returncode == 2 and f"unknown variable {var.split('=')[0]}" in out.stderr


def test_variables_become_t2c_sim_options():
    out = make("sim", "GOLDEN=/tmp/g", "LAYER=conv2", "ROWS=4", "COLS=16", "SIM=verilator", "WAVES=1",
               "PIXELS=3", "RTL_DIR=mine", "ARGS=--unit u.py")
    assert out.returncode == 0, out.stderr
    cmd = next(ln for ln in out.stdout.splitlines() if "t2c sim" in ln)
    for part in ("--golden '/tmp/g'", "--layer 'conv2'", "--sim 'verilator'", "--waves", "--pixels '3'",
                 "--rows '4'", "--cols '16'", "--rtl-dir 'mine'", "--unit u.py"):
        assert part in cmd, (part, cmd)
    graph = make("sim", "GRAPH=net.t2c", "LAYER=conv2")
    assert "--graph 'net.t2c'" in graph.stdout and "--model" not in next(
        ln for ln in graph.stdout.splitlines() if "t2c sim" in ln)
