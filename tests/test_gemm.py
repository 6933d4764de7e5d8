"""The three GEMM paths of the reference (t2c.gemm) against Python integers, and what each
guard prevents: the float32 K-chunks, the int8 K-chunks, the int8 zero-point correction."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from t2c import gemm
from t2c.gemm import FLOAT32_EXACT, INT32_MAX, WeightGemm, conv_accumulate, linear_accumulate

PATHS = gemm.PATHS


def _python_linear(x, w, zx=0):
    return ((x.astype(object) - zx) @ w.T.astype(object)).astype(np.int64)


def _worst_case(k=4001, rows=64, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.integers(100, 128, (8, k))  # all positive: partial sums grow past 2**24
    x = rng.integers(200, 256, (rows, k))
    return x, w


@pytest.mark.parametrize("path", PATHS)
def test_linear_is_exact_where_a_single_float32_gemm_is_not(path):
    x, w = _worst_case()
    got = linear_accumulate(x, w, np.zeros(8, np.int64), 0, path=path)
    assert np.array_equal(got, _python_linear(x, w))


def test_float32_chunks_are_what_keeps_the_float_path_exact():
    x, w = _worst_case()
    assert len(WeightGemm(w, 1, "float32", 0).float_chunks(255)) > 1
    naive = (torch.from_numpy(x.astype(np.float32)) @ torch.from_numpy(w.astype(np.float32)).T).numpy()
    assert not np.array_equal(naive.astype(np.int64), _python_linear(x, w))  # what chunking prevents


def test_float32_chunks_respect_the_float32_bound():
    _, w = _worst_case()
    plan = WeightGemm(w, 1, "float32", 0)
    for dx in (1, 17, 255, 511):
        chunks = plan.float_chunks(dx)
        assert chunks[0][0] == 0 and chunks[-1][1] == w.shape[1]
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        for k0, k1 in chunks:
            assert k1 - k0 == 1 or np.abs(w[:, k0:k1]).sum(axis=1).max() * dx <= FLOAT32_EXACT


def test_int8_chunks_keep_int32_partial_sums_in_range():
    """K = 140000 codes of -128 against weights of -128: one int32 GEMM would wrap."""
    k = 140_000
    w = np.full((2, k), -128)
    x = np.full((3, k), -128)
    plan = WeightGemm(w, 1, "int8", 0, (-128, 127))
    assert len(plan.chunks) == 2
    for k0, k1 in plan.chunks:
        assert 128 * np.abs(w[:, k0:k1]).sum(axis=1).max() <= INT32_MAX
    assert np.array_equal(plan.linear(x)[0], np.full((3, 2), 128 * 128 * k))
    single = torch._int_mm(torch.from_numpy(x.astype(np.int8)), torch.from_numpy(w.T.astype(np.int8).copy()))
    assert single[0, 0].item() != 128 * 128 * k  # what the chunks prevent


def test_int8_zero_point_correction_is_what_makes_unsigned_codes_exact():
    """uint8 codes with a zero point: shifted by 128 and corrected.  Casting them to int8
    directly wraps codes above 127 and loses the zero point."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (5, 300))
    w = rng.integers(-128, 128, (7, 300))
    plan = WeightGemm(w, 1, "int8", 37, (0, 255))
    assert plan.shift == 128
    assert np.array_equal(plan.linear(x)[0], _python_linear(x, w, 37))
    naive = torch._int_mm(torch.from_numpy(x.astype(np.int8)), torch.from_numpy(w.T.astype(np.int8).copy()))
    assert not np.array_equal(naive.numpy().astype(np.int64), _python_linear(x, w, 37))


@pytest.mark.parametrize("lo, hi, shift", [(-128, 127, 0), (0, 255, 128), (0, 15, 0), (-8, 7, 0),
                                           (10, 265, 138), (-300, -45, -172), (0, 256, None)])
def test_int8_shift_maps_any_256_code_window_into_int8(lo, hi, shift):
    assert gemm.int8_shift(lo, hi) == shift
    if shift is not None:
        assert -128 <= lo - shift and hi - shift <= 127


def test_choose_takes_int8_only_where_operands_fit():
    w8 = np.array([[-128, 127]])
    assert gemm.choose(w8, 0, 255, 0) == "int8"
    assert gemm.choose(w8, -128, 127, 5) == "int8"
    assert gemm.choose(np.array([[128]]), -128, 127, 0) == "float32"  # 9-bit weight
    assert gemm.choose(w8, 0, 511, 0) == "float32"  # 9-bit activation
    assert gemm.choose(w8, 0, 255, 300) == "float32"  # zero point outside the window: padding would not fit


