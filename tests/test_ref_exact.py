"""The float32 GEMM of the reference is exact because K is chunked; show both halves."""
from __future__ import annotations

import numpy as np
import torch

from t2c.ref import (FLOAT32_EXACT, ExactGemm, conv_accumulate, conv_accumulate_int, linear_accumulate,
                    linear_accumulate_int)


def _worst_case(k=4001, rows=64, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.integers(100, 128, (8, k))  # all positive: partial sums grow past 2**24
    x = rng.integers(200, 256, (rows, k))
    return x, w


def test_chunked_gemm_is_exact_where_a_single_float32_gemm_is_not():
    x, w = _worst_case()
    exact = x.astype(object) @ w.T.astype(object)  # Python ints
    got = linear_accumulate(x, w, np.zeros(8, np.int64), 0)
    assert np.array_equal(got, exact.astype(np.int64))
    assert len(ExactGemm(w, 1).chunks(255)) > 1
    naive = (torch.from_numpy(x.astype(np.float32)) @ torch.from_numpy(w.astype(np.float32)).T).numpy()
    assert not np.array_equal(naive.astype(np.int64), exact.astype(np.int64))  # what chunking prevents


def test_chunks_respect_the_float32_bound():
    _, w = _worst_case()
    gemm = ExactGemm(w, 1)
    for dx in (1, 17, 255, 511):
        chunks = gemm.chunks(dx)
        assert chunks[0][0] == 0 and chunks[-1][1] == w.shape[1]
        assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
        for k0, k1 in chunks:
            assert k1 - k0 == 1 or np.abs(w[:, k0:k1]).sum(axis=1).max() * dx <= FLOAT32_EXACT


def test_grouped_dilated_strided_conv_matches_python_ints():
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (2, 6, 9, 7))
    w = rng.integers(-128, 128, (9, 2, 3, 2))  # groups=3
    bias = rng.integers(-1000, 1000, 9)
    got = conv_accumulate(x, w, bias, -5, (2, 1), (1, 2), (2, 1), 3)
    xp = np.pad(x + 5, ((0, 0), (0, 0), (1, 1), (2, 2)))
    ho = (9 + 2 - 2 * 2 - 1) // 2 + 1
    wo = (7 + 4 - 1 * 1 - 1) // 1 + 1
    ref = np.zeros((2, 9, ho, wo), dtype=np.int64)
    for n in range(2):
        for o in range(9):
            g = o // 3
            for i in range(ho):
                for j in range(wo):
                    patch = xp[n, 2 * g:2 * g + 2, i * 2: i * 2 + 2 * 2 + 1: 2, j: j + 2]
                    ref[n, o, i, j] = bias[o] + int((patch * w[o]).sum())
    assert np.array_equal(got, ref)
    assert np.array_equal(conv_accumulate_int(x, w, bias, -5, (2, 1), (1, 2), (2, 1), 3), ref)
    assert not np.array_equal(conv_accumulate_int(x, w, bias, -4, (2, 1), (1, 2), (2, 1), 3), ref)


def test_integer_gemm_linear_is_exact_beyond_float32():
    x, w = _worst_case()
    exact = (x.astype(object) @ w.T.astype(object)).astype(np.int64)
    assert np.array_equal(linear_accumulate_int(x, w, np.zeros(8, np.int64), 0), exact)
