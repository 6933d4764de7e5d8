"""rtl/requant.v against t2c.arith.requantize, bit for bit, on Icarus and Verilator.

The whole documented port range, not only the contract's:

* shifts: every s of the 6-bit port, 0..63.  For the contract's 1..62 the reference is
  t2c.arith (``requantize``, or ``requantize_sum([acc * m, add], ...)`` with the addend);
  the header of rtl/requant.v also promises s = 63 exact w.r.t. the formula
  ``clip(((acc * m [+ add] + 2^(s-1)) >>> s) + zp, qmin, qmax)`` and documents s = 0
  (no rounding term, no shift: ``clip(acc * m [+ add] + zp, qmin, qmax)``): those
  elements are checked against that formula computed in Python integers
  (:func:`formula`, which is asserted equal to t2c.arith on every contract shift).
* m: the quantize_multiplier range, 0 and 1, uniform over [0, 2^(MULT_BITS-1)), and a
  few words with the port's ignored MSB set (the reference clears it).
* zero point, qmin, qmax: 2..8-bit signed/unsigned ranges and the full OUTW range with
  the zero point at both ends, plus a mix and an edge grid with all three independent
  over the whole OUTW range (qmin > qmax included: the header's numpy.clip order gives
  qmax then).

Per configuration: >= 100,000 random elements in four mixes (contract-shaped
(m, s) = quantize_multiplier(real) with log-uniform acc; uniform m and s with log-uniform
acc; everything uniform; contract-shaped with port-wide zp/qmin/qmax) plus every edge
vector: acc = -2^31, -1, 0, 1, 2^31-1 x m at both ends of its range (and 0) x every shift
0..63 x every output range x zero point at both ends; the port-wide clip grid; exact
rounding ties (acc*m = odd multiple of 2^(s-1)) and their neighbours for every s where a
tie exists.  The wrapper sim/hdl/tb_requant.v streams them from $readmemh images, one
vector of LANES lanes per cycle (with valid bubbles in the *16 configurations).

With the addend (configurations *_add*: ADD_BITS = 41 as in the layer engine, and 48,
wider than the 16-bit multiplier's product) every element also gets an addend: uniform,
log-uniform, the ends of its range and -1/0/1, one cancelling acc * m up to a small rest,
or one making the sum an exact rounding tie (and +-1 beside it); plus edge vectors of
every extreme acc x m x addend x shift 0..63.

The run's cycle count is exact: the last vector issued in cycle c (tb_harness's bubble
LFSR, modelled by :func:`issue_cycles`) gives ``cycles = c + 2 + LATENCY`` (LATENCY = 4
per the header); without bubbles ``cycles = NVEC + 1 + LATENCY = NVEC + 5``.

Negative tests compare the same simulated output against a deliberately wrong reference
(floor instead of round-half-up; the addend ignored) and must count mismatches.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import Dump, SimJob, build_dir_for, exclusive, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.images import read_values, write_image
from t2c.sim.harness import issue_cycles

DUT, TOP = "requant", "tb_requant"
FIELDS = ("acc", "m", "s", "zp", "qmin", "qmax")
ACCW, SHIFT_BITS = 32, 6
LATENCY = 4  # rtl/requant.v: valid_o 4 cycles after valid_i
PORT_SHIFTS = np.arange(0, 1 << SHIFT_BITS)  # every shift the port takes (0..63)
MAX_PORT_SHIFT = (1 << SHIFT_BITS) - 1
N_RANDOM = 131_072  # random elements per configuration (acceptance: >= 100,000)

CONFIGS = {
    # default widths, full-rate stream
    "mult32": dict(LANES=8, MULT_BITS=32, OUTW=16, GAPS=0),
    # 16-bit multipliers, 9-bit outputs (int8 and uint8 ranges), valid_i bubbles
    "mult16": dict(LANES=4, MULT_BITS=16, OUTW=9, GAPS=1),
    # with the addend: the layer engine's residual width
    "mult32_add41": dict(LANES=8, MULT_BITS=32, OUTW=16, ADD_BITS=41, GAPS=0),
    # an addend wider than the 47-bit product (VALW = ADD_BITS + 1), valid_i bubbles
    "mult16_add48": dict(LANES=4, MULT_BITS=16, OUTW=9, ADD_BITS=48, GAPS=1),
}
# memory of each operand image in tb_requant (the addend's only exists when ADD_BITS > 0)
MEMORIES = {**{f: f"u_{f}.mem" for f in FIELDS}, "add": "g_add.u_add.mem"}


def fields(cfg: dict) -> tuple[str, ...]:
    """The operand images of a configuration: FIELDS, plus "add" with an addend."""
    return FIELDS + (("add",) if cfg.get("ADD_BITS", 0) else ())


def fields_of(v: dict) -> tuple[str, ...]:
    """The operand arrays present in a vector set ``v``."""
    return FIELDS + (("add",) if "add" in v else ())


def widths(cfg: dict) -> dict:
    """Bits of each operand image."""
    return dict(acc=ACCW, m=cfg["MULT_BITS"], s=SHIFT_BITS, zp=cfg["OUTW"], qmin=cfg["OUTW"],
                qmax=cfg["OUTW"], add=cfg.get("ADD_BITS", 0))


def expected_cycles(cfg: dict, nvec: int) -> int:
    """tb_requant's cycle count: last issue c, DUT input c + 1, output c + 1 + LATENCY,
    stored, then done: ``c + 2 + LATENCY``."""
    return int(issue_cycles(nvec, cfg["GAPS"])[-1]) + 2 + LATENCY


# ------------------------------------------------------------------ vectors
def out_ranges(outw: int) -> list[tuple[int, int]]:
    """(qmin, qmax) of every 2..8-bit signed/unsigned range that fits OUTW, plus OUTW itself."""
    lo_port, hi_port = arith.qrange(outw, True)
    rs = [arith.qrange(b, sg) for b in range(2, 9) for sg in (True, False)]
    rs = [r for r in rs if lo_port <= r[0] and r[1] <= hi_port]
    return rs + [(lo_port, hi_port)]


def m_range(mult_bits: int) -> tuple[int, int]:
    """Both ends of quantize_multiplier's m range for ``bits = mult_bits``."""
    return 1 << (mult_bits - 2), (1 << (mult_bits - 1)) - 1


