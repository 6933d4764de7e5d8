"""Compressed sparse weight images (t2c.export.sparse): N:M and bitmask round trips, the
canonical encoding that makes a corrupted index fail the read, and export_model's hook."""
from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t2c.export import ChecksumError, read_memory, read_sidecar
from t2c.export.model import export_model
from t2c.export.sparse import (bitmask_compress, bitmask_decompress, check_nm, nm_compress, nm_decompress,
                               nm_violations, parse_pattern, read_sparse_weight, write_sparse_images)

NM_PATTERNS = [(n, m) for m in (2, 4, 8, 16) for n in range(1, m)]


# ---------------------------------------------------------------------------------
# weights
# ---------------------------------------------------------------------------------

def _nonzeros(rng: np.random.Generator, size, wbits: int) -> np.ndarray:
    """Random non-zero values of the signed ``wbits`` range, extremes included."""
    lo, hi = -(1 << (wbits - 1)), (1 << (wbits - 1)) - 1
    pool = np.array([v for v in range(lo, hi + 1) if v], dtype=np.int64)
    return rng.choice(pool, size=size)


def nm_weight(rng: np.random.Generator, shape, n: int, m: int, wbits: int, full: float = 0.5) -> np.ndarray:
    """A weight of ``shape`` meeting n:m: each group keeps a random 0..n of its positions
    (exactly n with probability ``full``)."""
    cout, k = shape[0], int(np.prod(shape[1:]))
    g = -(-k // m)
    keep = np.where(rng.random((cout, g, 1)) < full, n, rng.integers(0, n + 1, (cout, g, 1)))
    rank = np.argsort(np.argsort(rng.random((cout, g, m)), axis=-1), axis=-1)
    w = np.where(rank < keep, _nonzeros(rng, (cout, g, m), wbits), 0).reshape(cout, g * m)[:, :k]
    return np.ascontiguousarray(w).reshape(shape)


def element_weight(rng: np.random.Generator, shape, wbits: int, density: float) -> np.ndarray:
    return np.where(rng.random(shape) < density, _nonzeros(rng, shape, wbits), 0)


shapes = st.one_of(
    st.tuples(st.integers(1, 6), st.integers(1, 40)),                                    # linear [Cout, Cin]
    st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3)))  # conv


# ---------------------------------------------------------------------------------
# patterns
# ---------------------------------------------------------------------------------

def test_parse_pattern():
    assert parse_pattern("2:4") == (2, 4) and parse_pattern(" 1:16 ") == (1, 16)
    assert parse_pattern("element") is None and parse_pattern((4, 8)) == (4, 8)
    for spec, msg in [("3:3", "--prune 3:3: N must be smaller than M"), ("5:4", "N must be smaller than M"),
                      ("0:4", "N must be at least 1"), ("2:6", "M must be a power of two"),
                      ("1:32", "M must be at most 16"), ("2-4", "expected N:M"), ("elements", "expected N:M")]:
        with pytest.raises(ValueError, match=msg):
            parse_pattern(spec, "--prune")


def test_check_nm_names_the_first_offending_group():
    w = np.zeros((3, 10), dtype=np.int64)
    w[0, :2] = 1
    w[1, 4:7] = [1, -1, 2]   # row 1 group 1: 3 non-zeros
    w[2, 8:10] = 5           # short last group (k 8..9), 2 non-zeros: fine at 2:4
    assert nm_violations(w, 2, 4) == 1 and nm_violations(w, 3, 4) == 0
    with pytest.raises(ValueError, match=r"conv7 does not meet 2:4: row 1 group 1 \(k 4\.\.7\) has 3 non-zeros; "
                                         r"1 of 9 groups"):
        check_nm(w, 2, 4, "conv7")
    check_nm(w, 3, 4)
    with pytest.raises(ValueError, match="row 0 group 0"):
        nm_compress(w, 1, 4)


def test_canonical_encoding_of_a_row():
    """The worked example of docs/formats.md: a 1x8 row at 2:4."""
    w = np.array([[0, 3, 0, -2, 0, 0, 0, 5]])
    values, index = nm_compress(w, 2, 4)
    assert values.tolist() == [[[3, -2], [0, 5]]]       # group 1: fill slot at position 0
    assert index.tolist() == [[[1, 3], [0, 3]]]
    # a short last group shorter than n: its padding positions serve as fill slots
    values, index = nm_compress(np.array([[0, 3, 0, -2, 7]]), 3, 4)
    assert values.tolist() == [[[0, 3, -2], [7, 0, 0]]]
    assert index.tolist() == [[[0, 1, 3], [0, 1, 2]]]


