"""The model zoo (t2c.zoo, issue 14): torchvision and timm classifiers with seeded random
weights convert without model-name code and EVERY layer equals the independent per-op
recomputation (tests/independent.py), at W8A8 per-channel and, for some, at W4A4.

Small inputs (64 x 64, one image) keep this affordable; the heavier models are ``slow``.
docs/models.md (bench/bench_zoo.py) has the same models at 224 and the top-1 agreement.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import t2c
from independent import assert_graph_matches
from t2c import QConfig
from t2c.zoo import ISSUE_MODELS, ZOO, prepare_entry, spec_at

ROOT = Path(__file__).resolve().parents[1]
FAST = {"torchvision:squeezenet1_0", "torchvision:shufflenet_v2_x0_5", "torchvision:mobilenet_v3_small",
        "timm:regnetx_002", "timm:mobilenetv3_small_100", "timm:efficientnet_lite0", "timm:resnet18",
        "torchvision:mnasnet0_5", "torchvision:googlenet(aux_logits=False)"}
NEW_KINDS = {"mul", "affine", "avgpool_window", "add_const"}


def _param(entry, size=64):
    spec = spec_at(entry, size)
    marks = () if entry.spec in FAST else (pytest.mark.slow,)
    return pytest.param(spec, size, id=f"{spec}@{size}", marks=marks)


def _check(spec, size, config):
    p = prepare_entry(spec, size, config)
    result = assert_graph_matches(p.graph, p.x_int)
    assert len(result.layers) == len(p.graph.ops)
    assert result.output.shape == (1, 1000)
    for op in p.graph.ops:  # integers only
        for name, arr in op.params().items():
            assert np.asarray(arr).dtype.kind == "i", (op.name, name)
    return p, result


@pytest.mark.parametrize("spec,size", [_param(e) for e in ISSUE_MODELS])
def test_zoo_w8a8_every_layer_equals_independent_computation(spec, size):
    _check(spec, size, QConfig())


W4 = ["torchvision:squeezenet1_0", "torchvision:shufflenet_v2_x0_5", "torchvision:mobilenet_v3_small",
      "timm:regnetx_002", "torchvision:efficientnet_b0", "torchvision:swin_t", "torchvision:densenet121"]


@pytest.mark.parametrize("spec", [pytest.param(s, marks=() if s in FAST else (pytest.mark.slow,)) for s in W4])
def test_zoo_w4a4_every_layer_equals_independent_computation(spec):
    p, _ = _check(spec, 64, QConfig(wbit=4, abit=4))
    assert p.graph.meta["wbit"] == 4 and p.graph.meta["abit"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("spec,size", [("torchvision:swin_t", 96), ("torchvision:vgg11_bn", 96),
                                       ("torchvision:squeezenet1_0", 224)])
def test_zoo_other_input_sizes(spec, size):
    """96: Swin's last stages pad a 3x3 map to one 7x7 window (no shift); vgg's 3x3 map pools
    adaptively to 7x7 (unequal windows); 224: the size the models were designed for."""
    p, _ = _check(spec, size, QConfig())
    if "vgg" in spec:
        assert "avgpool_window" in {op.kind for op in p.graph.ops}


def test_new_ops_appear_in_the_zoo_and_have_no_rtl_unit_yet():
    """mobilenet_v3_small: Hardsigmoid tables, squeeze-excite mul; every GEMM path of the
    executor (float32, int8, int64) gives the same integers on every layer."""
    from t2c.sim.units import unit_for

    p = prepare_entry("torchvision:mobilenet_v3_small", 64, QConfig())
    kinds = {op.kind for op in p.graph.ops}
    assert {"mul", "lut"} <= kinds
    want = p.graph.run(p.x_int, record=True, gemm_path="float32")
    for path in ("int8", "int64"):
        got = p.graph.run(p.x_int, record=True, gemm_path=path)
        for name, rec in want.layers.items():
            assert np.array_equal(got.layers[name].output, rec.output), (path, name)
            if rec.acc is not None:
                assert np.array_equal(got.layers[name].acc, rec.acc), (path, name)
    for kind in sorted(NEW_KINDS):
        with pytest.raises(ValueError, match="no RTL unit yet"):
            unit_for(kind)
    assert unit_for("lut").name == "lut_layer" and unit_for("move") is None


def test_no_model_name_in_the_converter():
    """t2c/convert holds no model names of the zoo (nor their families)."""
    names = set()
    for e in ZOO:
        name = re.split(r"[:(]", e.spec)[1]
        names |= {name, e.family}
    names |= {"inception", "mobilenet", "efficientnet", "vision_transformer"}
    text = {p.name: p.read_text().lower() for p in (ROOT / "t2c" / "convert").glob("*.py")}
    hits = [(f, n) for f, t in text.items() for n in sorted(names) if n and re.search(rf"\b{re.escape(n)}", t)]
    assert not hits, hits


# ------------------------------------------------------------------ refusals
class Sorts(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.sort(self.c(x), dim=1).values.flatten(1)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.c(x)
        if y.sum() > 0:  # control flow on the input's values
            y = F.relu(y)
        return y.flatten(1)


class GridSample(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x):
        grid = self.c(x).permute(0, 2, 3, 1).tanh()
        return F.grid_sample(x, grid, align_corners=False).flatten(1)


@pytest.mark.parametrize("model,op,node", [(Sorts, "sort", "sort"), (DataDependent, "data-dependent", "gt"),
                                           (GridSample, "grid_sample", "grid_sample")])
@pytest.mark.parametrize("example", [True, False])
def test_unsupported_op_is_one_line_naming_node_op_and_source_line(model, op, node, example):
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(t2c.UnsupportedOpError) as e:
        t2c.quantize(model(), example_input=x if example else None)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"fx node {node!r}" in msg and op in msg, msg
    assert re.search(r"model source .*test_zoo\.py:\d+", msg), msg