def m_eff(m, mult_bits: int):
    """m as the port reads it: its MSB (bit MULT_BITS-1) ignored."""
    return np.asarray(m, dtype=np.int64) & np.int64((1 << (mult_bits - 1)) - 1)


def _odd(rng, lo: int, hi: int) -> int:
    """A random odd integer in [lo, hi] (lo even or odd, hi odd)."""
    return int(rng.integers(lo, hi + 1)) | 1


def tie_shifts(mult_bits: int) -> list[int]:
    """The shifts s >= 1 for which acc*m can be an exact tie (odd multiple of 2^(s-1))."""
    return [s for s in range(1, MAX_PORT_SHIFT + 1) if s - 1 <= 31 + mult_bits - 2]


def tie_vectors(rng, mult_bits: int, per_shift: int = 4) -> tuple[np.ndarray, ...]:
    """acc, m, s with acc*m an odd multiple of 2^(s-1) (exact ties), and acc +- 1 beside them.

    acc = odd_a * 2^ta and m = odd_m * 2^tm with ta + tm = s - 1 (ta <= 31,
    tm <= mult_bits - 2), so ties exist for s <= mult_bits + 30: s <= 62 for 32-bit
    multipliers (|acc*m| < 2^62 rules out s = 63), s <= 46 for 16-bit.
    """
    m_lo, m_hi = m_range(mult_bits)
    rows = []
    for s in tie_shifts(mult_bits):
        lo_ta, hi_ta = max(0, s - 1 - (mult_bits - 2)), min(31, s - 1)
        for _ in range(per_shift):
            ta = int(rng.integers(lo_ta, hi_ta + 1))
            tm = s - 1 - ta
            odd_m = 1 if tm == mult_bits - 2 else _odd(rng, m_lo >> tm, m_hi >> tm)
            odd_a = -1 if ta == 31 else _odd(rng, -(1 << (31 - ta)), (1 << (31 - ta)) - 1)
            acc = odd_a << ta
            rows += [(min(max(acc + d, arith.INT32_MIN), arith.INT32_MAX), odd_m << tm, s)
                     for d in (0, -1, 1)]
    acc, m, s = (np.array(x, dtype=np.int64) for x in zip(*rows))
    ties = ((acc * m) & ((np.int64(1) << s) - 1)) == (np.int64(1) << (s - 1))
    assert ties.sum() >= per_shift * len(tie_shifts(mult_bits)), "tie construction"
    assert np.all((m >= m_lo) & (m <= m_hi))
    return acc, m, s


