"""Accuracy, error-budget and drift reports.

* ``evaluate``: FP32 vs float fake-quant vs integer reference accuracy on the held-out
  digits, how often the integer model's top-1 differs from the float fake-quant
  forward's, and whether the QModel (exact forward) predicts what the integer model does;
* ``error_budget``: for every non-linear integer op (softmax, LayerNorm, LUT), its
  error against the float function applied to the *same* dequantized input, in output
  LSBs, so each op's own contribution is isolated;
* ``drift``: any model, the float fake-quant forward against the integer graph in
  output codes (``t2c report --drift``);
* ``methods_report``: every quantization / compression method at W8A8 .. W2A4 on both
  digits models (``t2c report --methods``), each row cached by everything it depends on.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .convert import QConfig, QModel, convert, quantize
from .convert.qmodel import TORCH_LUT
from .drift import compare
from .ir import IntGraph, LayerNorm, Lut, Softmax
from .models import get_model
from .models.digits import accuracy, digits_split
from .models.train_digits import train
from .sparsity import GradualPruning

DIGITS_MODELS = ("digits-cnn", "digits-vit")


@dataclass
class Row:
    label: str
    fp32: float
    fake_quant: float  # the float fake-quant forward (exact=False)
    integer: float
    agreement: float  # % of test images where integer and float fake-quant argmax agree
    same_as_qmodel: int  # test images where the QModel (exact forward) predicts what the integer model does
    images: int
    zero_weights: float | None = None  # % of conv/linear integer weights that are zero (pruned models)


@contextlib.contextmanager
def deterministic_training(threads: int = 1):
    """One thread and torch's deterministic algorithms: QAT gives the same weights, and so
    the same table, on every run and every machine of the same kind (multi-threaded CPU
    reductions may sum in another order)."""
    old_threads, old_det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        torch.use_deterministic_algorithms(old_det)


def _prepared(model: str, config: QConfig, qat_epochs: int):
    if model not in DIGITS_MODELS:
        raise ValueError(f"reports need labelled data: use one of {', '.join(DIGITS_MODELS)}")
    xtr, ytr, xte, yte = digits_split()
    build = get_model(model).build
    qmodel = quantize(build(), config)
    with deterministic_training():  # AdaRound / QDrop reconstruction and QAT: the same on every run
        qmodel.calibrate([xtr[:512]])
        if qat_epochs:
            torch.manual_seed(0)
            schedule = GradualPruning(qmodel, qat_epochs) if qmodel.masked_layers() else None
            train(qmodel, xtr, ytr, qat_epochs, lr=1e-3, log=None, on_epoch=schedule)
    return build, qmodel, convert(qmodel, xte[:1]), (xte, yte)


def evaluate(config: QConfig, qat_epochs: int = 0, label: str | None = None,
             model: str = "digits-cnn") -> Row:
    build, qmodel, graph, (xte, yte) = _prepared(model, config, qat_epochs)
    logits = graph.run(graph.quantize_input(xte.numpy())).output
    int_pred = torch.as_tensor(logits).argmax(1)
    with torch.no_grad():
        same = int((qmodel(xte).argmax(1) == int_pred).sum())
        with qmodel.forward_mode(exact=False):
            fq_pred = qmodel(xte).argmax(1)
            fake_quant = accuracy(qmodel, xte, yte)
    agree = 100.0 * float((int_pred == fq_pred).float().mean())
    quantizers = config.weight_quantizer if config.weight_quantizer == config.act_quantizer else (
        f"{config.weight_quantizer}/{config.act_quantizer}")
    label = label or f"W{config.wbit}A{config.abit} {quantizers}" + (
        f" +QAT {qat_epochs} ep" if qat_epochs else " PTQ")
    weights = [np.asarray(op.weight) for op in graph.ops if op.kind in ("conv", "linear")]
    zeros = 100.0 * sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights) \
        if qmodel.masked_layers() else None
    return Row(label, accuracy(build(), xte, yte), fake_quant, accuracy(lambda _: logits, xte, yte), agree,
               same, len(yte), zeros)


def _float_reference(op, qmodel: QModel, graph: IntGraph, x_codes: np.ndarray) -> np.ndarray:
    """The float op on the dequantized integer input, in output-code units (unclipped)."""
    xs = graph.tensors[op.inputs[0]]
    ys = graph.tensors[op.output]
    x = torch.from_numpy((x_codes - xs.zero_point) * xs.scale)
    if isinstance(op, Softmax):
        y = torch.softmax(x, dim=-1)
    elif isinstance(op, LayerNorm):
        y = F.layer_norm(x, (x.shape[-1],), qmodel.weight(op.name).double(), qmodel.bias(op.name).double(),
                         qmodel.by_name[op.name].attrs["eps"])
    else:
        y = TORCH_LUT[op.fn](x)
    return (y.detach().numpy() / ys.scale + ys.zero_point).clip(ys.qmin, ys.qmax)


def error_budget(model: str = "digits-vit", config: QConfig | None = None) -> list[dict]:
    """Per non-linear op: max / mean |integer - float| in output LSBs over the test split."""
    _, qmodel, graph, (xte, _) = _prepared(model, config or QConfig(), 0)
    rec = graph.run(graph.quantize_input(xte.numpy()), record=True)
    rows = []
    for op in graph.ops:
        if not isinstance(op, (Softmax, LayerNorm, Lut)):
            continue
        layer = rec.layers[op.name]
        err = np.abs(layer.output - _float_reference(op, qmodel, graph, layer.inputs[0]))
        rows.append({"layer": op.name, "op": op.kind, "max_lsb": float(err.max()),
                     "mean_lsb": float(err.mean()), "elements": int(err.size)})
    return rows


DEFAULT_ROWS = {
    "digits-cnn": [
        (QConfig(wbit=8, abit=8), 0),
        (QConfig(wbit=4, abit=4), 0),
        (QConfig(wbit=4, abit=4, weight_quantizer="lsq", act_quantizer="lsq"), 15),
        (QConfig(wbit=4, abit=4, io_bits=None), 0),
        (QConfig(wbit=4, abit=4, io_bits=None, weight_quantizer="lsq", act_quantizer="lsq"), 15),
    ],
    "digits-vit": [
        (QConfig(wbit=8, abit=8), 0),
        (QConfig(wbit=8, abit=8, act_quantizer="mse"), 0),
    ],
}


def report(model: str = "digits-cnn") -> str:
    if model not in DEFAULT_ROWS:
        raise ValueError(f"accuracy reports need labelled data: use one of {', '.join(DEFAULT_ROWS)}, "
                         "or --drift (float fake-quant vs integer codes of any model)")
    lines = [f"accuracy of {model} on {len(digits_split()[3])} held-out digits",
             "| config | FP32 | float fake-quant | integer ref | int vs float fake-quant argmax | "
             "QModel = integer |",
             "|---|---|---|---|---|---|"]
    for config, epochs in DEFAULT_ROWS[model]:
        r = evaluate(config, epochs, model=model)
        if config.io_bits is None:
            r.label += f" (input/logits {config.abit}-bit)"
        lines.append(f"| {r.label} | {r.fp32:.2f}% | {r.fake_quant:.2f}% | {r.integer:.2f}% | "
                     f"{r.agreement:.2f}% | {r.same_as_qmodel}/{r.images} |")
    if model == "digits-vit":
        lines += ["", "error budget (W8A8), integer op vs float op on the same input, output LSBs",
                  "| layer | op | max | mean |", "|---|---|---|---|"]
        lines += [f"| {r['layer']} | {r['op']} | {r['max_lsb']:.2f} | {r['mean_lsb']:.3f} |"
                  for r in error_budget(model)]
    return "\n".join(lines)


def drift_row(label: str, qmodel: QModel, graph: IntGraph, x: torch.Tensor) -> str:
    """One row of the drift table: the float fake-quant forward against the integer graph."""
    d = compare(qmodel, graph, x, exact=False)
    out = d.output
    layers_equal = sum(1 for ld in d.layers if ld.equal == ld.elements)
    return (f"| {label} | {100.0 * out.equal / out.elements:.1f}% | {out.mean_diff:.2f} / {out.max_diff} | "
            f"{d.top1_agree} of {d.samples} | {layers_equal} of {len(d.layers)} | {d.first_differing or '-'} |")


DRIFT_HEADER = ("| model (input) | output codes equal, integer vs float fake-quant | mean / max code difference | "
                "top-1 agreement | layers equal | first differing layer |\n|---|---|---|---|---|---|")


def drift_inputs(spec_name: str, graph: IntGraph, samples: int, seed: int = 0) -> torch.Tensor:
    """The first test digits for the digits models, else seeded random inputs of the graph's shape."""
    if spec_name in DIGITS_MODELS:
        return digits_split()[2][:samples]
    shape = graph.tensors[graph.input].shape[1:]
    return torch.randn((samples, *shape), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- t2c report --methods

METHOD_BITS = ((8, 8), (4, 4), (3, 3), (2, 4))
SPARSE_BITS = ((8, 8), (4, 4))
QAT_EPOCHS = {"digits-cnn": 15, "digits-vit": 10}
LSQ = {"weight_quantizer": "lsq", "act_quantizer": "lsq"}


def method_rows(model: str) -> list[tuple[str, QConfig, int]]:
    """(method label, config, QAT epochs) of every row of ``t2c report --methods``."""
    epochs = QAT_EPOCHS[model]
    rows = []
    for w, a in METHOD_BITS:
        base = QConfig(wbit=w, abit=a)
        rows += [("minmax PTQ", base, 0),
                 ("MSE PTQ", base.with_overrides(weight_quantizer="mse", act_quantizer="mse"), 0),
                 ("AdaRound PTQ", base.with_overrides(weight_quantizer="adaround"), 0),
                 ("QDrop PTQ (AdaRound + dropped act. quantization)",
                  base.with_overrides(weight_quantizer="adaround", act_quantizer="qdrop"), 0)]
        if model == "digits-vit":
            rows.append(("SmoothQuant 0.5 PTQ (minmax)", base.with_overrides(smoothquant=0.5), 0))
        rows.append((f"LSQ QAT {epochs} ep", base.with_overrides(**LSQ), epochs))
    for w, a in SPARSE_BITS:
        for prune in ("0.5", "2:4"):
            base = QConfig(wbit=w, abit=a, prune=prune)
            what = "50% element-wise" if prune == "0.5" else prune
            rows += [(f"{what} pruning, one-shot, minmax PTQ", base, 0),
                     (f"{what} pruning, gradual, LSQ QAT {epochs} ep", base.with_overrides(**LSQ), epochs)]
    return rows


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """sha256 over the Python sources and model checkpoints that compute a row (t2c's
    modules except the simulation and export packages, which no accuracy depends on): a
    cached row is reused only when none of them has changed."""
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    files = [p for p in [*root.rglob("*.py"), *root.rglob("*.pt")]
             if p.relative_to(root).parts[0] not in ("sim", "export", "hdl", "golden_vectors")]
    for p in sorted(files):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    h.update(torch.__version__.encode())
    return h.hexdigest()


def cached_evaluate(model: str, config: QConfig, epochs: int, cache_dir=None) -> Row:
    """``evaluate``, its result kept in ``<build root>/report/`` under a key of the model,
    the config, the epochs, the sources that compute it and torch's version."""
    import dataclasses
    import hashlib
    import json

    from .fileio import atomic_write_text
    from .sim.toolchain import build_root

    cache_dir = cache_dir or build_root() / "report"
    doc = json.dumps({"model": model, "config": config.to_dict(), "epochs": epochs,
                      "source": _source_digest()}, sort_keys=True, default=str)
    path = cache_dir / f"{hashlib.sha256(doc.encode()).hexdigest()[:32]}.json"
    try:
        return Row(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    row = evaluate(config, epochs, model=model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(dataclasses.asdict(row)) + "\n")
    return row


METHODS_HEADER = ("| bits | method | FP32 | float fake-quant | integer ref | int vs float fake-quant argmax | "
                  "QModel = integer | zero weights |\n|---|---|---|---|---|---|---|---|")


def methods_report(model: str = "digits-cnn", progress: bool = True, rows=None) -> str:
    """The methods table of ``model`` (``t2c report --methods``); ``rows`` limits it to the
    given labels' rows (tests)."""
    if model not in QAT_EPOCHS:
        raise ValueError(f"method reports need labelled data: use one of {', '.join(QAT_EPOCHS)}")
    from tqdm import tqdm

    todo = [r for r in method_rows(model) if rows is None or (r[0], r[1].wbit, r[1].abit) in rows]
    lines = [f"quantization methods on {model}, {len(digits_split()[3])} held-out digits "
             f"(calibration: 512 training images; one thread, deterministic)", METHODS_HEADER]
    for label, config, epochs in tqdm(todo, desc=f"report --methods {model}", unit="row", disable=not progress):
        r = cached_evaluate(model, config, epochs)
        zeros = "-" if r.zero_weights is None else f"{r.zero_weights:.1f}%"
        lines.append(f"| W{config.wbit}A{config.abit} | {label} | {r.fp32:.2f}% | {r.fake_quant:.2f}% | "
                     f"{r.integer:.2f}% | {r.agreement:.2f}% | {r.same_as_qmodel}/{r.images} | {zeros} |")
    return "\n".join(lines)
