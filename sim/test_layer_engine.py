"""rtl/layer_engine.v beyond the model layers of sim/test_layers.py, ``==`` on every element.

* synthetic single-layer graphs for what the default models do not exercise: depthwise
  and grouped convs (column tiles straddling groups), 7x7 kernels, stride, padding,
  dilation, a 1x1 conv with K = 1 (back-to-back tiles shorter than the drain), signed
  inputs with nonzero zero points, a residual add with a signed residual and nonzero zero
  point, a linear layer over tokens, channel counts that are not multiples of the array,
  non-default array geometries, and matmuls with signed and unsigned operands and zero
  points; every run's K-steps and cycles equal the documented formula exactly
  (``t2c.sim.units.layer_engine.timing``);
* partial runs (``--pixels``): only the first N output pixels computed and compared;
* an image that stops short of its guard word, or a descriptor that is not t2c's, makes
  the run fail instead of passing on zeros or x;
* an engine that forgets the weight zero point fails the matmuls but not the convs;
* torchvision resnet18 ``layer1.0.conv1`` (56x56x64, K = 576) on Verilator (``slow``).
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c.export import engine as E
from t2c.golden import Golden, write_golden
from t2c.sim import toolchain
from t2c.sim.build import SimulationError
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.hdl import RTL_DIR
from t2c.sim.layers import run_layer
from t2c.sim.units import SimOptions
from t2c.sim.units.layer_engine import timing

SYNTHETIC_SEED = 2024


def use_broken_copy(tmp_path, monkeypatch, module: str, good: str, bad: str) -> None:
    """Put a copy of ``rtl/<module>.v`` whose text ``good`` is ``bad`` on T2C_RTL_DIR, as a
    user's own unit would be."""
    text = (RTL_DIR / f"{module}.v").read_text()
    broken = text.replace(good, bad)
    assert broken != text, f"{module}.v changed: update this test's edit"
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{module}.v").write_text(broken)
    monkeypatch.setenv("T2C_RTL_DIR", str(tmp_path))


# ------------------------------------------------------------------ synthetic layers
# name -> conv/linear settings; "geometry": (ROWS, COLS) when not the default 8 x 8
SYNTHETIC = {
    "depthwise3x3s2": dict(cin=12, cout=12, hw=(9, 7), kernel=(3, 3), stride=(2, 2),
                           padding=(1, 1), groups=12, x=(8, True, -3), y=(8, True, 4)),
    "grouped7x7s2": dict(cin=6, cout=10, hw=(11, 13), kernel=(7, 7), stride=(2, 2),
                         padding=(3, 3), groups=2, x=(8, False, 0), y=(8, False, 0),
                         geometry=(3, 5)),
    "dilated3x3": dict(cin=3, cout=5, hw=(6, 10), kernel=(3, 3), dilation=(2, 3),
                       padding=(2, 3), x=(8, True, 0), y=(8, True, -7)),
    # a kernel and a stride that differ between height and width (every descriptor field its own)
    "rect5x2s21": dict(cin=5, cout=6, hw=(9, 8), kernel=(5, 2), stride=(2, 1), padding=(2, 0),
                       x=(8, True, 2), y=(8, True, -3)),
    "pointwise_k1": dict(cin=1, cout=9, hw=(5, 5), kernel=(1, 1), padding=(1, 1),
                         x=(8, False, 0), y=(8, True, 0), extreme_bias=True),
    "residual_signed": dict(cin=8, cout=8, hw=(6, 6), kernel=(3, 3), padding=(1, 1),
                            x=(8, True, -5), y=(8, True, 3), residual=True, geometry=(4, 4)),
    # one row: the drain of a result has no row walk (engine_post's d_row_q stays 0)
    "single_row": dict(cin=3, cout=7, hw=(5, 4), kernel=(3, 3), padding=(1, 1),
                       x=(8, False, 0), y=(8, True, 2), geometry=(1, 8)),
    "linear_tokens": dict(kind="linear", cin=20, cout=12, tokens=5, x=(8, False, 0),
                          y=(8, True, -29)),
    # 16 and 24 columns: output words wider than 64 bits (COLS * OBITS), 3 column tiles of 9
    "wide_array_16": dict(cin=20, cout=40, hw=(5, 6), kernel=(3, 3), padding=(1, 1),
                          x=(8, False, 0), y=(8, True, 5), geometry=(4, 16)),
    "wide_array_24": dict(kind="linear", cin=30, cout=27, tokens=7, x=(8, True, 3),
                          y=(8, False, 0), geometry=(3, 24)),
    # matmuls of two activations [lead, M, K] x [lead, K, N] (one group per leading index):
    # Q.K^T-like with signed operands, attention.V-like with an unsigned first operand and an
    # unsigned second operand with a large zero point (w - w_zp spans 9 bits)
    "matmul_qk": dict(kind="matmul", lead=(1, 3), mkn=(17, 16, 17), x=(8, True, -1),
                      b=(8, True, 5), y=(8, True, -24)),
    "matmul_av": dict(kind="matmul", lead=(2, 2), mkn=(9, 13, 6), x=(8, False, 0),
                      b=(8, False, 131), y=(8, False, 3), geometry=(3, 5)),
}