def _with_ranges(rng, acc, m, s, outw) -> dict:
    """Attach a random output range and zero point (uniform in range, or an end) per element."""
    rs = np.array(out_ranges(outw))
    pick = rs[rng.integers(0, len(rs), size=acc.size)]
    qmin, qmax = pick[:, 0], pick[:, 1]
    zp = rng.integers(qmin, qmax + 1)
    end = rng.random(acc.size)
    zp = np.where(end < 0.1, qmin, np.where(end < 0.2, qmax, zp))
    qmin = np.where(rng.random(acc.size) < 0.1, zp, qmin)  # ReLU: qmin = zero point
    return dict(acc=acc, m=m, s=s, zp=zp, qmin=qmin, qmax=qmax)


def _with_port_ranges(rng, acc, m, s, outw) -> dict:
    """zp, qmin and qmax each uniform over the whole OUTW range (or one of its ends),
    independently: qmin > qmax about half of the time."""
    lo, hi = arith.qrange(outw, True)

    def port(size):
        v = rng.integers(lo, hi + 1, size)
        end = rng.random(size)
        return np.where(end < 0.05, lo, np.where(end < 0.1, hi, v))

    return dict(acc=acc, m=m, s=s, zp=port(acc.size), qmin=port(acc.size), qmax=port(acc.size))


EDGE_ACCS = (arith.INT32_MIN, -1, 0, 1, arith.INT32_MAX)


def edge_vectors(rng, mult_bits: int, outw: int) -> dict:
    """Extremes x every port shift x every output range x zero point at both ends; the
    port-wide clip grid; m with its ignored MSB set; exact ties."""
    m_lo, m_hi = m_range(mult_bits)
    p_lo, p_hi = arith.qrange(outw, True)
    msb = 1 << (mult_bits - 1)
    rows = [(a, m, s, zp, lo, hi)
            for a in EDGE_ACCS for m in (m_lo, m_hi, 0) for s in PORT_SHIFTS.tolist()
            for lo, hi in out_ranges(outw) for zp in (lo, hi)]
    bounds = (p_lo, -1, 0, p_hi)
    rows += [(a, m, s, zp, lo, hi)  # zp, qmin, qmax over the whole port (qmin > qmax too)
             for a in EDGE_ACCS for m in (m_hi, 1) for s in (0, 1, 2, 31, 62, 63)
             for zp in (p_lo, -1, 0, 1, p_hi) for lo in bounds for hi in bounds]
    rows += [(a, msb | m, s, 0, p_lo, p_hi)  # the ignored MSB of m set
             for a in EDGE_ACCS for m in (0, 1, m_lo, m_hi) for s in (0, 1, 31, 62, 63)]
    edge = {k: np.array(v, dtype=np.int64) for k, v in zip(FIELDS, zip(*rows))}
    ties = _with_ranges(rng, *tie_vectors(rng, mult_bits), outw)
    land = landing_vectors(rng, mult_bits, outw)
    return {k: np.concatenate([edge[k], ties[k], land[k]]) for k in FIELDS}


