"""The exact dual path: after calibration the QModel's forward is the integer contract.

Every layer of the QModel, turned into codes, equals the IntGraph's (``==`` on every
element) for the configs users train; the float fake-quant forward (``exact=False``)
does not, which is what shows the comparison can fail.  Gradients still reach weights
and learned step sizes; the integer graph is re-lowered exactly when a parameter changes.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from t2c import QConfig
from t2c.convert import convert, quantize
from t2c.drift import codes_of, compare
from t2c.models import get_model
from t2c.models.digits import digits_split
from t2c.pipeline import ModelSource, prepare
from t2c.zoo import ZOO, prepare_entry, spec_at

CONFIGS = {
    "W8A8 per-channel": QConfig(wbit=8, abit=8),
    "W8A8 per-tensor": QConfig(wbit=8, abit=8, per_channel=False),
    "W4A4 per-channel": QConfig(wbit=4, abit=4),
    "W4A4 per-tensor lsq": QConfig(wbit=4, abit=4, per_channel=False, weight_quantizer="lsq", act_quantizer="lsq"),
}


def seeded_inputs(graph, n: int = 32, seed: int = 0) -> torch.Tensor:
    shape = graph.tensors[graph.input].shape[1:]
    return torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def assert_every_layer_equal(drift):
    bad = [f"{d.name}: {d.elements - d.equal} of {d.elements} codes differ (max {d.max_diff})"
           for d in drift.layers if d.equal != d.elements]
    assert not bad, "\n".join(bad[:5])
    assert drift.output.equal == drift.output.elements
    assert drift.layers  # something was compared


@pytest.fixture(scope="module")
def digits_test():
    return digits_split()[2][:32].double()


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("model", ["digits-cnn", "digits-vit"])
def test_exact_forward_equals_the_integer_graph_on_every_layer(model, config, digits_test):
    p = prepare(ModelSource(spec=model), CONFIGS[config])
    assert p.qmodel.exact_active()
    drift = compare(p.qmodel, p.graph, digits_test)
    assert_every_layer_equal(drift)
    assert len(drift.layers) == sum(1 for op in p.graph.ops)  # every IntGraph tensor has its QModel layer


@pytest.fixture(scope="module")
def vit_tiny():
    return prepare("vit-tiny")


def test_float_fake_quant_forward_of_vit_tiny_drifts_and_the_exact_one_does_not(vit_tiny):
    x = seeded_inputs(vit_tiny.graph, n=2)
    fake = compare(vit_tiny.qmodel, vit_tiny.graph, x, exact=False)
    assert not fake.all_equal  # the check can fail
    assert fake.output.equal < fake.output.elements
    assert_every_layer_equal(compare(vit_tiny.qmodel, vit_tiny.graph, x, exact=True))


def test_a_flipped_code_is_caught(digits_test):
    """compare() is ``==`` per element: one integer output code changed by one is reported."""
    p = prepare("digits-cnn")
    graph = p.graph
    last = graph.ops[-1]
    last.bias = last.bias.copy()
    last.bias[3] += 1 << int(np.asarray(last.requant.s).max())  # moves logit 3 by about one code
    drift = compare(p.qmodel, graph, digits_test)
    assert drift.first_differing == last.name
    assert drift.output.equal < drift.output.elements


def test_exact_forward_is_off_while_calibrating_and_in_float_mode():
    qm = quantize(get_model("digits-cnn").build(), QConfig())
    assert not qm.exact_active()  # uncalibrated
    seen = []
    original = qm._integer_values
    qm._integer_values = lambda x: seen.append(1) or original(x)
    xtr = digits_split()[0]
    qm.calibrate([xtr[:64]])
    assert seen == []  # calibration observed the float forward
    assert qm.exact_active()
    with qm.float_mode():
        assert not qm.exact_active()
        qm(xtr[:2])
    assert seen == []
    qm(xtr[:2])
    assert seen == [1]
    qm.exact = False
    assert not qm.exact_active()


def test_gradients_reach_weights_and_learned_step_sizes_and_the_graph_follows_the_parameters():
    xtr, ytr, _, _ = digits_split()
    qm = quantize(get_model("digits-cnn").build(), QConfig(wbit=4, abit=4, weight_quantizer="lsq",
                                                           act_quantizer="lsq"))
    qm.calibrate([xtr[:256]])
    g1 = qm.integer_graph(xtr[:1])
    assert qm.integer_graph(xtr[:4]) is g1  # nothing changed: the cached lowering
    opt = torch.optim.SGD(qm.parameters(), lr=1e-2)
    loss = torch.nn.functional.cross_entropy(qm(xtr[:64]), ytr[:64])
    loss.backward()
    named = dict(qm.named_parameters())
    weights = [n for n in named if n.startswith("weights.")]
    steps = [n for n in named if n.startswith(("aq.", "wq."))]
    assert weights and steps
    for n in weights + steps:
        assert named[n].grad is not None and named[n].grad.abs().sum() > 0, n
    opt.step()
    g2 = qm.integer_graph(xtr[:1])
    assert g2 is not g1  # re-lowered after the step
    assert compare(qm, g2, xtr[:16].double().float()).all_equal
    assert not all(np.array_equal(a.weight, b.weight) for a, b in zip(g1.ops, g2.ops) if hasattr(a, "weight"))


def test_trained_qmodel_and_its_integer_graph_predict_alike_on_the_test_split():
    """A short exact QAT: the QModel it leaves predicts exactly what its IntGraph does."""
    from t2c.models.train_digits import train
    from t2c.report import deterministic_training

    xtr, ytr, xte, _ = digits_split()
    qm = quantize(get_model("digits-cnn").build(), QConfig(wbit=4, abit=4, weight_quantizer="lsq",
                                                           act_quantizer="lsq"))
    qm.calibrate([xtr[:512]])
    torch.manual_seed(0)
    with deterministic_training():
        train(qm, xtr, ytr, 1, lr=1e-3, log=None)
    graph = convert(qm, xte[:1])
    integer = graph.run(graph.quantize_input(xte.numpy())).output.argmax(1)
    with torch.no_grad():
        assert np.array_equal(qm(xte).argmax(1).numpy(), integer)
        with qm.forward_mode(exact=False):
            fake = qm(xte).argmax(1).numpy()
    assert fake.shape == integer.shape


ZOO_SMALL = {  # the public models at small inputs (seeded random weights)
    "resnet18": ModelSource(spec="torchvision:resnet18", input_shape=(1, 3, 64, 64)),
    "resnet50": ModelSource(spec="torchvision:resnet50", input_shape=(1, 3, 64, 64)),
    "mobilenet_v2": ModelSource(spec="torchvision:mobilenet_v2", input_shape=(1, 3, 64, 64)),
    "vit-tiny": ModelSource(spec="timm:vit_tiny_patch16_224(img_size=64)", input_shape=(1, 3, 64, 64)),
    "deit-tiny": ModelSource(spec="timm:deit_tiny_patch16_224(img_size=64)", input_shape=(1, 3, 64, 64)),
}


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("model", ZOO_SMALL)
def test_zoo_exact_forward_equals_the_integer_graph_on_every_layer(model, config):
    p = prepare(ZOO_SMALL[model], CONFIGS[config])
    assert_every_layer_equal(compare(p.qmodel, p.graph, seeded_inputs(p.graph, 32)))


@pytest.mark.slow
@pytest.mark.parametrize("spec", [spec_at(e, min(e.sizes)) for e in ZOO])
def test_every_zoo_model_exact_forward_equals_the_integer_graph(spec):
    """Every model of t2c.zoo (issue 14's coverage) at its smallest size, W8A8 per-channel,
    32 seeded inputs: the exact forward's codes equal the IntGraph's on every layer."""
    size = min(next(e for e in ZOO if spec_at(e, min(e.sizes)) == spec).sizes)
    p = prepare_entry(spec, size, QConfig())
    assert_every_layer_equal(compare(p.qmodel, p.graph, seeded_inputs(p.graph, 32)))


def test_a_layer_feeding_an_in_place_activation_keeps_its_exact_value():
    """nn.Hardswish(inplace=True) after a conv (MobileNetV3): the table layer must not
    overwrite the conv's recorded value (it did, in place, before the table's input was
    copied); every layer equal, and the check fails on the overwritten value."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                torch.nn.Hardswish(inplace=True), torch.nn.Conv2d(8, 4, 3)).eval()
    x = torch.randn((16, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    qm = quantize(model, QConfig())
    qm.calibrate([x])
    graph = convert(qm, x[:1])
    drift = compare(qm, graph, x.double())
    assert_every_layer_equal(drift)
    conv = next(d for d in drift.layers if d.name == graph.ops[0].name)
    assert conv.elements == 16 * 8 * 8 * 8
    name = graph.ops[0].name
    value = qm.layer_values(x.double())[name]
    want = graph.run(graph.quantize_input(x.numpy()), record=True).layers[name].output
    assert np.array_equal(codes_of(value, graph.tensors[name]), want)
    overwritten = torch.nn.functional.hardswish(value)  # what the in-place table left behind
    assert not np.array_equal(codes_of(overwritten, graph.tensors[name]), want)
