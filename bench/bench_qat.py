"""QAT cost and result of the exact forward against the float fake-quant forward.

For digits-cnn (W4A4 LSQ) and digits-vit (W8A8 minmax and W8A8 LSQ), trains the same calibrated QModel
twice, once per forward (``exact=True``, the default, and ``exact=False``), on the same
seeded batches, single-threaded with torch's deterministic algorithms (as ``t2c report``),
and prints seconds per epoch side by side, their ratio, the integer model's accuracy after
training and how many of the 360 test predictions the trained QModel's own forward shares
with the integer model.

    python bench/bench_qat.py [--epochs 3] [--only digits-vit]
"""
from __future__ import annotations

import argparse
import time

import torch

from t2c import QConfig
from t2c.convert import convert, quantize
from t2c.models import get_model
from t2c.models.digits import digits_split
from t2c.models.train_digits import train
from t2c.report import deterministic_training

from machine import machine

CASES = (("digits-cnn", QConfig(wbit=4, abit=4, weight_quantizer="lsq", act_quantizer="lsq")),
         ("digits-vit", QConfig()),
         ("digits-vit", QConfig(weight_quantizer="lsq", act_quantizer="lsq")))


def run(name: str, config: QConfig, exact: bool, epochs: int, data) -> tuple[float, float, int]:
    xtr, ytr, xte, yte = data
    qmodel = quantize(get_model(name).build(), config, exact=exact)
    qmodel.calibrate([xtr[:512]])
    with deterministic_training():
        t = time.perf_counter()
        train(qmodel, xtr, ytr, epochs, lr=1e-3, log=None)
        seconds = (time.perf_counter() - t) / epochs
    graph = convert(qmodel, xte[:1])
    integer = torch.as_tensor(graph.run(graph.quantize_input(xte.numpy())).output).argmax(1)
    with torch.no_grad():
        own = qmodel(xte).argmax(1)
    return seconds, 100.0 * float((integer == yte).float().mean()), int((own == integer).sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", default="")
    args = ap.parse_args(argv)
    data = digits_split()
    print(f"QAT, {args.epochs} epochs, 1 thread (deterministic); {machine()}")
    print("| model | config | s/epoch exact | s/epoch float fake-quant | ratio | integer accuracy exact / fake-quant "
          "| QModel = integer, exact / fake-quant |\n|---|---|---|---|---|---|---|")
    for name, config in CASES:
        if args.only not in name:
            continue
        ex = run(name, config, True, args.epochs, data)
        fq = run(name, config, False, args.epochs, data)
        print(f"| {name} | {config.label()} | {ex[0]:.2f} | {fq[0]:.2f} | {ex[0] / fq[0]:.1f}x | "
              f"{ex[1]:.2f}% / {fq[1]:.2f}% | {ex[2]} / {fq[2]} of {len(data[3])} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