def landing_vectors(rng, mult_bits: int, outw: int, sets: int = 256) -> dict:
    """Outputs that land exactly on qmin and qmax and one code beside them, before the
    clamp, with the rounding bit both set and clear: m / 2^s in [1/4, 1/2), so
    consecutive accumulators step the pre-shift value by less than one output code (the
    clamp's boundary, where a threshold off by one half shows)."""
    m_lo, m_hi = m_range(mult_bits)
    rows = []
    for _ in range(sets):
        lo, hi = out_ranges(outw)[rng.integers(len(out_ranges(outw)))]
        zp = int(rng.integers(lo, hi + 1))
        qmin = zp if rng.random() < 0.25 else lo  # a ReLU now and then
        m, s = int(rng.integers(m_lo, m_hi + 1)), mult_bits
        for end in (qmin, hi):
            centre = ((end - zp) << s) // m
            rows += [(a, m, s, zp, qmin, hi) for a in range(centre - 5, centre + 6)
                     if arith.INT32_MIN <= a <= arith.INT32_MAX]
    v = {k: np.array(c, dtype=np.int64) for k, c in zip(FIELDS, zip(*rows))}
    landed = arith.requantize(v["acc"], v["m"], v["s"], v["zp"], -(1 << 40), 1 << 40)
    assert (landed == v["qmax"]).sum() >= sets and (landed == v["qmin"]).sum() >= sets, "landing construction"
    return v


def random_vectors(rng, n: int, mult_bits: int, outw: int) -> dict:
    """n random elements in four mixes (see the module docstring)."""
    m_lo, m_hi = m_range(mult_bits)
    k = n // 4
    sizes = (k, k, k, n - 3 * k)

    def contract_shaped(size):  # (m, s) from quantize_multiplier of a log-uniform real
        real = 2.0 ** rng.uniform(-45, min(8, mult_bits - 3), size)
        return arith.quantize_multiplier(real, bits=mult_bits)

    def loguniform_acc(size):
        mag = np.floor(2.0 ** rng.uniform(0, 31, size)).astype(np.int64) - 1
        return np.where(rng.random(size) < 0.5, -mag - 1, mag)

    m1, s1 = contract_shaped(sizes[0])
    mix1 = _with_ranges(rng, loguniform_acc(sizes[0]), m1, s1, outw)
    # m uniform over quantize_multiplier's range, s over every exact shift 1..63
    mix2 = _with_ranges(rng, loguniform_acc(sizes[1]), rng.integers(m_lo, m_hi + 1, sizes[1]),
                        rng.integers(1, MAX_PORT_SHIFT + 1, sizes[1]), outw)
    # everything uniform over the port: m in [0, 2^(MULT_BITS-1)), s in 0..63
    mix3 = _with_ranges(rng, rng.integers(arith.INT32_MIN, arith.INT32_MAX + 1, sizes[2]),
                        rng.integers(0, m_hi + 1, sizes[2]),
                        rng.integers(0, MAX_PORT_SHIFT + 1, sizes[2]), outw)
    m4, s4 = contract_shaped(sizes[3])
    mix4 = _with_port_ranges(rng, loguniform_acc(sizes[3]), m4, s4, outw)
    return {f: np.concatenate([mx[f] for mx in (mix1, mix2, mix3, mix4)]).astype(np.int64)
            for f in FIELDS}


def add_range(add_bits: int) -> tuple[int, int]:
    return -(1 << (add_bits - 1)), (1 << (add_bits - 1)) - 1


