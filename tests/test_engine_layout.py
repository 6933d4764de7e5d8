"""t2c.export.engine: the layer engine's memory images read back as the same integers.

Golden layers of the default model (every conv/linear, incl. the residual conv4) and
synthetic layers covering what the layout has to get right: grouped and depthwise
convs whose column tiles straddle groups, channel counts that are not multiples of the
array, a linear layer over tokens, several array geometries.  Also: the descriptor
encodes and decodes, the guard row is where the engine expects it, the ungrouped
weight layout is exactly ``t2c.export.tile`` (what ``t2c export`` writes), and a
feature map written as an output image is the next layer's input image.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c.export import engine as E
from t2c.export import as_limbs, limbs_to_int, pack, read_memory, tile
from t2c.golden import read_golden

GOLDEN = read_golden("golden/digits-cnn")
GEOMETRIES = [E.Geometry(), E.Geometry(rows=3, cols=5), E.Geometry(rows=4, cols=16)]


def synthetic(rng, *, cin=6, cout=10, hw=(7, 9), kernel=(3, 3), stride=(2, 1), padding=(1, 2),
              dilation=(1, 2), groups=2, residual=True, kind="conv", x_signed=True) -> tuple:
    h, w = hw
    kh, kw = kernel
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    lo, hi = (-128, 127) if x_signed else (0, 255)
    layer = E.EngineLayer(
        name="syn", kind=kind, in_c=cin, in_h=h, in_w=w, out_c=cout, out_h=oh, out_w=ow,
        kernel=kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
        x_zp=-3 if x_signed else 0, x_bits=8, x_signed=x_signed, y_zp=5, qmin=-128, qmax=127,
        out_bits=8, out_signed=True,
        weight=rng.integers(-128, 128, (cout, cin // groups, kh, kw)),
        bias=rng.integers(-2**20, 2**20, cout), m=rng.integers(2**30, 2**31, cout),
        s=rng.integers(1, 63, cout), out_shape=(1, cout, oh, ow))
    if residual:
        layer.residual_m = rng.integers(0, 2**31, cout)
        layer.r_zp, layer.r_signed = 7, True
    x = rng.integers(lo, hi + 1, (1, cin, h, w))
    r = rng.integers(-128, 128, (1, cout, oh, ow)) if residual else None
    y = rng.integers(-128, 128, (1, cout, oh, ow))
    return layer, x, r, y


def roundtrip(layer, x, r, y, geo, tmp_path):
    images = E.write_images(layer, x, r, tmp_path, geo, expected=y)
    back = E.read_images(images)
    assert np.array_equal(back["input"], np.asarray(x).reshape(back["input"].shape))
    assert np.array_equal(back["input"].reshape(np.shape(x)), x)
    assert np.array_equal(back["output"], y)
    assert np.array_equal(back["weight"], layer.weight)
    for name in ("bias", "m", "s"):
        assert np.array_equal(back[name], getattr(layer, name)), name
    if layer.residual:
        assert np.array_equal(back["residual"], r)
        assert np.array_equal(back["residual_m"], layer.residual_m)
    assert back["desc"] == E.descriptor(layer, geo)
    # memory sizes the HDL is built with match what was written
    assert {k: v for k, v in images.words.items()} == E.memory_words(layer, geo)
    return images, back


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: f"{g.rows}x{g.cols}")
@pytest.mark.parametrize("name", E.engine_layer_names(GOLDEN))
def test_golden_layers_roundtrip(name, geo, tmp_path):
    layer = E.EngineLayer.from_golden(GOLDEN, name)
    r = GOLDEN.tensor(name, "residual") if layer.residual else None
    roundtrip(layer, GOLDEN.tensor(name, "input"), r, GOLDEN.tensor(name, "output"), geo, tmp_path)


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: f"{g.rows}x{g.cols}")
@pytest.mark.parametrize("case", ["grouped", "depthwise", "dense_odd", "linear_tokens"])
def test_synthetic_roundtrip(case, geo, tmp_path):
    rng = np.random.default_rng(7)
    if case == "grouped":
        layer, x, r, y = synthetic(rng)
    elif case == "depthwise":
        layer, x, r, y = synthetic(rng, cin=12, cout=12, groups=12, residual=False, x_signed=False)
    elif case == "dense_odd":
        layer, x, r, y = synthetic(rng, cin=3, cout=9, groups=1, kernel=(7, 7), padding=(3, 3),
                                   stride=(2, 2), dilation=(1, 1))
    else:
        cin, cout, tokens = 20, 12, 5
        layer = E.EngineLayer(
            name="lin", kind="linear", in_c=cin, in_h=tokens, in_w=1, out_c=cout, out_h=tokens,
            out_w=1, kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
            x_zp=0, x_bits=8, x_signed=False, y_zp=0, qmin=-128, qmax=127, out_bits=8,
            out_signed=True, weight=rng.integers(-128, 128, (cout, cin, 1, 1)),
            bias=rng.integers(-99, 99, cout), m=rng.integers(2**30, 2**31, cout),
            s=rng.integers(1, 63, cout), out_shape=(1, tokens, cout))
        x = rng.integers(0, 256, (1, tokens, cin))
        r, y = None, rng.integers(-128, 128, (1, tokens, cout))
    roundtrip(layer, x, r, y, geo, tmp_path)


def test_ungrouped_weights_are_tile(tmp_path):
    """groups == 1: the weight image rows are exactly ``tile(w, COLS)`` (as ``t2c export``)."""
    for name in E.engine_layer_names(GOLDEN):
        layer = E.EngineLayer.from_golden(GOLDEN, name)
        for geo in GEOMETRIES:
            assert np.array_equal(E.weight_rows(layer, geo), tile(layer.weight, geo.cols))


def test_grouped_tiles_cover_their_groups():
    """Each column tile's K-steps run over exactly its channels' groups' input channels."""
    rng = np.random.default_rng(3)
    layer, *_ = synthetic(rng, cin=6, cout=10, groups=2)  # 5 outputs per group
    geo = E.Geometry(cols=4)
    plan = E.tile_plan(layer, geo)  # ch0, ncols, cin0, n_cin, k
    assert plan[:, :4].tolist() == [[0, 4, 0, 3], [4, 4, 0, 6], [8, 2, 3, 3]]
    table = E.tile_table(layer, geo)  # cin_word, cin_lane, n_cin, n_cols (in_hw = 63)
    assert table.tolist() == [[0, 0, 3, 4], [0, 0, 6, 4], [0, 3, 3, 2]]
    rows = E.weight_rows(layer, geo)
    assert rows.shape == (int(plan[:, 4].sum()), 4)
    # tile 1 spans both groups: channel 4 (group 0) has zero weights for input channels 3..5
    k = 9
    t1 = rows[3 * k: 3 * k + 6 * k]
    assert not t1[3 * k:, 0].any() and not t1[:3 * k, 1].any()


