"""rtl/requant.v against t2c.arith.requantize, bit for bit, on Icarus and Verilator.

Per configuration: >= 100,000 random elements (three mixes: contract-shaped
(m, s) = quantize_multiplier(real), uniform m and s with log-uniform acc, and fully
uniform int32 acc) plus every edge vector: acc = -2^31, -1, 0, 1, 2^31-1 x m at both
ends of its range (and 0) x every shift 1..62 x output ranges of 2..8 bits signed and
unsigned (and the full OUTW range) x zero point at both ends; exact rounding ties
(acc*m = odd multiple of 2^(s-1)) and their neighbours for every s where a tie exists.
Saturation both ways comes from the extremes.  The wrapper sim/hdl/tb_requant.v
streams them from $readmemh images, one vector of LANES lanes per cycle.

With the addend (configurations *_add*: ADD_BITS = 41 as in the layer engine, and 48, wider than
the 16-bit multiplier's product) the reference is t2c.arith.requantize_sum([acc * m,
add], ...) and every element also gets an addend: uniform, log-uniform, the ends of
its range and -1/0/1, one cancelling acc * m up to a small rest, or one making the
sum an exact rounding tie (and +-1 beside it); plus edge vectors of every extreme
acc x m x addend x shift.
"""
from __future__ import annotations

import numpy as np
import pytest

import cocotb
import simutil as su

arith = su.import_arith()  # t2c.arith (see simutil.import_arith: no torch import)

DUT = "requant"
FIELDS = ("acc", "m", "s", "zp", "qmin", "qmax")
ACCW, SHIFT_BITS = 32, 6
SHIFTS = np.arange(1, arith.MAX_SHIFT + 1)  # every shift the hardware supports (1..62)
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


def _odd(rng, lo: int, hi: int) -> int:
    """A random odd integer in [lo, hi] (lo even or odd, hi odd)."""
    return int(rng.integers(lo, hi + 1)) | 1


def tie_vectors(rng, mult_bits: int, per_shift: int = 4) -> tuple[np.ndarray, ...]:
    """acc, m, s with acc*m an odd multiple of 2^(s-1) (exact ties), and acc +- 1 beside them.

    acc = odd_a * 2^ta and m = odd_m * 2^tm with ta + tm = s - 1 (ta <= 31,
    tm <= mult_bits - 2), so ties exist for s <= mult_bits + 30: every s for 32-bit
    multipliers, s <= 46 for 16-bit (beyond that |acc*m| < 2^(s-1): no tie possible).
    """
    m_lo, m_hi = m_range(mult_bits)
    rows = []
    for s in SHIFTS.tolist():
        lo_ta, hi_ta = max(0, s - 1 - (mult_bits - 2)), min(31, s - 1)
        for _ in range(per_shift if lo_ta <= hi_ta else 0):
            ta = int(rng.integers(lo_ta, hi_ta + 1))
            tm = s - 1 - ta
            odd_m = 1 if tm == mult_bits - 2 else _odd(rng, m_lo >> tm, m_hi >> tm)
            odd_a = -1 if ta == 31 else _odd(rng, -(1 << (31 - ta)), (1 << (31 - ta)) - 1)
            acc = odd_a << ta
            rows += [(min(max(acc + d, arith.INT32_MIN), arith.INT32_MAX), odd_m << tm, s)
                     for d in (0, -1, 1)]  # fixed count: the build depends on it
    acc, m, s = (np.array(x, dtype=np.int64) for x in zip(*rows))
    ties = ((acc * m) & ((np.int64(1) << s) - 1)) == (np.int64(1) << (s - 1))
    assert ties.sum() >= per_shift * min(len(SHIFTS), mult_bits + 30), "tie construction"
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


def edge_vectors(rng, mult_bits: int, outw: int) -> dict:
    """Extremes x every shift x every output range x zero point at both ends, plus ties."""
    m_lo, m_hi = m_range(mult_bits)
    accs = [arith.INT32_MIN, -1, 0, 1, arith.INT32_MAX]
    ranges = out_ranges(outw)
    rows = [(a, m, s, zp, lo, hi)
            for a in accs for m in (m_lo, m_hi, 0) for s in SHIFTS
            for lo, hi in ranges for zp in (lo, hi)]
    edge = {k: np.array(v, dtype=np.int64) for k, v in zip(FIELDS, zip(*rows))}
    ties = _with_ranges(rng, *tie_vectors(rng, mult_bits), outw)
    return {k: np.concatenate([edge[k], ties[k]]) for k in FIELDS}


