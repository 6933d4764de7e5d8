"""rtl/eltwise.v (wrapper sim/hdl/tb_eltwise.v) against t2c.arith, bit for bit, on Icarus and
Verilator.

Through the unit's job builder (``t2c.sim.units.eltwise``), compared on the pytest side with
``==`` (``t2c.sim.compare``).  Per element the unit computes
``clip((((a - za) ma + (b - zb) mb + 2^(s-1)) >> s) + zy, qmin, qmax)``; the reference is
``t2c.arith.requantize_sum([(a - za) ma, (b - zb) mb], s, zy, qmin, qmax)`` for every shift
1..63 (s = 63 is exact in int64 here: the sum is below 2^(IN_BITS+MULT_BITS+1)) and, for
s = 0 (outside the contract), the header's ``clip(sum + zy, qmin, qmax)``.

Per configuration (LANES 1 / 4 with input bubbles / 2 with 4-bit codes, 12-bit outputs and
16-bit multipliers): >= 100,000 random elements in five mixes and every edge vector:

* ``add``: codes of 2..8-bit signed / unsigned ranges (a and b independently), zero points
  anywhere in range or at either end, ``(m, residual_m), s`` from
  ``t2c.arith.quantize_multiplier_common`` of random scales (as the converter makes them),
  output ranges of 2..OUT_BITS bits with the zero point at either end, ReLU-fused
  (qmin = zy) sometimes;
* ``concat`` (one part's rescale): ``mb = 0`` and a random ``b``, which must be ignored;
  ``(m, s) = quantize_multiplier(real)``; checked equal to ``t2c.arith.requantize(a - za,
  m, s, zy, qmin, qmax)`` too;
* ``relu``: ``ma = 2, s = 1, mb = 0, za = zy = 0``, qmin = the ReLU zero point (anywhere,
  both ends), qmax at or below the code maximum (ReLU6); checked equal to
  ``clip(x, zero_point, qmax)`` (t2c.ref._relu) too;
* ``port``: every field uniform over its whole port (a, b, za, zb over IN_BITS + 1 bits, ma
  and mb over [0, 2^(MULT_BITS-1)), s over 0..63, zy / qmin / qmax over OUT_BITS + 1 bits,
  qmin > qmax included: numpy.clip order gives qmax);
* ``ties``: the sum an exact odd multiple of 2^(s-1) and +-1 beside it, for every shift
  where a tie exists.

Edges: every extreme difference (a - za and b - zb at +-(2^(IN_BITS+1) - 1), +-1, 0) x ma, mb
in {0, 1, 2^(MULT_BITS-2), 2^(MULT_BITS-1) - 1} x every shift 0..63 over the full output
port; zy / qmin / qmax over the port's ends and -1 / 0 / 1 (independently); multipliers
with their ignored MSB set.

Cycles exact: ``last issue + 2 + LATENCY`` (LATENCY = 5), without bubbles ``NVEC + 6``.
Negative tests: the same output against a floor-rounding reference and against one that
ignores the b term must report mismatches.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import build_dir_for, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.units import SimOptions
from t2c.sim.units import eltwise as unit
from t2c.sim.units.eltwise import OPERANDS, RELU_M, RELU_S, port_ranges

N_RANDOM = 102_400          # random elements per configuration (acceptance: >= 100,000)
MIXES = ("add", "concat", "relu", "port", "ties")
CONFIGS = {
    "lanes1": dict(lanes=1, in_bits=8, out_bits=8, mult_bits=32, gaps=0),
    "lanes4_gaps": dict(lanes=4, in_bits=8, out_bits=8, mult_bits=32, gaps=1),
    "lanes2_in4_out12_m16": dict(lanes=2, in_bits=4, out_bits=12, mult_bits=16, gaps=0),
}


def build(cfg: dict, n: int) -> dict:
    return unit.parameters(nx=n, lanes=cfg["lanes"], in_bits=cfg["in_bits"], out_bits=cfg["out_bits"],
                           mult_bits=cfg["mult_bits"], gaps=cfg["gaps"])


# ------------------------------------------------------------------ reference
def m_eff(m, mult_bits: int):
    """m as the port reads it: its MSB ignored."""
    return np.asarray(m, dtype=np.int64) & np.int64((1 << (mult_bits - 1)) - 1)


def terms(v: dict, mult_bits: int, b_term: bool = True):
    ta = (v["a"] - v["za"]) * m_eff(v["ma"], mult_bits)
    tb = (v["b"] - v["zb"]) * m_eff(v["mb"], mult_bits)
    return ta, (tb if b_term else np.zeros_like(tb))


def reference(v: dict, mult_bits: int, *, rounding: bool = True, b_term: bool = True) -> np.ndarray:
    """t2c.arith.requantize_sum for s >= 1; the header's s = 0 formula (no rounding term).
    ``rounding=False``: floor instead of round half up (a wrong reference); ``b_term=False``:
    the b term ignored (another)."""
    ta, tb = terms(v, mult_bits, b_term)
    s = v["s"]
    pos = s >= 1
    s1 = np.where(pos, s, 1)
    if rounding:
        y = arith.requantize_sum([ta, tb], s1, v["zy"], v["qmin"], v["qmax"])
    else:
        y = np.clip(((ta + tb) >> s1) + v["zy"], v["qmin"], v["qmax"])
    y0 = np.clip(ta + tb + v["zy"], v["qmin"], v["qmax"])
    return np.where(pos, y, y0)


# ------------------------------------------------------------------ vectors
def code_ranges(bits: int) -> list[tuple[int, int]]:
    """Every 2..bits-bit signed and unsigned code range."""
    return [arith.qrange(b, sg) for b in range(2, bits + 1) for sg in (True, False)]


def _pick_ranges(rng, n: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    rs = np.array(code_ranges(bits))
    pick = rs[rng.integers(0, len(rs), n)]
    return pick[:, 0], pick[:, 1]


def _in_range_or_end(rng, lo, hi, p_end: float = 0.2):
    v = rng.integers(lo, hi + 1)
    e = rng.random(np.shape(lo))
    return np.where(e < p_end / 2, lo, np.where(e < p_end, hi, v))


def _codes(rng, n: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of random ranges and a zero point of the same range (anywhere, or an end)."""
    lo, hi = _pick_ranges(rng, n, bits)
    return _in_range_or_end(rng, lo, hi, 0.1), _in_range_or_end(rng, lo, hi)