# ---------------------------------------------------------------------------------
# N:M round trips
# ---------------------------------------------------------------------------------

@settings(max_examples=120, deadline=None)
@given(nm=st.sampled_from(NM_PATTERNS), wbits=st.integers(2, 8), shape=shapes, seed=st.integers(0, 2**32 - 1),
       full=st.sampled_from([0.0, 0.5, 1.0]))
def test_nm_round_trip(nm, wbits, shape, seed, full):
    n, m = nm
    rng = np.random.default_rng(seed)
    w = nm_weight(rng, shape, n, m, wbits, full)
    assert nm_violations(w, n, m) == 0
    values, index = nm_compress(w, n, m)
    k = int(np.prod(shape[1:]))
    assert values.shape == index.shape == (shape[0], -(-k // m), n)
    assert (np.diff(index, axis=-1) > 0).all() and index.min() >= 0 and index.max() < m
    assert np.array_equal(nm_decompress(values, index, n, m, shape), w)
    with tempfile.TemporaryDirectory() as d:
        for fmt in ("hex", "raw"):
            recs = write_sparse_images(d, "layer", w, wbits, f"{n}:{m}", fmt)
            assert [r["file"] for r in recs] == [f"layer.weight_nm_values.{fmt}", f"layer.weight_nm_index.{fmt}"]
            for r in recs:
                assert (r["pattern"], r["n"], r["m"], r["wbits"], r["weight_shape"]) == \
                    (f"{n}:{m}", n, m, wbits, list(shape))
            assert recs[0]["width"] == n * wbits and recs[1]["width"] == n * max(1, m.bit_length() - 1)
            got = read_sparse_weight(d, "layer")
            assert got.dtype == np.int64 and np.array_equal(got, w)
            assert np.array_equal(read_sparse_weight(d, "layer", f"{n}:{m}", verify=False), w)


@settings(max_examples=150, deadline=None)
@given(nm=st.sampled_from(NM_PATTERNS), shape=shapes, seed=st.integers(0, 2**32 - 1),
       what=st.sampled_from(["index", "value", "both"]))
def test_nm_decompress_accepts_only_the_canonical_encoding(nm, shape, seed, what):
    """Change one index and/or value: the read fails, or the result's own encoding is exactly
    the changed arrays (no two encodings decode to the same weight)."""
    n, m = nm
    rng = np.random.default_rng(seed)
    values, index = nm_compress(nm_weight(rng, shape, n, m, 4), n, m)
    at = tuple(int(rng.integers(0, s)) for s in index.shape)
    if what in ("index", "both"):
        index[at] = (index[at] + int(rng.integers(1, m))) % m
    if what in ("value", "both"):
        values[at] = int(rng.integers(-8, 8)) if values[at] else int(_nonzeros(rng, 1, 4)[0])
    try:
        w = nm_decompress(values, index, n, m, shape)
    except ValueError:
        return
    v2, i2 = nm_compress(w, n, m)
    assert np.array_equal(v2, values) and np.array_equal(i2, index)


def test_corrupted_index_array_fails():
    w = np.array([[0, 3, 0, -2, 0, 0, 0, 5, 1, 0]])     # K = 10: short last group of 2
    values, index = nm_compress(w, 2, 4)
    assert index.tolist() == [[[1, 3], [0, 3], [0, 1]]]
    cases = [((0, 0, 1), 1, "not strictly increasing"),   # [1, 1]
             ((0, 0, 0), 4, r"index 4 outside 0\.\.3"),
             ((0, 0, 0), -1, "outside"),
             ((0, 1, 0), 1, "not canonical"),               # fill slot at 1 while 0 is free
             ((0, 2, 1), 2, "not canonical"),               # fill slot must be at 1
             ]
    for at, new, msg in cases:
        bad = index.copy()
        bad[at] = new
        with pytest.raises(ValueError, match=msg):
            nm_decompress(values, bad, 2, 4, w.shape)
    bad_v, bad_i = values.copy(), index.copy()
    bad_v[0, 2] = [1, 6]
    bad_i[0, 2] = [0, 3]                                   # a non-zero in the padding of the short group
    with pytest.raises(ValueError, match="beyond the group's length 2"):
        nm_decompress(bad_v, bad_i, 2, 4, w.shape)
    with pytest.raises(ValueError, match="shape"):
        nm_decompress(values[:, :2], index[:, :2], 2, 4, w.shape)
    assert np.array_equal(nm_decompress(values, index, 2, 4, w.shape), w)
    # moving a non-zero to another free position is itself canonical: only the sha256 sees it
    bad = index.copy()
    bad[0, 0, 0] = 0
    assert nm_decompress(values, bad, 2, 4, w.shape).tolist() == [[3, 0, 0, -2, 0, 0, 0, 5, 1, 0]]


def _flip(path: Path, byte: int, bit: int) -> bytes:
    data = path.read_bytes()
    b = bytearray(data)
    b[byte] ^= 1 << bit
    path.write_bytes(bytes(b))
    return data


@pytest.mark.parametrize("fmt", ["hex", "raw"])
def test_flipped_index_file_bits_are_caught(tmp_path, fmt):
    rng = np.random.default_rng(1)
    w = nm_weight(rng, (2, 2, 3, 3), 2, 4, 8)             # K = 18: a short last group
    w[0, 0, 0, :3] = [5, -3, 0]                            # row 0 group 0 = [5, -3, 0, x]
    w[0, 0, 1, 0] = 0                                       # -> indices [0, 1], the word 0x4
    write_sparse_images(tmp_path, "conv", w, 8, "2:4", fmt)
    path = tmp_path / f"conv.weight_nm_index.{fmt}"
    data = path.read_bytes()
    if fmt == "raw":
        first = 0
        assert data[0] == 0x04
    else:
        first = data.index(b"\n") + 1                       # after the header comment
        assert data[first:first + 2] == b"4\n"
    # this flip turns [0, 1] into [0, 0]: without the checksum the validation refuses it
    orig = _flip(path, first, 2)
    with pytest.raises(ValueError, match="row 0 group 0: indices \\[0, 0\\] are not strictly increasing"):
        read_sparse_weight(tmp_path, "conv", verify=False)
    with pytest.raises(ChecksumError, match=f"conv.weight_nm_index.{fmt}"):
        read_sparse_weight(tmp_path, "conv")
    path.write_bytes(orig)
    # every single-bit flip anywhere in the file: the sha256 catches it; without it, the
    # read fails or (raw: every bit is data) gives a different weight, never silently the same
    structural = 0
    for byte in range(len(orig)):
        for bit in range(8):
            _flip(path, byte, bit)
            with pytest.raises(ChecksumError):
                read_sparse_weight(tmp_path, "conv")
            try:
                got = read_sparse_weight(tmp_path, "conv", verify=False)
            except ValueError:
                structural += 1
            else:
                if fmt == "raw":
                    assert not np.array_equal(got, w), (byte, bit)
            path.write_bytes(orig)
    assert structural > 0
    assert np.array_equal(read_sparse_weight(tmp_path, "conv"), w)


# ---------------------------------------------------------------------------------
# bitmask round trips
# ---------------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(wbits=st.integers(2, 8), shape=shapes, seed=st.integers(0, 2**32 - 1),
       density=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), lanes=st.sampled_from([1, 3, 8]))
