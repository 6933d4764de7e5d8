"""The integer reference equals an independent per-layer integer computation."""
from __future__ import annotations

import pytest

from independent import assert_graph_matches, check_layer
from t2c.pipeline import prepare


@pytest.mark.parametrize("model", ["digits-cnn", "resnet18", "timm-resnet18"])
def test_every_layer_equals_independent_computation(model):
    p = prepare(model)
    result = assert_graph_matches(p.graph, p.x_int)
    assert len(result.layers) == len(p.graph.ops)
    # the recording covers the fused residual path
    assert any(len(r.inputs) == 2 for r in result.layers.values())


@pytest.mark.parametrize("what", ["output", "acc"])
def test_independent_check_can_fail(what):
    """One flipped bit in a recorded output or accumulator is caught and the layer named."""
    p = prepare("digits-cnn")
    op = p.graph.op("conv4")
    rec = p.graph.run(p.x_int, record=True).layers["conv4"]
    check_layer(op, rec)  # the untouched record passes
    tampered = getattr(rec, what).copy()
    tampered.flat[7] ^= 1
    setattr(rec, what, tampered)
    with pytest.raises(AssertionError, match="conv4"):
        check_layer(op, rec)