def _out(rng, n: int, cfg: dict) -> dict:
    lo, hi = _pick_ranges(rng, n, cfg["out_bits"])
    zy = _in_range_or_end(rng, lo, hi)
    qmin = np.where(rng.random(n) < 0.15, zy, lo)  # ReLU fused: qmin = zy
    return dict(zy=zy, qmin=qmin, qmax=hi)


def _reals(rng, n: int, mult_bits: int) -> np.ndarray:
    """Scales the converter makes: 2^-40 .. below the largest a shift >= 1 allows."""
    return 2.0 ** rng.uniform(-40, min(6, mult_bits - 4), n)


def mix_add(rng, n: int, cfg: dict) -> dict:
    mb = cfg["mult_bits"]
    a, za = _codes(rng, n, cfg["in_bits"])
    b, zb = _codes(rng, n, cfg["in_bits"])
    ms, s = arith.quantize_multiplier_common(np.stack([_reals(rng, n, mb), _reals(rng, n, mb)]), mb)
    return dict(a=a, b=b, za=za, zb=zb, ma=ms[0], mb=ms[1], s=s, **_out(rng, n, cfg))


def mix_concat(rng, n: int, cfg: dict) -> dict:
    a, za = _codes(rng, n, cfg["in_bits"])
    lo, hi = port_ranges(build(cfg, cfg["lanes"]))["b"]
    m, s = arith.quantize_multiplier(_reals(rng, n, cfg["mult_bits"]), cfg["mult_bits"])
    return dict(a=a, b=rng.integers(lo, hi + 1, n), za=za, zb=rng.integers(lo, hi + 1, n), ma=m,
                mb=np.zeros(n, dtype=np.int64), s=s, **_out(rng, n, cfg))


def mix_relu(rng, n: int, cfg: dict) -> dict:
    lo, hi = _pick_ranges(rng, n, min(cfg["in_bits"], cfg["out_bits"]))  # codes kept: both fit
    x = _in_range_or_end(rng, lo, hi, 0.1)
    zp = _in_range_or_end(rng, lo, hi)
    qmax = np.where(rng.random(n) < 0.5, hi, rng.integers(zp, hi + 1))  # ReLU6: qmax below the top
    z = np.zeros(n, dtype=np.int64)
    return dict(a=x, b=z, za=z, zb=z, ma=np.full(n, RELU_M), mb=z, s=np.full(n, RELU_S), zy=z,
                qmin=zp, qmax=qmax)


