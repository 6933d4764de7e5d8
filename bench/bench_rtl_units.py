"""Simulated clock cycles per wall-clock second of each RTL unit, Icarus vs Verilator.

Runs the unit wrappers of sim/hdl/ (memory-driven and free-running; t2c.sim's generic
cocotb test awaits `done` once) through t2c.sim directly (:class:`t2c.sim.build.SimJob`,
:func:`t2c.sim.build.run_job`) with larger workloads of its own, builds Verilator models
with its optimised default (the tests use -O0 to build faster), and prints one table,
measured in this run.  The wall time is the simulator's, from reset release to `done`
(no build, no start-up, no Python reference).  Prints numbers, asserts nothing (the
correctness of these units is sim/test_requant.py, test_mac_array.py and test_lut.py).

    python bench/bench_rtl_units.py            # both simulators where installed
    T2C_SIMS=icarus python bench/bench_rtl_units.py
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import Dump, SimJob, build_dir_for, exclusive, run_job
from t2c.sim.images import write_image

os.environ.setdefault("T2C_BUILD_ROOT", str(Path(__file__).resolve().parents[1] / "sim_build"))
SEED = 1
TAG = "bench"


def _dir(unit: str, sim: str, params: dict) -> Path:
    return build_dir_for(unit, sim, TAG, params)


def requant_job(sim: str, n: int = 400_000, lanes: int = 8) -> SimJob:
    """8 lanes, 32-bit multipliers, int8 outputs: n uniform contract-range elements."""
    rng = np.random.default_rng(SEED)
    nvec = n // lanes
    params = dict(LANES=lanes, MULT_BITS=32, OUTW=16, GAPS=0, NVEC=nvec)
    d = _dir("requant", sim, params)
    qlo, qhi = arith.qrange(8, True)
    vec = {"acc": (rng.integers(arith.INT32_MIN, arith.INT32_MAX + 1, n), 32),
           "m": (rng.integers(1 << 30, 1 << 31, n), 32),
           "s": (rng.integers(1, arith.MAX_SHIFT + 1, n), 6),
           "zp": (rng.integers(qlo, qhi + 1, n), 16),
           "qmin": (np.full(n, qlo), 16), "qmax": (np.full(n, qhi), 16)}
    images = [write_image(d / f"{f}.hex", v, bits, parameter=f"{f.upper()}_FILE", memory=f"u_{f}.mem")
              for f, (v, bits) in vec.items()]
    return SimJob("requant", "tb_requant", sim, d, params, images, [Dump("Y_FILE", "y.hex")],
                  4 * nvec + 64, fast_build=False)


def mac_array_job(sim: str, ntiles: int = 24, k: int = 512, rows: int = 8, cols: int = 8) -> SimJob:
    """8x8 int8 array, ``ntiles`` back-to-back tiles of K = ``k``."""
    rng = np.random.default_rng(SEED)
    nsteps = ntiles * k
    params = dict(ROWS=rows, COLS=cols, ABITS=8, WBITS=8, A_SIGNED=1, GAPS=0, ACCW=32,
                  NSTEPS=nsteps, NTILES=ntiles)
    d = _dir("mac_array", sim, params)
    ctrl = np.zeros(nsteps, dtype=np.int64)
    ctrl[0::k] |= 1
    ctrl[k - 1::k] |= 2
    images = [
        write_image(d / "a.hex", rng.integers(-128, 128, nsteps * rows), 8, parameter="A_FILE",
                    memory="u_a.mem"),
        write_image(d / "w.hex", rng.integers(-128, 128, nsteps * cols), 8, parameter="W_FILE",
                    memory="u_w.mem"),
        write_image(d / "ctrl.hex", ctrl, 2, parameter="CTRL_FILE", memory="u_ctrl.mem"),
        write_image(d / "zx.hex", rng.integers(-128, 128, ntiles), 9, parameter="ZX_FILE",
                    memory="u_zx.mem"),
        write_image(d / "bias.hex", rng.integers(-(1 << 20), 1 << 20, ntiles * cols), 32,
                    parameter="BIAS_FILE", memory="u_bias.mem"),
    ]
    return SimJob("mac_array", "tb_mac_array", sim, d, params, images,
                  [Dump("RES_FILE", "res.hex"), Dump("START_FILE", "start.hex"),
                   Dump("DONE_FILE", "done.hex")],
                  2 * nsteps + 8 * ntiles + 64, counters=("row_err",), fast_build=False)


def lut_job(sim: str, repeat: int = 8) -> SimJob:
    """GELU, 8 index + 4 fraction bits (interpolating), every input ``repeat`` times, bubbles."""
    rng = np.random.default_rng(SEED)
    in_bits, frac_bits = 8, 4
    x = np.concatenate([rng.permutation(1 << (in_bits + frac_bits)) for _ in range(repeat)])
    params = dict(IN_BITS=in_bits, FRAC_BITS=frac_bits, OUT_BITS=8, OUT_SIGNED=1, GAPS=1, NX=len(x))
    d = _dir("lut", sim, params)
    table = arith.gelu_lut(in_bits, 6.0 / 128, 0, 6.0 / 128, 0, out_bits=8)
    images = [write_image(d / "table.hex", table, 8, parameter="TABLE_FILE", memory="u_dut.mem",
                          guard=False),
              write_image(d / "x.hex", x, in_bits + frac_bits, parameter="X_FILE", memory="u_x.mem")]
    return SimJob("lut", "tb_lut", sim, d, params, images, [Dump("Y_FILE", "y.hex")],
                  2 * len(x) + 64, fast_build=False)


# unit name -> (what one cycle carries, job builder for a simulator)
UNITS = {
    "requant (8 lanes, 32-bit m)": ("8 lane requantizations", requant_job),
    "mac_array (8x8, int8)": ("64 MACs", mac_array_job),
    "lut (GELU, 8+4 bits, interpolating)": ("1 lookup", lut_job),
}


def main() -> None:
    sims = toolchain.available_simulators()
    for s in toolchain.SIMULATORS:
        if s not in sims:
            print(f"# {s}: skipped ({toolchain.simulator_missing(s)})")
    rows = []
    for unit, (per_cycle, make_job) in UNITS.items():
        rates = {}
        for sim in sims:
            try:
                job = make_job(sim)
                with exclusive(job.build_dir):
                    run = run_job(job)
                rates[sim] = (run.cycles, run.sim_s)
            except Exception as exc:  # a benchmark reports, it does not stop
                print(f"# {unit} on {sim}: failed: {exc}")
        rows.append((unit, per_cycle, rates))

    print(f"{'unit':38s} {'one cycle =':24s}"
          + "".join(f"{s + ' cycles/s':>20s}" for s in sims)
          + ("  verilator/icarus" if len(sims) == 2 else "") + "  (cycles simulated)")
    for unit, per_cycle, rates in rows:
        speeds = {s: c / w for s, (c, w) in rates.items() if w > 0}
        cells = "".join(f"{speeds[s]:>20,.0f}" if s in speeds else f"{'-':>20s}" for s in sims)
        ratio = (f"{speeds['verilator'] / speeds['icarus']:>17.1f}x"
                 if len(speeds) == 2 else "")
        ncyc = "/".join(str(c) for c, _ in rates.values())
        print(f"{unit:38s} {per_cycle:24s}{cells}{ratio}  ({ncyc})")


if __name__ == "__main__":
    main()
