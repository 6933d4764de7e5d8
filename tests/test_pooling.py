"""Pooling against torch, on the inputs where a wrong pad or a wrong divisor shows.

* Max pooling with padding on **signed** codes (no ReLU before it): a window at the border
  holding only negative codes must give its maximum, not a pad value of 0 or the zero
  point.  Every padded max pool elsewhere in the tests reads post-ReLU codes, where both
  are invisible.
* Average pooling with ``count_include_pad=False``: the window sums equal torch's, and
  each window's multiplier carries torch's own count of real taps (border windows have
  fewer), not the kernel size.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import t2c
from t2c import arith
from t2c.ir import AvgPoolWindows, MaxPool2d


def _graph(model, shape, n=4, seed=0):
    torch.manual_seed(seed)
    x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed + 1))
    q = t2c.quantize(model.eval(), t2c.QConfig(), example_input=x[:1]).double()
    q.calibrate([x.double()])
    graph = t2c.convert(q, x[:1].double())
    x_int = graph.quantize_input(x.numpy())
    return graph, graph.run(x_int, record=True)


class SignedMaxPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        with torch.no_grad():
            self.conv.bias.fill_(-1.5)  # mostly negative outputs: signed codes, many all-negative windows
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.fc = nn.Linear(8 * 5 * 5, 3)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_padded_max_pool_on_signed_codes_equals_torch():
    graph, rec = _graph(SignedMaxPool(), (3, 10, 10))
    op = next(o for o in graph.ops if isinstance(o, MaxPool2d))
    spec = graph.tensors[op.inputs[0]]
    assert spec.signed and spec.zero_point != 0
    x = rec.layers[op.name].inputs[0]
    want = F.max_pool2d(torch.from_numpy(x).double(), 3, 2, padding=1).numpy().astype(np.int64)  # pads -inf
    assert np.array_equal(rec.layers[op.name].output, want)
    # the check is sensitive: padding with 0 or with the zero point would change some windows
    for pad in (0, spec.zero_point):
        padded = F.pad(torch.from_numpy(x).double(), (1, 1, 1, 1), value=float(pad))
        wrong = F.max_pool2d(padded, 3, 2).numpy().astype(np.int64)
        assert not np.array_equal(wrong, want), pad


class ExcludePadAvgPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.pool = nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)
        self.fc = nn.Linear(6 * 5 * 5, 3)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_avg_pool_without_padding_counts_divides_by_torchs_counts():
    graph, rec = _graph(ExcludePadAvgPool(), (3, 11, 11))
    op = next(o for o in graph.ops if isinstance(o, AvgPoolWindows))
    layer = rec.layers[op.name]
    x = torch.from_numpy(layer.inputs[0] - op.x_zero_point).double()
    sums = F.avg_pool2d(x, 3, 2, padding=1, divisor_override=1).numpy().astype(np.int64)
    counts = F.avg_pool2d(torch.ones(1, 1, *x.shape[2:], dtype=torch.float64), 3, 2, padding=1,
                          divisor_override=1).numpy().astype(np.int64).reshape(-1)
    assert set(counts.tolist()) == {4, 6, 9}  # corners, edges, inside
    assert np.array_equal(layer.acc, sums)
    x_spec, y_spec = graph.tensors[op.inputs[0]], graph.tensors[op.output]
    ratio = x_spec.scale / y_spec.scale
    m, s = arith.quantize_multiplier(ratio / counts.astype(np.float64))
    assert np.array_equal(np.asarray(op.requant.m), m) and np.array_equal(np.asarray(op.requant.s), s)
    # and the outputs are torch's averages, requantized: within the multiplier's rounding of
    # round-half-up of (mean x ratio), checked exactly through the same (m, s)
    avg = F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False).numpy()
    want = arith.requantize(np.round(avg * counts.reshape(1, 1, 5, 5)).astype(np.int64), m.reshape(5, 5),
                            s.reshape(5, 5), y_spec.zero_point, op.requant.qmin, op.requant.qmax)
    assert np.array_equal(layer.output, want)