def mix_port(rng, n: int, cfg: dict) -> dict:
    """Every field uniform over its port (or at an end); multipliers over [0, 2^(MULT_BITS-1))."""
    pr = {**port_ranges(build(cfg, cfg["lanes"])), **unit.multiplier_range(cfg["mult_bits"])}
    return {k: _in_range_or_end(rng, np.full(n, lo), np.full(n, hi), 0.1) for k, (lo, hi) in pr.items()}


def mix_ties(rng, n: int, cfg: dict) -> dict:
    """The sum (a - za) ma + (b - zb) mb an exact odd multiple of 2^(s-1), or +-1 beside it:
    b - zb = 1 and mb chosen to complete the tie (for every s whose tie mb fits its range)."""
    mbits = cfg["mult_bits"]
    v = mix_add(rng, n, cfg)
    v["s"] = rng.integers(1, min(mbits, 63), n)
    mhi = (1 << (mbits - 1)) - 1
    v["ma"] = rng.integers(0, mhi + 1, n)
    ta = (v["a"] - v["za"]) * v["ma"]
    step = np.int64(1) << v["s"]
    v["mb"] = ((step >> 1) - ta) % step + rng.integers(-1, 2, n)  # ta + mb = 2^(s-1) mod 2^s (+-1)
    v["mb"] = np.clip(v["mb"], 0, mhi)
    v["b"], v["zb"] = v["zb"] + 1, v["zb"]  # b - zb = 1 (zb below the range top: b fits the port)
    top = port_ranges(build(cfg, cfg["lanes"]))["b"][1]
    v["b"], v["zb"] = np.where(v["b"] > top, top, v["b"]), np.where(v["b"] > top, top - 1, v["zb"])
    return v


MIX_FNS = dict(add=mix_add, concat=mix_concat, relu=mix_relu, port=mix_port, ties=mix_ties)


def edge_vectors(cfg: dict) -> dict:
    """Extreme differences x multipliers at both ends x every port shift (full output port);
    the output port's ends; multipliers with the ignored MSB set."""
    pr = port_ranges(build(cfg, cfg["lanes"]))
    xlo, xhi = pr["a"]
    qlo, qhi = pr["zy"]
    mb = cfg["mult_bits"]
    ms = (0, 1, 1 << (mb - 2), (1 << (mb - 1)) - 1)
    diffs = ((xlo, xhi), (xhi, xlo), (0, 0), (1, 0), (-1, 0), (xlo, xlo), (xhi, xhi))  # (code, zero point)
    rows = [(a, b, za, zb, ma, mbv, s, 0, qlo, qhi)
            for a, za in diffs for b, zb in diffs for ma in ms for mbv in ms for s in range(64)]
    ends = (qlo, -1, 0, 1, qhi)
    rows += [(a, b, za, zb, ma, ms[-1], s, zy, lo, hi)
             for a, za in diffs[:3] for b, zb in diffs[:2] for ma in ms[2:] for s in (0, 1, 7, 40, 63)
             for zy in ends for lo in ends for hi in ends]
    msb = 1 << (mb - 1)
    rows += [(a, b, za, zb, msb | ma, msb | mbv, s, 0, qlo, qhi)
             for a, za in diffs[:3] for b, zb in diffs[:3] for ma in ms for mbv in ms for s in (0, 1, 31, 63)]
    return {k: np.array(v, dtype=np.int64) for k, v in zip(OPERANDS, zip(*rows))}


def make_vectors(rng, cfg: dict, n_random: int = N_RANDOM, edges: bool = True) -> dict:
    """Random mixes + edges, shuffled (edges reach every lane), padded to whole vectors;
    ``kind`` holds each element's mix (edges: "edge")."""
    k = n_random // len(MIXES)
    parts, kinds = [], []
    for i, mix in enumerate(MIXES):
        size = k if i < len(MIXES) - 1 else n_random - k * (len(MIXES) - 1)
        parts.append(MIX_FNS[mix](rng, size, cfg))
        kinds.append(np.full(size, mix))
    if edges:
        e = edge_vectors(cfg)
        parts.append(e)
        kinds.append(np.full(e["a"].size, "edge"))
    pad = -sum(p["a"].size for p in parts) % cfg["lanes"]
    if pad:
        parts.append(mix_port(rng, pad, cfg))
        kinds.append(np.full(pad, "port"))
    v = {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in OPERANDS}
    v["kind"] = np.concatenate(kinds)
    order = rng.permutation(v["a"].size)
    return {k: a[order] for k, a in v.items()}


