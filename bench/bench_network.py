"""Whole networks through the RTL, chained, on Verilator: wall time and cycles.

    python bench/bench_network.py [--models digits-cnn,digits-vit,resnet18,vit-tiny] [--arrays 8x8,16x16]

For each model (seeded weights for resnet18 / vit-tiny, 224x224, one image) and MAC
array size: every layer on its RTL unit fed the RTL outputs before it (t2c.sim.network),
Verilator -O0 builds for short runs, its optimised build for runs over 3 M cycles, builds
shared by layers with the same HDL parameters.
Prints, measured in this one run: total cycles (the units' own counters), the engine's
share, the whole run's wall time, the time simulating (reset release to done, summed)
and the rest (image writing, builds, simulator start-up), and the slowest layers.
Every run is also checked (every layer ``==`` the reference); asserts nothing.
"""
from __future__ import annotations

import argparse
import time

from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.network import PYTHON, run_network
from t2c.sim.units import SimOptions


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="digits-cnn,digits-vit,resnet18,vit-tiny")
    ap.add_argument("--arrays", default="8x8", help="e.g. 8x8,16x16 (resnet18 also runs 16x16 by default)")
    args = ap.parse_args(argv)
    if toolchain.simulator_missing("verilator"):
        print(f"# verilator: skipped ({toolchain.simulator_missing('verilator')})")
        return
    rows = []
    for model in args.models.split(","):
        golden = open_golden(ensure_golden(model))
        arrays = args.arrays.split(",")
        if model == "resnet18" and args.arrays == "8x8":
            arrays = ["8x8", "16x16"]
        for arr in arrays:
            r, c = (int(v) for v in arr.split("x"))
            t0 = time.perf_counter()
            net = run_network(golden, SimOptions(sim="verilator", rows=r, cols=c,
                                                 tag=f"bench-{arr}"))
            wall = time.perf_counter() - t0
            sim_s = sum(x.run.sim_s for x in net.layers if x.run)
            engine = sum(x.cycles or 0 for x in net.layers if x.runs_on == "layer_engine")
            slow = sorted((x for x in net.layers if x.runs_on != PYTHON), key=lambda x: -x.wall_s)[:3]
            rows.append((model, arr, len(net.layers), net.cycles, engine, wall, sim_s, "PASS" if net.passed else "FAIL",
                         ", ".join(f"{x.layer} {x.wall_s:.1f}s" for x in slow)))
            print(f"# {net.verdict()}", flush=True)
    print(f"{'model':10s} {'array':6s} {'layers':>6s} {'cycles':>12s} {'engine':>12s} {'wall s':>8s} "
          f"{'sim s':>7s} {'other s':>8s} ok    slowest layers")
    for model, arr, n, cyc, eng, wall, sim_s, ok, slow in rows:
        print(f"{model:10s} {arr:6s} {n:>6d} {cyc:>12,d} {eng:>12,d} {wall:>8.1f} {sim_s:>7.1f} "
              f"{wall - sim_s:>8.1f} {ok:5s} {slow}")
    print("cycles: the units' own counters, summed over layers; sim s: reset release to done, summed; "
          "other: images, builds, simulator start-up, Python data movement")


if __name__ == "__main__":
    main()