def test_bitmask_round_trip(wbits, shape, seed, density, lanes):
    rng = np.random.default_rng(seed)
    w = element_weight(rng, shape, wbits, density)
    mask, values = bitmask_compress(w)
    k = int(np.prod(shape[1:]))
    assert mask.shape == (shape[0], k) and set(np.unique(mask)) <= {0, 1}
    assert values.size == int((w != 0).sum()) and (values != 0).all()
    assert np.array_equal(values, w.reshape(shape[0], -1)[w.reshape(shape[0], -1) != 0])
    assert np.array_equal(bitmask_decompress(mask, values, shape), w)
    with tempfile.TemporaryDirectory() as d:
        for fmt in ("hex", "raw"):
            recs = write_sparse_images(d, "fc", w, wbits, "element", fmt, lanes=lanes)
            assert sorted(r["file"] for r in recs) == [f"fc.weight_mask.{fmt}", f"fc.weight_nz.{fmt}"]
            assert all(r["nnz"] == values.size and r["weight_shape"] == list(shape) for r in recs)
            assert np.array_equal(read_sparse_weight(d, "fc"), w)
            assert np.array_equal(read_sparse_weight(d, "fc", "element"), w)


def test_corrupted_bitmask_fails(tmp_path):
    w = np.array([[0, 2, 0, -1], [3, 0, 0, 0]])
    mask, values = bitmask_compress(w)
    assert mask.tolist() == [[0, 1, 0, 1], [1, 0, 0, 0]] and values.tolist() == [2, -1, 3]
    with pytest.raises(ValueError, match="value 1 of 3 is 0"):
        bitmask_decompress(mask, [2, 0, 3], w.shape)
    bad = mask.copy()
    bad[1, 3] = 1
    with pytest.raises(ValueError, match="4 set bits but there are 3 values"):
        bitmask_decompress(bad, values, w.shape)
    bad[1, 3] = 2
    with pytest.raises(ValueError, match="is not a bit"):
        bitmask_decompress(bad, values, w.shape)
    write_sparse_images(tmp_path, "fc", w, 4, "element", "raw")
    path = tmp_path / "fc.weight_mask.raw"                 # 32-bit words: row 0 = 0b1010
    assert path.read_bytes()[:4] == b"\x0a\x00\x00\x00"
    _flip(path, 0, 0)
    with pytest.raises(ValueError, match="set bits"):
        read_sparse_weight(tmp_path, "fc", verify=False)
    with pytest.raises(ChecksumError):
        read_sparse_weight(tmp_path, "fc")


