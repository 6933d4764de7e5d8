"""Accuracy report for the digits model: FP32 vs fake-quant vs integer reference."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .convert import QConfig, convert, quantize
from .models.digits import accuracy, digits_split, load_digits_cnn
from .models.train_digits import train


@dataclass
class Row:
    label: str
    fp32: float
    fake_quant: float
    integer: float
    agreement: float  # % of test images where integer and fake-quant argmax agree


def evaluate(config: QConfig, qat_epochs: int = 0, label: str | None = None) -> Row:
    xtr, ytr, xte, yte = digits_split()
    float_model = load_digits_cnn()
    qmodel = quantize(load_digits_cnn(), config)
    qmodel.calibrate([xtr[:512]])
    if qat_epochs:
        torch.manual_seed(0)
        train(qmodel, xtr, ytr, qat_epochs, lr=1e-3, log=None)
    graph = convert(qmodel, xte[:1])
    logits = graph.run(graph.quantize_input(xte.numpy())).output
    with torch.no_grad():
        fq_pred = qmodel(xte).argmax(1)
    agree = 100.0 * float((torch.as_tensor(logits).argmax(1) == fq_pred).float().mean())
    label = label or f"W{config.wbit}A{config.abit} {config.weight_quantizer}" + (
        f" +QAT {qat_epochs} ep" if qat_epochs else " PTQ")
    return Row(label, accuracy(float_model, xte, yte), accuracy(qmodel, xte, yte),
               accuracy(lambda _: logits, xte, yte), agree)


DEFAULT_ROWS = [
    (QConfig(wbit=8, abit=8), 0),
    (QConfig(wbit=4, abit=4), 0),
    (QConfig(wbit=4, abit=4, weight_quantizer="lsq", act_quantizer="lsq"), 15),
    (QConfig(wbit=4, abit=4, io_bits=None), 0),
    (QConfig(wbit=4, abit=4, io_bits=None, weight_quantizer="lsq", act_quantizer="lsq"), 15),
]


def report(rows=DEFAULT_ROWS) -> str:
    lines = ["| config | FP32 | fake-quant | integer ref | int vs fake-quant argmax |",
             "|---|---|---|---|---|"]
    for config, epochs in rows:
        r = evaluate(config, epochs)
        if config.io_bits is None:
            r.label += f" (input/logits {config.abit}-bit)"
        lines.append(f"| {r.label} | {r.fp32:.2f}% | {r.fake_quant:.2f}% | {r.integer:.2f}% | "
                     f"{r.agreement:.2f}% |")
    return "\n".join(lines)