def addends(rng, v: dict, mult_bits: int, add_bits: int) -> tuple[np.ndarray, int]:
    """An addend for every element of ``v`` (one of six kinds, see the module docstring);
    returns it and the number of elements whose sum ``acc * m + add`` is an exact tie."""
    lo, hi = add_range(add_bits)
    prod, s = v["acc"] * m_eff(v["m"], mult_bits), v["s"]
    n = prod.size
    kind = rng.integers(0, 6, n)
    mag = np.floor(2.0 ** rng.uniform(0, add_bits - 1, n)).astype(np.int64) - 1
    # exact ties: prod + add = 2^(s-1) (mod 2^s), then -1 / 0 / +1 beside; only where
    # a tie exists (s >= 1) and the addend stays in range (s <= add_bits - 4)
    tie_ok = (s >= 1) & (s <= add_bits - 4)
    s_t = np.where(tie_ok, s, 1)
    step = np.int64(1) << s_t
    tie = ((step >> 1) - (prod & (step - 1)) + rng.integers(-2, 3, n) * step
           + rng.integers(-1, 2, n))
    add = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3, kind == 4],
        [rng.integers(lo, hi + 1, n),                                    # uniform
         np.where(rng.random(n) < 0.5, -mag - 1, mag),                   # log-uniform
         rng.choice(np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi]), n),    # ends, near 0
         np.clip(-prod + rng.integers(-256, 257, n), lo, hi),            # cancels acc * m
         np.where(tie_ok, tie, rng.integers(lo, hi + 1, n))],            # rounding ties
        rng.integers(lo, hi + 1, n))
    total = prod + add
    ties = int(((total & (step - 1)) == (step >> 1))[(kind == 4) & tie_ok].sum())
    return add.astype(np.int64), ties


def addend_edge_vectors(mult_bits: int, outw: int, add_bits: int) -> dict:
    """Every extreme acc x m x addend x port shift, full output range: the largest and
    smallest sums, and shifts at and beyond the sum's width."""
    m_lo, m_hi = m_range(mult_bits)
    lo, hi = add_range(add_bits)
    q_lo, q_hi = arith.qrange(outw, True)
    rows = [(a, m, s, 0, q_lo, q_hi, d)
            for a in EDGE_ACCS for m in (m_lo, m_hi, 0)
            for d in (lo, -1, 0, 1, hi) for s in PORT_SHIFTS.tolist()]
    return {k: np.array(v, dtype=np.int64) for k, v in zip(FIELDS + ("add",), zip(*rows))}


def make_vectors(rng, cfg: dict, n_random: int = N_RANDOM, edges: bool = True) -> dict:
    """Edge + random elements, shuffled (edges reach every lane), padded to whole vectors.

    With ``ADD_BITS`` in ``cfg`` every element also gets an addend (:func:`addends`),
    and the addend edge vectors join the edges.  Returns the operand arrays and the
    counts ``n_random``, ``n_edge``, ``n_add_ties``.
    """
    mb, outw, lanes = cfg["MULT_BITS"], cfg["OUTW"], cfg["LANES"]
    add_bits = cfg.get("ADD_BITS", 0)
    parts = [random_vectors(rng, n_random, mb, outw)]
    if edges:
        parts.append(edge_vectors(rng, mb, outw))
        if add_bits:
            parts.append(addend_edge_vectors(mb, outw, add_bits))
    n_edge = sum(len(p["acc"]) for p in parts[1:])
    pad = -(n_random + n_edge) % lanes
    parts.append(random_vectors(rng, pad, mb, outw))
    n_ties = 0
    for p in parts:
        if add_bits and "add" not in p:
            p["add"], ties = addends(rng, p, mb, add_bits)
            n_ties += ties
    vec = {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in fields(cfg)}
    order = rng.permutation(len(vec["acc"]))
    vec = {k: v[order] for k, v in vec.items()}
    vec.update(n_random=n_random + pad, n_edge=n_edge, n_add_ties=n_ties)
    return vec


# ------------------------------------------------------------------ reference
def prod_ties(v: dict, mult_bits: int) -> int:
    """Elements whose acc * m is an exact rounding tie (an odd multiple of 2^(s-1), s >= 1)."""
    s = v["s"]
    ok = (s >= 1) & (s <= arith.MAX_SHIFT)  # acc * m < 2^62: int64 is exact here
    s1 = np.where(ok, s, 1)
    prod = v["acc"] * m_eff(v["m"], mult_bits)
    step = np.int64(1) << s1
    return int(((prod & (step - 1)) == (step >> 1))[ok].sum())


def contract(v: dict) -> np.ndarray:
    """Where the shift is in t2c.arith's contract (1..MAX_SHIFT = 62)."""
    return (v["s"] >= 1) & (v["s"] <= arith.MAX_SHIFT)


