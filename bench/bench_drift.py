"""Drift of the float fake-quant forward from the integer model, the table of the README.

For each model: ``t2c.drift.compare`` of the QModel's float fake-quant forward
(``exact=False``) with the IntGraph on the same inputs (the first test digits for the
digits models, seeded random inputs for the random-weight zoo models), in output codes.
The exact forward (the default after calibration) is equal on every element of every layer
(``tests/test_exact_forward.py``); this table is what a user validating the float
fake-quant model instead would miss.  The same row for any model: ``t2c report --drift
--model SPEC``.

    python bench/bench_drift.py [--samples 8] [--only vit]
"""
from __future__ import annotations

import argparse
import time
import warnings

from t2c import QConfig
from t2c.pipeline import prepare
from t2c.report import DRIFT_HEADER, drift_inputs, drift_row
from t2c.zoo import prepare_entry

from machine import machine

# (label, model spec or built-in name, input size or None for the built-in shape, config)
MODELS = (
    ("timm vit_tiny_patch16_224 (96)", "timm:vit_tiny_patch16_224(img_size=96)", 96, QConfig()),
    ("timm vit_tiny_patch16_224 (224)", "timm:vit_tiny_patch16_224", 224, QConfig()),
    ("timm deit_tiny, per-tensor weights (96)", "timm:deit_tiny_patch16_224(img_size=96)", 96,
     QConfig(per_channel=False)),
    ("torchvision resnet50 (64)", "torchvision:resnet50", 64, QConfig()),
    ("torchvision mobilenet_v2 (64)", "torchvision:mobilenet_v2", 64, QConfig()),
    ("torchvision regnet_x_400mf (64)", "torchvision:regnet_x_400mf", 64, QConfig()),
    ("torchvision mnasnet0_5 (64)", "torchvision:mnasnet0_5", 64, QConfig()),
    ("timm resnet18 (64)", "timm:resnet18", 64, QConfig()),
    ("digits-vit, trained (8x8 digits)", "digits-vit", None, QConfig()),
    ("digits-cnn, trained (8x8 digits)", "digits-cnn", None, QConfig()),
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="only the models whose label contains this")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(f"W8A8 minmax, {args.samples} inputs, seed {args.seed}; {machine()}")
    print(DRIFT_HEADER)
    for label, spec, size, config in MODELS:
        if args.only not in label:
            continue
        t = time.perf_counter()
        p = prepare(spec, config) if size is None else prepare_entry(spec, size, config)
        x = drift_inputs(spec, p.graph, args.samples, args.seed)
        row = drift_row(label, p.qmodel, p.graph, x)
        print(row, f"<!-- {time.perf_counter() - t:.0f} s -->", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