def test_descriptor_roundtrip_and_fields():
    for name in E.engine_layer_names(GOLDEN):
        layer = E.EngineLayer.from_golden(GOLDEN, name)
        d = E.descriptor(layer, E.Geometry())
        words = E.encode_descriptor(d)
        assert words.shape == (E.DESC_WORDS,) and not words[len(E.DESC_FIELDS):].any()
        assert E.decode_descriptor(words) == d
        assert E.decode_descriptor(words & 0xFFFFFFFF) == d  # as a memory holds them
    conv2 = E.descriptor(E.EngineLayer.from_golden(GOLDEN, "conv2"), E.Geometry())
    assert (conv2["stride_h"], conv2["npix"], conv2["in_hw"], conv2["base0"]) == (2, 16, 64, -9)
    assert conv2["stride_h_in_w"] == 16 and conv2["n_ctiles"] == 4
    flags = E.descriptor(E.EngineLayer.from_golden(GOLDEN, "conv4"), E.Geometry())["flags"]
    assert flags == E.FLAG_RESIDUAL | E.FLAG_W_SIGNED
    with pytest.raises(ValueError, match="magic"):
        E.decode_descriptor(np.zeros(E.DESC_WORDS, dtype=np.int64))
    with pytest.raises(ValueError, match="unknown descriptor fields"):
        E.encode_descriptor({"bogus": 1})
    with pytest.raises(ValueError, match="does not fit"):
        E.encode_descriptor({"in_h": 2**31})


