"""Whole networks through the RTL, chained (t2c sim --all, t2c.sim.network.run_network).

* digits-cnn and digits-vit on both simulators: every layer's input is what the RTL
  computed before it, every layer equals the reference (``==``), every arithmetic op ran
  on an RTL unit and what ran in Python is data movement only;
* a broken unit (a requantizer that rounds down, on T2C_RTL_DIR) stops the run at the
  first layer that uses it and names the element; ``--continue`` goes on from the golden
  tensors and finds every layer that uses it, and only those;
* the per-layer report: report.json holds every figure of the table, report.png a plot;
* the held-out digits split (360 images) through the RTL network: 360/360 logit vectors
  equal to the integer reference, the RTL's top-1 accuracy printed (slow; Verilator);
* torchvision resnet18 and timm vit_tiny_patch16_224 whole at 224x224 (slow; Verilator).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from t2c.cli import main
from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.hdl import RTL_DIR
from t2c.sim.network import PYTHON, run_network
from t2c.sim.units import MOVEMENT_OPS, SimOptions, unit_for

ARITHMETIC = ("conv", "linear", "matmul", "softmax", "layernorm", "lut", "maxpool", "avgpool", "add", "concat",
              "relu")


def check_network(net, golden) -> None:
    assert net.passed, net.table()
    assert [r.layer for r in net.layers] == [e["name"] for e in golden.manifest["layers"]]
    for r in net.layers:
        assert r.comparison.mismatches == 0 and r.comparison.compared == int(np.size(
            golden.tensor(r.layer, "output"))), r.layer
        if r.op in ARITHMETIC:
            assert r.runs_on != PYTHON and r.run is not None and r.runs_on == unit_for(r.op).name, r.layer
    assert all(op in MOVEMENT_OPS for _, op in net.python_ops()), net.python_ops()
    assert np.array_equal(net.output, golden.tensor(golden.manifest["layers"][-1]["name"], "output"))


@pytest.mark.parametrize("model", ["digits-cnn", "digits-vit"])
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_whole_network_chained(sim, model, request):
    toolchain.require_simulator(sim)
    golden = open_golden(ensure_golden(model))
    net = run_network(golden, SimOptions(sim=sim, tag=request.node.name))
    print(net.table())
    print(net.verdict())
    check_network(net, golden)


def test_cli_prints_the_table_and_passes(capsys):
    toolchain.require_simulator("icarus")
    assert main(["sim", "--all"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["layer", "op", "unit", "cycles", "MAC", "util", "compared",
                                           "mismatches", "wall", "s"]
    assert "digits-cnn icarus whole network: PASS, 7 layers (6 on RTL, 1 data movement in Python)" in out


def broken_requant(tmp_path):
    text = (RTL_DIR / "requant.v").read_text()
    good = "zp2_q   <= {zp1_q, 1'b1};"
    assert text.count(good) == 1
    (tmp_path / "requant.v").write_text(text.replace(good, "zp2_q   <= {zp1_q, 1'b0};"))
    return tmp_path


def test_broken_unit_stops_at_its_first_layer_and_continue_finds_the_others(tmp_path):
    sim = toolchain.first_simulator()
    golden = open_golden(ensure_golden("digits-cnn"))
    rtl = (broken_requant(tmp_path),)
    net = run_network(golden, SimOptions(sim=sim, rtl_dirs=rtl, tag="broken-stop"))
    assert net.stopped_at == "conv1" and len(net.layers) == 1 and not net.passed
    first = net.layers[0].comparison.first[0]
    assert first.got == first.expected - 1  # rounding down: one less, at a named (n, c, h, w)
    assert len(first.index) == 4 and "window" in net.layers[0].inputs_at_failure
    both = run_network(golden, SimOptions(sim=sim, rtl_dirs=rtl, tag="broken-continue"), keep_going=True)
    uses_requant = {"conv1", "conv2", "conv3", "conv4", "avgpool", "fc"}
    assert {r.layer for r in both.failures} == uses_requant
    assert [r.fed_from for r in both.layers] == ["rtl"] + ["golden"] * 6
    assert both.stopped_at is None and not both.passed


def test_report_json_and_png(tmp_path, capsys):
    toolchain.require_simulator("icarus")
    out = tmp_path / "report"
    assert main(["sim", "--all", "--report", str(out)]) == 0
    doc = json.loads((out / "report.json").read_text())
    assert doc["model"] == "digits-cnn" and doc["array"] == {"rows": 8, "cols": 8} and doc["passed"]
    rows = {r["layer"]: r for r in doc["layers"]}
    assert rows["conv3"]["cycles"] == 2332 and rows["conv3"]["mismatches"] == 0 and rows["flatten"]["unit"] == PYTHON
    assert doc["cycles"] == sum(r["cycles"] or 0 for r in doc["layers"])
    assert doc["python_ops"] == [{"layer": "flatten", "op": "flatten"}]
    assert "icarus" in doc["versions"]["simulator"].lower() or doc["versions"]["simulator"]
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (out / "mine.txt").write_text("x")
    assert main(["sim", "--all", "--report", str(out)]) == 2  # the output policy holds here too
    assert "holds files t2c did not write" in capsys.readouterr().err


README = Path(__file__).resolve().parents[1] / "README.md"
# the rows of the README's whole-network table, by the words that start them
README_ROWS = {"digits-cnn": "| digits-cnn, 360 test digits", "digits-vit": "| digits-vit, 360 test digits",
               ("resnet18", 8): "| torchvision resnet18, 224x224, 1 image, 8x8", ("resnet18", 16): "| the same, 16x16",
               ("vit-tiny", 8): "| timm vit_tiny_patch16_224, 1 image"}


def readme_cycles(key) -> str:
    """The cycles column of the README's whole-network row ``key`` (what the run must print)."""
    row = next(ln for ln in README.read_text().splitlines() if ln.startswith(README_ROWS[key]))
    return row.split("|")[3].strip()


def test_readme_rows_are_found():
    assert readme_cycles("digits-cnn").endswith("per image)") and readme_cycles(("resnet18", 16))[0].isdigit()


@pytest.mark.slow
@pytest.mark.parametrize("model, accuracy", [("digits-cnn", "98.89%"), ("digits-vit", "93.89%")])
def test_digits_test_split_through_the_rtl(model, accuracy, capsys):
    toolchain.require_simulator("verilator")
    assert main(["sim", "--model", model, "--all", "--dataset", "test", "--sim", "verilator"]) == 0
    out = capsys.readouterr().out
    assert (f"dataset: 360/360 output vectors equal to the integer reference; top-1 accuracy: RTL {accuracy}, "
            f"integer reference {accuracy}") in out, out[-2000:]
    verdict = next(ln for ln in out.splitlines() if "whole network: PASS" in ln)
    assert readme_cycles(model).replace(" (", " cycles (", 1) in verdict, (verdict, readme_cycles(model))


@pytest.mark.slow
@pytest.mark.parametrize("model, size", [("resnet18", 8), ("resnet18", 16), ("vit-tiny", 8)])
def test_large_network_whole_on_verilator(model, size, request):
    toolchain.require_simulator("verilator")
    golden = open_golden(ensure_golden(model))
    net = run_network(golden, SimOptions(sim="verilator", rows=size, cols=size, tag=request.node.name))
    print(net.table())
    print(net.verdict())
    check_network(net, golden)
    assert readme_cycles((model, size)) == f"{net.cycles:,}"  # the README's figure is this run's
