"""rtl/lut_layer.v (wrapper sim/hdl/tb_lut_layer.v): ``y = T[x - x_qmin]``, bit-exact.

Through the unit's job builder (``t2c.sim.units.lut_layer``), compared on the pytest side
with ``==`` (``t2c.sim.compare``) against ``t2c.arith.lut_lookup`` on the index
``(x - x_qmin) mod 2^IN_BITS``; seeds logged, ``T2C_SEED`` reproduces.  The golden GELU
layers of digits-vit run in sim/test_layers.py.

* Every x_qmin (the blind spot of the golden layers, whose x_qmin is only ever 0 or
  -2^(B-1)): an IN_BITS = 4 build runs all 16 values of the x_qmin_i port in one run
  (the wrapper's x_qmin segments, changed between streams), every code in each segment,
  with a signed 5-bit and an unsigned 9-bit output; the run's cycle count is checked
  exactly, ``NX + 2 + (NSEG - 1) * HOLD``.
* Random: 8-bit codes, random tables (extreme entries included) for int8 and uint8
  outputs, 16 random x_qmin values per run (a random start and odd step modulo 256,
  never only 0 / -128), every code in each segment, input bubbles.
* Negative: the same simulated outputs against the references an adder
  (``x + x_qmin``) or an XOR (``x ^ x_qmin``) would give must report mismatches; they
  equal the true one for x_qmin = 0 and -2^(B-1) (checked on the Python side), which is
  why those two values alone cannot tell them apart.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import build_dir_for, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.units import SimOptions
from t2c.sim.units import lut_layer as unit

HOLD = 4  # tb_lut_layer: idle cycles between two x_qmin segments
# out name -> (OUT_BITS, OUT_SIGNED)
SMALL_OUTS = {"int5": (5, True), "uint9": (9, False)}
BYTE_OUTS = {"int8": (8, True), "uint8": (8, False)}


def cycles_expected(nx: int, nseg: int) -> int:
    """tb_lut_layer with no bubbles: one code per cycle, latency 1.  Measured constant 2:
    the first code is issued from the wrapper's input register in cycle 1 and `done`
    rises the cycle after the last output is stored; plus HOLD per x_qmin change."""
    return nx + 2 + (nseg - 1) * HOLD


def random_table(rng, in_bits: int, out_bits: int, out_signed: bool) -> np.ndarray:
    lo, hi = arith.qrange(out_bits, out_signed)
    t = rng.integers(lo, hi + 1, 1 << in_bits)
    t[rng.integers(0, t.size, 2)] = (lo, hi)
    return t


def segment_qmins(start: int, step: int, nseg: int, in_bits: int) -> np.ndarray:
    """x_qmin of each segment as the wrapper forms it, as signed in_bits codes."""
    u = (start + step * np.arange(nseg)) % (1 << in_bits)
    return np.where(u >= 1 << (in_bits - 1), u - (1 << in_bits), u)


def segment_codes(rng, in_bits: int, nseg: int, extra: int) -> np.ndarray:
    """Per segment: every signed code once (shuffled), then ``extra`` random ones."""
    lo, hi = arith.qrange(in_bits, True)
    return np.concatenate([np.concatenate([rng.permutation(np.arange(lo, hi + 1)),
                                           rng.integers(lo, hi + 1, extra)]) for _ in range(nseg)])


def lut_index(x, qmin, in_bits: int, how: str = "sub") -> np.ndarray:
    """The table index (x - x_qmin) mod 2^in_bits; ``how`` = "add" / "xor": what a unit
    adding or XOR-ing x_qmin would index (deliberately wrong references)."""
    x, qmin = np.asarray(x, dtype=np.int64), np.asarray(qmin, dtype=np.int64)
    v = {"sub": x - qmin, "add": x + qmin, "xor": x ^ qmin}[how]
    return v & ((1 << in_bits) - 1)


def run_segments(sim: str, tag: str, rng, *, in_bits: int, out_bits: int, out_signed: bool,
                 nseg: int, start: int, step: int, extra: int, gaps: int, seed: int):
    """One run: x_qmin segments, a random table; returns (run, x, x_qmin per code, table, y, valid)."""
    x = segment_codes(rng, in_bits, nseg, extra)
    table = random_table(rng, in_bits, out_bits, out_signed)
    params = unit.parameters(nx=x.size, x_qmin=start, in_bits=in_bits, out_bits=out_bits,
                             out_signed=out_signed, gaps=gaps)
    params.update(NSEG=nseg, QSTEP=step, HOLD=HOLD, GAP_SEED=seed % 65535)
    bdir = build_dir_for("lut_layer", sim, tag, params)
    run = run_job(unit.job(bdir, SimOptions(sim=sim), params, x=x, table=table))
    y, valid = unit.read(run, x.size, out_bits, out_signed)
    qmin = np.repeat(segment_qmins(start, step, nseg, in_bits), x.size // nseg)
    return run, x, qmin, table, y, valid


def check(sim, x, qmin, table, y, valid, in_bits: int) -> None:
    """y == T[x - x_qmin] everywhere; the adder / XOR references must differ."""
    idx = lut_index(x, qmin, in_bits)
    ops = {"x": x, "x_qmin": qmin, "index": idx}
    c = compare(arith.lut_lookup(table, idx), y, valid=valid, names=("element",), inputs=ops)
    print(c.message(f"lut_layer y ({sim})"))
    assert c.passed, c.message(f"lut_layer y ({sim})")
    for how in ("add", "xor"):
        wrong = compare(arith.lut_lookup(table, lut_index(x, qmin, in_bits, how)), y, valid=valid,
                        names=("element",))
        print(f"x {'+' if how == 'add' else '^'} x_qmin reference: {wrong.mismatches} of "
              f"{wrong.compared} differ (as intended)")
        assert wrong.mismatches > 0, f"the {how} reference should differ from the RTL"


@pytest.mark.parametrize("out", list(SMALL_OUTS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_lut_every_x_qmin(sim, out, request):
    """IN_BITS = 4: every x_qmin -8 .. 7 (a random one first, step 1), every code 3 times
    per x_qmin; exact cycle count (no bubbles); adder / XOR references differ."""
    toolchain.require_simulator(sim)
    seed = test_seed()
    rng = np.random.default_rng(seed)
    out_bits, out_signed = SMALL_OUTS[out]
    in_bits, nseg = 4, 16
    run, x, qmin, table, y, valid = run_segments(
        sim, request.node.name, rng, in_bits=in_bits, out_bits=out_bits, out_signed=out_signed,
        nseg=nseg, start=int(rng.integers(0, 16)), step=1, extra=32, gaps=0, seed=seed)
    assert sorted(set(qmin.tolist())) == list(range(-8, 8))
    check(sim, x, qmin, table, y, valid, in_bits)
    assert run.cycles == cycles_expected(x.size, nseg), (run.cycles, cycles_expected(x.size, nseg))


@pytest.mark.parametrize("out", list(BYTE_OUTS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_lut_random(sim, out, request):
    """IN_BITS = 8, a random table, 16 random x_qmin values (distinct), every code plus 256
    random ones per x_qmin, input bubbles; adder / XOR references differ."""
    toolchain.require_simulator(sim)
    seed = test_seed()
    rng = np.random.default_rng(seed)
    out_bits, out_signed = BYTE_OUTS[out]
    start, step = int(rng.integers(0, 256)), 2 * int(rng.integers(1, 128)) + 1
    run, x, qmin, table, y, valid = run_segments(
        sim, request.node.name, rng, in_bits=8, out_bits=out_bits, out_signed=out_signed,
        nseg=16, start=start, step=step, extra=256, gaps=1, seed=seed)
    assert np.unique(qmin).size == 16 and not set(np.unique(qmin).tolist()) <= {0, -128}
    check(sim, x, qmin, table, y, valid, 8)
    assert run.cycles > cycles_expected(x.size, 16)  # bubbles


@pytest.mark.parametrize("in_bits", [1, 4, 8])
def test_classic_x_qmin_cannot_tell_sub_from_add_or_xor(in_bits):
    """Python side: for x_qmin = 0 and -2^(B-1), x - q, x + q and x ^ q agree modulo 2^B on
    every code (the golden layers' x_qmin values hide an adder or XOR); for every other
    x_qmin both differ on some code (the tests above run them all or at random)."""
    lo, hi = arith.qrange(in_bits, True)
    x = np.arange(lo, hi + 1)
    for q in range(lo, hi + 1):
        sub = lut_index(x, q, in_bits)
        same = [(lut_index(x, q, in_bits, how) == sub).all() for how in ("add", "xor")]
        assert same == ([True, True] if q in (0, lo) else [False, False]), q


def test_segment_helpers():
    """The Python side's model of the wrapper's segments: start + s * step mod 2^B, signed."""
    assert segment_qmins(14, 1, 4, 4).tolist() == [-2, -1, 0, 1]
    assert segment_qmins(128, 0, 2, 8).tolist() == [-128, -128]
    rng = np.random.default_rng(0)
    x = segment_codes(rng, 4, 3, 5)
    assert x.size == 3 * 21 and all(sorted(set(x[i * 21:i * 21 + 16].tolist())) == list(range(-8, 8))
                                    for i in range(3))
