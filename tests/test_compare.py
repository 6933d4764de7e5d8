"""t2c.sim.compare, the one comparison every RTL result goes through: ``==`` on every
element (the last one too), x/z never equal, masked elements not compared, counters exact,
the first mismatches named by index with expected, got and operands."""
from __future__ import annotations

import numpy as np
import pytest

from t2c.sim.compare import MAX_SHOW, Comparison, compare, index_names


def _pair(shape=(2, 3, 4, 5), seed=0):
    rng = np.random.default_rng(seed)
    want = rng.integers(-128, 128, shape)
    return want, want.copy()


def test_equal_tensors_pass_with_every_element_counted():
    want, got = _pair()
    c = compare(want, got)
    assert (c.compared, c.mismatches, c.first, c.passed) == (want.size, 0, [], True)
    assert c.message("t") == f"t: all {want.size} elements equal"


@pytest.mark.parametrize("flat", [0, 1, 59, 118, 119])  # first, second, middle, last but one, last
def test_any_single_element_that_differs_is_found(flat):
    want, got = _pair()
    idx = np.unravel_index(flat, want.shape)
    got[idx] += 1
    c = compare(want, got)
    assert (c.compared, c.mismatches, c.passed) == (want.size, 1, False)
    assert [(m.index, m.expected, m.got) for m in c.first] == [(tuple(map(int, idx)), int(want[idx]),
                                                                int(want[idx]) + 1)]


def test_counts_every_mismatch_and_lists_the_first_in_order():
    want, got = _pair()
    got[0, 0, 0, :] -= 3                       # 5 elements
    got[1, 2, 3, 4] = 99 if want[1, 2, 3, 4] != 99 else 98
    got.reshape(-1)[60:70] ^= 1                # 10 more
    c = compare(want, got)
    bad = np.argwhere(want != got)
    assert c.mismatches == len(bad) == 16
    assert [m.index for m in c.first] == [tuple(map(int, b)) for b in bad[:MAX_SHOW]]
    assert len(compare(want, got, max_show=100).first) == 16
    assert c.message("layer").splitlines() == [
        "layer: 16 of 120 elements differ", "  first 8 as (n, c, h, w):", *(f"    {m.line()}" for m in c.first)]


def test_unknown_values_are_mismatches_even_when_the_bits_agree():
    want, got = _pair((8,))
    valid = np.ones(8, dtype=bool)
    valid[7] = False                           # x/z in the last element: got holds the right value
    c = compare(want, got, valid=valid)
    assert (c.mismatches, c.first[0].index, c.first[0].got) == (1, (7,), None)
    assert "expected" in c.first[0].line() and c.first[0].line().endswith("got x")


def test_valid_and_mask_are_truth_values_whatever_their_dtype():
    """0/1 integer flags (as a decoder may produce) and counts as a mask mean what booleans mean."""
    want, got = _pair((6,))
    got[5] += 1
    c = compare(want, got, valid=np.array([1, 1, 1, 0, 1, 1]), mask=np.array([2, 1, 1, 1, 1, 3]))
    assert (c.compared, c.mismatches) == (6, 2)
    assert [(m.index, m.got) for m in c.first] == [((3,), None), ((5,), int(got[5]))]


def test_masked_elements_are_not_compared_and_not_counted():
    want, got = _pair((4, 6))
    got[:, 5] += 1                             # only in the masked-out column
    mask = np.ones((4, 6), dtype=bool)
    mask[:, 5] = False
    c = compare(want, got, mask=mask)
    assert (c.compared, c.mismatches) == (20, 0)
    got[3, 4] += 1                             # the last compared element
    c = compare(want, got, mask=mask)
    assert (c.compared, c.mismatches, c.first[0].index) == (20, 1, (3, 4))


def test_operands_are_shown_beside_a_mismatch():
    want = np.array([[1, 2], [3, 4]])
    got = np.array([[1, 2], [3, 5]])
    c = compare(want, got, names=("row", "col"), inputs={"acc": np.array([[10, 20], [30, 40]]), "s": 7})
    assert c.first[0].line() == "(1, 1): expected 4, got 5  [acc=40 s=7]"
    assert "first 1 as (row, col):" in c.message("t")


def test_shapes_and_names_must_fit():
    with pytest.raises(ValueError, match="expected shape"):
        compare(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="index names"):
        compare(np.zeros((2, 3)), np.zeros((2, 3)), names=("a",))
    assert index_names((1, 2, 3, 4)) == ("n", "c", "h", "w")
    assert index_names((2, 3, 4), "matmul") == ("b0", "row", "col")
    assert index_names((2, 3, 4)) == ("n", "t", "c")
    assert index_names((2, 3)) == ("n", "c") and index_names((5,)) == ("i",)
    assert index_names((1, 2, 3, 4, 5)) == ("d0", "d1", "d2", "d3", "d4")
    assert compare(np.zeros((1, 2, 3, 4, 5)), np.zeros((1, 2, 3, 4, 5))).index_names == index_names((1,) * 5)


def test_nothing_compared_is_not_a_pass():
    assert not Comparison(0, 0, ("i",)).passed
    c = compare(np.zeros(3), np.zeros(3), mask=np.zeros(3, dtype=bool))
    assert (c.compared, c.passed) == (0, False)
