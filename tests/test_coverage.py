"""t2c.coverage: every bin's detector fires on a case made to hit it and stays silent on one
made to miss it; bins a layer cannot reach say why; and the corner stimulus of t2c.stimulus
reaches every reachable bin of the digits models (resnet18 and vit-tiny: the slow test)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2c import arith
from t2c.coverage import Operand, case_bins, golden_coverage
from t2c.ir import Add, AvgPool2d, Conv2d, LayerNorm, Linear, Lut, MatMul, MaxPool2d, Requant, Softmax

S8 = Operand(8, True, 0)
HALF = (1 << 30, 31)  # m / 2^s = 1/2: every odd accumulator is a tie


def rq(n=1, m=HALF[0], s=HALF[1], zy=0, qmin=-128, qmax=127, **kw):
    return Requant(np.full(n, m, np.int64), np.full(n, s, np.int64), zy, qmin, qmax, **kw)


def linear(acc: list[int], zx=0, **kw):
    """A linear layer whose accumulators are ``acc`` exactly (K = 1, weight 1, bias acc - x)."""
    n = len(acc)
    op = Linear("fc", ["x"], "y", weight=np.ones((n, 1), np.int64), bias=np.array(acc, np.int64) - 1,
                x_zero_point=zx, wbits=8, requant=rq(n, **kw))
    return op, [np.full((1, 1), zx + 1, np.int64)]


def bins(op, inputs, operands=(S8,), output=S8):
    return case_bins(op, inputs, list(operands), output)


# ------------------------------------------------------------------ requantization
@pytest.mark.parametrize("name, hit, miss", [
    ("tie+", [3], [4]), ("tie-", [-3], [-4]),          # 1.5 and -1.5 are ties, 2 and -2 are not
    ("saturate_low", [-1000], [-256]), ("saturate_high", [1000], [254]),
    ("on_qmin", [-256], [-254]), ("on_qmax", [254], [252]),
    ("pre_clamp<int32", [-(1 << 10)], [-2]), ("pre_clamp>int32", [1 << 10], [2]),
])
def test_requant_bins(name, hit, miss):
    big = {"m": 1 << 30, "s": 2} if name.startswith("pre_clamp") else {}  # x 2^28: 2^38 vs 2^29
    assert bins(*linear(hit, **big))[name].hits == 1
    assert bins(*linear(miss, **big))[name].hits == 0


def test_a_tie_hidden_by_the_clamp_does_not_count():
    assert bins(*linear([3], qmax=1))["tie+"].hits == 0    # 1.5 rounds to 2 or 1: both clamp to 1
    assert bins(*linear([3], qmax=2))["tie+"].hits == 1


def test_negative_ties_are_unreachable_under_a_fused_relu():
    b = bins(*linear([-3], qmin=0))["tie-"]
    assert (b.hits, b.reachable) == (0, False) and "ReLU" in b.why


@pytest.mark.parametrize("zp, hit", [(-5, "<0"), (0, "=0"), (7, ">0"), (-128, "=min"), (127, "=max")])
def test_zero_point_bins(zp, hit):
    op, x = linear([0], zx=zp)
    got = bins(op, x, [Operand(8, True, zp)], Operand(8, True, zp))
    for suffix in ("<0", "=0", ">0", "=min", "=max"):
        want = suffix == hit or (suffix == "<0" and zp < 0) or (suffix == ">0" and zp > 0)
        assert (got[f"zx{suffix}"].hits > 0) == want and (got[f"zy{suffix}"].hits > 0) == want, suffix


def test_a_negative_zero_point_is_unreachable_for_unsigned_codes():
    op, x = linear([0])
    b = bins(op, x, [Operand(8, False, 0)])["zx<0"]
    assert not b.reachable and "unsigned" in b.why


# ------------------------------------------------------------------ MAC
def mac(x, w, zx=0, wbits=8):
    w = np.array(w, np.int64)
    op = Linear("fc", ["x"], "y", weight=w, bias=np.zeros(w.shape[0], np.int64), x_zero_point=zx, wbits=wbits,
                requant=rq(w.shape[0], m=1 << 30, s=62))
    return op, [np.array([x], np.int64)]


@pytest.mark.parametrize("x, w, hit", [(-128, -127, "product[xmin,wmin]"), (-128, 127, "product[xmin,wmax]"),
                                       (127, -127, "product[xmax,wmin]"), (127, 127, "product[xmax,wmax]")])
def test_product_corners(x, w, hit):
    got = bins(*mac([x, 0], [[w, 5]]))
    for name in ("product[xmin,wmin]", "product[xmin,wmax]", "product[xmax,wmin]", "product[xmax,wmax]"):
        assert (got[name].hits > 0) == (name == hit), name
    assert bins(*mac([127, -128], [[5, 127]]))["product[xmax,wmax]"].hits == 0  # the ends, not multiplied


def test_accumulator_within_one_percent_of_the_bound():
    got = bins(*mac([-128, -128], [[-127, -127], [127, 127]]))  # 2 * 128 * 127 = 99.2% of 2 * 128 * 128
    assert got["acc>=99%bound"].hits == 1 and got["acc<=-99%bound"].hits == 1
    low = bins(*mac([-126, -128], [[-127, -127], [127, 127]]))
    assert low["acc>=99%bound"].hits == 0 and low["acc<=-99%bound"].hits == 0
    four = bins(*mac([-8, -8], [[-7, -7]], wbits=4), [Operand(4, True, 0)], Operand(4, True, 0))
    assert not four["acc>=99%bound"].reachable and "87.5%" in four["acc>=99%bound"].why  # 7/8 of the bound


def conv(zx=0, padding=(1, 1), cin=3, cout=5, hw=(4, 4)):
    rng = np.random.default_rng(0)
    op = Conv2d("c", ["x"], "y", weight=rng.integers(-3, 4, (cout, cin, 3, 3)), bias=np.zeros(cout, np.int64),
                x_zero_point=zx, wbits=8, requant=rq(cout), stride=(1, 1), padding=padding,
                dilation=(1, 1), groups=1)
    return op, [rng.integers(-10, 10, (1, cin, *hw))]


def test_padding_read_with_a_zero_point():
    assert bins(*conv(zx=3), [Operand(8, True, 3)])["padding,zx!=0"].hits == 1
    assert bins(*conv(zx=0))["padding,zx!=0"].hits == 0
    b = bins(*conv(padding=(0, 0)))["padding,zx!=0"]
    assert not b.reachable and "no padding" in b.why


def test_partial_tiles_follow_the_shape():
    part = bins(*conv(cin=3, cout=5, hw=(3, 3)))      # 9 pixels, 5 channels, K words of 3 channels
    assert all(part[n].hits == 1 for n in ("partial_row_tile", "partial_col_tile", "partial_k_tile"))
    whole = bins(*conv(cin=8, cout=8, hw=(4, 2)))     # 8 pixels, 8 channels, 8 input channels
    for n in ("partial_row_tile", "partial_col_tile", "partial_k_tile"):
        assert (whole[n].hits, whole[n].reachable) == (0, False) and "multiple of 8" in whole[n].why


def test_matmul_bound_and_products_use_both_operands():
    op = MatMul("mm", ["a", "b"], "y", a_zero_point=0, b_zero_point=0, requant=rq(1, m=1 << 30, s=62))
    a = np.full((1, 2, 3), -128)
    b = np.full((1, 3, 2), -128)
    got = bins(op, [a, b], [S8, S8])
    assert got["acc>=99%bound"].hits == 4 and got["product[xmin,wmin]"].hits > 0  # 3 * 128 * 128 = the bound
    assert got["acc<=-99%bound"].hits == 0 and got["acc<=-99%bound"].reachable    # 3 * 128 * 127 would


# ------------------------------------------------------------------ pooling, add
def test_max_pool_bins():
    op = MaxPool2d("p", ["x"], "y", kernel=(2, 2), stride=(2, 2), padding=(1, 1), dilation=(1, 1))
    lowest = bins(op, [np.full((1, 1, 3, 3), -128)])
    assert lowest["padded_window_all_lowest"].hits > 0 and lowest["max_tie"].hits > 0
    distinct = bins(op, [np.arange(9).reshape(1, 1, 3, 3) - 4])
    assert distinct["padded_window_all_lowest"].hits == 0 and distinct["max_tie"].hits == 0
    nopad = MaxPool2d("p", ["x"], "y", kernel=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))
    assert not bins(nopad, [np.zeros((1, 1, 4, 4), np.int64)])["padded_window_all_lowest"].reachable


def test_average_pool_divisor():
    pool = lambda k: AvgPool2d("p", ["x"], "y", kernel=(k, k), stride=(k, k), padding=(0, 0),  # noqa: E731
                               x_zero_point=0, requant=rq(1))
    assert bins(pool(3), [np.ones((1, 1, 3, 3), np.int64)])["divisor_not_power_of_2"].hits == 1
    b = bins(pool(2), [np.ones((1, 1, 2, 2), np.int64)])["divisor_not_power_of_2"]
    assert (b.hits, b.reachable) == (0, False) and "power of two" in b.why


def test_add_inputs_at_their_ends():
    op = Add("add", ["a", "b"], "y", a_zero_point=0, requant=rq(1, residual_m=np.array([1 << 30]),
                                                                residual_zero_point=0))
    hit = bins(op, [np.array([[127, 0]]), np.array([[-128, 0]])], [S8, S8])
    miss = bins(op, [np.array([[127, 0]]), np.array([[0, -128]])], [S8, S8])
    assert hit["both_inputs_at_an_end"].hits == 1 and miss["both_inputs_at_an_end"].hits == 0


# ------------------------------------------------------------------ tables and rows
def test_every_table_address():
    op = Lut("act", ["x"], "y", fn="gelu", table=np.arange(4), x_qmin=-2)
    full, part = bins(op, [np.array([[-2, -1, 0, 1]])]), bins(op, [np.array([[-2, -1, 0, 0]])])
    assert full["every_table_address"].hits == 1 and full["every_table_address"].detail == "4/4 addresses"
    assert part["every_table_address"].hits == 0 and part["every_table_address"].detail == "3/4 addresses"


SOFTMAX = Softmax("sm", ["x"], "y", exp_table=np.array([1 << 15, 1 << 14, 1 << 10, 0] + [0] * 252), qmax=255)


@pytest.mark.parametrize("name, hit, miss", [
    ("row_all_equal", [5, 5, 5, 5], [5, 5, 5, 4]),
    ("one_element_dominates", [100, 0, 0, 0], [100, 99, 0, 0]),
    ("max_first", [9, 1, 2, 3], [9, 1, 9, 3]),
    ("max_last", [1, 2, 3, 9], [9, 2, 3, 9]),
    ("row_all_lowest", [-128] * 4, [-128, -128, -128, -127]),
])
def test_softmax_bins(name, hit, miss):
    assert bins(SOFTMAX, [np.array([hit])])[name].hits == 1
    assert bins(SOFTMAX, [np.array([miss])])[name].hits == 0


def test_softmax_reciprocal_ties_are_unreachable():
    b = bins(SOFTMAX, [np.array([[1, 2, 3, 4]])])["reciprocal_tie"]
    assert not b.reachable and "2^41" in b.why


def layernorm(eps_int=0, gain=(1 << 10,) * 4, offset=(0,) * 4, g=10):
    return LayerNorm("ln", ["x"], "y", x_zero_point=0, gain=np.array(gain), offset=np.array(offset),
                     gain_shift=g, eps_int=eps_int, zero_point=0, qmin=-128, qmax=127)


def test_layernorm_rows():
    got = bins(layernorm(), [np.array([[3, 3, 3, 3], [127, 127, -128, -128]])])
    assert got["row_constant"].hits == 1 and got["row_largest_variance"].hits == 1
    miss = bins(layernorm(), [np.array([[3, 3, 3, 4], [127, 126, -128, -128]])])
    assert miss["row_constant"].hits == 0 and miss["row_largest_variance"].hits == 0


def test_layernorm_square_root_edges():
    const = [np.array([[3, 3, 3, 3]])]  # variance 0: the root's argument is eps_int
    assert bins(layernorm(eps_int=49), const)["isqrt_exact_square"].hits == 1
    assert bins(layernorm(eps_int=48), const)["isqrt_square_minus_1"].hits == 1
    other = bins(layernorm(eps_int=50), const)
    assert other["isqrt_exact_square"].hits == 0 and other["isqrt_square_minus_1"].hits == 0


def test_layernorm_division_ties():
    x = [np.array([[1, 2, 3, 4]])]
    odd = 3 << 9  # gain 0, offset an odd multiple of 2^(G-1): num / den = 1.5 exactly
    ties = bins(layernorm(gain=(0,) * 4, offset=(odd, -odd, odd, -odd)), x)
    assert ties["divide_tie+"].hits == 2 and ties["divide_tie-"].hits == 2
    none = bins(layernorm(gain=(0,) * 4, offset=(1 << 10,) * 4), x)
    assert none["divide_tie+"].hits == 0 and none["divide_tie-"].hits == 0


# ------------------------------------------------------------------ golden sets
def test_model_inputs_hit_no_tie_and_corners_reach_every_bin(tmp_path):
    """The issue's gap: digits-cnn's golden vectors never land on a rounding tie; its corner
    stimulus reaches every reachable bin of every layer."""
    from t2c.golden import read_golden, write_golden
    from t2c.pipeline import prepare
    from t2c.stimulus import Stimulus

    model = golden_coverage(read_golden("golden/digits-cnn"))
    assert all(c.bins["tie+"].hits == 0 for c in model)
    p = prepare("digits-cnn")
    g = read_golden(write_golden(p.graph, p.x_int, tmp_path / "g", stimulus=Stimulus()))
    corners = golden_coverage(g)
    assert [c.missed for c in corners] == [[]] * len(corners)
    hit, reach = sum(c.hit for c in corners), sum(c.reachable for c in corners)
    assert hit == reach > sum(c.hit for c in model)
    # the README's figures are these
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    n = sum(len(v) for v in g.manifest["variants"].values())
    assert f"# the model case: {sum(c.hit for c in model)} of {reach} reachable bins, no tie" in readme
    assert f"# + {n} variants: {hit} of {reach}" in readme


def test_variants_keep_the_layer_geometry_and_the_converters_ranges(tmp_path):
    from t2c.golden import read_golden, write_golden
    from t2c.pipeline import prepare
    from t2c.stimulus import Stimulus

    p = prepare("digits-vit")
    g = read_golden(write_golden(p.graph, p.x_int, tmp_path / "g", stimulus=Stimulus()))
    for e in g.manifest["layers"]:
        for v in [g.layer(n) for n in g.variant_names(e["name"])]:
            assert v["op"] == e["op"] and v["inputs"] == e["inputs"] and v["output"] == e["output"]
            for t, spec in e["tensors"].items():
                if t in ("input", "residual", "output", "weight"):
                    assert v["tensors"][t]["shape"] == spec["shape"], (v["name"], t)
                if "bits" in spec:
                    assert (v["tensors"][t]["bits"], v["tensors"][t]["signed"]) == (spec["bits"], spec["signed"])
            for key in ("kernel", "stride", "padding", "dilation", "groups", "wbits", "dim"):
                assert v["attrs"].get(key) == e["attrs"].get(key), (v["name"], key)
            if "m" in v["tensors"]:  # what the converter's multipliers and shifts span
                m, sh = g.tensor(v["name"], "m"), g.tensor(v["name"], "s")
                assert ((m >= 0) & (m < 1 << 31)).all() and ((sh >= 1) & (sh <= arith.MAX_SHIFT)).all(), v["name"]
            if "bias" in v["tensors"] and e["op"] in ("conv", "linear"):
                k = int(np.prod(v["tensors"]["weight"]["shape"][1:]))
                x = v["tensors"]["input"]
                limit = arith.bias_limit(k, x["bits"], x["signed"], x["zero_point"], v["attrs"]["wbits"])
                assert np.abs(g.tensor(v["name"], "bias")).max() <= limit, v["name"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet18", "vit-tiny"])
def test_corners_reach_every_bin_of_the_large_models(model, tmp_path):
    from t2c.golden import read_golden, write_golden
    from t2c.pipeline import prepare
    from t2c.stimulus import Stimulus

    p = prepare(model)
    cov = golden_coverage(read_golden(write_golden(p.graph, p.x_int, tmp_path / "g", stimulus=Stimulus())))
    assert [(c.layer, [b.name for b in c.missed]) for c in cov if c.missed] == []
