"""The arithmetic contract against an independent Python-integer reimplementation."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from t2c import arith

N_RANDOM = 1_000_000


def python_requantize(acc, m, s, zp, qmin, qmax):
    """Unbounded Python ints, written from the formula, not from t2c.arith."""
    v = (int(acc) * int(m) + (1 << (int(s) - 1))) >> int(s)
    return min(max(v + int(zp), qmin), qmax)


def _cases(rng, n):
    acc = rng.integers(arith.INT32_MIN, arith.INT32_MAX, n, endpoint=True)
    m = rng.integers(1 << 30, (1 << 31) - 1, n, endpoint=True)
    s = rng.integers(1, 63, n)
    # edges: extreme accumulators, both ends of m, every shift, exact ties
    edge_acc = np.array([arith.INT32_MIN, arith.INT32_MAX, 0, -1, 1])
    edge_m = np.array([1 << 30, (1 << 31) - 1])
    ea, em, es = (a.ravel() for a in np.meshgrid(edge_acc, edge_m, np.arange(1, 63), indexing="ij"))
    # ties: acc * m == (2k + 1) * 2**(s-1) exactly, for m = 2**30 and s > 30
    ts = np.arange(31, 63)
    k = rng.integers(-(1 << 20), 1 << 20, ts.size)
    tie_acc = (2 * k + 1) << (ts - 31)
    ok = (tie_acc >= arith.INT32_MIN) & (tie_acc <= arith.INT32_MAX)
    acc = np.concatenate([acc, ea, tie_acc[ok], -tie_acc[ok]])
    m = np.concatenate([m, em, np.full(2 * ok.sum(), 1 << 30)])
    s = np.concatenate([s, es, ts[ok], ts[ok]])
    return acc, m, s


def test_requantize_matches_python_ints_on_a_million_cases():
    rng = np.random.default_rng(1234)
    acc, m, s = _cases(rng, N_RANDOM)
    zp = rng.integers(-128, 128, acc.size)
    for qmin, qmax in [(-128, 127), (-(2**40), 2**40)]:  # saturating and (effectively) unclamped
        got = arith.requantize(acc, m, s, zp, qmin, qmax)
        ref = np.array([python_requantize(*c, qmin, qmax) for c in zip(acc, m, s, zp)], dtype=np.int64)
        bad = np.flatnonzero(got != ref)
        assert bad.size == 0, (f"{bad.size} mismatches, first: acc={acc[bad[0]]} m={m[bad[0]]} "
                               f"s={s[bad[0]]} got={got[bad[0]]} want={ref[bad[0]]}")
    assert acc.size >= N_RANDOM


def test_ties_round_half_up_not_to_even():
    # 5 * 2**30 >> 31 = 2.5 -> 3 (torch.round would give 2); -2.5 -> -2 (torch.round: -2)
    assert arith.requantize(5, 1 << 30, 31, qmin=-100, qmax=100) == 3
    assert arith.requantize(-5, 1 << 30, 31, qmin=-100, qmax=100) == -2
    assert arith.requantize(3, 1 << 30, 31, qmin=-100, qmax=100) == 2  # 1.5 -> 2 (even and up agree)


def test_requantize_saturates_and_broadcasts_per_channel():
    acc = np.array([[10_000_000, -10_000_000]]).T * np.ones((2, 3), dtype=np.int64)
    m = np.array([1 << 30, 1 << 30, 1 << 30])
    s = np.array([1, 20, 60])
    y = arith.requantize(acc, m, s, zero_point=0, qmin=-128, qmax=127)
    assert y.tolist() == [[127, 127, 0], [-128, -128, 0]]


@pytest.mark.parametrize("bits", [16, 32])
def test_quantize_multiplier_is_nearest_and_in_range(bits):
    rng = np.random.default_rng(bits)
    real = np.concatenate([10 ** rng.uniform(-12, np.log10(2 ** (bits - 2)) - 1e-9, 20000),
                           [2.0 ** -k for k in range(0, 40)], [0.999999999, 1 - 2 ** -40]])
    m, s = arith.quantize_multiplier(real, bits)
    for r, mi, si in zip(real, m, s):
        if mi == 0:
            assert r < 2.0 ** (bits - 2 - arith.MAX_SHIFT) * 2 or r == 0
            continue
        assert (1 << (bits - 2)) <= mi < (1 << (bits - 1))
        assert 1 <= si <= arith.MAX_SHIFT
        err = abs(Fraction(r) - Fraction(int(mi), 1 << int(si)))
        assert err <= Fraction(1, 1 << (int(si) + 1)), (r, mi, si)


def test_quantize_multiplier_scalar_and_errors():
    m, s = arith.quantize_multiplier(0.5)
    assert (m, s) == (1 << 30, 31)
    assert arith.quantize_multiplier(0.0) == (0, 1)
    assert arith.quantize_multiplier(1e-30) == (0, 1)
    with pytest.raises(ValueError, match="too large"):
        arith.quantize_multiplier(2.0 ** 31)
    with pytest.raises(ValueError, match=">= 0"):
        arith.quantize_multiplier(-1.0)


def test_common_shift_multipliers():
    ms, s = arith.quantize_multiplier_common(np.array([[0.25, 0.001], [0.5, 0.002]]))
    assert ms.shape == (2, 2) and s.shape == (2,)
    for c in range(2):
        for i in range(2):
            real = [[0.25, 0.001], [0.5, 0.002]][i][c]
            assert abs(ms[i, c] / 2.0 ** s[c] - real) <= 2.0 ** -s[c]


def test_requantize_sum_matches_python_ints():
    rng = np.random.default_rng(7)
    n = 50_000
    acc = rng.integers(arith.INT32_MIN, arith.INT32_MAX, n)
    r = rng.integers(-255, 256, n)
    m1 = rng.integers(1 << 30, 1 << 31, n)
    m2 = rng.integers(0, 1 << 31, n)
    s = rng.integers(1, 63, n)
    got = arith.requantize_sum([acc * m1, r * m2], s, 3, -128, 127)
    ref = [min(max(((int(a) * int(x) + int(b) * int(y) + (1 << (int(k) - 1))) >> int(k)) + 3, -128), 127)
           for a, x, b, y, k in zip(acc, m1, r, m2, s)]
    assert got.tolist() == ref


def test_accumulator_bound():
    assert arith.accumulator_bound(9, 8, False, 0, 8) == 9 * 255 * 128
    assert arith.accumulator_bound(9, 8, True, -128, 8, bias_max=5) == 9 * 255 * 128 + 5


def test_lut_interp_formula():
    t = np.array([0, 10, 20, 40])
    # F = 2: x = 4*i + f
    assert arith.lut_interp(t, np.array([0, 1, 2, 3, 4, 6, 13, 15]), 2, 2).tolist() == [
        0, 3, 5, 8, 10, 15, 40, 40]


def test_tables_are_integer_and_exp_starts_at_one():
    g = arith.gelu_lut(8, 0.05, 0, 0.05, 0)
    assert g.dtype == np.int64 and g.size == 256
    assert g[128] == 0  # code 0 -> gelu(0) = 0
    e = arith.exp_lut(8, 0.1)
    assert e[0] == 1 << 15 and np.all(np.diff(e) <= 0)


def test_isqrt_exhaustive_small_and_every_square_boundary():
    n = np.arange(0, 1 << 22, dtype=np.int64)
    r = arith.isqrt(n)
    assert np.all(r * r <= n) and np.all((r + 1) * (r + 1) > n)
    k = np.arange(1, 1 << 23, dtype=np.int64)  # every k**2 - 1 and k**2 up to 2**46
    for delta, want in ((-1, k - 1), (0, k)):
        assert np.array_equal(arith.isqrt(k * k + delta), want)
    big = np.random.default_rng(5).integers(0, 1 << 62, 200_000)
    r = arith.isqrt(big)
    assert all(math.isqrt(int(v)) == int(x) for v, x in zip(big[:20_000], r[:20_000]))
    assert np.all(r * r <= big) and np.all((r + 1) * (r + 1) > big)


def test_div_round_half_up():
    a = np.array([5, 7, -5, -7, 6])
    assert arith.div_round(a, 2).tolist() == [3, 4, -2, -3, 3]


def test_softmax_int_represents_one_exactly_and_sums_near_qmax():
    table = arith.exp_lut(8, 0.5)
    one_hot = np.array([[127, -128, -128, -128]])
    assert arith.softmax_int(one_hot, table, 255).tolist() == [[255, 0, 0, 0]]
    flat = np.zeros((1, 5), dtype=np.int64)
    assert arith.softmax_int(flat, table, 255).tolist() == [[51] * 5]


def test_layernorm_int_normalises():
    x = np.array([[10, 20, 30, 40]])
    y = arith.layernorm_int(x, 0, gain=np.full(4, 1 << 10), offset=np.zeros(4, np.int64), gain_shift=10,
                            eps_int=0, zero_point=0, qmin=-128, qmax=127)
    # gain = sqrt(n) / S_y * 2**G with S_y = 2 / 2**10 ... here: y = d * 2**10 / r / 2**10 * ... = d / r
    d = 4 * x - x.sum()
    assert y.tolist() == (np.floor(d / np.sqrt((d * d).sum()) + 0.5)).astype(int).tolist()


def _ideal_multiplier(real: float, bits: int) -> tuple[int, int]:
    """(m, s) from the contract's words, in exact rationals: the s that puts real * 2^s in
    [2^(bits-2), 2^(bits-1)), m = floor(real * 2^s + 1/2), and a rounding up to 2^(bits-1)
    carried into (2^(bits-2), s - 1); (0, 1) when s is beyond MAX_SHIFT (or real is 0)."""
    r = Fraction(real)
    if r == 0:
        return 0, 1
    s = 0
    while r * Fraction(2) ** s >= 1 << (bits - 1):
        s -= 1
    while r * Fraction(2) ** s < 1 << (bits - 2):
        s += 1
    m = math.floor(r * Fraction(2) ** s + Fraction(1, 2))
    if m == 1 << (bits - 1):
        m, s = m >> 1, s - 1
    return (0, 1) if s > arith.MAX_SHIFT else (m, s)


@pytest.mark.parametrize("bits", [16, 32])
def test_quantize_multiplier_at_the_tiny_scale_boundary(bits):
    """Exactly the reals whose shift would exceed MAX_SHIFT give (0, 1); the smallest ones
    that do not keep their multiplier (an off-by-one in the shift limit zeroes them)."""
    edge = 2.0 ** (bits - 2 - arith.MAX_SHIFT)              # m = 2^(bits-2) at s = MAX_SHIFT
    half = (2.0 ** (bits - 1) - 0.5) * 2.0 ** -(arith.MAX_SHIFT + 1)  # rounds up onto the edge
    rng = np.random.default_rng(bits)
    reals = [edge, half, np.nextafter(half, 0), np.nextafter(half, 1), np.nextafter(edge, 0),
             np.nextafter(edge, 1), edge / 2, edge * 2, *(edge * 2.0 ** rng.uniform(-2, 2, 4000))]
    want = [_ideal_multiplier(float(r), bits) for r in reals]
    got = arith.quantize_multiplier(np.array(reals), bits)
    assert [(int(m), int(s)) for m, s in zip(*got)] == want
    assert want[0] == (1 << (bits - 2), arith.MAX_SHIFT) and want[1] == want[0]  # both keep a multiplier
    assert want[2] == (0, 1) and want[4][0] != 0                                # just below the band: 0
    zero = sum(m == 0 for m, _ in want)
    assert 0 < zero < len(want)  # the sample spans both sides of the boundary
