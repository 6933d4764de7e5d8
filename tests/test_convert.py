"""quantize -> calibrate -> convert on small synthetic models covering every fused pattern."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import t2c
from independent import assert_graph_matches
from t2c.ir import Add, AvgPool2d, Conv2d, Linear, MaxPool2d, ReLU


class Zoo(nn.Module):
    """Depthwise, grouped, dilated, strided convs, ReLU6, standalone add, pools, view."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8, bias=False)
        self.grouped = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)
        self.branch_a = nn.Conv2d(16, 16, 1)
        self.branch_b = nn.Conv2d(16, 16, 1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg = nn.AvgPool2d(2, stride=1, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 5)
        for bn in [self.bn]:
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        x = F.relu6(self.bn(self.stem(x)))
        x = torch.relu(self.dw(x))
        x = self.grouped(x)
        a = torch.relu(self.branch_a(x))
        b = self.branch_b(x)
        b = F.relu(b)
        x = a + b  # both operands quantized: a standalone integer add
        x = self.pool(x)
        x = self.avg(x)
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def _zoo_input():
    return torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(3))


def _build(config):
    torch.manual_seed(0)
    model = Zoo().eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, 12, 12))
    q = t2c.quantize(model, config)
    x = _zoo_input()
    q.calibrate([x])
    return q, t2c.convert(q, x[:2]), x


@pytest.mark.parametrize("config", [
    t2c.QConfig(),
    t2c.QConfig(wbit=4, abit=4, per_channel=False),
    t2c.QConfig(wbit=2, abit=3, io_bits=None, weight_quantizer="mse", act_quantizer="percentile"),
    t2c.QConfig(wbit=6, abit=5, weight_quantizer="lsq", act_quantizer="lsq", multiplier_bits=16),
    t2c.QConfig(wbit=8, abit=8, act_quantizer="mse"),
], ids=["w8a8", "w4a4-per-tensor", "w2a3-mse-pct", "w6a5-lsq-m16", "w8a8-mse"])
def test_zoo_converts_and_matches_independent_computation(config):
    q, graph, x = _build(config)
    kinds = [type(op) for op in graph.ops]
    assert kinds.count(Conv2d) == 5 and Add in kinds and MaxPool2d in kinds
    assert AvgPool2d in kinds and kinds.count(Linear) == 2
    assert_graph_matches(graph, graph.quantize_input(x.numpy()))
    # integer parameters only
    for op in graph.ops:
        for name, arr in op.params().items():
            assert np.asarray(arr).dtype.kind == "i", (op.name, name)
    if config.multiplier_bits == 16:
        conv = graph.op("stem")
        assert conv.requant.m.max() < 2 ** 15 and conv.requant.m.min() >= 2 ** 14


def test_fake_quant_and_integer_agree_closely():
    """Fake-quant and integer outputs are the same codes except for rare 1-LSB rounding splits."""
    q, graph, x = _build(t2c.QConfig())
    spec = graph.tensors[graph.output]
    with torch.no_grad():
        fq = q(x).double().numpy()
    fq_codes = np.round(fq / spec.scale).astype(np.int64) + spec.zero_point
    ints = graph.run(graph.quantize_input(x.numpy())).output
    assert np.mean(fq_codes == ints) >= 0.9
    assert np.abs(fq_codes - ints).max() <= 2


def test_relu6_and_relu_lower_to_clamps():
    q, graph, x = _build(t2c.QConfig())
    stem = graph.op("stem")
    out = graph.tensors["stem"]
    assert stem.requant.qmin == out.zero_point
    assert stem.requant.qmax <= out.zero_point + round(6 / out.scale)


def test_standalone_relu_op():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 4, 3)
            self.p = nn.MaxPool2d(2)

        def forward(self, x):
            return F.relu(self.p(self.c(x))).flatten(1)

    q = t2c.quantize(M().eval())
    x = torch.randn(2, 1, 9, 9)
    q.calibrate([x])
    g = t2c.convert(q, x)
    assert any(isinstance(op, ReLU) for op in g.ops)
    assert_graph_matches(g, g.quantize_input(x.numpy()))


