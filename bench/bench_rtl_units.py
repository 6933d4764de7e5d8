"""Simulated clock cycles per wall-clock second of each RTL unit, Icarus vs Verilator.

Runs the unit testbenches of sim/ (the memory-driven, free-running wrappers; the
cocotb side awaits `done` once) with larger workloads, builds Verilator models with
its optimised default (the tests use -O0 to build faster), and prints one table,
measured in this run.  The wall time is the simulator's, from reset release to
`done` (no build, no start-up, no Python reference).  Prints numbers, asserts nothing.

    python bench/bench_rtl_units.py            # both simulators where installed
    T2C_SIMS=icarus python bench/bench_rtl_units.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))

import simutil as su  # noqa: E402
import test_lut  # noqa: E402
import test_mac_array  # noqa: E402
import test_requant  # noqa: E402

SEED = 1

# unit name -> (what one cycle carries, job builder for a simulator)
UNITS = {
    "requant (8 lanes, 32-bit m)": (
        "8 lane requantizations",
        lambda sim: test_requant.prepare(sim, test_requant.CONFIGS["mult32"], "bench",
                                         n_random=400_000, seed=SEED)),
    "mac_array (8x8, int8)": (
        "64 MACs",
        lambda sim: test_mac_array.prepare(sim, test_mac_array.CONFIGS["8x8_a8s_w8"], "bench",
                                           n_random=40, seed=SEED)),
    "lut (GELU, 8+4 bits, interpolating)": (
        "1 lookup",
        lambda sim: test_lut.prepare(sim, "gelu8_f4_gaps", "bench", repeat=8, seed=SEED)),
}


def main() -> None:
    sims = su.available_simulators()
    for s in su.SIMULATORS:
        if s not in sims:
            print(f"# {s}: skipped ({su.simulator_missing(s)})")
    rows = []
    for unit, (per_cycle, job) in UNITS.items():
        rates = {}
        for sim in sims:
            try:
                report = su.build_and_test(**job(sim), fast_build=False, quiet=True)
                rates[sim] = (report["cycles"], report["wall_s"])
            except Exception as exc:  # a benchmark reports, it does not stop
                print(f"# {unit} on {sim}: failed: {exc}")
        rows.append((unit, per_cycle, rates))

    print(f"{'unit':38s} {'one cycle =':24s}"
          + "".join(f"{s + ' cycles/s':>20s}" for s in sims)
          + ("  verilator/icarus" if len(sims) == 2 else "") + "  (cycles simulated)")
    for unit, per_cycle, rates in rows:
        speeds = {s: c / w for s, (c, w) in rates.items()}
        cells = "".join(f"{speeds[s]:>20,.0f}" if s in speeds else f"{'-':>20s}" for s in sims)
        ratio = (f"{speeds['verilator'] / speeds['icarus']:>17.1f}x"
                 if len(speeds) == 2 else "")
        ncyc = "/".join(str(c) for c, _ in rates.values())
        print(f"{unit:38s} {per_cycle:24s}{cells}{ratio}  ({ncyc})")


if __name__ == "__main__":
    main()
