"""A test split through the RTL on Dask workers: speed-up over one worker, same result.

    python bench/bench_scale.py [--model digits-cnn] [--images 360] [--workers 1,2]

For each worker count: ``t2c.sim.scale.run_dataset`` (what ``t2c sim --all --dataset test
--workers N`` runs) on a local Dask cluster of N single-threaded worker processes, the
images cut into one chunk per worker, Verilator, after a warm-up run that builds the
models.  Prints the wall time, images per second,
the speed-up over one worker, and whether every run's logits and per-layer mismatch counts
are the same (they must be: the chunks are independent).  Asserts nothing.
"""
from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from t2c.models.digits import digits_split
from t2c.pipeline import prepare
from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.scale import run_dataset
from t2c.sim.units import SimOptions

from machine import machine


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="digits-cnn")
    ap.add_argument("--images", type=int, default=360)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args(argv)
    if toolchain.simulator_missing("verilator"):
        print(f"# verilator: skipped ({toolchain.simulator_missing('verilator')})")
        return 0
    logging.getLogger("distributed").setLevel(logging.WARNING)
    p = prepare(args.model)
    x = p.graph.quantize_input(digits_split()[2].numpy()[:args.images])
    golden = open_golden(ensure_golden(args.model))
    print(f"{args.model}, {len(x)} test images through the RTL network (Verilator), local Dask cluster; {machine()}")
    print("| workers | wall s | images/s | speed-up | logits equal to the reference | RTL top-1 |")
    print("|---|---|---|---|---|---|")
    # warm-up: the Verilator runtime and each tag's model builds are compiled once, not timed
    for n in (int(v) for v in args.workers.split(",")):
        run_dataset(golden, p.graph, x[:2 * n], SimOptions(sim="verilator", tag=f"bench-scale-{n}"), workers=n)
    first = None
    labels = digits_split()[3].numpy()[:args.images]
    for n in (int(v) for v in args.workers.split(",")):
        t = time.perf_counter()
        run = run_dataset(golden, p.graph, x, SimOptions(sim="verilator", tag=f"bench-scale-{n}"), workers=n)
        wall = time.perf_counter() - t
        first = first or (wall, run)
        same = np.array_equal(run.output, first[1].output) and run.passed
        equal = int(np.all(run.output.reshape(len(x), -1) == run.expected_output.reshape(len(x), -1), axis=1).sum())
        top1 = 100.0 * float(np.mean(np.argmax(run.output.reshape(len(x), -1), 1) == labels))
        print(f"| {n} | {wall:.1f} | {len(x) / wall:.1f} | {first[0] / wall:.2f}x | {equal}/{len(x)}"
              f"{'' if same else ' (differs from the first run!)'} | {top1:.2f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