def random_vectors(rng, n: int, mult_bits: int, outw: int) -> dict:
    """n random elements in three mixes (contract-shaped, log-uniform acc, uniform)."""
    m_lo, m_hi = m_range(mult_bits)
    k = n // 3
    sizes = (k, k, n - 2 * k)
    # 1. (m, s) from quantize_multiplier of a log-uniform real, acc log-uniform
    real = 2.0 ** rng.uniform(-45, min(8, mult_bits - 3), sizes[0])
    m1, s1 = arith.quantize_multiplier(real, bits=mult_bits)
    # 2. m, s uniform over their whole ranges, acc log-uniform
    m2 = rng.integers(m_lo, m_hi + 1, sizes[1])
    s2 = rng.integers(1, arith.MAX_SHIFT + 1, sizes[1])
    # 3. everything uniform
    m3 = rng.integers(m_lo, m_hi + 1, sizes[2])
    s3 = rng.integers(1, arith.MAX_SHIFT + 1, sizes[2])

    def loguniform_acc(size):
        mag = np.floor(2.0 ** rng.uniform(0, 31, size)).astype(np.int64) - 1
        return np.where(rng.random(size) < 0.5, -mag - 1, mag)

    acc = np.concatenate([loguniform_acc(sizes[0]), loguniform_acc(sizes[1]),
                          rng.integers(arith.INT32_MIN, arith.INT32_MAX + 1, sizes[2])])
    return _with_ranges(rng, acc, np.concatenate([m1, m2, m3]),
                        np.concatenate([s1, s2, s3]), outw)


def add_range(add_bits: int) -> tuple[int, int]:
    return -(1 << (add_bits - 1)), (1 << (add_bits - 1)) - 1


def addends(rng, v: dict, add_bits: int) -> tuple[np.ndarray, int]:
    """An addend for every element of ``v`` (one of six kinds, see the module docstring);
    returns it and the number of elements whose sum ``acc * m + add`` is an exact tie."""
    lo, hi = add_range(add_bits)
    prod, s = v["acc"] * v["m"], v["s"]
    n = prod.size
    kind = rng.integers(0, 6, n)
    mag = np.floor(2.0 ** rng.uniform(0, add_bits - 1, n)).astype(np.int64) - 1
    # exact ties: prod + add = 2^(s-1) (mod 2^s), then -1 / 0 / +1 beside; only where
    # the addend stays in range (s <= add_bits - 4: |add| < 5.5 * 2^s)
    tie_ok = s <= add_bits - 4
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
    """Every extreme acc x m x addend x shift, full output range: the largest and
    smallest sums, and shifts at and beyond the sum's width."""
    m_lo, m_hi = m_range(mult_bits)
    lo, hi = add_range(add_bits)
    q_lo, q_hi = arith.qrange(outw, True)
    rows = [(a, m, s, 0, q_lo, q_hi, d)
            for a in (arith.INT32_MIN, -1, 0, 1, arith.INT32_MAX) for m in (m_lo, m_hi, 0)
            for d in (lo, -1, 0, 1, hi) for s in SHIFTS]
    return {k: np.array(v, dtype=np.int64) for k, v in zip(FIELDS + ("add",), zip(*rows))}


