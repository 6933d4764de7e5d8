"""The cocotb test of ``rtl/engine_axi.v`` (wrapper ``sim/hdl/tb_engine_axi.v``): layers over the bus.

Loaded inside the simulator by :func:`t2c.sim.build.run_job` (``SimJob.test_module``).
For each layer of ``job.json``'s ``config["layers"]`` (a directory ``t2c export --engine``
wrote) it uses the host driver (:mod:`t2c.sim.engine_driver`) through cocotbext-axi's
``AxiLiteMaster``: checks ID and geometry once (and reads ID and VERSION again with both
addresses outstanding while RREADY stalls), loads the layer's images, optionally
damages one descriptor word or flips one bit of one memory word (``tamper``), starts the
engine, polls DONE, reads CYCLES, STEPS and the output memory back, and records the bus
cycles each phase took (the wrapper's free-running ``cyc``).  Like
:mod:`t2c.sim.cocotb_side` it never compares and never fails itself: the words go to
``run.json`` and the pytest side decodes and compares them with ``==``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.triggers import RisingEdge, with_timeout

from . import engine_driver as D
from . import engine_regs as regs


def _cyc(dut) -> int:
    return int(dut.cyc.value)


async def _tamper(bus, layer: dict, info: dict) -> None:
    t = layer.get("tamper")
    if not t:
        return
    if "desc" in t:  # {"desc": [word, value]}
        await D.write_word(bus, "desc", int(t["desc"][0]), int(t["desc"][1]), 32, info["lane_shift"])
    if "flip" in t:  # {"flip": [image, word, bit]}
        image, index, bit = t["flip"]
        words, bits = D.image_words(layer["dir"])[image]
        await D.write_word(bus, image, int(index), words[int(index)] ^ (1 << int(bit)), bits, info["lane_shift"])


async def _overlapped_reads(master) -> list[int]:
    """ID and VERSION read with both addresses issued at once while the master holds RREADY
    low 4 cycles in 5: the slave must not take the second address before the first data
    is accepted (an overwritten read-data register would return VERSION twice)."""
    from itertools import cycle

    r = master.read_if.r_channel
    r.set_pause_generator(cycle([1, 1, 1, 1, 0]))
    try:
        first = cocotb.start_soon(master.read_dword(regs.ID))
        second = cocotb.start_soon(master.read_dword(regs.VERSION))
        # a slave that loses a read never answers it: a time limit, not a hang
        return [int(await with_timeout(first, 20, "us")), int(await with_timeout(second, 20, "us"))]
    finally:
        r.clear_pause_generator()
        r.pause = False  # the generator's last value would otherwise hold RREADY low


@cocotb.test()
async def run(dut):
    from cocotbext.axi import AxiLiteBus, AxiLiteMaster

    job_path = Path(os.environ["T2C_JOB"])
    job = json.loads(job_path.read_text())
    cfg = job["config"]
    out = {"status": "ok", "message": "", "cycles": 0, "sim_s": 0.0, "counters": {}}
    try:
        master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                               reset_active_level=False)
        if not dut.rst_n.value.is_resolvable or dut.rst_n.value == 0:
            await RisingEdge(dut.rst_n)
        for _ in range(2):
            await RisingEdge(dut.clk)
        bus = D.AxiLiteBus(master)
        t0, c0 = time.perf_counter(), _cyc(dut)
        info = await D.read_info(bus)
        # (Icarus only: under Verilator cocotbext-axi's RREADY pause generator stops toggling
        # after the first beat, so the second read would wait for ever; the mutation check
        # and the AXI tests run it on Icarus)
        if "icarus" in cocotb.SIM_NAME.lower():
            info["overlapped_reads"] = await _overlapped_reads(master)
        results = []
        for layer in cfg["layers"]:
            if info["id"] != regs.ID_ID:
                raise D.EngineError(f"ID {info['id']:#x}")
            a = _cyc(dut)
            n_writes = await D.load_layer(bus, layer["dir"], info)
            await _tamper(bus, layer, info)
            b = _cyc(dut)
            await D.start(bus)
            status = await D.wait_done(bus, max_polls=int(cfg.get("max_polls", 200_000)))
            c = _cyc(dut)
            cycles, steps = await bus.read32(regs.CYCLES), await bus.read32(regs.STEPS)
            n_words, bits = D.output_shape(layer["dir"])
            words = await D.read_output(bus, n_words, bits, info["lane_shift"])
            d = _cyc(dut)
            results.append({"name": layer["name"], "writes": n_writes, "load_cycles": b - a,
                            "run_cycles": c - b, "read_cycles": d - c, "status": status,
                            "cycles": cycles, "steps": steps, "words": [str(w) for w in words]})
        out["sim_s"] = time.perf_counter() - t0
        out["cycles"] = _cyc(dut) - c0
        out["extra"] = {"info": info, "layers": results}
    except Exception as e:  # report, do not crash: run_job raises SimulationError with this
        out.update(status="testbench_error", message=f"{type(e).__name__}: {e}")
    (job_path.parent / "run.json").write_text(json.dumps(out, indent=1))
