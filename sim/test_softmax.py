"""rtl/softmax.v (wrapper sim/hdl/tb_softmax.v): integer softmax rows, bit-exact.

Through the unit's job builder (``t2c.sim.units.softmax``), compared on the pytest side
with ``==`` (``t2c.sim.compare``) against ``t2c.arith.softmax_int`` row by row: every
output and every ``last_o`` flag (set exactly on each row's last element).  Seeds are
logged, ``T2C_SEED`` reproduces.  The golden digits-vit softmax layers run in
sim/test_layers.py.

* Random rows (``random_rows``): uniform, narrow ranges (many ties, large totals), ties
  between a few values, all-equal rows of every length class (up to total =
  MAX_N * 2^15), one-hot rows (the hot element must be exactly qmax), extreme codes
  only, and rows whose result changes when the reciprocal is floored or ceiled instead
  of rounded (found by enumeration: a random row almost never catches an off-by-one
  reciprocal), with per-row qmax; ``test_softmax_random`` adds input bubbles (GAPS).
* The port ranges (``test_softmax_ports``, one build per ``CONFIGS`` entry, no bubbles):
  qmax over its whole range 1 .. 2^OUT_BITS - 1 (every value for OUT_BITS <= 8; for 16
  every value up to 255, the powers of two +-1 and 1024 random ones), signed and unsigned inputs (IN_SIGNED),
  IN_BITS 4 / 6 / 8, OUT_BITS 4 / 8 / 16, MAX_N 1, 17, 256 and 1024; rtl/softmax.v
  documents all of them as parameters.  The whole run's cycle count is checked
  exactly: ``sum(3 n + 30) + 3`` (``cycles_expected``).
* Negative: the same simulated outputs against a reference whose reciprocal is
  floored (``floor(2^40 / total)``), or ceiled, instead of rounded must report
  mismatches.
* Python side: the row generator really holds one-hot rows (hot element = qmax),
  1- and MAX_N-element rows, every qmax and reciprocal-sensitive rows.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import build_dir_for, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.units import SimOptions
from t2c.sim.units import softmax as unit
from t2c.sim.units.rows import last_flags, row_col

RB = arith.SOFTMAX_RECIP_BITS
DEFAULT = dict(in_bits=8, in_signed=True, out_bits=8, max_n=256)
# name -> the unit's build parameters (rtl/softmax.v: IN_BITS, IN_SIGNED, OUT_BITS, MAX_N)
CONFIGS = {
    "int8-out8-n256": DEFAULT,
    "uint8-out8-n256": dict(in_bits=8, in_signed=False, out_bits=8, max_n=256),
    "int4-out4-n17": dict(in_bits=4, in_signed=True, out_bits=4, max_n=17),
    "uint6-out16-n1024": dict(in_bits=6, in_signed=False, out_bits=16, max_n=1024),
    "uint4-out4-n1": dict(in_bits=4, in_signed=False, out_bits=4, max_n=1),
}


def cycles_expected(lens) -> int:
    """A row takes 3n + 30 cycles (rtl/softmax.v, docs/vit_rtl.md).  Measured constant 3:
    the wrapper's input register (the first element is taken in cycle 1), the row's last
    output one cycle after the next row could start (cycle 3n + 31 of the row) and
    `done` the cycle after the last output is stored."""
    return int(np.sum(3 * np.asarray(lens) + 30)) + 3


def code_range(cfg) -> tuple[int, int]:
    return arith.qrange(cfg["in_bits"], cfg["in_signed"])


def qmax_top(cfg) -> int:
    return (1 << cfg["out_bits"]) - 1


# ------------------------------------------------------------------ references
def softmax_rows(x, lens, qmax, table, wrong: str = "") -> np.ndarray:
    """``t2c.arith.softmax_int`` row by row.  ``wrong``: a deliberately wrong reference
    whose reciprocal is ``floor(2^40 / total)`` ("floor") or the ceiling ("ceil")
    instead of rounded half up."""
    x = np.asarray(x, dtype=np.int64)
    t = np.asarray(table, dtype=np.int64)
    out = np.empty_like(x)
    start = 0
    for n, q in zip(np.asarray(lens).tolist(), np.asarray(qmax).tolist()):
        row = x[start:start + n]
        if wrong:
            e = t[row.max() - row]
            recip = {"floor": _recip_variants(e.sum())[1], "ceil": _recip_variants(e.sum())[2]}[wrong]
            out[start:start + n] = np.clip(arith.rounding_shift(e * q * recip, RB), 0, q)
        else:
            out[start:start + n] = arith.softmax_int(row, t, q)
        start += n
    return out


def _recip_variants(total):
    """div_round(2^40, total) and its floor / ceiling (what a sloppy divider returns)."""
    one = np.int64(1) << RB
    return arith.div_round(one, total), one // total, -(-one // total)


# ------------------------------------------------------------------ rows
def random_table(rng, in_bits: int = 8) -> np.ndarray:
    """An exp table as t2c builds it (t2c.arith.exp_lut), for a random input scale: the
    tail rounds to 0 (exp(-(2^B - 1) S) < 2^-16), so a one-hot row gives exactly qmax."""
    scale = float(rng.uniform(0.045, 0.25)) * 255 / ((1 << in_bits) - 1)
    t = arith.exp_lut(in_bits, scale, out_frac_bits=arith.SOFTMAX_EXP_FRAC)
    assert t[0] == 1 << arith.SOFTMAX_EXP_FRAC and t[-1] == 0
    return t


def _qmax_values(qtop: int, rng) -> np.ndarray:
    """Every qmax 1 .. qtop when qtop < 1024; else 1 .. 255, 2^k - 1, 2^k, 2^k + 1,
    1024 random values and qtop - 1, qtop."""
    if qtop < 1024:
        return np.arange(1, qtop + 1)
    k = 1 << np.arange(8, qtop.bit_length())
    return np.unique(np.concatenate([np.arange(1, 256), k - 1, k, k + 1, rng.integers(1, qtop + 1, 1024),
                                     [qtop - 1, qtop]]))


def recip_sensitive_rows(rng, table, cfg, per_kind: int = 24):
    """Rows whose output changes when the reciprocal is floor(2^40 / total) or
    ceil(2^40 / total) instead of div_round(2^40, total): they catch a floor or ceiling
    divider (a random row almost never does: an error of 1 in recip moves
    e * qmax * recip by at most 2^23 against a rounding step of 2^40).

    Found by enumeration: all-equal rows of every length 2 .. min(MAX_N, 64) and every
    qmax (exact ties qmax / n = k + 1/2 decide on the reciprocal's last bit), and rows
    [top, top - d1, top - d2] (every d1 <= d2) for qmax = the largest and half of it.
    Returns ``(rows [(codes, qmax)], floor-sensitive count, ceil-sensitive count)``.
    """
    t = np.asarray(table, dtype=np.int64)
    lo, hi = code_range(cfg)
    qtop, max_n = qmax_top(cfg), cfg["max_n"]
    picked, counts = [], [0, 0]

    def y(e, q, r):
        return np.clip(arith.rounding_shift(e * q * r, RB), 0, q)

    if max_n >= 2:  # all-equal rows: e = 2^15 each, total = n * 2^15
        n, q = (a.ravel() for a in np.meshgrid(np.arange(2, min(max_n, 64) + 1),
                                               _qmax_values(qtop, rng), indexing="ij"))
        e = np.full(n.size, t[0])
        rnd, flo, cei = _recip_variants(n * t[0])
        base = y(e, q, rnd)
        for k, r in enumerate((flo, cei)):
            hit = np.flatnonzero(y(e, q, r) != base)
            for i in rng.choice(hit, size=min(per_kind, hit.size), replace=False):
                picked.append((np.full(int(n[i]), int(rng.integers(lo, hi + 1))), int(q[i])))
                counts[k] += 1
    if max_n >= 3:  # three-element rows
        d1, d2 = np.triu_indices(t.size)
        e3 = np.stack([np.full(d1.size, t[0]), t[d1], t[d2]], axis=1)
        rnd, flo, cei = _recip_variants(e3.sum(axis=1, keepdims=True))
        for q3 in sorted({qtop, max(1, qtop // 2)}, reverse=True):
            base = y(e3, q3, rnd)
            for k, r in enumerate((flo, cei)):
                hit = np.flatnonzero((y(e3, q3, r) != base).any(axis=1))
                for i in rng.choice(hit, size=min(per_kind // 4, hit.size), replace=False):
                    picked.append((np.array([hi, hi - d1[i], hi - d2[i]]), q3))
                    counts[k] += 1
    return picked, counts[0], counts[1]


def random_rows(rng, table, cfg=DEFAULT, qmax_sweep: bool = False):
    """(x back to back, lens, qmax, (floor-, ceil-sensitive row counts)): the mix of the
    module docstring for the build ``cfg``; ``qmax_sweep`` adds one short row per qmax
    value (``_qmax_values``), alternately random, one-hot and all-equal."""
    lo, hi = code_range(cfg)
    qtop, max_n = qmax_top(cfg), cfg["max_n"]
    rows: list[tuple[np.ndarray, int]] = []

    def qm():
        r = rng.random()
        return qtop if r < 0.6 else (1 if r < 0.7 else int(rng.integers(1, qtop + 1)))

    def n_any():
        r = rng.random()
        return int(rng.integers(1, min(16, max_n) + 1)) if r < 0.4 else int(rng.integers(1, max_n + 1))

    def one_hot(n):
        r = np.full(n, lo)
        r[rng.integers(0, n)] = hi
        return r

    for _ in range(48):  # uniform codes
        rows.append((rng.integers(lo, hi + 1, n_any()), qm()))
    for _ in range(32):  # narrow ranges: many ties, large totals
        n, m, w = n_any(), int(rng.integers(lo + 4, hi + 1)), int(rng.integers(0, 4))
        rows.append((rng.integers(m - w, m + 1, n), qm()))
    for _ in range(24):  # ties between a few values, the max repeated
        n = n_any()
        vals = rng.integers(lo, hi + 1, 3)
        rows.append((rng.choice(vals, n), qm()))
    lengths = {1, 2, 3, 4, 5, 7, 16, 17, 100, 255, 256, 511, 512, 513, 1023, max_n}
    lengths |= set(rng.integers(1, max_n + 1, 12).tolist())
    for n in sorted(v for v in lengths if v <= max_n):
        rows.append((np.full(n, int(rng.integers(lo, hi + 1))), qm()))  # all equal
    for q in sorted({qtop, min(17, qtop), 1}, reverse=True):
        rows.append((np.full(max_n, hi), q))  # total = MAX_N * 2^15, the largest
    for _ in range(16):  # one-hot: exp(-(2^B - 1) S) rounds to 0, the hot element is qmax
        rows.append((one_hot(n_any()), qm()))
    for _ in range(12):  # extreme codes only
        rows.append((rng.choice([lo, hi], n_any()), qm()))
    sens, n_floor, n_ceil = recip_sensitive_rows(rng, table, cfg)
    rows += sens
    if qmax_sweep:
        for i, q in enumerate(_qmax_values(qtop, rng).tolist()):
            n = int(rng.integers(1, min(12, max_n) + 1))
            r = (rng.integers(lo, hi + 1, n), one_hot(n), np.full(n, int(rng.integers(lo, hi + 1))))[i % 3]
            rows.append((r, q))
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    x = np.concatenate([r for r, _ in rows]).astype(np.int64)
    lens = np.array([r.size for r, _ in rows], dtype=np.int64)
    qmax = np.array([q for _, q in rows], dtype=np.int64)
    return x, lens, qmax, (n_floor, n_ceil)


# ------------------------------------------------------------------ run and check
def run_rows(sim: str, tag: str, cfg, x, lens, qmax, table, *, gaps: int = 0, seed: int = 1):
    """One run of the unit: returns (SimRun, {"output": (y, valid), "last": (flags, valid)})."""
    params = unit.parameters(nx=x.size, nrows=lens.size, gaps=gaps, **cfg)
    params["GAP_SEED"] = seed % 65535
    bdir = build_dir_for("softmax", sim, tag, params)
    run = run_job(unit.job(bdir, SimOptions(sim=sim), params, x=x, lens=lens, qmax=qmax, table=table))
    return run, unit.read(run, x.size, cfg["out_bits"])


def check(sim: str, x, lens, qmax, table, out, *, negative: bool) -> None:
    """Every y and every last_o flag ``==`` the reference; the floor / ceil references
    must differ (``negative``)."""
    y, yv = out["output"]
    last, lv = out["last"]
    row, col = row_col(lens)
    starts = np.cumsum(lens) - lens
    ops = {"row": row, "col": col, "x": x, "max": np.repeat(np.maximum.reduceat(x, starts), lens),
           "qmax": np.repeat(qmax, lens)}
    title = f"softmax ({sim})"
    c = compare(softmax_rows(x, lens, qmax, table), y, valid=yv, names=("element",), inputs=ops)
    cl = compare(last_flags(lens), last, valid=lv, names=("element",), inputs={"row": row, "col": col})
    print(c.message(f"{title} y"), cl.message(f"{title} last_o"), sep="\n")
    assert c.passed, c.message(f"{title} y")
    assert cl.passed, cl.message(f"{title} last_o")
    if negative:
        for wrong in ("floor", "ceil"):
            w = compare(softmax_rows(x, lens, qmax, table, wrong), y, valid=yv, names=("element",))
            print(f"{wrong}-reciprocal reference: {w.mismatches} of {w.compared} differ (as intended)")
            assert w.mismatches > 0, f"the {wrong}-reciprocal reference should differ from the RTL"


# ------------------------------------------------------------------ pytest: simulations
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_softmax_random(sim, request):
    """The random mix (default build, int8 codes, rows of 1..256) with input bubbles; then
    the floor- and ceil-reciprocal references must report mismatches."""
    toolchain.require_simulator(sim)
    seed = test_seed()
    rng = np.random.default_rng(seed)
    table = random_table(rng)
    x, lens, qmax, (n_floor, n_ceil) = random_rows(rng, table)
    assert n_floor > 0 and n_ceil > 0
    run, out = run_rows(sim, request.node.name, DEFAULT, x, lens, qmax, table, gaps=1, seed=seed)
    print(f"{x.size} elements in {lens.size} rows ({n_floor} floor- and {n_ceil} ceil-sensitive), "
          f"{run.cycles} cycles with bubbles")
    check(sim, x, lens, qmax, table, out, negative=True)
    assert run.cycles > cycles_expected(lens)  # the bubbles cost cycles


@pytest.mark.parametrize("cfg", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_softmax_ports(sim, cfg, request):
    """Each build of ``CONFIGS``: the random mix plus a row per qmax value (the whole qmax
    range), no bubbles: outputs, last_o flags and the exact cycle count; the floor / ceil
    references differ wherever rows of 2 or more elements exist."""
    toolchain.require_simulator(sim)
    c = CONFIGS[cfg]
    seed = test_seed()
    rng = np.random.default_rng(seed)
    table = random_table(rng, c["in_bits"])
    x, lens, qmax, (n_floor, n_ceil) = random_rows(rng, table, c, qmax_sweep=True)
    run, out = run_rows(sim, request.node.name, c, x, lens, qmax, table, seed=seed)
    print(f"{cfg}: {x.size} elements in {lens.size} rows, qmax {qmax.min()}..{qmax.max()} "
          f"({np.unique(qmax).size} values), {run.cycles} cycles")
    check(sim, x, lens, qmax, table, out, negative=c["max_n"] >= 2)
    assert run.cycles == cycles_expected(lens), (run.cycles, cycles_expected(lens))


# ------------------------------------------------------------------ pytest: Python side
@pytest.mark.parametrize("cfg", list(CONFIGS))
def test_softmax_random_rows_cover_the_cases(cfg):
    """The random mix holds what the tests claim: one-hot rows give exactly qmax, 1- and
    MAX_N-element rows, total up to MAX_N * 2^15, every qmax (OUT_BITS <= 8; else 1 .. 255
    and the largest), and rows a floor- or ceil-reciprocal breaks (MAX_N >= 2)."""
    c = CONFIGS[cfg]
    rng = np.random.default_rng(1)
    table = random_table(rng, c["in_bits"])
    lo, hi = code_range(c)
    for sweep in (False, True):
        x, lens, qmax, (n_floor, n_ceil) = random_rows(rng, table, c, qmax_sweep=sweep)
        y = softmax_rows(x, lens, qmax, table)
        starts = np.cumsum(lens) - lens
        one_hot = [i for i, (s, n) in enumerate(zip(starts, lens))
                   if n > 1 and (x[s:s + n] == hi).sum() == 1 and (x[s:s + n] == lo).sum() == n - 1]
        assert one_hot or c["max_n"] == 1
        if c["max_n"] == 1:
            assert (y == qmax).all()  # a one-element row is 1.0: qmax
        for i in one_hot:
            s, n = starts[i], lens[i]
            assert sorted(y[s:s + n].tolist()) == [0] * (n - 1) + [qmax[i]]
        assert lens.max() == c["max_n"] and lens.min() == 1
        full = [s for s, n in zip(starts, lens) if n == c["max_n"] and (x[s:s + n] == hi).all()]
        assert full
        assert x.min() == lo and x.max() == hi
        if c["max_n"] >= 2:
            assert n_floor > 0 and n_ceil > 0
            for wrong in ("floor", "ceil"):
                assert (softmax_rows(x, lens, qmax, table, wrong) != y).any()
    qtop = qmax_top(c)
    assert qmax.max() == qtop and set(range(1, min(qtop, 255) + 1)) <= set(qmax.tolist())


def test_cycles_formula():
    """The documented timing: 3n + 30 per row (docs/vit_rtl.md: 51 rows of 17 -> 4134)."""
    assert cycles_expected(np.full(51, 17)) == 4134
    assert cycles_expected([1]) == 36 and cycles_expected([256, 3]) == 840
