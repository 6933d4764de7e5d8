"""Integer reference vs float32 PyTorch forward, measured side by side in one run.

Also the integer reference with ``integer_gemm=True`` (int64 numpy accumulators, no
float anywhere; same results), to show what the exact float32 GEMMs buy.

    python bench/bench_reference.py [--model resnet18] [--repeats 7]

Runs are interleaved (float, integer, float, integer, ...) and the best of each is
reported, so a busy machine slows both alike.  Prints the ratio; asserts nothing.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from t2c.models import get_model
from t2c.pipeline import prepare
from t2c.ir import Conv2d, Linear
from t2c.ref import gemm_plan


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    entry = get_model(args.model)
    p = prepare(args.model)
    float_model = entry.build()
    x = entry.golden_input()
    runs = {"float32 torch": lambda: float_model(x),
            "integer reference": lambda: p.graph.run(p.x_int),
            "int64-GEMM reference": lambda: p.graph.run(p.x_int, integer_gemm=True)}
    times = {k: [] for k in runs}
    with torch.no_grad():
        for fn in runs.values():
            fn()
        for _ in range(args.repeats):
            for k, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    chunks = [len(gemm_plan(op).chunks(255)) for op in p.graph.ops if isinstance(op, (Conv2d, Linear))]
    print(f"model {args.model}, input {tuple(x.shape)}, torch threads {torch.get_num_threads()}, "
          f"best of {args.repeats}")
    for k, v in best.items():
        print(f"  {k:20s} {v * 1e3:8.1f} ms  (median {np.median(times[k]) * 1e3:.1f} ms)")
    print(f"  ratio integer / float32 = {best['integer reference'] / best['float32 torch']:.2f}x "
          f"(float32 GEMM chunks per layer at |x|<=255: max {max(chunks)}, mean {np.mean(chunks):.1f})")
    print(f"  ratio int64-GEMM / float32 = {best['int64-GEMM reference'] / best['float32 torch']:.2f}x")


if __name__ == "__main__":
    main()