def _python_conv(x, w, bias, zx, stride, padding, dilation, groups):
    xp = np.pad(x - zx, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    n, _, hp, wp = xp.shape
    cout, cin_g, kh, kw = w.shape
    ho = (hp - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wp - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    og = cout // groups
    ref = np.zeros((n, cout, ho, wo), dtype=np.int64)
    for b in range(n):
        for o in range(cout):
            g = o // og
            for i in range(ho):
                for j in range(wo):
                    patch = xp[b, g * cin_g:(g + 1) * cin_g,
                               i * stride[0]: i * stride[0] + dilation[0] * (kh - 1) + 1: dilation[0],
                               j * stride[1]: j * stride[1] + dilation[1] * (kw - 1) + 1: dilation[1]]
                    ref[b, o, i, j] = bias[o] + int((patch * w[o]).sum())
    return ref


CONVS = {  # name: (x shape, weight shape, groups, stride, padding, dilation, x range, zero point)
    "grouped-dilated-strided": ((2, 6, 9, 7), (9, 2, 3, 2), 3, (2, 1), (1, 2), (2, 1), (-128, 127), -5),
    "depthwise-uint8": ((2, 8, 7, 6), (16, 1, 3, 3), 8, (1, 2), (1, 1), (1, 1), (0, 255), 3),  # tap loop
    "grouped-wide-k": ((1, 12, 6, 6), (6, 6, 3, 3), 2, (1, 1), (1, 1), (1, 1), (0, 255), 128),  # Kg > 32
    "1x1-4bit": ((3, 5, 4, 4), (4, 5, 1, 1), 1, (1, 1), (0, 0), (1, 1), (0, 15), 2),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CONVS)
def test_conv_paths_match_python_ints(name, path):
    xs, ws, groups, stride, padding, dilation, (lo, hi), zx = CONVS[name]
    rng = np.random.default_rng(len(name))
    x = rng.integers(lo, hi + 1, xs)
    x.flat[:2] = [lo, hi]
    w = rng.integers(-128, 128, ws)
    bias = rng.integers(-1000, 1000, ws[0])
    want = _python_conv(x, w, bias, zx, stride, padding, dilation, groups)
    assert np.array_equal(conv_accumulate(x, w, bias, zx, stride, padding, dilation, groups, path), want)
    wrong = conv_accumulate(x, w, bias, zx + 1, stride, padding, dilation, groups, path)
    assert not np.array_equal(wrong, want)  # the zero point (and its padding) is really used


def test_int8_plan_falls_back_when_codes_leave_the_declared_range():
    rng = np.random.default_rng(5)
    w = rng.integers(-128, 128, (4, 20))
    plan = WeightGemm(w, 1, "int8", 0, (0, 255))
    x = rng.integers(0, 256, (3, 20))
    x[0, 0] = 300  # outside what the plan was built for: an int8 cast would wrap
    acc, path = plan.linear(x)
    assert path == "float32"
    assert np.array_equal(acc, _python_linear(x, w))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("m,k,n", [(9, 40, 11), (80, 40, 33)])  # below and above gemm.SMALL_MATMUL
def test_matmul_paths_match_python_ints(path, m, k, n):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (2, 3, m, k))  # unsigned codes (softmax probabilities)
    b = rng.integers(-128, 128, (1, 3, k, n))  # broadcast over the first axis
    a[0, 0, 0, :2] = [0, 255]
    want = np.einsum("...mk,...kn->...mn", a.astype(object) - 4, b.astype(object) + 3).astype(np.int64)
    got, used = gemm.matmul(a, b, 4, -3, path)
    small = m * k * n <= gemm.SMALL_MATMUL
    assert used == ("float32" if path == "int8" and small else path)
    assert np.array_equal(got, want)
    assert not np.array_equal(gemm.matmul(a, b, 5, -3, path)[0], want)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("bits,k", [(16, 600), (31, 8)])  # float64 needed; beyond float64: int64
def test_matmul_wide_operands_stay_exact(path, bits, k):
    rng = np.random.default_rng(bits)
    hi = 1 << (bits - 1)
    a = rng.integers(-hi, hi, (2, 5, k))
    b = rng.integers(-hi, hi, (2, k, 7))
    a[0, 0, :] = hi - 1
    b[0, :, 0] = hi - 1  # the largest products, all in one sum
    want = np.einsum("...mk,...kn->...mn", a.astype(object) - 3, b.astype(object) + 1)
    got, used = gemm.matmul(a, b, 3, -1, path)
    assert used == ("int64" if bits == 31 or path == "int64" else "float32")
    assert [[list(r) for r in m] for m in got.astype(object)] == [[list(r) for r in m] for m in want]