def count_ties(v: dict, mult_bits: int) -> int:
    ta, tb = terms(v, mult_bits)
    s = np.where(v["s"] >= 1, v["s"], 1)
    step = np.int64(1) << s
    return int((((ta + tb) & (step - 1)) == (step >> 1))[v["s"] >= 1].sum())


# ------------------------------------------------------------------ run
def simulate(sim: str, cfg: dict, tag: str, v: dict, seed: int = 1):
    n = v["a"].size
    params = build(cfg, n)
    params["GAP_SEED"] = seed % 65535
    bdir = build_dir_for("eltwise", sim, tag, params)
    run = run_job(unit.job(bdir, SimOptions(sim=sim), params, **{k: v[k] for k in OPERANDS}))
    y, valid = unit.read(run, params)
    return run, params, y, valid


def shaped(v: dict, y, valid, lanes: int):
    shape = (v["a"].size // lanes, lanes)
    return shape, y.reshape(shape), valid.reshape(shape)


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_eltwise(sim, config, request):
    toolchain.require_simulator(sim)
    cfg = CONFIGS[config]
    seed = test_seed()
    v = make_vectors(np.random.default_rng(seed), cfg)
    mb = cfg["mult_bits"]
    want = reference(v, mb)
    # the ops the mixes stand for: the same values through their own t2c.arith / t2c.ref formulas
    c, r = v["kind"] == "concat", v["kind"] == "relu"
    assert np.array_equal(want[c], arith.requantize(v["a"][c] - v["za"][c], v["ma"][c], v["s"][c],
                                                    v["zy"][c], v["qmin"][c], v["qmax"][c]))
    assert np.array_equal(want[r], np.clip(v["a"][r], v["qmin"][r], v["qmax"][r]))
    run, params, y, valid = simulate(sim, cfg, request.node.name, v, seed)
    shape, y, valid = shaped(v, y, valid, cfg["lanes"])
    cmp = compare(want.reshape(shape), y, valid=valid, names=("vector", "lane"),
                  inputs={k: v[k].reshape(shape) for k in OPERANDS + ("kind",)})
    n = v["a"].size
    n_rand = int((v["kind"] != "edge").sum())
    ties = count_ties(v, mb)
    print(f"{request.node.name}: {cmp.compared} elements ({n_rand} random, {n - n_rand} edge, "
          f"{ties} exact ties, {int((v['s'] == 0).sum())} at s=0, {int((v['s'] == 63).sum())} at s=63), "
          f"{cmp.mismatches} mismatches, {run.cycles} cycles for {params['NVEC']} vectors")
    assert cmp.mismatches == 0, cmp.message(f"eltwise {config} on {sim}")
    assert cmp.compared == n and n_rand >= 100_000 and ties >= 1000
    assert np.array_equal(np.unique(v["s"]), np.arange(64)), "every port shift 0..63"
    for k, (lo, hi) in port_ranges(params).items():
        assert v[k].min() == lo and v[k].max() == hi, f"{k} reaches both port ends"
    want_cycles = unit.cycles(params["NVEC"], cfg["gaps"], params["GAP_SEED"])
    assert run.cycles == want_cycles, f"{run.cycles} cycles, expected {want_cycles} (last issue + 2 + 5)"
    if not cfg["gaps"]:
        assert run.cycles == params["NVEC"] + 1 + unit.LATENCY


@pytest.mark.parametrize("wrong", ["floor", "no_b"])
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_eltwise_detects_wrong_reference(sim, wrong, request):
    """The same simulated output against a floor-rounding reference, or one that ignores the
    b term, must report mismatches (while the true reference matches it exactly)."""
    toolchain.require_simulator(sim)
    cfg = CONFIGS["lanes1"]
    seed = test_seed()
    v = make_vectors(np.random.default_rng(seed), cfg, n_random=5000, edges=False)
    run, params, y, valid = simulate(sim, cfg, request.node.name, v, seed)
    shape, y, valid = shaped(v, y, valid, 1)
    right = compare(reference(v, cfg["mult_bits"]).reshape(shape), y, valid=valid)
    bad = compare(reference(v, cfg["mult_bits"], rounding=wrong != "floor", b_term=wrong != "no_b"
                            ).reshape(shape), y, valid=valid, names=("vector", "lane"))
    print(f"{request.node.name}: {wrong} reference -> {bad.mismatches} of {bad.compared} differ "
          f"(as intended); the true reference: {right.mismatches}")
    assert right.mismatches == 0, right.message("true reference")
    assert bad.mismatches > 0 and "differ" in bad.message("wrong reference")


# ------------------------------------------------------------------ Python side
@pytest.mark.parametrize("config", list(CONFIGS))
def test_vectors_cover_the_ports(config):
    """Every operand in its port's range, both ends of every port reached, the mixes present."""
    cfg = CONFIGS[config]
    v = make_vectors(np.random.default_rng(1), cfg, n_random=20_000)
    params = build(cfg, v["a"].size)
    unit.check_fits(params, v)
    for k, (lo, hi) in port_ranges(params).items():
        assert v[k].min() == lo and v[k].max() == hi, k
    assert set(MIXES) | {"edge"} == set(np.unique(v["kind"]))
    assert count_ties(v, cfg["mult_bits"]) > 1000
    with pytest.raises(ValueError, match="cannot run this: a "):
        unit.check_fits(params, {**v, "a": v["a"] + 10_000})


# ------------------------------------------------------------------ synthetic layers
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_eltwise_layers(sim, tmp_path, request):
    """The unit's layer path (t2c.sim.layers.run_layer, what `t2c sim` runs) on layers the
    default models lack or have only per tensor: a standalone ReLU6-like clip (zero point
    -20, qmax 60), an add with per-channel multipliers on the channel axis (the
    converter's quantize_multiplier_common), and a concat of an unsigned and a signed
    input along the channel axis, written as golden vectors by t2c.golden.write_golden."""
    from t2c.golden import write_golden
    from t2c.ir import Add, Concat, Constant, IntGraph, ReLU, Requant, TensorSpec
    from t2c.sim.golden_dirs import open_golden
    from t2c.sim.layers import run_layer

    toolchain.require_simulator(sim)
    rng = np.random.default_rng(test_seed())
    x = rng.integers(-128, 128, (1, 4, 5, 6))
    relu = ReLU("relu", ["x"], "relu", zero_point=-20, qmax=60)
    ms, s = arith.quantize_multiplier_common(np.array([[0.7, 0.2, 1.3, 0.01], [0.4, 0.4, 0.9, 2.0]]))
    add = Add("add", ["relu", "x"], "add", a_zero_point=-20,
              requant=Requant(ms[0], s, 3, -128, 127, residual_m=ms[1], residual_zero_point=0))
    rq = [Requant(*(np.atleast_1d(v) for v in arith.quantize_multiplier(r)), -7, -128, 127) for r in (0.6, 1.7)]
    u = TensorSpec("u", (1, 2, 5, 6), 8, False, 0, 0.1)
    cat = Concat("cat", ["u", "add"], "cat", dim=1, input_zero_points=[0, 3], requants=rq)
    specs = {"x": TensorSpec("x", x.shape, 8, True, 0, 0.1), "relu": TensorSpec("relu", x.shape, 8, True, -20, 0.1),
             "add": TensorSpec("add", x.shape, 8, True, 3, 0.1), "u": u,
             "cat": TensorSpec("cat", (1, 6, 5, 6), 8, True, -7, 0.1)}
    const = rng.integers(0, 256, u.shape)
    graph = IntGraph([relu, add, Constant("u", [], "u", value=const), cat], specs, "x", "cat")
    golden = open_golden(write_golden(graph, x, tmp_path / "g"))
    for layer in ("relu", "add", "cat"):
        res = run_layer(golden, layer, SimOptions(sim=sim, tag=f"{request.node.name}-{layer}"))
        print(res.verdict())
        n = int(np.prod(golden.tensor(layer, "output").shape))
        assert res.passed and res.unit == "eltwise", res.message
        assert res.cycles == n + 1 + unit.LATENCY