def make_vectors(rng, cfg: dict, n_random: int, edges: bool = True) -> dict:
    """Edge + random elements, shuffled (edges reach every lane), padded to whole vectors.

    With ``ADD_BITS`` in ``cfg`` every element also gets an addend (:func:`addends`),
    and the addend edge vectors join the edges.
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
            p["add"], ties = addends(rng, p, add_bits)
            n_ties += ties
    vec = {k: np.concatenate([p[k] for p in parts]).astype(np.int64) for k in fields(cfg)}
    order = rng.permutation(len(vec["acc"]))
    vec = {k: v[order] for k, v in vec.items()}
    vec.update(n_random=n_random + pad, n_edge=n_edge, n_add_ties=n_ties)
    return vec


# ------------------------------------------------------------------ reference
def reference(v: dict, wrong: str = "") -> np.ndarray:
    """t2c.arith.requantize, or requantize_sum([acc * m, add], ...) with an addend.

    Deliberately wrong references: ``wrong="floor"`` floors instead of rounding half
    up, ``wrong="no_add"`` ignores the addend.
    """
    if wrong not in ("", "floor", "no_add"):
        raise ValueError(f"unknown T2C_WRONG_REF={wrong!r}")
    if wrong == "no_add" or "add" not in v:
        terms = [v["acc"] * v["m"]]
    else:
        terms = [v["acc"] * v["m"], v["add"]]
    if wrong == "floor":
        # floor instead of round-half-up: cancel the contract's 2^(s-1) rounding term
        terms.append(-(np.int64(1) << (v["s"] - 1)))
    elif wrong == "" and len(terms) == 1:
        return arith.requantize(v["acc"], v["m"], v["s"], v["zp"], v["qmin"], v["qmax"])
    return arith.requantize_sum(terms, v["s"], v["zp"], v["qmin"], v["qmax"])


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def requant_tb(dut):
    """Wait for the free-running wrapper, then compare every output element."""
    v = su.load_inputs()
    lanes, outw = v["lanes"], v["outw"]
    n = v["acc"].size
    run = await su.wait_done(dut, max_cycles=4 * (n // lanes) + 64)
    names = FIELDS + (("add",) if "add" in v else ())
    su.check_guards(dut, {MEMORIES[f]: n for f in names})
    got, valid = su.read_memh(su.current_build_dir() / "y.hex", outw, signed=True, count=n)
    expected = reference(v, su.wrong_ref())
    shape = (n // lanes, lanes)
    count, msg = su.compare(expected.reshape(shape), got.reshape(shape), what="requant y",
                            index_names=("vector", "lane"), valid=valid.reshape(shape),
                            inputs={f: v[f].reshape(shape) for f in names})
    su.finish(dut._log, dict(compared=int(n), mismatches=count, random=v["n_random"],
                             edge=v["n_edge"], add_ties=v["n_add_ties"], vectors=n // lanes,
                             **run), msg)


# ------------------------------------------------------------------ pytest
def prepare(sim: str, cfg: dict, test_id: str, n_random: int = N_RANDOM, edges: bool = True,
            wrong: str = "", seed: int | None = None) -> dict:
    """Write the operand images for one run; returns the arguments of su.build_and_test."""
    seed = su.test_seed() if seed is None else seed
    vec = make_vectors(np.random.default_rng(seed), cfg, n_random, edges)
    lanes = cfg["LANES"]
    params = dict(cfg, NVEC=len(vec["acc"]) // lanes)
    bdir = su.build_dir_for(DUT, sim, test_id, params)
    widths = dict(acc=ACCW, m=cfg["MULT_BITS"], s=SHIFT_BITS, zp=cfg["OUTW"],
                  qmin=cfg["OUTW"], qmax=cfg["OUTW"], add=cfg.get("ADD_BITS", 0))
    files = {f"{f.upper()}_FILE": su.write_memh(bdir / f"{f}.hex", vec[f], widths[f])
             for f in fields(cfg)}
    su.save_inputs(bdir, lanes=lanes, outw=cfg["OUTW"], **vec)
    return su.make_job(sim=sim, wrapper="tb_requant", rtl=(DUT,), test_module="test_requant",
                       build_dir=bdir, parameters=params, files=files,
                       outputs={"Y_FILE": "y.hex"}, seed=seed, wrong=wrong)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_requant(sim, config, request):
    su.require_simulator(sim)
    cfg = CONFIGS[config]
    report = su.build_and_test(**prepare(sim, cfg, request.node.name))
    print(f"{request.node.name}: {report['compared']} elements ({report['random']} random, "
          f"{report['edge']} edge, {report['add_ties']} exact ties of acc*m + add), "
          f"{report['mismatches']} mismatches, {report['cycles']} cycles")
    assert report["mismatches"] == 0
    assert report["random"] >= 100_000 and report["edge"] > 0
    assert report["add_ties"] > 0 or not cfg.get("ADD_BITS")


@pytest.mark.parametrize("config, wrong", [("mult32", "floor"), ("mult32_add41", "no_add")])
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_requant_detects_wrong_reference(sim, config, wrong, request):
    """The same testbench against a deliberately wrong reference must report mismatches:
    floor instead of round-half-up, or the addend ignored."""
    su.require_simulator(sim)
    job = prepare(sim, CONFIGS[config], request.node.name, n_random=2048, wrong=wrong)
    report = su.expect_mismatches(job)
    print(f"{request.node.name}: {wrong} reference -> {report['mismatches']} of "
          f"{report['compared']} elements differ (as intended)")