def test_all_zero_weights(tmp_path):
    w = np.zeros((2, 5), dtype=np.int64)
    write_sparse_images(tmp_path, "a", w, 4, "element", "hex")
    write_sparse_images(tmp_path, "b", w, 4, "1:4", "hex")
    assert np.array_equal(read_sparse_weight(tmp_path, "a"), w)
    assert np.array_equal(read_sparse_weight(tmp_path, "b"), w)
    assert {r["layer"] for r in read_sidecar(tmp_path)} == {"a", "b"}   # merged into one sidecar


def test_write_refuses_before_writing(tmp_path):
    w = np.array([[1, 1, 1, 0]])
    with pytest.raises(ValueError, match="layer 'x' weight does not meet 2:4"):
        write_sparse_images(tmp_path, "x", w, 4, "2:4")
    with pytest.raises(ValueError, match="does not fit layer 'x' weight: signed 2-bit"):
        write_sparse_images(tmp_path, "x", np.array([[2, 0]]), 2, "element")
    with pytest.raises(ValueError, match="N must be smaller than M"):
        write_sparse_images(tmp_path, "x", w, 4, "4:4")
    assert list(tmp_path.iterdir()) == []
    write_sparse_images(tmp_path, "x", w, 4, "3:4")
    with pytest.raises(ValueError, match="no 1:4 images|has 3:4 images, not 1:4"):
        read_sparse_weight(tmp_path, "x", "1:4")
    with pytest.raises(ValueError, match="no element images"):
        read_sparse_weight(tmp_path, "x", "element")
    with pytest.raises(ValueError, match="no sparse weight images of layer 'y'"):
        read_sparse_weight(tmp_path, "y")


def test_layout_options(tmp_path):
    rng = np.random.default_rng(3)
    w = nm_weight(rng, (3, 20), 1, 4, 6)
    recs = write_sparse_images(tmp_path, "l", w, 6, "1:4", "raw",
                               layout={"endian": "big", "lane_order": "msb_first", "depth_pow2": True})
    assert all(r["layout"]["endian"] == "big" and r["depth"] == 16 for r in recs)
    assert np.array_equal(read_sparse_weight(tmp_path, "l"), w)
    with pytest.raises(ValueError, match="take only"):
        write_sparse_images(tmp_path, "l", w, 6, "1:4", layout={"banks": 2})


# ---------------------------------------------------------------------------------
# export_model
# ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    from t2c.pipeline import prepare

    return prepare("digits-cnn").graph


