"""Accuracy of the integer reference on the held-out digits split (measured, README table)."""
from __future__ import annotations

import pytest

from t2c import QConfig
from t2c.report import evaluate


@pytest.fixture(scope="module")
def w8a8():
    return evaluate(QConfig(wbit=8, abit=8))


def test_w8a8_integer_within_half_a_point_of_fp32(w8a8):
    assert w8a8.integer >= w8a8.fp32 - 0.5


def test_w8a8_integer_argmax_agrees_with_fake_quant(w8a8):
    assert w8a8.agreement >= 99.0


def test_w4a4_within_three_points():
    row = evaluate(QConfig(wbit=4, abit=4))
    assert row.integer >= row.fp32 - 3.0
