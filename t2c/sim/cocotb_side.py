"""The one cocotb test every t2c testbench runs (loaded inside the simulator).

The HDL wrapper generates its clock, loads its images with ``$readmemh``, lets the unit
run free and raises ``done`` when every result is stored and dumped (``$writememh``); this
test awaits reset release and then ``done`` *once* (20-40x faster than a Python callback
per cycle), checks that every image was loaded up to its guard word and that the unit's
error flag is low, reads the top-level counters and writes ``run.json``.  It never fails
itself: the Python side (:func:`t2c.sim.build.run_job`) reads ``run.json``, reports a
timeout, an image not loaded or an error flag, and compares the dumps with ``==``.

What to check comes from ``job.json`` in the build directory (``T2C_JOB`` names it):
``max_cycles``, ``checks`` ({memory: [[index, expected word], ...]}), ``counters`` (top-level
signal names), ``error_flag``.  Imports only the standard library and cocotb, so it
loads at once in the simulator's Python.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge, with_timeout

CLK_PERIOD_NS = 10  # tb_harness: HALF_PERIOD = 5 time units of 1 ns


def _handle(dut, path: str):
    h = dut
    for part in path.split("."):
        h = getattr(h, part)
    return h


def _unsigned(value):
    """A LogicArray or a single Logic as an unsigned int, None when it holds x/z."""
    if not value.is_resolvable:
        return None
    return value.to_unsigned() if hasattr(value, "to_unsigned") else int(value)


@cocotb.test()
async def run(dut):
    """Await reset and done once, then record counters, guards and the error flag."""
    job_path = Path(os.environ["T2C_JOB"])
    job = json.loads(job_path.read_text())
    out = {"status": "ok", "message": ""}
    try:
        if not dut.rst_n.value.is_resolvable or dut.rst_n.value == 0:
            await RisingEdge(dut.rst_n)
        t0 = time.perf_counter()
        if not (dut.done.value.is_resolvable and dut.done.value == 1):
            limit = int(job["max_cycles"]) + 100
            await with_timeout(RisingEdge(dut.done), limit * CLK_PERIOD_NS, "ns")
        out["sim_s"] = time.perf_counter() - t0
        await ReadOnly()  # `cycles`, written at the same edge as `done`, settles
        out["cycles"] = int(dut.cycles.value)
        out["counters"] = {name: _unsigned(_handle(dut, name).value) for name in job.get("counters", [])}
        flag = job.get("error_flag")
        if flag and _unsigned(_handle(dut, flag).value) != 0:
            out.update(status="error_flag", message=f"the unit raised {flag}: {job.get('error_hint', '')}")
        bad = []
        for memory, pairs in job.get("checks", {}).items():
            mem = _handle(dut, memory)
            for index, want in pairs:
                got = _unsigned(mem[int(index)].value)
                if got != int(want):
                    shown = "x" if got is None else hex(got)
                    bad.append(f"{memory}[{index}] = {shown}, expected {int(want):#x}")
        if bad:
            out.update(status="image_not_loaded",
                       message="memory image not (fully) loaded: " + "; ".join(bad))
    except cocotb.triggers.SimTimeoutError:
        out.update(status="timeout", message=f"done did not rise within {job['max_cycles']} cycles "
                                             f"(+100) after reset")
    except Exception as e:  # a missing signal, a wrong memory path: report, do not crash
        out.update(status="testbench_error", message=f"{type(e).__name__}: {e}")
    (job_path.parent / "run.json").write_text(json.dumps(out, indent=1))
