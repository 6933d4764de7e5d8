"""Corner stimulus against the model case: how long `t2c golden --stimulus corners` takes
beyond `t2c golden`, measured side by side in one run.

    python bench/bench_stimulus.py [--models resnet18,digits-vit]

For each model: the model case as `t2c golden` makes it (build, quantize, calibrate,
convert, then the golden vectors), and the corner variants of every layer on top of it
(t2c.stimulus: crafting, the reference on each variant, writing).  Prints both times and
their ratio, and the coverage the variants reach (t2c.coverage).  Asserts nothing.
"""
from __future__ import annotations

import argparse
import tempfile
import time

from t2c.coverage import golden_coverage
from t2c.golden import read_golden, write_golden
from t2c.pipeline import prepare
from t2c.stimulus import Stimulus


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,digits-vit")
    args = ap.parse_args(argv)
    print(f"{'model':10s} {'t2c golden s':>13s} {'variants s':>11s} {'ratio':>6s} {'variants':>9s} "
          f"{'bins hit / reachable':>21s}")
    for model in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix="t2c-bench-") as tmp:
            t0 = time.perf_counter()
            p = prepare(model)
            write_golden(p.graph, p.x_int, f"{tmp}/model")
            golden_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            out = write_golden(p.graph, p.x_int, f"{tmp}/corners", stimulus=Stimulus())
            both_s = time.perf_counter() - t1
            t2 = time.perf_counter()
            write_golden(p.graph, p.x_int, f"{tmp}/again")
            model_write_s = time.perf_counter() - t2
            variants_s = both_s - model_write_s  # the corner variants alone
            g = read_golden(out)
            n = sum(len(v) for v in g.manifest["variants"].values())
            cov = golden_coverage(g)
            hit, reach = sum(c.hit for c in cov), sum(c.reachable for c in cov)
        print(f"{model:10s} {golden_s:13.1f} {variants_s:11.1f} {variants_s / golden_s:5.2f}x {n:9d} "
              f"{f'{hit} / {reach}':>21s}", flush=True)
    print("t2c golden s: model build, quantization, calibration, conversion and golden vectors; "
          "variants s: what --stimulus corners adds to the golden write")


if __name__ == "__main__":
    main()
