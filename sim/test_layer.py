"""Layers through rtl/layer_engine.v on Icarus and Verilator, compared with golden vectors
(``==`` on every output element).

* every conv/linear layer of the default model (``golden/digits-cnn``);
* every layer of digits-vit the engine runs: patch embedding, QKV, projection (with the
  fused residual), MLP, head, and the attention matmuls Q·Kᵀ and attention·V of both
  blocks (two activations, the second one in the weight memory with its zero point);
* synthetic single-layer graphs for what the default model does not exercise:
  depthwise and grouped convs (column tiles straddling groups), 7x7 kernels, stride,
  padding, dilation, a 1x1 conv with K = 1 (back-to-back tiles shorter than the drain),
  signed inputs with nonzero zero points, a residual add with a signed residual and
  nonzero zero point, a linear layer over tokens, channel counts that are not multiples
  of the array, non-default array geometries, and matmuls with signed and unsigned
  operands and zero points;
* a corrupted golden output (one bit flipped, checksum fixed) must make the run fail and
  name the element; an engine that forgets the weight zero point fails the matmuls;
* torchvision resnet18 ``layer1.0.conv1`` (56x56x64, K = 576) on Verilator (``slow``).

The flow is in sim/layer_util.py (shared with ``make sim`` and the benchmark).  A failure
names model, layer, the number of differing elements and the first few as (n, c, h, w)
with expected and got (and the waveform file with ``WAVES=1``).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import cocotb
import layer_util as lu
import simutil as su

MODEL = lu.DEFAULT_MODEL
LAYERS = lu.engine_layers(lu.golden_dir(MODEL))  # conv1 .. conv4, fc
VIT_MODEL = "digits-vit"
VIT_LAYERS = ["patch_embed.proj", "head"] + [  # every layer of digits-vit the engine runs
    f"blocks.{b}.{op}" for b in (0, 1)
    for op in ("attn.qkv", "attn.qk", "attn.av", "attn.proj", "mlp.fc1", "mlp.fc2")]
SYNTHETIC_SEED = 2024


def _first_sim() -> str:
    """The first simulator that can run here (single-simulator negative tests)."""
    sim = next((s for s in su.SIMULATORS if su.simulator_missing(s) is None), None)
    if sim is None:
        pytest.skip(su.simulator_missing("icarus"))
    return sim


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def layer_tb(dut):
    """Await the free-running engine once, check its flags and image guards (the output
    memory is compared with the golden output on the pytest side)."""
    await lu.run_engine(dut)


# ------------------------------------------------------------------ model layers
# (sim, model, layer): the default model's layers and the attention matmuls on both
# simulators; digits-vit's other layers (the same conv/linear datapath) on Icarus, which
# builds in ~1 s and runs these small layers in ~1 s (a Verilator build takes ~6 s)
CASES = [(sim, model, layer) for sim in su.SIMULATORS
         for model, layer in [(MODEL, n) for n in LAYERS] + [(VIT_MODEL, n) for n in VIT_LAYERS]
         if sim == "icarus" or model == MODEL or layer.endswith((".attn.qk", ".attn.av"))]


@pytest.mark.parametrize("sim,model,layer", CASES, ids=[f"{s}-{m}-{n}" for s, m, n in CASES])
def test_layer(sim, model, layer, request):
    """Golden vectors of the committed default model, or generated once (deterministic)."""
    su.require_simulator(sim)
    res = lu.run(model, layer, sim, test_id=request.node.name, quiet=False)
    print(lu.verdict(res))
    assert res.mismatches == 0, res.message


def test_vit_layer_list_is_every_engine_layer():
    assert sorted(VIT_LAYERS) == sorted(lu.engine_layers(lu.ensure_golden(VIT_MODEL)))


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
    "pointwise_k1": dict(cin=1, cout=9, hw=(5, 5), kernel=(1, 1), padding=(1, 1),
                         x=(8, False, 0), y=(8, True, 0), extreme_bias=True),
    "residual_signed": dict(cin=8, cout=8, hw=(6, 6), kernel=(3, 3), padding=(1, 1),
                            x=(8, True, -5), y=(8, True, 3), residual=True, geometry=(4, 4)),
    "linear_tokens": dict(kind="linear", cin=20, cout=12, tokens=5, x=(8, False, 0),
                          y=(8, True, -29)),
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
    from t2c.ref import conv_accumulate, linear_accumulate

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


def synthetic_golden(name: str):
    """Golden directory of a synthetic layer (generated once, deterministic)."""
    d = lu.GOLDEN_CACHE / "synthetic" / name
    with lu._lock(lu.GOLDEN_CACHE / "synthetic" / f"{name}.lock"):
        if not (d / "manifest.json").is_file():
            from t2c.golden import write_golden

            graph, x = synthetic_graph(name)
            write_golden(graph, x, d)
    return d


@pytest.mark.parametrize("name", list(SYNTHETIC))
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_synthetic_layer(sim, name, request):
    su.require_simulator(sim)
    from t2c.export.engine import Geometry

    rows, cols = SYNTHETIC[name].get("geometry", (8, 8))
    res = lu.run("synthetic", name, sim, test_id=request.node.name, gdir=synthetic_golden(name),
                 geometry=Geometry(rows=rows, cols=cols), quiet=False)
    print(lu.verdict(res))
    assert res.mismatches == 0, res.message


# ------------------------------------------------------------------ the check can fail
def flip_bit(gdir, layer: str, element: int, bit: int) -> tuple[tuple, int, int]:
    """Flip one bit of element ``element`` of ``layer``'s golden output file in place and
    fix its checksum in the manifest; returns (index, old value, new value)."""
    manifest_path = gdir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    rel = f"{layer}/output.npy"
    path = gdir / rel
    arr = np.load(path)
    raw = bytearray(path.read_bytes())
    offset = len(raw) - arr.nbytes + element * arr.itemsize + bit // 8
    raw[offset] ^= 1 << (bit % 8)
    path.write_bytes(bytes(raw))
    manifest["sha256"][rel] = hashlib.sha256(bytes(raw)).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    new = np.load(path)
    idx = tuple(int(i) for i in np.unravel_index(element, arr.shape))
    return idx, int(arr[idx]), int(new[idx])


@pytest.mark.parametrize("layer", ["conv2", "fc"])
def test_flipped_expected_bit_fails(layer, tmp_path, request):
    """One bit of the expected output flipped (checksum fixed): the run fails and names it."""
    sim = _first_sim()
    gdir = lu.copy_golden(lu.golden_dir(MODEL), tmp_path / MODEL)
    n = int(np.load(gdir / layer / "output.npy").size)
    itembits = 8 * np.load(gdir / layer / "output.npy").itemsize
    rng = np.random.default_rng(su.test_seed())
    element, bit = int(rng.integers(n)), int(rng.integers(itembits))
    idx, old, new = flip_bit(gdir, layer, element, bit)
    res = lu.run(MODEL, layer, sim, test_id=request.node.name, gdir=gdir, quiet=False)
    print(res.message)
    assert res.mismatches == 1, res.message
    assert res.first == [(idx, new, old)]
    assert f"({', '.join(map(str, idx))}): expected {new}, got {old}" in res.message
    assert f"{MODEL} {layer} ({sim}): 1 of {res.compared}" in res.message


# ------------------------------------------------------------------ a larger layer
@pytest.mark.slow
def test_resnet18_layer1_0_conv1(request):
    """torchvision resnet18 (seeded weights) layer1.0.conv1: 56x56x64 -> 64, K = 576."""
    su.require_simulator("verilator")
    res = lu.run("resnet18", "layer1.0.conv1", "verilator", test_id=request.node.name, quiet=False)
    print(lu.verdict(res))
    assert res.mismatches == 0, res.message
    assert res.utilization > 0.9


@pytest.mark.parametrize("damage", ["truncated_weights", "descriptor_magic"])
def test_bad_image_fails(damage, request):
    """An image that stops short of its guard word, or a descriptor that is not t2c's, makes
    the run fail (the engine raises err_o for the latter) instead of passing on zeros or x."""
    sim = _first_sim()
    job, ctx = lu.prepare(MODEL, "conv3", sim, test_id=request.node.name)
    paths = ctx["images"].paths
    if damage == "truncated_weights":
        lines = paths["weight"].read_text().splitlines(keepends=True)
        paths["weight"].write_text("".join(lines[:-1]))  # drop the guard word
    else:
        lines = paths["desc"].read_text().splitlines(keepends=True)
        from t2c.export.engine import MAGIC

        assert lines[1].strip() == f"{MAGIC:08x}"
        lines[1] = "74326500\n"
        paths["desc"].write_text("".join(lines))
    with pytest.raises(SystemExit):
        su.build_and_test(**job)


def test_partial_run(request):
    """pix_end: only the first N output pixels are computed (and compared)."""
    sim = _first_sim()
    res = lu.run(MODEL, "conv1", sim, test_id=request.node.name, pix_end=20, quiet=False)
    print(lu.verdict(res))
    assert res.mismatches == 0, res.message
    assert res.compared == 16 * 20 and res.steps == 3 * 2 * 9  # 3 row tiles x 2 column tiles x K


def use_broken_unit(tmp_path, monkeypatch, module: str, good: str, bad: str) -> None:
    """Run the engine with a copy of ``rtl/<module>.v`` whose text ``good`` is ``bad``
    (through T2C_RTL_DIR, as a user's own unit would be)."""
    text = (su.RTL_DIR / f"{module}.v").read_text()
    broken = text.replace(good, bad)
    assert broken != text, f"{module}.v changed: update this test's edit"
    (tmp_path / f"{module}.v").write_text(broken)
    monkeypatch.setenv("T2C_RTL_DIR", str(tmp_path))
    assert lu.rtl_sources()[lu.RTL.index(module)] == tmp_path / f"{module}.v"


def test_matmul_needs_the_weight_zero_point(tmp_path, monkeypatch, request):
    """An engine that feeds the MAC array the second operand's codes without subtracting
    its zero point still passes every conv (w_zp = 0) but fails the matmul and names it."""
    sim = _first_sim()
    use_broken_unit(tmp_path, monkeypatch, "layer_engine",
                    "{w_signed & wc[WBITS-1], wc} - d_w_zp[WXB-1:0]", "{w_signed & wc[WBITS-1], wc}")
    res = lu.run("synthetic", "matmul_qk", sim, test_id=request.node.name,
                 gdir=synthetic_golden("matmul_qk"), quiet=False)
    print(res.message)
    assert res.mismatches > 0 and "as (b0, b1, row, col)" in res.message
    conv = lu.run(MODEL, "conv1", sim, test_id=request.node.name + "-conv1", quiet=False)
    assert conv.mismatches == 0, conv.message


def test_own_unit_replaces_ours(tmp_path, monkeypatch, request):
    """T2C_RTL_DIR: your version of one of our units runs in the same testbench.  Here a
    mac_pe whose accumulator drops the bias: every output can change, and the check says so."""
    sim = _first_sim()
    use_broken_unit(tmp_path, monkeypatch, "mac_pe", "(first_i ? bias_i : acc_q)",
                    "(first_i ? {ACCW{1'b0}} : acc_q)")
    res = lu.run(MODEL, "conv2", sim, test_id=request.node.name, quiet=False)
    print(res.message)
    assert res.mismatches > 0 and "expected" in res.message
