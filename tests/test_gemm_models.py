"""Whole models through every GEMM path: every layer's accumulator and output equal.

The default run must really take the int8 path (else these would compare float32 with
itself), and a deliberately broken int8 path (codes cast to int8 without the zero-point
shift and correction) must be caught by the same comparison.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import gemm
from t2c.pipeline import ModelSource, prepare

MODELS = {
    "digits-cnn": "digits-cnn",
    "digits-vit": "digits-vit",
    "resnet18": "resnet18",
    "vit-tiny": "vit-tiny",
    "mobilenet_v2": ModelSource(spec="torchvision:mobilenet_v2", input_shape=(1, 3, 64, 64)),  # depthwise
}


def differing_layers(a, b) -> list[str]:
    """Layers whose output or accumulator differ between two recorded runs (== on every element)."""
    out = []
    for name, rec in a.layers.items():
        other = b.layers[name]
        if not np.array_equal(rec.output, other.output) or (
                rec.acc is not None and not np.array_equal(rec.acc, other.acc)):
            out.append(name)
    return out


@pytest.fixture(scope="module", params=list(MODELS))
def model(request):
    return prepare(MODELS[request.param])


def test_every_gemm_path_gives_every_layer_equal(model):
    runs = {path: model.graph.run(model.x_int, record=True, gemm_path=path) for path in gemm.PATHS}
    default = model.graph.run(model.x_int, record=True)
    assert set(default.gemm.values()) == {"int8"}, default.gemm  # 8-bit models take the int8 GEMMs
    for path, run in runs.items():
        assert set(run.gemm.values()) == {path}
        assert differing_layers(runs["int64"], run) == [], path
    assert differing_layers(runs["int64"], default) == []


def test_an_int8_path_without_the_zero_point_correction_is_caught(monkeypatch):
    p = prepare("resnet18")  # unsigned activations after every ReLU: their codes exceed 127
    want = p.graph.run(p.x_int, record=True, gemm_path="int64")
    assert differing_layers(want, p.graph.run(p.x_int, record=True, gemm_path="int8")) == []

    def wrapping_cast(self, x):
        return np.asarray(x).astype(np.int8)  # 200 -> -56, and no shift to correct

    monkeypatch.setattr(gemm.WeightGemm, "_shifted", wrapping_cast)
    for op in p.graph.ops:
        op.__dict__.pop("_gemm", None)  # rebuild the plans
    assert differing_layers(want, p.graph.run(p.x_int, record=True, gemm_path="int8"))