def formula(v: dict, mult_bits: int, *, rounding: bool = True, addend: bool = True) -> np.ndarray:
    """The header's formula in Python integers, for every port shift 0..63:
    ``clip(((acc * m [+ add] + r) >>> s) + zp, qmin, qmax)`` with r = 2^(s-1) (none for
    s = 0, nor with ``rounding=False``: floor), m without its ignored MSB, numpy.clip order.
    """
    obj = {k: np.asarray(v[k]).astype(object) for k in fields_of(v)}
    total = obj["acc"] * m_eff(v["m"], mult_bits).astype(object)
    if addend and "add" in obj:
        total = total + obj["add"]
    s = obj["s"]
    rnd = np.array([(1 << (int(x) - 1)) if (x and rounding) else 0 for x in v["s"]], dtype=object)
    t = (total + rnd) >> s
    y = np.minimum(np.maximum(t + obj["zp"], obj["qmin"]), obj["qmax"])
    return y.astype(np.int64)


def reference(v: dict, mult_bits: int) -> np.ndarray:
    """t2c.arith.requantize, or requantize_sum([acc * m, add], ...) with an addend, where
    the shift is in the contract; :func:`formula` (the header) at s = 0 and s = 63."""
    inside = contract(v)
    s = np.where(inside, v["s"], 1)
    m = m_eff(v["m"], mult_bits)
    if "add" in v:
        y = arith.requantize_sum([v["acc"] * m, v["add"]], s, v["zp"], v["qmin"], v["qmax"])
    else:
        y = arith.requantize(v["acc"], m, s, v["zp"], v["qmin"], v["qmax"])
    if inside.all():
        return y
    outside = ~inside
    y = y.copy()
    y[outside] = formula({k: np.asarray(v[k])[outside] for k in fields_of(v)}, mult_bits)
    return y


