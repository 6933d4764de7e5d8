"""A designer's own streaming dense unit (tests/stream_dense: RTL, wrapper and unit file
written against t2c's documented --unit / --rtl-dir seam, as a user would) with realistic
one-line bugs: the model's golden vectors let some through; its corner variants
(``t2c golden --stimulus corners``) catch every one, and the correct RTL passes them all.

The fast test runs digits-vit's ``head`` (10 outputs); the slow one the issue's layer,
``blocks.0.mlp.fc1`` (1,632 outputs), through the command line.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from t2c.cli import main
from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_corners

UNIT_DIR = Path(__file__).resolve().parents[1] / "tests" / "stream_dense"
BUGS = {
    "ties rounded down": ("r = (p + (64'sd1 <<< (s_data - 8'd1))) >>> s_data;",
                          "r = (p + (64'sd1 <<< (s_data - 8'd1)) - 64'sd1) >>> s_data;"),
    "zero point zero-extended": ("wire signed [31:0] zx32 = {{(31-XBITS){ZXB[XBITS]}}, ZXB};",
                                 "wire signed [31:0] zx32 = {{(31-XBITS){1'b0}}, ZXB};"),
    "clamp on the low 32 bits": ("    if (v < QMIN) y = QMIN[OUTW-1:0];\n    else if (v > QMAX)",
                                 "    if ($signed(v[31:0]) < QMIN) y = QMIN[OUTW-1:0];\n"
                                 "    else if ($signed(v[31:0]) > QMAX)"),
    "bias read in 24 bits": ("wire signed [31:0] bias32 = bias_data;",
                             "wire signed [31:0] bias32 = {{8{bias_data[23]}}, bias_data[23:0]};"),
}


def rtl(tmp_path: Path, bug: str | None) -> Path:
    d = tmp_path / (bug or "correct").replace(" ", "_")
    shutil.copytree(UNIT_DIR, d, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    if bug:
        good, bad = BUGS[bug]
        text = (d / "stream_dense.v").read_text()
        assert text.count(good) == 1, f"stream_dense.v changed: update the bug {bug!r}"
        (d / "stream_dense.v").write_text(text.replace(good, bad))
    return d


def verdicts(golden: Path, layer: str, rtl_dir: Path, corners: bool, capsys) -> tuple[int, str]:
    argv = ["sim", "--golden", str(golden), "--layer", layer, "--unit", str(UNIT_DIR / "stream_dense_unit.py"),
            "--rtl-dir", str(rtl_dir)] + (["--stimulus", "corners"] if corners else [])
    code = main(argv)
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def golden():
    return ensure_corners("digits-vit")


def test_model_case_lets_bugs_through_corners_catch_every_one(golden, tmp_path, capsys):
    toolchain.require_simulator("icarus")
    code, out = verdicts(golden, "head", rtl(tmp_path, None), True, capsys)
    assert code == 0 and out.count("PASS") >= 13 and re.search(r" (\d+)/\1 reachable bins hit", out), out
    passed_model_case = []
    for bug in BUGS:
        d = rtl(tmp_path, bug)
        code, _ = verdicts(golden, "head", d, False, capsys)
        if code == 0:
            passed_model_case.append(bug)
        code, out = verdicts(golden, "head", d, True, capsys)
        assert code == 1 and "FAIL" in out, (bug, out)
    assert {"ties rounded down", "zero point zero-extended"} <= set(passed_model_case), passed_model_case


@pytest.mark.slow
def test_the_issues_layer_through_the_command_line(golden, tmp_path, capsys):
    toolchain.require_simulator("icarus")
    layer = "blocks.0.mlp.fc1"
    assert verdicts(golden, layer, rtl(tmp_path, None), True, capsys)[0] == 0
    for bug in BUGS:
        code, out = verdicts(golden, layer, rtl(tmp_path, bug), True, capsys)
        assert code == 1, (bug, out[-2000:])


def test_a_mismatch_names_its_operands_and_stream_position(golden, tmp_path, capsys):
    """The unit hands t2c where each output came out (UnitJob.position); t2c adds the golden
    accumulator and (m, s) at that element: a tie rounded down reads as one."""
    toolchain.require_simulator("icarus")
    code, out = verdicts(golden, "head~ties", rtl(tmp_path, "ties rounded down"), False, capsys)
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("(0, "))
    m = re.search(r"expected (-?\d+), got (-?\d+)  \[acc=(-?\d+) m=1073741824 s=31\] at output beat (\d+)$", line)
    assert m, line
    want, got, acc, beat = map(int, m.groups())
    assert acc % 2 and want - got == 1  # an odd accumulator times 1/2: a tie, rounded down
    assert beat == int(line.strip()[1:].split(")")[0].split(", ")[1])  # row 0: the beat is the channel


def test_unit_args_reach_the_unit(tmp_path, capsys):
    from t2c.sim.units import SimOptions, unit_arg

    opts = SimOptions(unit_args=(("lanes", "4"), ("mode", "x"), ("lanes", "8")))
    assert unit_arg(opts, "lanes") == "8" and unit_arg(opts, "mode") == "x" and unit_arg(opts, "gone", "d") == "d"
    assert main(["sim", "--layer", "conv3", "--unit-arg", "novalue"]) == 2
    assert "--unit-arg takes KEY=VALUE" in capsys.readouterr().err
