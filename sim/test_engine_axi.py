"""rtl/engine_axi.v: whole networks loaded, run and read back over AXI4-Lite, ``==`` on every element.

One build per simulator and model, sized to the maximum over the model's engine layers
(``ACT_WORDS`` ... ``OUT_WORDS``), with no image files: for every engine layer the cocotb
test (:mod:`t2c.sim.cocotb_engine_axi`) writes the images ``t2c export --engine`` wrote
over the bus with the host driver (:mod:`t2c.sim.engine_driver`, cocotbext-axi's
``AxiLiteMaster``), starts the engine, polls DONE, reads CYCLES/STEPS and the output
memory back; here each layer's output is decoded and compared with its golden output
(golden inputs per layer; avgpool and the other non-engine layers are not run), and its
cycle count with the file-loaded run's (``timing`` and sim/test_layers.py's CYCLES).

In the same digits-cnn run: conv1 reloaded with one wrong descriptor word (y_zp + 1) and
conv3 with one flipped weight bit must both fail the comparison; the ID, version and
geometry registers must read what the generated C header and the build say.  The
register map's Verilog localparams, the generated files and the RDL must agree
(and that check fails on a deliberately wrong offset).
"""
from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from t2c.export import engine as E
from t2c.sim import toolchain
from t2c.sim.build import SimJob, build_dir_for, run_job
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.units.layer_engine import timing

from test_layers import CYCLES

ROOT = Path(__file__).resolve().parents[1]
RTL = ROOT / "rtl" / "engine_axi.v"
RDL = ROOT / "rtl" / "engine_regs.rdl"
HEADER = ROOT / "host" / "t2c_engine_regs.h"
CNN, VIT = "digits-cnn", "digits-vit"
GEO = E.Geometry()
GEO16 = E.Geometry(mult_bits=16)  # ACCW 32 > MULT_BITS 16: the bus window is sized by ACCW
Y_ZP = E.DESC_FIELDS.index("y_zp")
TAMPERED = {"conv1 y_zp+1": "conv1", "conv3 weight bit": "conv3"}


def network_parameters(layers, geo=GEO) -> dict[str, int]:
    """One build for every layer: the geometry and the maximum of each memory's depth."""
    params = [E.hdl_parameters(la, geo) for la in layers]
    out = dict(params[0])
    for k in ("ACT_WORDS", "W_WORDS", "CT_WORDS", "RES_WORDS", "OUT_WORDS"):
        out[k] = max(p[k] for p in params)
    return out


MULT16 = "digits-cnn-mult16"  # digits-cnn converted with 16-bit requantization multipliers


def golden_for(model: str):
    """The golden directory of ``model``; MULT16 is generated once into the build root."""
    if model != MULT16:
        return open_golden(ensure_golden(model))
    from t2c.fileio import file_lock
    from t2c.golden import write_golden
    from t2c.pipeline import ModelSource, prepare
    from t2c.qconfig import QConfig
    from t2c.sim.golden_dirs import _current

    d = toolchain.build_root() / "golden" / MULT16
    with file_lock(d.with_name(d.name + ".lock")):
        if not _current(d):
            p = prepare(ModelSource("digits-cnn"), QConfig(multiplier_bits=16))
            write_golden(p.graph, p.x_int, d, force=True)
    return open_golden(d)


@functools.lru_cache(maxsize=None)
def network_run(model: str, sim: str):
    """Run every engine layer of ``model`` through one engine_axi build on ``sim`` (once per
    session); digits-cnn also runs the two damaged layers.  Returns (run, images by name)."""
    toolchain.require_simulator(sim)
    pytest.importorskip("cocotbext.axi")
    golden = golden_for(model)
    geo = GEO16 if model == MULT16 else GEO
    names = E.engine_layer_names(golden)
    probe = [E.EngineLayer.from_golden(golden, n) for n in names]
    params = network_parameters(probe, geo)
    bdir = build_dir_for("engine_axi", sim, model, params)
    images = {im.layer.name: im for im in E.export_engine(golden, bdir / "export", names, geo, force=True)}
    layers = [{"name": n, "dir": str(images[n].directory)} for n in names]
    if model == CNN:
        desc = E.encode_descriptor(E.descriptor(images["conv1"].layer, GEO))
        layers += [{"name": "conv1 y_zp+1", "dir": str(images["conv1"].directory),
                    "tamper": {"desc": [Y_ZP, int(desc[Y_ZP]) + 1]}},
                   {"name": "conv3 weight bit", "dir": str(images["conv3"].directory),
                    "tamper": {"flip": ["weight", 5, 3]}}]
    job = SimJob("engine_axi", "tb_engine_axi", sim, bdir, params, [], [], max_cycles=1_000_000,
                 test_module="t2c.sim.cocotb_engine_axi", config={"layers": layers}, quiet=True)
    run = run_job(job)
    return run, images, golden


