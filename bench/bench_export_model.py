"""Time to export every layer of torchvision resnet18 in every format (one run, side by side).

    python bench/bench_export_model.py [--model resnet18]

Prints seconds and MB written per format; asserts nothing.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from t2c.export import FORMATS
from t2c.export.model import export_model
from t2c.pipeline import prepare


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18")
    args = ap.parse_args(argv)
    graph = prepare(args.model).graph
    n_params = sum(op.weight.size for op in graph.ops if hasattr(op, "weight") and op.weight is not None)
    print(f"{args.model}: {len(graph.ops)} layers, {n_params:,} integer weights")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            out = Path(tmp) / fmt
            t = time.perf_counter()
            records = export_model(graph, out, fmt)
            dt = time.perf_counter() - t
            size = sum(p.stat().st_size for p in out.iterdir())
            print(f"  {fmt:4s} {dt:6.2f} s  {size / 1e6:7.1f} MB  {len(records)} memories")


if __name__ == "__main__":
    main()
