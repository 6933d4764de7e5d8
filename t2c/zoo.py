"""The model zoo t2c converts: torchvision and timm classifiers with seeded random weights.

``ZOO`` lists them with the input sizes they are measured at; :func:`measure` converts one
(``t2c.pipeline.prepare``: build, quantize, calibrate on seeded random inputs, convert)
and measures it: ops used, layers, convert time, integer-run time against the float
forward, top-1 agreement between the integer graph and the fake-quant QModel over seeded
random inputs, and the ops that have no RTL unit yet (``t2c.sim.units.unit_for``).
``bench/bench_zoo.py`` writes ``docs/models.md`` from it; ``tests/test_zoo.py`` checks
every layer of every entry against an independent recomputation.

Nothing here is used by the converter (``t2c/convert`` holds no model names).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .qconfig import QConfig

EVAL_SEED = 7  # the agreement inputs (calibration uses t2c.pipeline.CALIB_SEED)


@dataclass(frozen=True)
class Entry:
    spec: str                      # model spec (t2c.models.spec); {size} is replaced by the input size
    sizes: tuple[int, ...]         # input sizes (H = W) it is measured at
    family: str = ""


# the models of issue 14, then other members of the same families (same ops)
ZOO: tuple[Entry, ...] = (
    Entry("torchvision:mobilenet_v2", (64, 96, 224), "mobilenet"),
    Entry("torchvision:mobilenet_v3_small", (64, 96, 224), "mobilenet"),
    Entry("torchvision:mobilenet_v3_large", (64,), "mobilenet"),
    Entry("torchvision:efficientnet_b0", (64, 96, 224), "efficientnet"),
    Entry("torchvision:shufflenet_v2_x0_5", (64, 224), "shufflenet"),
    Entry("torchvision:squeezenet1_0", (64, 224), "squeezenet"),
    Entry("torchvision:densenet121", (64,), "densenet"),
    Entry("torchvision:googlenet(aux_logits=False)", (64, 96), "googlenet"),
    Entry("torchvision:regnet_x_400mf", (64,), "regnet"),
    Entry("torchvision:resnet50", (64,), "resnet"),
    Entry("torchvision:vgg11_bn", (64, 96), "vgg"),
    Entry("torchvision:alexnet", (64, 96), "alexnet"),
    Entry("torchvision:mnasnet0_5", (64,), "mnasnet"),
    Entry("torchvision:convnext_tiny", (64,), "convnext"),
    Entry("torchvision:swin_t", (64, 96, 224), "swin"),
    Entry("torchvision:vit_b_16(image_size={size})", (64,), "vit"),
    Entry("timm:resnet18", (64, 224), "resnet"),
    Entry("timm:mobilenetv3_small_100", (64, 224), "mobilenet"),
    Entry("timm:efficientnet_lite0", (64,), "efficientnet"),
    Entry("timm:regnetx_002", (64, 224), "regnet"),
    Entry("timm:deit_tiny_patch16_224(img_size={size})", (64, 224), "vit"),
    Entry("timm:vit_tiny_patch16_224(img_size={size})", (64,), "vit"),
    # same families, same ops
    Entry("torchvision:shufflenet_v2_x1_0", (64,), "shufflenet"),
    Entry("torchvision:squeezenet1_1", (64,), "squeezenet"),
    Entry("torchvision:resnet18", (64,), "resnet"),
    Entry("torchvision:resnext50_32x4d", (64,), "resnet"),
    Entry("torchvision:regnet_y_400mf", (64,), "regnet"),
    Entry("torchvision:mnasnet1_0", (64,), "mnasnet"),
    Entry("torchvision:efficientnet_b1", (64,), "efficientnet"),
    Entry("torchvision:densenet169", (64,), "densenet"),
    Entry("torchvision:vgg11", (64,), "vgg"),
    Entry("torchvision:vit_b_32(image_size={size})", (64,), "vit"),
    Entry("timm:mobilenetv3_large_100", (64,), "mobilenet"),
    Entry("timm:efficientnet_b0", (64,), "efficientnet"),
    Entry("timm:regnety_002", (64,), "regnet"),
    Entry("timm:resnet26d", (64,), "resnet"),
)

# the entries of the issue (the acceptance list): the first 22
ISSUE_MODELS = ZOO[:22]


def spec_at(entry: Entry, size: int) -> str:
    return entry.spec.replace("{size}", str(size))


@dataclass
class Row:
    spec: str
    size: int
    config: str
    ops: list[str] = field(default_factory=list)
    layers: int = 0
    convert_s: float = 0.0
    int_ms: float = 0.0          # integer graph, per image
    float_ms: float = 0.0        # float model forward, per image
    agreement: float = 0.0       # % of inputs whose integer top-1 equals the fake-quant top-1
    n: int = 0
    classes: int = 0             # distinct fake-quant top-1 classes over the n inputs
    codes_equal: float = 0.0     # % of output codes (logits) equal between integer and fake-quant
    ties: int = 0                # disagreements where the fake-quant top-1 is a tie of equal codes
    no_rtl: list[str] = field(default_factory=list)


def no_rtl_unit(kinds) -> list[str]:
    """The op kinds ``t2c.sim.units.unit_for`` has no RTL unit for."""
    try:
        from .sim.units import unit_for
    except ImportError:  # pragma: no cover - the hardware side is optional
        return []
    out = []
    for k in sorted(set(kinds)):
        try:
            unit_for(k)
        except ValueError:
            out.append(k)
    return out


def config_label(config: QConfig) -> str:
    return f"W{config.wbit}A{config.abit}" + ("" if config.per_channel else " per-tensor")


def prepare_entry(spec: str, size: int, config: QConfig):
    """``t2c.pipeline.prepare`` of ``spec`` at ``size`` x ``size`` (seeded random calibration)."""
    from .pipeline import ModelSource, prepare

    return prepare(ModelSource(spec=spec, input_shape=(1, 3, size, size)), config)


def measure(spec: str, size: int, config: QConfig | None = None, n: int = 32, batch: int = 8,
            prepared=None) -> Row:
    """Convert ``spec`` at ``size`` and measure it (module docstring)."""
    import torch

    from .data import random_samples

    config = config or QConfig()
    t0 = time.perf_counter()
    p = prepared or prepare_entry(spec, size, config)
    convert_s = time.perf_counter() - t0
    graph, qmodel = p.graph, p.qmodel
    x = random_samples((1, 3, size, size), n, EVAL_SEED)
    agree = equal = ties = 0
    classes = set()
    spec_out = graph.tensors[graph.output]
    t_int = t_float = 0.0
    from .drift import codes_of
    from .models.spec import build_model, parse_model_spec

    model = build_model(parse_model_spec(spec))
    for i in range(0, n, batch):
        xb = x[i:i + batch]
        with torch.no_grad():
            t = time.perf_counter()
            model(torch.from_numpy(xb))
            t_float += time.perf_counter() - t
            with qmodel.forward_mode(exact=False):  # the float fake-quant forward
                fq_t = qmodel(torch.from_numpy(xb).double())
        t = time.perf_counter()
        out = graph.run(graph.quantize_input(xb)).output
        t_int += time.perf_counter() - t
        fq_codes = codes_of(fq_t, spec_out).reshape(len(xb), -1)
        out, fq = out.reshape(len(xb), -1), fq_t.numpy().reshape(len(xb), -1)
        ai, af = np.argmax(out, 1), np.argmax(fq, 1)
        agree += int((ai == af).sum())
        equal += int((out == fq_codes).sum())
        classes |= set(af.tolist())
        for i in np.flatnonzero(ai != af):
            ties += int(fq_codes[i, ai[i]] == fq_codes[i, af[i]])
    kinds = [op.kind for op in graph.ops]
    return Row(spec, size, config_label(config), ops=sorted(set(kinds)), layers=len(graph.ops),
               convert_s=convert_s, int_ms=1000 * t_int / n, float_ms=1000 * t_float / n,
               agreement=100.0 * agree / n, n=n, classes=len(classes),
               codes_equal=100.0 * equal / (n * out.shape[1]), ties=ties, no_rtl=no_rtl_unit(kinds))