def compare(golden, images, result) -> int:
    """Mismatching elements of one layer's output read over the bus."""
    layer = images.layer
    got = E.decode_output([int(w) for w in result["words"]], layer, images.geometry)
    want = np.asarray(golden.tensor(layer.name, "output"))
    assert got.shape == want.shape
    return int(np.count_nonzero(~(got == want)))


@pytest.mark.parametrize("model", [CNN, VIT, MULT16])
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_network_over_axi(sim, model):
    run, images, golden = network_run(model, sim)
    rows = []
    for r in run.extra["layers"]:
        if r["name"] in TAMPERED:
            continue
        layer = images[r["name"]].layer
        bad = compare(golden, images[r["name"]], r)
        steps, cycles = timing(layer, images[r["name"]].geometry)
        rows.append(f"{r['name']:<22} {r['writes']:>6} writes {r['load_cycles']:>7} load cycles "
                    f"{r['cycles']:>6} compute cycles {r['read_cycles']:>6} read cycles  mismatches {bad}")
        assert bad == 0, f"{model} {r['name']} on {sim}: {bad} elements differ"
        assert (r["steps"], r["cycles"]) == (steps, cycles), r["name"]
        assert r["cycles"] == CYCLES[(CNN if model == MULT16 else model, r["name"])], r["name"]
    print("\n".join(rows))
    assert [r["name"] for r in run.extra["layers"] if r["name"] not in TAMPERED] == E.engine_layer_names(golden)


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_damaged_layer_fails(sim):
    """A wrong descriptor word or one flipped weight bit, written over the bus, makes the
    layer's output differ from the golden one (the comparison can fail)."""
    run, images, golden = network_run(CNN, sim)
    got = {r["name"]: r for r in run.extra["layers"]}
    for name, layer in TAMPERED.items():
        bad = compare(golden, images[layer], got[name])
        print(f"{name}: {bad} mismatches")
        assert bad > 0, name
    assert compare(golden, images["conv1"], got["conv1"]) == 0  # the same layer loaded right passes


def header_defines(path: Path = HEADER) -> dict[str, int]:
    return {m.group(1): int(m.group(2), 0)
            for m in re.finditer(r"^#define (\w+) (0x[0-9a-fA-F]+|\d+)\s*$", path.read_text(), re.M)}


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_id_and_geometry_registers(sim):
    """ID and version read over the bus are the header's constants; geometry and depths are the build's."""
    run, images, _ = network_run(CNN, sim)
    info, h = run.extra["info"], header_defines()
    assert info["id"] == h["T2C_ENGINE__ID__ID_reset"] == 0x74324158
    assert (info["major"], info["minor"]) == (h["T2C_ENGINE__VERSION__MAJOR_reset"],
                                              h["T2C_ENGINE__VERSION__MINOR_reset"])
    p = run.job.parameters
    assert {k: info[k.lower()] for k in ("ROWS", "COLS", "ABITS", "WBITS", "ACCW", "MULT_BITS", "OBITS",
                                         "ACT_WORDS", "W_WORDS", "CT_WORDS", "RES_WORDS", "OUT_WORDS")} == \
        {k: p[k] for k in ("ROWS", "COLS", "ABITS", "WBITS", "ACCW", "MULT_BITS", "OBITS",
                           "ACT_WORDS", "W_WORDS", "CT_WORDS", "RES_WORDS", "OUT_WORDS")}
    assert info["lane_shift"] == 3  # 8 x 32-bit bias / m words: 8 lanes
    # two reads outstanding while RREADY stalls: each returns its own register (Icarus)
    version = (h["T2C_ENGINE__VERSION__MAJOR_reset"] << 16) | h["T2C_ENGINE__VERSION__MINOR_reset"]
    if sim == "icarus":
        assert info["overlapped_reads"] == [0x74324158, version]


