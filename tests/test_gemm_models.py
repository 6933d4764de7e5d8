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


def small_matmuls(graph) -> set[str]:
    """Matmul layers of at most gemm.SMALL_MATMUL MACs per matrix (one batched float call)."""
    out = set()
    for op in graph.ops:
        if op.kind == "matmul":
            (m, k), n = graph.tensors[op.inputs[0]].shape[-2:], graph.tensors[op.inputs[1]].shape[-1]
            if m * k * n <= gemm.SMALL_MATMUL:
                out.add(op.name)
    return out


def test_every_gemm_path_gives_every_layer_equal(model):
    runs = {path: model.graph.run(model.x_int, record=True, gemm_path=path) for path in gemm.PATHS}
    default = model.graph.run(model.x_int, record=True)
    small = small_matmuls(model.graph)
    # 8-bit models take the int8 GEMMs, except small attention matmuls
    assert default.gemm == {k: "float32" if k in small else "int8" for k in default.gemm}, default.gemm
    for path, run in runs.items():
        assert run.gemm == {k: "float32" if k in small and path == "int8" else path for k in run.gemm}
        assert differing_layers(runs["int64"], run) == [], path
    assert differing_layers(runs["int64"], default) == []
    if model.name == "vit-tiny":  # 197 x 64 x 197 per head: the int8 loop runs too
        assert any(k.endswith(("qk", "av")) and v == "int8" for k, v in default.gemm.items()), default.gemm


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