# ------------------------------------------------------------------ run
def simulate(sim: str, cfg: dict, tag: str, vec: dict, max_cycles: int | None = None):
    """Write the operand images of ``vec``, run tb_requant; returns (SimRun, y, valid)."""
    lanes = cfg["LANES"]
    n = len(vec["acc"])
    params = dict(cfg, NVEC=n // lanes)
    bdir = build_dir_for(DUT, sim, tag, params)
    w = widths(cfg)
    with exclusive(bdir):
        images = [write_image(bdir / f"{f}.hex", vec[f], w[f], parameter=f"{f.upper()}_FILE",
                              memory=MEMORIES[f]) for f in fields(cfg)]
        job = SimJob(DUT, TOP, sim, bdir, params, images, [Dump("Y_FILE", "y.hex")],
                     max_cycles or 4 * (n // lanes) + 64)
        run = run_job(job)
        y, valid = read_values(job.dump_path("Y_FILE"), cfg["OUTW"], True, n)
    return run, y, valid


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_requant(sim, config, request):
    toolchain.require_simulator(sim)
    cfg = CONFIGS[config]
    name = request.node.name
    vec = make_vectors(np.random.default_rng(test_seed()), cfg)
    n, mb, lanes = len(vec["acc"]), cfg["MULT_BITS"], cfg["LANES"]
    expected = reference(vec, mb)
    # the Python-integer formula used beyond the contract is the contract inside it
    inside = contract(vec)
    assert np.array_equal(formula({k: vec[k][inside] for k in fields_of(vec)}, mb), expected[inside])
    run, y, valid = simulate(sim, cfg, name, vec)
    shape = (n // lanes, lanes)
    cmp = compare(expected.reshape(shape), y.reshape(shape), valid=valid.reshape(shape),
                  names=("vector", "lane"),
                  inputs={f: vec[f].reshape(shape) for f in fields_of(vec)})
    shifts = np.unique(vec["s"])
    n_ties = prod_ties(vec, mb)
    print(f"{name}: {cmp.compared} elements ({vec['n_random']} random, {vec['n_edge']} edge, "
          f"{int((vec['s'] == 0).sum())} at s=0, {int((vec['s'] == MAX_PORT_SHIFT).sum())} at "
          f"s={MAX_PORT_SHIFT}, exact ties: {n_ties} of acc*m, {vec['n_add_ties']} of acc*m + add), "
          f"{cmp.mismatches} mismatches, {run.cycles} cycles for {n // lanes} vectors")
    assert cmp.mismatches == 0, cmp.message(f"requant {config} on {sim}")
    assert cmp.compared == n
    assert vec["n_random"] >= 100_000 and vec["n_edge"] > 0
    assert n_ties >= 4 * len(tie_shifts(mb)) or cfg.get("ADD_BITS")  # addends move the ties
    assert vec["n_add_ties"] > 0 or not cfg.get("ADD_BITS")
    assert np.array_equal(shifts, PORT_SHIFTS), "every port shift 0..63 exercised"
    assert run.cycles == expected_cycles(cfg, n // lanes), \
        f"{run.cycles} cycles, expected {expected_cycles(cfg, n // lanes)} (last issue + 2 + {LATENCY})"
    if not cfg["GAPS"]:
        assert run.cycles == n // lanes + 1 + LATENCY  # NVEC + 5


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_requant_ignores_add_i_without_addend(sim, request):
    """ADD_BITS = 0: add_i is ignored (rtl/requant.v header).  The wrapper drives it with all
    ones (-1 per 1-bit lane, ADD_TIE=1) instead of 0 and the results are still
    t2c.arith.requantize's on the edge vectors (every shift 0..63, exact ties), which the
    formula with add = -1 would not give (tools/mutate.py: the addend added for
    ADD_BITS >= 0 survived the suite, whose wrapper ties add_i to 0)."""
    toolchain.require_simulator(sim)
    cfg = CONFIGS["mult16"]
    vec = make_vectors(np.random.default_rng(test_seed()), cfg, n_random=4096)
    run, y, valid = simulate(sim, dict(cfg, ADD_TIE=1), request.node.name, vec)
    n, lanes, mb = len(vec["acc"]), cfg["LANES"], cfg["MULT_BITS"]
    shape = (n // lanes, lanes)
    expected = reference(vec, mb)
    cmp = compare(expected.reshape(shape), y.reshape(shape), valid=valid.reshape(shape),
                  names=("vector", "lane"), inputs={f: vec[f].reshape(shape) for f in FIELDS})
    assert cmp.mismatches == 0 and cmp.compared == n, cmp.message(f"requant mult16, add_i = -1, on {sim}")
    with_add = formula(dict(vec, add=np.full(n, -1, dtype=np.int64)), mb)
    changed = int((with_add != expected).sum())
    print(f"{request.node.name}: {n} elements equal; adding add_i = -1 would change {changed}")
    assert changed > 0


@pytest.mark.parametrize("config, wrong", [("mult32", "floor"), ("mult32_add41", "no_add")])
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_requant_detects_wrong_reference(sim, config, wrong, request):
    """The same simulated output against a deliberately wrong reference must differ:
    floor instead of round-half-up, or the addend ignored (while the true reference
    matches it exactly)."""
    toolchain.require_simulator(sim)
    cfg = CONFIGS[config]
    vec = make_vectors(np.random.default_rng(test_seed()), cfg, n_random=2048)
    run, y, valid = simulate(sim, cfg, request.node.name, vec)
    n, lanes, mb = len(vec["acc"]), cfg["LANES"], cfg["MULT_BITS"]
    shape = (n // lanes, lanes)
    right = compare(reference(vec, mb).reshape(shape), y.reshape(shape), valid=valid.reshape(shape))
    bad_ref = formula(vec, mb, rounding=(wrong != "floor"), addend=(wrong != "no_add"))
    bad = compare(bad_ref.reshape(shape), y.reshape(shape), valid=valid.reshape(shape),
                  names=("vector", "lane"))
    print(f"{request.node.name}: {wrong} reference -> {bad.mismatches} of {bad.compared} "
          f"elements differ (as intended); the true reference: {right.mismatches}")
    assert right.mismatches == 0, right.message("true reference")
    assert bad.mismatches > 0
    assert "differ" in bad.message("wrong reference")