def test_16_bit_multipliers_keep_the_bus_as_wide_as_the_accumulator():
    """MULT_BITS 16 < ACCW 32: the window still carries 8 x 32-bit bias words (8 lanes), and
    the multipliers really are 16-bit (the build is not the 32-bit one under another name)."""
    run, images, golden = network_run(MULT16, toolchain.first_simulator())
    assert run.job.parameters["MULT_BITS"] == 16 and run.job.parameters["ACCW"] == 32
    assert run.extra["info"]["lane_shift"] == 3
    m = golden.tensor("conv3", "m")
    assert m.max() < 1 << 15 and m.max() >= 1 << 14


# ------------------------------------------------------------------ the register map has one source
def verilog_regmap(text: str) -> tuple[dict[str, int], dict[str, int]]:
    """(REG_* offsets, <REG>_<FIELD>_LSB positions) from engine_axi.v's localparams."""
    offs = {m.group(1): int(m.group(2), 16) for m in re.finditer(r"\bREG_(\w+)\s*=\s*24'h([0-9A-Fa-f]+)", text)}
    lsbs = {m.group(1): int(m.group(2)) for m in re.finditer(r"\b(\w+)_LSB\s*=\s*(\d+)", text)}
    return offs, lsbs


def regmap_mismatches(verilog_text: str) -> list[str]:
    """Where the Verilog register block and the compiled RDL disagree (empty: they agree)."""
    pytest.importorskip("systemrdl")
    sys.path.insert(0, str(ROOT / "tools"))
    import engine_regs as gen

    m = gen.register_map(gen.compile_rdl(RDL))
    offs, lsbs = verilog_regmap(verilog_text)
    bad = []
    rdl_regs = {name: off for name, (off, _, _) in m["regs"].items()}
    if set(rdl_regs) != set(offs):
        bad.append(f"registers: RDL {sorted(rdl_regs)} vs Verilog {sorted(offs)}")
    for name, off in rdl_regs.items():
        if offs.get(name) != off:
            bad.append(f"{name}: RDL offset {off:#x}, Verilog {offs.get(name)}")
    for name, (_, fields, _) in m["regs"].items():
        if len(fields) < 2 and name not in ("CTRL",):
            continue  # whole-word registers have no field localparam
        for f, (lsb, _) in fields.items():
            if lsbs.get(f"{name}_{f}") != lsb:
                bad.append(f"{name}.{f}: RDL lsb {lsb}, Verilog {lsbs.get(f'{name}_{f}')}")
    for name, (base, _) in m["windows"].items():
        region = base >> 24
        if name == "WIN_OUTPUT":
            want = int(re.search(r"WIN_OUTPUT\s*=\s*8'h([0-9A-Fa-f]+)", verilog_text).group(1), 16)
            if want != region:
                bad.append(f"{name}: RDL region {region:#x}, Verilog {want:#x}")
        elif not 1 <= region <= 8:
            bad.append(f"{name}: region {region:#x} is not a memory window 0x01..0x08")
    order = ["WIN_TILES", "WIN_INPUT", "WIN_WEIGHT", "WIN_BIAS", "WIN_M", "WIN_S", "WIN_RESIDUAL", "WIN_RESIDUAL_M"]
    for sel, name in enumerate(order, start=1):  # region = layer_engine mem_sel_i
        if m["windows"][name][0] >> 24 != sel:
            bad.append(f"{name}: region {m['windows'][name][0] >> 24:#x}, layer_engine mem_sel {sel}")
    return bad


def test_verilog_register_block_matches_rdl():
    assert regmap_mismatches(RTL.read_text()) == []


def test_register_check_can_fail():
    """A deliberately wrong offset (STATUS at 0x018) or field (DONE at bit 3) is caught."""
    text = RTL.read_text()
    wrong = text.replace("REG_STATUS    = 24'h000014", "REG_STATUS    = 24'h000018")
    assert wrong != text
    assert any(b.startswith("STATUS: RDL offset 0x14") for b in regmap_mismatches(wrong))
    wrong = text.replace("STATUS_DONE_LSB = 1", "STATUS_DONE_LSB = 3")
    assert wrong != text
    assert any(b.startswith("STATUS.DONE") for b in regmap_mismatches(wrong))


def test_generated_register_files_are_current():
    """host/t2c_engine_regs.h, docs/engine_regs.md and t2c/sim/engine_regs.py are what the RDL gives."""
    pytest.importorskip("peakrdl_cheader")
    pytest.importorskip("peakrdl_markdown")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "engine_regs.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