def test_guard_row_and_chaining(tmp_path):
    """Every loaded image ends with its guard word; conv2's output image is conv3's input image."""
    geo = E.Geometry()
    l2, l3 = (E.EngineLayer.from_golden(GOLDEN, n) for n in ("conv2", "conv3"))
    im2 = E.write_images(l2, GOLDEN.tensor("conv2", "input"), None, tmp_path / "c2", geo,
                         expected=GOLDEN.tensor("conv2", "output"))
    im3 = E.write_images(l3, GOLDEN.tensor("conv3", "input"), None, tmp_path / "c3", geo)
    assert im2.paths["output"].read_text().splitlines()[1:] == im3.paths["input"].read_text().splitlines()[1:-1]
    for name, path in im3.paths.items():
        rows = read_memory(path)
        n = im3.words[name]
        assert rows.shape[0] == n + 1
        lay = E.layouts(geo, l3)[name]
        assert np.array_equal(rows[n:], E.guard_row(lay))
        last = path.read_text().splitlines()[-1]
        assert int(last, 16) == im3.guards[name] == E.guard_word(lay)


def test_decode_output_and_partial_runs():
    geo = E.Geometry()
    layer = E.EngineLayer.from_golden(GOLDEN, "conv1")
    y = GOLDEN.tensor("conv1", "output")
    lay = E.layouts(geo, layer)["output"]
    rows = E.output_rows(layer, y, geo)
    from t2c.export.layout import pack, limbs_to_int

    words = [limbs_to_int(w) for w in pack(rows, lay)]
    assert np.array_equal(E.decode_output(words, layer, geo), y)
    part = E.with_pixels(layer, 10)
    assert part.macs == layer.out_c * 10 * layer.k and layer.macs == 16 * 64 * 9
    assert E.descriptor(part, geo)["pix_end"] == 10
    with pytest.raises(ValueError, match="needs"):
        E.decode_output(words[:5], layer, geo)


def test_refuses_what_the_engine_cannot_run():
    layer = E.EngineLayer.from_golden(GOLDEN, "conv3")
    with pytest.raises(ValueError, match="ABITS=4"):
        layer.check(E.Geometry(abits=4))
    with pytest.raises(ValueError, match="WBITS=4"):
        layer.check(E.Geometry(wbits=4))
    with pytest.raises(ValueError, match="'avgpool' is 'avgpool'; the layer engine runs conv, linear and matmul "
                                         "layers: conv1"):
        E.EngineLayer.from_golden(GOLDEN, "avgpool")


def matmul_layer(rng, *, lead=(1, 3), mkn=(17, 16, 17), a=(True, -1), b=(False, 131)):
    """A matmul ``[lead, M, K] x [lead, K, N]`` in the engine's terms, with its operands."""
    (m, k, n), g = mkn, int(np.prod(lead))
    (a_signed, a_zp), (b_signed, b_zp) = a, b
    lo_a, lo_b = (-128 if a_signed else 0), (-128 if b_signed else 0)
    xa = rng.integers(lo_a, lo_a + 256, (*lead, m, k))
    xb = rng.integers(lo_b, lo_b + 256, (*lead, k, n))
    layer = E.EngineLayer(
        name="mm", kind="matmul", in_c=g * k, in_h=m, in_w=1, out_c=g * n, out_h=m, out_w=1,
        kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=g,
        x_zp=a_zp, x_bits=8, x_signed=a_signed, y_zp=0, qmin=-128, qmax=127, out_bits=8,
        out_signed=True, weight=xb.reshape(g, k, n).transpose(0, 2, 1).reshape(g * n, k, 1, 1),
        bias=np.zeros(g * n, np.int64), m=np.full(g * n, 2**30), s=np.full(g * n, 20),
        out_shape=(*lead, m, n), in_shape=(*lead, m, k), w_zp=b_zp, w_signed=b_signed)
    return layer, xa, xb


