"""Quantizers: both paths, straight-through gradients, registry, LSQ learning."""
from __future__ import annotations

import pytest
import torch

from t2c.quant import LSQQuantizer, MinMaxQuantizer, Quantizer, quantizer_class, registered_quantizers


def _calibrated(cls, x, **kw):
    q = cls(**kw)
    q.observing = True
    q(x)
    q.observing = False
    q.compute_qparams()
    return q


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("signed", [True, False, None])
def test_codes_in_range_and_fake_quant_is_dequantized_codes(bits, signed):
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64) * 3
    if signed is False:
        x = x.abs()
    q = _calibrated(MinMaxQuantizer, x, bits=bits, signed=signed)
    qt = q.quantize(x)
    assert qt.q.dtype == torch.int64
    assert int(qt.q.min()) >= q.qmin and int(qt.q.max()) <= q.qmax
    assert torch.equal(q(x), (qt.q - qt.zero_point).double() * qt.scale)


def test_per_channel_weights_are_symmetric_and_use_the_full_range():
    w = torch.randn(6, 4, 3, 3, dtype=torch.float64) * torch.arange(1, 7).reshape(6, 1, 1, 1)
    q = _calibrated(MinMaxQuantizer, w, bits=4, signed=True, symmetric=True, per_channel=True)
    qt = q.quantize(w)
    assert qt.scale.shape == (6,) and torch.all(qt.zero_point == 0)
    assert torch.all(qt.q.abs().amax(dim=(1, 2, 3)) == 7)


def test_rounding_is_half_up():
    q = MinMaxQuantizer(bits=8, signed=True)
    q.set_qparams(torch.tensor(1.0, dtype=torch.float64), torch.tensor(0))
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5], dtype=torch.float64)
    assert q.quantize(x).q.tolist() == [1, 2, 3, 0, -1]  # torch.round: [0, 2, 2, -0, -2]


def test_straight_through_gradient():
    x = torch.linspace(-2, 2, 50, dtype=torch.float64, requires_grad=True)
    q = _calibrated(MinMaxQuantizer, x.detach(), bits=4, signed=True)
    q(x).sum().backward()
    lo = (q.qmin - q.zero_point) * q.scale
    hi = (q.qmax - q.zero_point) * q.scale
    inside = (x >= lo) & (x <= hi)
    assert inside.sum() > 40
    assert torch.all(x.grad[inside] == 1.0)  # inside the range the rounding is transparent
    assert torch.all(x.grad[~inside] == 0.0)  # clipped values get no gradient


def test_lsq_scale_gets_a_gradient_and_learns():
    torch.manual_seed(0)
    x = torch.randn(256, dtype=torch.float64)
    q = _calibrated(LSQQuantizer, x, bits=3, signed=True)
    before = q.get_scale().item()
    opt = torch.optim.SGD(q.parameters(), lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        loss = (q(x) - x).pow(2).mean()
        loss.backward()
        opt.step()
    assert q.learned_scale.grad is not None
    assert q.get_scale().item() != before
    assert (q(x) - x).pow(2).mean() <= loss + 1e-12


def test_registry_and_custom_quantizer():
    class PowerOfTwo(Quantizer, name="test-pow2"):
        """Scales rounded up to a power of two (shift-only requantization)."""

        def compute_qparams(self):
            super().compute_qparams()
            self.set_qparams(2.0 ** torch.ceil(torch.log2(self.scale)), self.zero_point)

    assert "test-pow2" in registered_quantizers()
    assert quantizer_class("test-pow2") is PowerOfTwo
    q = _calibrated(PowerOfTwo, torch.randn(100) * 5, bits=8, signed=True, symmetric=True)
    assert torch.log2(q.scale).item().is_integer()
    with pytest.raises(ValueError, match="registered: .*minmax"):
        quantizer_class("nope")
    with pytest.raises(ValueError, match="already registered"):
        class Again(Quantizer, name="test-pow2"):
            pass


def test_uncalibrated_quantizer_refuses():
    with pytest.raises(RuntimeError, match="never calibrated"):
        MinMaxQuantizer().compute_qparams()


def test_bit_width_validation():
    with pytest.raises(ValueError, match="2..16"):
        MinMaxQuantizer(bits=1)