def _prune_nm(w: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the n largest magnitudes of every group (ties: lowest k)."""
    cout = w.shape[0]
    w2 = w.reshape(cout, -1)
    k = w2.shape[1]
    g = -(-k // m)
    wp = np.zeros((cout, g * m), dtype=w.dtype)
    wp[:, :k] = w2
    wp = wp.reshape(cout, g, m)
    order = np.argsort(-np.abs(wp), axis=-1, kind="stable")
    keep = np.zeros(wp.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :n], True, axis=-1)
    return np.where(keep, wp, 0).reshape(cout, g * m)[:, :k].reshape(w.shape)


@pytest.fixture(scope="module")
def pruned(digits):
    g = copy.deepcopy(digits)
    g.op("conv1").weight = _prune_nm(g.op("conv1").weight, 2, 4)    # K = 9: a short last group
    g.op("conv3").weight = _prune_nm(g.op("conv3").weight, 1, 8)
    fc = g.op("fc")
    fc.weight = np.where(np.abs(fc.weight) > np.median(np.abs(fc.weight)), fc.weight, 0)
    return g


SPARSITY = {"conv1": "2:4", "conv3": "1:8", "fc": "element"}


@pytest.mark.parametrize("fmt", ["hex", "mif", "raw"])
def test_export_writes_sparse_images(pruned, tmp_path, fmt):
    ext = {"hex": "hex", "mif": "mif", "raw": "raw"}[fmt]
    dense = export_model(pruned, tmp_path / "dense", fmt)
    out = tmp_path / "sparse"
    records = export_model(pruned, out, fmt, sparsity=SPARSITY)
    listed = {f["file"] for r in read_sidecar(out) for f in r["files"]}   # checksums verified
    extra = {f"conv1.weight_nm_values.{ext}", f"conv1.weight_nm_index.{ext}", f"conv3.weight_nm_values.{ext}",
             f"conv3.weight_nm_index.{ext}", f"fc.weight_mask.{ext}", f"fc.weight_nz.{ext}"}
    dense_files = {f["file"] for r in dense for f in r["files"]}
    assert listed == dense_files | extra and not dense_files & extra
    assert {p.name for p in out.iterdir()} == listed | {"memories.json"}
    for name in dense_files:  # the dense images are unchanged, byte for byte
        assert (out / name).read_bytes() == (tmp_path / "dense" / name).read_bytes()
    assert [r for r in records if r["file"] in dense_files] == dense
    for layer in SPARSITY:
        assert np.array_equal(read_sparse_weight(out, layer), pruned.op(layer).weight), layer
    rec = next(r for r in records if r["file"] == f"conv1.weight_nm_index.{ext}")
    assert (rec["layer"], rec["op"], rec["pattern"], rec["n"], rec["m"], rec["wbits"], rec["weight_shape"]) == \
        ("conv1", "conv", "2:4", 2, 4, 8, [16, 1, 3, 3])
    vals = read_memory(out / f"conv1.weight_nm_values.{ext}")
    assert vals.shape == (16 * 3, 2)                          # one group of 2 values per word
    doc = json.loads((out / "memories.json").read_text())
    assert len(doc["records"]) == len(dense) + 6


def test_export_takes_sparsity_from_graph_meta(pruned, tmp_path):
    g = copy.copy(pruned)
    g.meta = {**pruned.meta, "sparsity": {"conv1": "2:4"}}
    records = export_model(g, tmp_path / "m", "hex", layers=["conv1", "conv2"])
    assert {r["tensor"] for r in records if r["layer"] == "conv1"} >= {"weight_nm_values", "weight_nm_index"}
    assert not any(r["tensor"].startswith("weight_") for r in records if r["layer"] == "conv2")
    assert np.array_equal(read_sparse_weight(tmp_path / "m", "conv1"), pruned.op("conv1").weight)
    # layers= limits which sparse layers are written; layout's endian/pow2 apply to them
    records = export_model(pruned, tmp_path / "l", "raw", layers=["conv1"], sparsity=SPARSITY,
                           layout="word=64,elem=8,big,pow2")
    sparse = [r for r in records if r["tensor"].startswith("weight_")]
    assert {r["layer"] for r in sparse} == {"conv1"}
    assert all(r["layout"]["endian"] == "big" and r["layout"]["depth_pow2"] for r in sparse)
    assert sparse[0]["layout"]["word_bits"] == 16                 # the sparse word layout is its own
    assert np.array_equal(read_sparse_weight(tmp_path / "l", "conv1"), pruned.op("conv1").weight)


def test_export_refuses_a_weight_that_breaks_its_pattern(pruned, digits, tmp_path):
    out = tmp_path / "mem"
    with pytest.raises(ValueError, match=r"layer 'conv2' weight does not meet 2:4: row 0 group 0"):
        export_model(digits, out, "hex", sparsity={"conv2": "2:4"})
    g = copy.copy(pruned)
    g.meta = {**pruned.meta, "sparsity": {"conv3": "2:4", "conv1": "1:4"}}
    with pytest.raises(ValueError, match="layer 'conv1' weight does not meet 1:4"):
        export_model(g, out, "hex")
    with pytest.raises(ValueError, match="sparsity of layer 'conv1' 2:3: M must be a power of two"):
        export_model(pruned, out, "hex", sparsity={"conv1": "2:3"})
    with pytest.raises(ValueError, match="sparsity of layer 'conv1' 'dense': expected N:M"):
        export_model(pruned, out, "hex", sparsity={"conv1": "dense"})
    with pytest.raises(ValueError, match="'relu9', which is not a layer with a weight"):
        export_model(pruned, out, "hex", sparsity={"relu9": "2:4"})
    assert not out.exists() and list(tmp_path.iterdir()) == []
