"""Vision transformers: integer attention, LayerNorm, softmax, GELU, no float in the integer path."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from independent import assert_graph_matches
from t2c import QConfig
from t2c.ir import (Add, Concat, Constant, Conv2d, LayerNorm, Linear, Lut, MatMul, Movement, Softmax)
from t2c.pipeline import prepare
from t2c.report import error_budget, evaluate

INTEGER_OPS = (Add, Concat, Constant, Conv2d, LayerNorm, Linear, Lut, MatMul, Movement, Softmax)


@pytest.fixture(scope="module")
def vit_tiny():
    return prepare("vit-tiny")


def test_timm_deit_tiny_every_layer_equals_independent_computation():
    """deit_tiny_patch16_224 (seeded random weights) converts without model-specific code."""
    deit = prepare("deit-tiny")
    result = assert_graph_matches(deit.graph, deit.x_int)
    assert all(isinstance(op, INTEGER_OPS) for op in deit.graph.ops)
    assert {"layernorm", "softmax", "lut", "matmul"} <= {op.kind for op in deit.graph.ops}
    assert result.output.shape == (1, 1000)


def test_timm_vit_tiny_every_layer_equals_independent_computation(vit_tiny):
    result = assert_graph_matches(vit_tiny.graph, vit_tiny.x_int)
    kinds = {op.kind for op in vit_tiny.graph.ops}
    assert {"layernorm", "softmax", "lut", "matmul", "concat", "const"} <= kinds
    assert result.output.shape == (1, 1000)


def test_no_float_anywhere_in_the_integer_path(vit_tiny):
    graph = vit_tiny.graph
    assert all(isinstance(op, INTEGER_OPS) for op in graph.ops), {type(op) for op in graph.ops}
    for op in graph.ops:
        for name, arr in op.params().items():
            assert np.asarray(arr).dtype.kind == "i", (op.name, name)
    rec = graph.run(vit_tiny.x_int, record=True)
    for name, layer in rec.layers.items():
        for t in [*layer.inputs, layer.output] + ([layer.acc] if layer.acc is not None else []):
            assert np.asarray(t).dtype.kind == "i", name


def test_transformer_runs_with_torch_unimportable(vit_tiny, monkeypatch):
    """With torch unimportable the executor computes the accumulators in int64 numpy; every
    layer equals the run made with torch's int8 GEMMs.  Asking for a torch path then
    fails, so the stand-in does remove torch."""
    graph, x = vit_tiny.graph, vit_tiny.x_int
    want = graph.run(x, record=True)
    assert set(want.gemm.values()) == {"int8"}
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    got = graph.run(x, record=True)
    assert set(got.gemm.values()) == {"int64"}
    for name, rec in want.layers.items():
        assert np.array_equal(got.layers[name].output, rec.output), name
        if rec.acc is not None:
            assert np.array_equal(got.layers[name].acc, rec.acc), name
    for path in ("int8", "float32"):
        with pytest.raises(RuntimeError, match="needs torch"):
            graph.run(x, gemm_path=path)


def test_layer_names_follow_module_paths(vit_tiny):
    names = vit_tiny.graph.layer_names
    for n in ("blocks.0.attn.softmax", "blocks.0.attn.qk", "blocks.0.attn.av", "blocks.0.mlp.act",
              "blocks.0.norm1", "blocks.11.mlp.fc2", "head"):
        assert n in names


def test_digits_vit_w8a8_within_one_point_of_fp32():
    row = evaluate(QConfig(), model="digits-vit")
    assert row.integer >= row.fp32 - 1.0
    assert row.agreement >= 97.0  # top-1 flip rate vs fake-quant <= 3%


def test_error_budget_is_measured_per_nonlinear_op():
    rows = error_budget("digits-vit")
    assert {r["op"] for r in rows} == {"layernorm", "softmax", "lut"}
    for r in rows:
        assert 0 <= r["mean_lsb"] <= r["max_lsb"] < 2.0, r