@pytest.mark.parametrize("geo", GEOMETRIES, ids=lambda g: f"{g.rows}x{g.cols}")
@pytest.mark.parametrize("case", ["qk_signed", "av_unsigned_b", "batch2x2"])
def test_matmul_images_compute_the_product(case, geo, tmp_path):
    """A matmul's images, read back and computed the way the engine does (per column tile
    its K-steps over the tile's groups, ``(x - x_zp) * (w - w_zp)``), give exactly
    ``(a - a_zp) @ (b - b_zp)``: the second operand, its zero point, the groups and the
    weights between groups (``w_zp``, contributing 0) are laid out right."""
    rng = np.random.default_rng(11)
    kw = {"qk_signed": dict(b=(True, 5)), "av_unsigned_b": dict(a=(False, 0), mkn=(17, 17, 16)),
          "batch2x2": dict(lead=(2, 2), mkn=(9, 13, 6))}[case]
    layer, xa, xb = matmul_layer(rng, **kw)
    y = rng.integers(-128, 128, layer.out_shape)
    images, back = roundtrip(layer, xa, None, y, geo, tmp_path)
    assert back["desc"]["w_zp"] == layer.w_zp
    assert bool(back["desc"]["flags"] & E.FLAG_W_SIGNED) == layer.w_signed
    x = E.fmap_rows(layer.to_fmap(xa, layer.in_c), geo)  # what the activation memory holds
    w = read_memory(images.paths["weight"])[:-1]
    acc = np.zeros((layer.out_c, layer.npix), np.int64)
    r0 = 0
    for ch0, ncols, cin0, n_cin, k in E.tile_plan(layer, geo):
        cins = np.arange(cin0, cin0 + n_cin)
        xs = x[(cins // geo.cols) * layer.npix + np.arange(layer.npix)[:, None], cins % geo.cols]
        acc[ch0:ch0 + ncols] = ((w[r0:r0 + k, :ncols] - layer.w_zp).T @ (xs.T - layer.x_zp))
        r0 += k
    g, (m, n) = layer.groups, layer.out_shape[-2:]
    want = (xa - layer.x_zp).reshape(g, m, -1) @ (xb - layer.w_zp).reshape(g, -1, n)
    assert np.array_equal(layer.from_fmap(acc), want.reshape(layer.out_shape))


def test_matmul_operand_range_is_checked():
    layer, *_ = matmul_layer(np.random.default_rng(0), b=(False, 131))
    layer.check(E.Geometry())
    with pytest.raises(ValueError, match=r"unsigned WBITS=7-bit range \[0, 127\]"):
        layer.check(E.Geometry(wbits=7))
    signed, *_ = matmul_layer(np.random.default_rng(0), b=(True, 200))
    with pytest.raises(ValueError, match="zero point outside the signed WBITS=8"):
        signed.check(E.Geometry())


def test_decode_output_takes_ints_or_limbs(tmp_path):
    """The output memory as Python ints or as [n, limbs] uint64 (read_dump) decodes alike,
    also for words wider than 64 bits (COLS * OBITS > 64)."""
    from t2c.export.formats import read_dump

    layer = E.EngineLayer.from_golden(GOLDEN, "fc")
    for cols in (8, 16):
        geo = E.Geometry(cols=cols)
        y = GOLDEN.tensor("fc", "output")
        rows = E.output_rows(layer, y, geo)
        lay = E.layouts(geo, layer)[E.OUTPUT_NAME]
        ints = [limbs_to_int(w) for w in pack(rows, lay)]
        assert np.array_equal(E.decode_output(ints, layer, geo), y)
        limbs = as_limbs(ints, lay.word_bits)
        assert limbs.shape[1] == -(-cols * 8 // 64)
        assert np.array_equal(E.decode_output(limbs, layer, geo), y)
    path = tmp_path / "dump.hex"
    path.write_text("// 0x0\n" + "\n".join(f"{w:032x}" for w in ints) + "\n")
    words, valid = read_dump(path, lay.word_bits, len(ints))
    assert valid.all() and np.array_equal(E.decode_output(words, layer, geo), y)
