"""`make sim` takes only the variables it documents, and passes them on to `t2c sim`."""
from __future__ import annotations

import json
import os
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


def run_sim(tmp_path, *args: str) -> list[str]:
    """The argument vector ``make sim ARGS...`` hands to t2c (a stand-in t2c prints it)."""
    fake = tmp_path / "t2c"
    fake.write_text("#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    out = subprocess.run(["make", "--no-print-directory", "-s", "-o", "venv", "-o", "iverilog", "sim", *args],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "T2C_BIN": str(fake)})
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    return json.loads(out.stdout)


def test_variables_become_t2c_sim_options(tmp_path):
    argv = run_sim(tmp_path, "GOLDEN=/tmp/g", "LAYER=conv2", "ROWS=4", "COLS=16", "SIM=verilator", "WAVES=1",
                   "PIXELS=3", "RTL_DIR=mine", "ARGS=--unit u.py")
    assert argv == ["sim", "--golden", "/tmp/g", "--layer", "conv2", "--sim", "verilator", "--waves",
                    "--pixels", "3", "--rows", "4", "--cols", "16", "--rtl-dir", "mine", "--unit", "u.py"]
    argv = run_sim(tmp_path, "GRAPH=net.t2c", "LAYER=conv2")
    assert argv[:3] == ["sim", "--graph", "net.t2c"] and "--model" not in argv
    assert run_sim(tmp_path)[:5] == ["sim", "--model", "digits-cnn", "--layer", "conv3"]


@pytest.mark.parametrize("value", ["conv3'; echo INJECTED >&2; echo '", 'a"; echo INJECTED >&2; echo "',
                                   "$(shell echo INJECTED >&2)", "`echo INJECTED >&2`", "$$(echo INJECTED >&2)"])
def test_values_are_never_evaluated_by_a_shell(tmp_path, value):
    """Each value reaches t2c as one argument, verbatim."""
    argv = run_sim(tmp_path, f"LAYER={value}", f"RTL_DIR={value}", f"ARGS=--unit {value}")
    want = value
    assert argv[argv.index("--layer") + 1] == want and argv[argv.index("--rtl-dir") + 1] == want
    assert argv[argv.index("--unit") + 1:] == want.split()  # ARGS: words, never evaluated