def test_unsupported_op_names_node_and_source_line():
    class Sig(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return torch.sin(self.c(x))

    with pytest.raises(t2c.UnsupportedOpError) as e:
        t2c.quantize(Sig())
    msg = str(e.value)
    assert "sin" in msg and "test_convert.py:" in msg


def test_accumulator_overflow_is_refused_at_convert_time():
    k = 70_000  # 70000 * 255 * 128 > 2**31
    model = nn.Sequential(nn.Linear(k, 2), nn.ReLU(), nn.Linear(2, 2)).eval()
    x = torch.rand(2, k)
    q = t2c.quantize(model)
    q.calibrate([x])
    with pytest.raises(t2c.AccumulatorOverflowError, match=r"layer '0'.*K=70000"):
        t2c.convert(q, x)
    q4 = t2c.quantize(model, t2c.QConfig(abit=4, io_bits=None))
    q4.calibrate([x])
    t2c.convert(q4, x)  # 70000 * 15 * 128 fits


def test_convert_requires_calibration():
    q = t2c.quantize(nn.Sequential(nn.Linear(4, 2)).eval())
    with pytest.raises(RuntimeError, match="calibrate"):
        t2c.convert(q, torch.zeros(1, 4))


def test_unknown_layer_lists_valid_names():
    _, graph, _ = _build(t2c.QConfig())
    with pytest.raises(KeyError, match="valid layers: stem, dw"):
        graph.op("conv99")


def test_run_rejects_float_and_out_of_range_input():
    _, graph, x = _build(t2c.QConfig())
    with pytest.raises(TypeError, match="integer codes"):
        graph.run(x.numpy())
    with pytest.raises(ValueError, match="outside"):
        graph.run(np.full((1, 3, 12, 12), 10_000))


# ------------------------------------------------------------------ BatchNorm folding and bias rounding
class BNModel(nn.Module):
    """BatchNorm after a conv (folded into it), a standalone BatchNorm before a conv (an
    affine op), BatchNorm1d after a linear; eps and running statistics of every kind."""

    def __init__(self, eps: float):
        super().__init__()
        self.pre = nn.BatchNorm2d(3, eps=eps)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6, eps=eps)
        self.bn_plain = nn.BatchNorm2d(6, eps=eps, affine=False)
        self.fc = nn.Linear(6 * 8 * 8, 5)
        self.bn1d = nn.BatchNorm1d(5, eps=eps)
        g = torch.Generator().manual_seed(3)
        for bn in (self.pre, self.bn, self.bn_plain, self.bn1d):
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=g))
            bn.running_var.copy_(torch.rand(n, generator=g) * 2e-3 + 1e-4)  # var ~ eps: eps matters
            if bn.affine:
                with torch.no_grad():
                    bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    bn.bias.copy_(torch.randn(n, generator=g))

    def forward(self, x):
        x = self.bn_plain(self.bn(self.conv(self.pre(x))))
        return self.bn1d(self.fc(F.relu(x).flatten(1)))


@pytest.mark.parametrize("eps", [1e-5, 1e-3, 0.1])
def test_folded_batchnorm_equals_the_torch_model(eps):
    """The fused float model (quantizers bypassed) computes what the torch model computes,
    whatever eps: the folding is checked against torch itself, not against t2c's own
    parameters."""
    model = BNModel(eps).eval().double()
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    q = t2c.quantize(model, t2c.QConfig(), example_input=x[:1].float()).double()
    q.calibrate([x])
    with torch.no_grad(), q.float_mode():
        fused = q(x)
        want = model(x)
    assert fused.shape == want.shape
    # the QModel keeps its parameters in float32: agreement to float32 precision
    assert torch.allclose(fused, want, rtol=1e-5, atol=1e-5), (fused - want).abs().max()
    other = BNModel(1e-5 if eps != 1e-5 else 1e-3).eval().double()  # the same model, another eps
    with torch.no_grad():
        assert not torch.allclose(other(x), want, rtol=1e-3, atol=1e-3)  # eps is visible at this variance


def test_bias_is_rounded_half_up_to_accumulator_units():
    """bias = round_half_up(b / (s_x s_w)): with power-of-two scales the quotients below are
    exact ties, where half up, half to even, floor and truncation all differ."""
    from t2c.quant import Quantizer

    class PowerOfTwo(Quantizer, name="test-pow2-bias"):
        def compute_qparams(self):
            super().compute_qparams()
            self.set_qparams(2.0 ** torch.ceil(torch.log2(self.scale)), self.zero_point)

    model = nn.Sequential(nn.Conv2d(2, 4, 3)).eval()
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    config = t2c.QConfig(weight_quantizer="test-pow2-bias", act_quantizer="test-pow2-bias", per_channel=False)
    q = t2c.quantize(model, config, example_input=x[:1]).double()
    q.calibrate([x.double()])
    name = q.layer_names[0]
    s_x = float(q.act_quantizer("input").scale)
    s_w = float(q.weight_quantizer(name).quantize(q.weight(name)).scale)
    assert np.log2(s_x).is_integer() and np.log2(s_w).is_integer()
    ties = torch.tensor([-3.5, -0.5, 0.5, 2.5], dtype=torch.float64)
    with torch.no_grad():
        q.bias(name).copy_(ties * s_x * s_w)
    graph = t2c.convert(q, x[:1].double())
    assert graph.op(name).bias.tolist() == [-3, 0, 1, 3]  # half to even: -4, 0, 0, 2; floor: -4, -1, 0, 2