def _requant_for(acc, rng, channel_axis):
    """(m, s) per channel that map each channel's accumulators onto ~[-100, 100]."""
    from t2c import arith

    a = np.moveaxis(np.abs(np.asarray(acc, dtype=np.float64)), channel_axis, 0)
    peak = np.maximum(a.reshape(a.shape[0], -1).max(axis=1), 1.0)
    return arith.quantize_multiplier(100.0 / peak * rng.uniform(0.7, 1.5, peak.shape))


def synthetic_graph(name: str):
    """A seeded single-layer IntGraph (plus a producer of the residual) and its input codes."""
    from t2c import arith
    from t2c.ir import Conv2d, IntGraph, Linear, Requant, TensorSpec
    from t2c.gemm import conv_accumulate, linear_accumulate  # int64 numpy, no torch

    cfg = SYNTHETIC[name]
    rng = np.random.default_rng([SYNTHETIC_SEED, len(name), sum(map(ord, name))])
    xb, xs, xz = cfg["x"]
    yb, ys, yz = cfg["y"]
    lo, hi = arith.qrange(xb, xs)
    tensors = {}

    def spec(tname, shape, bits, signed, zp):
        tensors[tname] = TensorSpec(tname, tuple(shape), bits, signed, zp, 0.01)

    def clamp(signed, zp):
        qlo, qhi = arith.qrange(yb, signed)
        return (zp if not signed else qlo), qhi  # unsigned outputs: ReLU (qmin = zp)

    if cfg.get("kind") == "matmul":
        return _matmul_graph(name, cfg, rng, spec, clamp, tensors)
    cin, cout = cfg["cin"], cfg["cout"]
    if cfg.get("kind") == "linear":
        shape = (1, cfg["tokens"], cin)
        x = rng.integers(lo, hi + 1, shape)
        w = rng.integers(-128, 128, (cout, cin))
        bias = rng.integers(-5000, 5000, cout)
        acc = linear_accumulate(x, w, bias, xz)
        m, s = _requant_for(acc, rng, 2)
        qmin, qmax = clamp(ys, yz)
        op = Linear(name=name, inputs=["x"], output="y", weight=w, bias=bias, x_zero_point=xz,
                    requant=Requant(m, s, yz, qmin, qmax))
        spec("x", shape, xb, xs, xz)
        spec("y", acc.shape, yb, ys, yz)
        return IntGraph([op], tensors, "x", "y", meta={"model": "synthetic"}), x

    h, wd = cfg["hw"]
    kh, kw = cfg["kernel"]
    geo = dict(stride=cfg.get("stride", (1, 1)), padding=cfg.get("padding", (0, 0)),
               dilation=cfg.get("dilation", (1, 1)), groups=cfg.get("groups", 1))
    x = rng.integers(lo, hi + 1, (1, cin, h, wd))
    x.flat[:4] = [lo, hi, lo, hi]  # range ends
    w = rng.integers(-128, 128, (cout, cin // geo["groups"], kh, kw))
    w.flat[:2] = [-128, 127]
    bias = rng.integers(-20000, 20000, cout)
    if cfg.get("extreme_bias"):
        bias[:2] = [2**31 - 1 - 255 * 128, -(2**31) + 255 * 128]
    ops = []
    inputs = ["x"]
    spec("x", x.shape, xb, xs, xz)
    if cfg.get("residual"):  # x is the residual; a 1x1 conv makes the main input "a"
        wa = rng.integers(-128, 128, (cin, cin, 1, 1))
        acc_a = conv_accumulate(x, wa, np.zeros(cin, np.int64), xz, (1, 1), (0, 0), (1, 1), 1)
        ma, sa = _requant_for(acc_a, rng, 1)
        pre = Conv2d(name="pre", inputs=["x"], output="a", weight=wa, bias=np.zeros(cin, np.int64),
                     x_zero_point=xz, requant=Requant(ma, sa, 11, -128, 127))
        ops.append(pre)
        spec("a", x.shape, 8, True, 11)
        inputs = ["a", "x"]
    zin = 11 if cfg.get("residual") else xz
    probe = IntGraph(list(ops), dict(tensors), "x", inputs[0])
    xin = probe.run(x).output if ops else x
    acc = conv_accumulate(xin, w, bias, zin, geo["stride"], geo["padding"], geo["dilation"],
                          geo["groups"])
    qmin, qmax = clamp(ys, yz)
    if cfg.get("residual"):
        ms, s = arith.quantize_multiplier_common(
            [100.0 / np.maximum(np.abs(acc).reshape(cout, -1).max(axis=1), 1), np.full(cout, 0.6)])
        rq = Requant(ms[0], s, yz, qmin, qmax, residual_m=ms[1], residual_zero_point=xz)
    else:
        m, s = _requant_for(acc, rng, 1)
        rq = Requant(m, s, yz, qmin, qmax)
    ops.append(Conv2d(name=name, inputs=inputs, output="y", weight=w, bias=bias, x_zero_point=zin,
                      requant=rq, **geo))
    spec("y", acc.shape, yb, ys, yz)
    return IntGraph(ops, tensors, "x", "y", meta={"model": "synthetic"}), x


def _matmul_graph(name, cfg, rng, spec, clamp, tensors):
    """``x @ b`` with ``b`` a stored activation (a Constant op): the engine's matmul path."""
    from t2c import arith
    from t2c.ir import Constant, IntGraph, MatMul, Requant

    (xb, xs, xz), (bb, bs, bz), (yb, ys, yz) = cfg["x"], cfg["b"], cfg["y"]
    m_rows, k, n = cfg["mkn"]
    x = rng.integers(*arith.qrange(xb, xs), (*cfg["lead"], m_rows, k), endpoint=True)
    b = rng.integers(*arith.qrange(bb, bs), (*cfg["lead"], k, n), endpoint=True)
    x.flat[:2], b.flat[:2] = arith.qrange(xb, xs), arith.qrange(bb, bs)  # range ends
    acc = (x - xz) @ (b - bz)
    m, s = arith.quantize_multiplier(np.array([100.0 / max(int(np.abs(acc).max()), 1)]))
    spec("x", x.shape, xb, xs, xz)
    spec("b", b.shape, bb, bs, bz)
    spec("y", acc.shape, yb, ys, yz)
    ops = [Constant(name="b", inputs=[], output="b", value=b),
           MatMul(name=name, inputs=["x", "b"], output="y", a_zero_point=xz, b_zero_point=bz,
                  requant=Requant(m, s, yz, *clamp(ys, yz)))]
    return IntGraph(ops, tensors, "x", "y", meta={"model": "synthetic"}), x


def synthetic_golden(name: str, tmp_root) -> Golden:
    """Golden directory of a synthetic layer (deterministic), under ``tmp_root``."""
    graph, x = synthetic_graph(name)
    return open_golden(write_golden(graph, x, tmp_root / name))


@pytest.mark.parametrize("name", list(SYNTHETIC))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_synthetic_layer(sim, name, tmp_path, request):
    toolchain.require_simulator(sim)
    rows, cols = SYNTHETIC[name].get("geometry", (8, 8))
    golden = synthetic_golden(name, tmp_path)
    res = run_layer(golden, name, SimOptions(sim=sim, rows=rows, cols=cols, tag=request.node.name,
                                             quiet=False))
    print(res.verdict())
    assert res.passed, res.message
    want = timing(E.EngineLayer.from_golden(golden, name), E.Geometry(rows=rows, cols=cols))
    assert (res.stats["eng_steps"], res.cycles) == want


def test_partial_run(request):
    """pix_end: only the first N output pixels are computed (and compared), K-steps exact."""
    sim = toolchain.first_simulator()
    golden = open_golden(ensure_golden("digits-cnn"))
    res = run_layer(golden, "conv1", SimOptions(sim=sim, pix_end=20, tag=request.node.name, quiet=False))
    print(res.verdict())
    assert res.passed, res.message
    assert res.compared == 16 * 20 and res.stats["eng_steps"] == 3 * 2 * 9  # 3 row tiles x 2 column tiles x K


def test_pixels_out_of_range_is_refused():
    golden = open_golden(ensure_golden("digits-cnn"))
    for bad in (0, -1, 65):
        with pytest.raises(ValueError, match="outside 1..64"):
            run_layer(golden, "conv1", SimOptions(pix_end=bad))


@pytest.mark.parametrize("damage", ["truncated_weights", "descriptor_magic"])
def test_bad_image_fails(damage, tmp_path, monkeypatch, request):
    """An image that stops short of its guard word, or a descriptor that is not t2c's, makes
    the run fail (the engine raises err_o for the latter) instead of passing on zeros or x."""
    sim = toolchain.first_simulator()
    real = E.write_images

    def damaged(*args, **kwargs):
        images = real(*args, **kwargs)
        name = "weight" if damage == "truncated_weights" else "desc"
        lines = images.paths[name].read_text().splitlines(keepends=True)
        if damage == "truncated_weights":
            lines = lines[:-1]  # drop the guard word
        else:
            i = next(k for k, ln in enumerate(lines) if ln.strip() == f"{E.MAGIC:08x}")
            lines[i] = "74326500\n"
        images.paths[name].write_text("".join(lines))
        return images

    monkeypatch.setattr(E, "write_images", damaged)
    golden = open_golden(ensure_golden("digits-cnn"))
    with pytest.raises(SimulationError, match="not .fully. loaded" if damage == "truncated_weights"
                       else "raised eng_err"):
        run_layer(golden, "conv3", SimOptions(sim=sim, tag=request.node.name))


def test_matmul_needs_the_weight_zero_point(tmp_path, monkeypatch, request):
    """An engine that feeds the MAC array the second operand's codes without subtracting
    its zero point still passes every conv (w_zp = 0) but fails the matmul and names it."""
    sim = toolchain.first_simulator()
    use_broken_copy(tmp_path / "rtl", monkeypatch, "layer_engine",
                    "{w_signed & wc[WBITS-1], wc} - d_w_zp[WXB-1:0]", "{w_signed & wc[WBITS-1], wc}")
    golden = synthetic_golden("matmul_qk", tmp_path)
    res = run_layer(golden, "matmul_qk", SimOptions(sim=sim, tag=request.node.name))
    print(res.message)
    assert res.mismatches > 0 and "as (b0, b1, row, col)" in res.message
    conv = run_layer(open_golden(ensure_golden("digits-cnn")), "conv1",
                     SimOptions(sim=sim, tag=request.node.name + "-conv1"))
    assert conv.passed, conv.message


@pytest.mark.slow
def test_resnet18_layer1_0_conv1(request):
    """torchvision resnet18 (seeded weights) layer1.0.conv1: 56x56x64 -> 64, K = 576."""
    toolchain.require_simulator("verilator")
    golden = open_golden(ensure_golden("resnet18"))
    res = run_layer(golden, "layer1.0.conv1", SimOptions(sim="verilator", tag=request.node.name,
                                                         quiet=False))
    print(res.verdict())
    assert res.passed, res.message
    want = timing(E.EngineLayer.from_golden(golden, "layer1.0.conv1"), E.Geometry())
    assert (res.stats["eng_steps"], res.cycles) == want


# ------------------------------------------------------------------ timing over tile shapes
def pointwise_golden(cin: int, hw: tuple[int, int], cout: int, root) -> Golden:
    """A seeded 1x1 conv (K = cin) of hw pixels and cout channels."""
    from t2c import arith
    from t2c.ir import Conv2d, IntGraph, Requant, TensorSpec
    from t2c.gemm import conv_accumulate

    rng = np.random.default_rng([SYNTHETIC_SEED, cin, *hw, cout])
    x = rng.integers(-128, 128, (1, cin, *hw))
    w = rng.integers(-128, 128, (cout, cin, 1, 1))
    b = rng.integers(-999, 999, cout)
    acc = conv_accumulate(x, w, b, 0, (1, 1), (0, 0), (1, 1), 1)
    m, s = arith.quantize_multiplier(np.full(cout, 100.0 / max(1, int(np.abs(acc).max()))))
    tensors = {"x": TensorSpec("x", x.shape, 8, True, 0, 0.01), "y": TensorSpec("y", acc.shape, 8, True, 0, 0.01)}
    op = Conv2d(name="pw", inputs=["x"], output="y", weight=w, bias=b, x_zero_point=0,
                requant=Requant(m, s, 0, -128, 127))
    name = f"pw{cin}_{hw[0]}x{hw[1]}_{cout}"
    return open_golden(write_golden(IntGraph([op], tensors, "x", "y", meta={"model": "synthetic"}), x,
                                    root / name))


TIMING_SHAPES = [(cin, hw, cout, rows) for rows in (8, 3) for cin in (1, 2, rows + 1)
                 for hw in ((2, rows // 2 * 2 or 1), (3, 3)) for cout in (8, 9)]


@pytest.mark.parametrize("cin, hw, cout, rows", TIMING_SHAPES,
                         ids=[f"K{c}-{h}x{w}-C{o}-R{r}" for c, (h, w), o, r in TIMING_SHAPES])
def test_timing_formula_over_tile_shapes(cin, hw, cout, rows, tmp_path, request):
    """K below, at and above GAP, one or two column tiles, one or several row tiles (full or
    partial), two array heights: K-steps and cycles equal ``timing`` exactly."""
    sim = toolchain.first_simulator()
    golden = pointwise_golden(cin, hw, cout, tmp_path)
    res = run_layer(golden, "pw", SimOptions(sim=sim, rows=rows, tag=request.node.name))
    assert res.passed, res.message
    want = timing(E.EngineLayer.from_golden(golden, "pw"), E.Geometry(rows=rows))
    assert (res.stats["eng_steps"], res.cycles) == want


BATCHED = ["depthwise3x3s2", "grouped7x7s2", "dilated3x3", "residual_signed", "linear_tokens", "matmul_av"]


@pytest.mark.parametrize("name", BATCHED)
def test_batch_of_three_in_one_run(name, tmp_path, request):
    """Three images through one engine run: convs stacked along H (stride, padding,
    dilation, groups and a residual keep the images apart), linear layers and matmuls with
    the batch in their rows; every element equal, K-steps and cycles from the formula."""
    from t2c.ir import IntGraph

    sim = toolchain.first_simulator()
    graph, x = synthetic_graph(name)
    rng = np.random.default_rng([SYNTHETIC_SEED, 3])
    spec = graph.tensors[graph.input]
    x3 = np.concatenate([x] + [rng.integers(spec.qmin, spec.qmax + 1, x.shape) for _ in range(2)], axis=0)
    if name == "matmul_av":  # b (a stored constant) is per batch: repeat it for the new images
        const = graph.ops[0]
        graph = IntGraph([type(const)(name=const.name, inputs=[], output=const.output,
                                      value=np.concatenate([const.value] * 3, axis=0)), *graph.ops[1:]],
                         graph.tensors, graph.input, graph.output, graph.meta)
    golden = open_golden(write_golden(graph, x3, tmp_path / name))
    rows, cols = SYNTHETIC[name].get("geometry", (8, 8))
    res = run_layer(golden, name, SimOptions(sim=sim, rows=rows, cols=cols, tag=request.node.name))
    print(res.verdict())
    assert res.passed and res.compared == int(np.load(tmp_path / name / name / "output.npy").size), res.message
    layer = E.EngineLayer.from_golden(golden, name)
    if layer.kind == "conv":
        layer = E.stack_batch(layer, 3).layer
    assert (res.stats["eng_steps"], res.cycles) == timing(layer, E.Geometry(rows=rows, cols=cols))
