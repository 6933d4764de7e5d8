"""t2c.export.layout: Layout spec, packing (cross-checked with bitstring), banks, tiling."""
from __future__ import annotations

import itertools

import bitstring
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t2c.export import (Layout, from_banks, memory_depth, pack, tile, tiled_shape, to_banks,
                        unpack, untile, words_per_bank)
from t2c.export.layout import limbs_to_int

ELEM_BITS = list(range(2, 9)) + [16, 32]


# ---------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------

@st.composite
def layouts(draw, elem_bits=None, max_word=160, allow_banks=True):
    e = draw(st.sampled_from(ELEM_BITS + [1, 3, 12])) if elem_bits is None else elem_bits
    w = draw(st.sampled_from(sorted({e, 8, 16, 24, 32, 36, 64, 72, 128, max_word, 2 * e, 3 * e + 1})
                             ).filter(lambda x: e <= x <= max(max_word, e)))
    vpw = draw(st.one_of(st.none(), st.integers(1, w // e)))
    return Layout(word_bits=w, elem_bits=e, signed=draw(st.booleans()), values_per_word=vpw,
                  lane_order=draw(st.sampled_from(["lsb_first", "msb_first"])),
                  banks=draw(st.integers(1, 4)) if allow_banks else 1,
                  bank_by=draw(st.sampled_from(["word", "lane"])),
                  depth_pow2=draw(st.booleans()), endian=draw(st.sampled_from(["little", "big"])))


@st.composite
def arrays_for(draw, layout, max_rows=9, max_lanes=20):
    one_d = draw(st.booleans())
    shape = (draw(st.integers(1, 60)),) if one_d else (draw(st.integers(1, max_rows)), draw(st.integers(1, max_lanes)))
    n = int(np.prod(shape))
    vals = draw(st.lists(st.integers(layout.elem_min, layout.elem_max), min_size=n, max_size=n))
    return np.array(vals, dtype=np.int64).reshape(shape)


@st.composite
def layout_and_array(draw):
    lay = draw(layouts())
    return lay, draw(arrays_for(lay))


# ---------------------------------------------------------------------------------
# Layout spec
# ---------------------------------------------------------------------------------

def test_defaults_and_derived_values_per_word():
    lay = Layout()
    assert (lay.word_bits, lay.elem_bits, lay.signed, lay.values_per_word) == (32, 8, True, 4)
    assert Layout(word_bits=32, elem_bits=3).values_per_word == 10
    assert Layout(word_bits=512, elem_bits=4).values_per_word == 128
    assert Layout(word_bits=8, elem_bits=8, signed=False).elem_max == 255
    assert Layout(elem_bits=4).elem_min == -8


def test_parse_string_spec_aliases_and_flags():
    lay = Layout.parse("word=32, elem=4, unsigned, banks=2, pow2, msb_first, big, bank_by=lane, depth=64")
    assert lay == Layout(word_bits=32, elem_bits=4, signed=False, banks=2, depth_pow2=True,
                         lane_order="msb_first", endian="big", bank_by="lane", depth=64)
    assert Layout.parse("word_bits=16,elem_bits=8,signed=false,vpw=1") == \
        Layout(word_bits=16, elem_bits=8, signed=False, values_per_word=1)


def test_from_dict_accepts_strings_from_a_cli():
    assert Layout.from_dict({"word": "64", "elem": "0x8", "signed": "yes", "pow2": "1"}) == \
        Layout(word_bits=64, elem_bits=8, signed=True, depth_pow2=True)


@given(layouts())
def test_spec_and_dict_round_trip(lay):
    assert Layout.parse(lay.spec()) == lay
    assert Layout.from_dict(lay.to_dict()) == lay
    assert Layout.coerce(lay.spec()) == Layout.coerce(lay.to_dict()) == Layout.coerce(lay)
    assert " " not in lay.spec()


@pytest.mark.parametrize("bad", [{"wordbits": 32}, "word=32,colour=red", "word=32,sined"])
def test_unknown_key_names_key_and_lists_valid_ones(bad):
    with pytest.raises(ValueError) as ei:
        Layout.coerce(bad)
    msg = str(ei.value)
    assert "\n" not in msg
    key = "wordbits" if isinstance(bad, dict) else bad.split(",")[-1].split("=")[0]
    assert repr(key) in msg
    for valid in ("word_bits", "elem_bits", "values_per_word", "lane_order", "banks", "depth_pow2", "endian"):
        assert valid in msg


@pytest.mark.parametrize("kw", [
    dict(elem_bits=0), dict(elem_bits=33), dict(word_bits=4, elem_bits=8), dict(word_bits=0),
    dict(word_bits=5000), dict(values_per_word=5), dict(values_per_word=0), dict(banks=0),
    dict(lane_order="middle"), dict(bank_by="row"), dict(endian="pdp"), dict(depth=0),
    dict(signed=1), dict(word_bits=32.0),
])
def test_invalid_values(kw):
    with pytest.raises(ValueError):
        Layout(**kw)


def test_duplicate_key_rejected():
    with pytest.raises(ValueError, match="twice"):
        Layout.parse("word=32,word_bits=16")


# ---------------------------------------------------------------------------------
# packing
# ---------------------------------------------------------------------------------

def test_lane_order_examples():
    e = np.array([[1, 2, 3, 4]])
    assert limbs_to_int(pack(e, Layout(word_bits=32, elem_bits=8))[0]) == 0x04030201
    assert limbs_to_int(pack(e, Layout(word_bits=32, elem_bits=8, lane_order="msb_first"))[0]) == 0x01020304
    # two's complement: -1 in 4 bits is 0xf; element 0 in the low nibble
    assert limbs_to_int(pack(np.array([[-1, 1]]), Layout(word_bits=8, elem_bits=4))[0]) == 0x1F
    # 3-bit lanes in a 32-bit word: 10 lanes, top 2 bits zero; msb_first mirrors inside the 30 bits
    lay = Layout(word_bits=32, elem_bits=3, signed=False, lane_order="msb_first")
    assert limbs_to_int(pack(np.array([[7] + [0] * 9]), lay)[0]) == 7 << 27


def bitstring_pack(elems, lay: Layout) -> list[int]:
    """Independent reference: build each word MSB-first with bitstring."""
    out = []
    for row in elems:
        fields = [bitstring.Bits(int=int(v), length=lay.elem_bits) if lay.signed
                  else bitstring.Bits(uint=int(v), length=lay.elem_bits) for v in row]
        if lay.lane_order == "lsb_first":
            fields = fields[::-1]  # element 0 ends up in the least significant bits
        unused = lay.word_bits - lay.values_per_word * lay.elem_bits
        word = bitstring.Bits(uint=0, length=unused) + bitstring.Bits().join(fields) if unused else \
            bitstring.Bits().join(fields)
        assert len(word) == lay.word_bits
        out.append(word.uint)
    return out


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_pack_matches_bitstring_and_unpack_inverts(data):
    lay = data.draw(layouts(max_word=300, allow_banks=False))
    n = data.draw(st.integers(1, 6))
    vals = data.draw(st.lists(st.integers(lay.elem_min, lay.elem_max),
                              min_size=n * lay.values_per_word, max_size=n * lay.values_per_word))
    elems = np.array(vals, dtype=np.int64).reshape(n, lay.values_per_word)
    words = pack(elems, lay)
    assert words.dtype == np.uint64 and words.shape == (n, lay.limbs)
    assert [limbs_to_int(w) for w in words] == bitstring_pack(elems, lay)
    assert np.array_equal(unpack(words, lay), elems)


def test_unpack_refuses_bits_outside_the_lanes():
    lay = Layout(word_bits=32, elem_bits=3)  # 30 bits used
    with pytest.raises(ValueError, match="outside"):
        unpack(np.array([[1 << 31]], dtype=np.uint64), lay)


@pytest.mark.parametrize("signed,bad,idx", [(True, 8, "(1, 0)"), (True, -9, "(1, 0)"), (False, -1, "(1, 0)"),
                                            (False, 16, "(1, 0)")])
def test_value_too_wide_is_a_one_line_error_naming_index_and_value(signed, bad, idx):
    lay = Layout(word_bits=16, elem_bits=4, signed=signed)
    a = np.zeros((2, 3), dtype=np.int64)
    a[1, 0] = bad
    a[1, 2] = bad  # only the first offending element is named
    with pytest.raises(ValueError) as ei:
        to_banks(a, lay)
    msg = str(ei.value)
    assert "\n" not in msg and f"value {bad} at index {idx}" in msg and "4-bit" in msg


def test_limits_fit_exactly():
    for e in ELEM_BITS:
        for signed in (True, False):
            lay = Layout(word_bits=max(32, e), elem_bits=e, signed=signed)
            a = np.array([lay.elem_min, lay.elem_max, 0], dtype=np.int64)
            assert np.array_equal(from_banks(to_banks(a, lay), lay, a.shape), a)


def test_refuses_floats_and_nd():
    with pytest.raises(ValueError, match="integers"):
        to_banks(np.zeros(4, dtype=np.float32), Layout())
    with pytest.raises(ValueError, match="tile"):
        to_banks(np.zeros((2, 2, 2), dtype=np.int8), Layout())
    with pytest.raises(ValueError, match="empty"):
        to_banks(np.zeros((0, 4), dtype=np.int8), Layout())


# ---------------------------------------------------------------------------------
# banks and depth
# ---------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(layout_and_array())
def test_banks_round_trip(case):
    lay, a = case
    banks = to_banks(a, lay)
    assert len(banks) == lay.banks
    assert len({b.shape for b in banks}) == 1
    depth = banks[0].shape[0]
    assert depth == memory_depth(words_per_bank(a.shape, lay), lay)
    if lay.depth_pow2:
        assert depth & (depth - 1) == 0
    assert np.array_equal(from_banks(banks, lay, a.shape), a)
    full = from_banks(banks, lay)  # no shape: every stored word, padding included
    assert full.ndim == 2


def test_word_interleave_puts_word_i_in_bank_i_mod_banks():
    lay = Layout(word_bits=8, elem_bits=8, banks=3)
    banks = to_banks(np.arange(10), lay)
    assert [b[:, 0].tolist() for b in banks] == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 0]]


def test_lane_banks_split_lanes_in_contiguous_groups():
    lay = Layout(word_bits=16, elem_bits=8, signed=False, banks=2, bank_by="lane")
    a = np.arange(12).reshape(3, 4)  # lanes 0,1 -> bank 0; lanes 2,3 -> bank 1
    b0, b1 = to_banks(a, lay)
    assert b0[:, 0].tolist() == [0x0100, 0x0504, 0x0908]
    assert b1[:, 0].tolist() == [0x0302, 0x0706, 0x0B0A]


def test_depth_padding_and_fixed_depth():
    lay = Layout(word_bits=32, elem_bits=8, depth_pow2=True)
    assert to_banks(np.ones((5, 4), dtype=np.int8), lay)[0].shape == (8, 1)
    assert to_banks(np.ones((5, 4), dtype=np.int8), lay.replace(depth=6, depth_pow2=False))[0].shape == (6, 1)
    with pytest.raises(ValueError, match="layout depth is 4"):
        to_banks(np.ones((5, 4), dtype=np.int8), lay.replace(depth=4))


def test_row_longer_than_a_word_spans_consecutive_words():
    lay = Layout(word_bits=16, elem_bits=8, signed=False)
    (w,) = to_banks(np.array([[1, 2, 3], [4, 5, 6]]), lay)
    assert w[:, 0].tolist() == [0x0201, 0x0003, 0x0504, 0x0006]


# ---------------------------------------------------------------------------------
# tiling
# ---------------------------------------------------------------------------------

def test_tile_weights_for_a_cols_wide_array():
    cout, cin, kh, kw, cols = 5, 2, 3, 3, 4
    w = np.arange(cout * cin * kh * kw).reshape(cout, cin, kh, kw) + 1
    t = tile(w, cols)
    k = cin * kh * kw
    assert t.shape == (2 * k, cols) == tiled_shape(w.shape, cols)
    for tile_i, kk, c in itertools.product(range(2), range(k), range(cols)):
        co = tile_i * cols + c
        expect = w[co].reshape(-1)[kk] if co < cout else 0  # zero padded past Cout
        assert t[tile_i * k + kk, c] == expect
    assert np.array_equal(untile(t, w.shape, cols), w)


def test_tile_k_order_and_k_multiple():
    w = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    t = tile(w, 2, k_axes=(2, 3, 1))  # K iterates kh, kw, then Cin innermost
    assert t[:3, 0].tolist() == [w[0, 0, 0, 0], w[0, 1, 0, 0], w[0, 2, 0, 0]]
    t = tile(w, 2, k_multiple=8)  # K = 12 padded to 16
    assert t.shape == (16, 2) and not t[12:].any()


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_tile_untile_round_trip(data):
    nd = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd)))
    a = np.arange(1, int(np.prod(shape)) + 1).reshape(shape)
    lanes = data.draw(st.integers(1, 7))
    lane_axis = data.draw(st.integers(-nd, nd - 1))
    rest = [i for i in range(nd) if i != lane_axis % nd]
    k_axes = data.draw(st.one_of(st.none(), st.permutations(rest)))
    km = data.draw(st.integers(1, 4))
    t = tile(a, lanes, lane_axis, k_axes, km)
    assert t.shape == tiled_shape(shape, lanes, lane_axis, k_axes, km)
    assert sorted(t[t != 0].tolist()) == sorted(a.reshape(-1).tolist())  # a permutation + zeros
    assert np.array_equal(untile(t, shape, lanes, lane_axis, k_axes, km), a)


def test_tile_bad_axes():
    with pytest.raises(ValueError, match="permutation"):
        tile(np.zeros((2, 3, 4), dtype=np.int8), 2, 0, k_axes=(1, 1))
    with pytest.raises(ValueError, match="lane_axis"):
        tile(np.zeros((2, 3), dtype=np.int8), 2, 5)
