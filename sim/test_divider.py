"""rtl/divider.v against Python's integer ``//`` and ``%``, bit for bit, on Icarus and Verilator.

Configurations (``CONFIGS``): the two instances in the RTL, softmax's reciprocal
(DIVISOR_BITS 25, QUOTIENT_BITS 26: MAX_N = 256) and layernorm's per-element division
(21, 8: the defaults), an exhaustive one (4, 3: every legal operand pair), the smallest
(1, 1) and a wide one (33, 40: a 73-bit dividend, wider than int64); the last three with
tb_harness bubbles, during which the wrapper also raises start_i with other operands
while the divider is busy (it must ignore them).

Operands cover the documented ranges, divisor ``v`` in 1 .. 2^V - 1 and dividend ``a``
in 0 .. v * 2^Q - 1 (the quotient fits Q bits):

- edges: divisors 1, 2, 3, 2^(V-1) - 1, 2^(V-1), 2^(V-1) + 1, 2^V - 2, 2^V - 1 (those in
  range), each with dividend 0, 1, v - 1, v, v + 1, and q v - 1, q v, q v + 1 (exact
  divisions and their off-by-one neighbours) for q = 2, 3, 2^(Q-1) and the quotient
  limit 2^Q - 1, and the largest dividend v 2^Q - 1 (quotient 2^Q - 1, remainder
  v - 1; with v = 2^V - 1 the largest legal dividend of the port);
- random: uniform pairs; log-uniform divisor and quotient with a uniform remainder;
  exact divisions and remainder v - 1 with log-uniform divisor and quotient;
- softmax's own operands (in the configurations at least as wide: softmax_recip,
  wide_v33_q40): 2^41 + total by 2 total for total = 2^15 .. 2^23 (the ends, their
  neighbours, random);
- small configurations: every legal pair (twice, in random order) instead.

Every division is checked with ``==``: quotient and remainder in the done cycle, the same
outputs one cycle later (held), and its latency (QUOTIENT_BITS cycles from the start
being taken to done_o); without bubbles also the run's length, NDIV * (Q + 1) + 2 cycles
(back to back at one division per Q + 1 cycles, + 2 for the wrapper's issue register and
the held capture).  Negative tests: the same runs against a reference quotient + 1 and
against a ceiling divider must report mismatches.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c.sim import toolchain
from t2c.sim.build import Dump, SimJob, build_dir_for, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.images import read_values, write_image

DUT = "divider"
SOFTMAX_DIVIDEND = 1 << 41   # rtl/softmax.v: recip = floor((2^41 + total) / (2 total))
SOFTMAX_TOTAL = (1 << 15, 1 << 23)   # EXP[0] = 2^15 <= total <= 256 * 2^15

CONFIGS = {
    # name: HDL parameters
    "softmax_recip": dict(DIVISOR_BITS=25, QUOTIENT_BITS=26, GAPS=0),
    "layernorm": dict(DIVISOR_BITS=21, QUOTIENT_BITS=8, GAPS=0),
    "exhaustive_v4_q3": dict(DIVISOR_BITS=4, QUOTIENT_BITS=3, GAPS=1),
    "one_bit": dict(DIVISOR_BITS=1, QUOTIENT_BITS=1, GAPS=1),
    "wide_v33_q40": dict(DIVISOR_BITS=33, QUOTIENT_BITS=40, GAPS=1),
}
N_RANDOM = 3000          # random divisions per configuration (three mixes)
N_SOFTMAX = 500          # random totals of softmax's own division
EXHAUSTIVE_MAX = 1 << 12  # enumerate every legal pair when there are at most this many
OUTPUTS = (  # name, file written by tb_divider, width ("V", "Q" or bits), expected key
    ("quotient", "q.hex", "Q", "q"),
    ("remainder", "r.hex", "V", "r"),
    ("quotient held", "qh.hex", "Q", "q"),
    ("remainder held", "rh.hex", "V", "r"),
    ("latency", "lat.hex", 32, "lat"),
)


# ------------------------------------------------------------------ operands
def _below(rng, n: int) -> int:
    """Uniform in 0 .. n - 1, for any n >= 1 (Python ints beyond int64)."""
    if n <= 1 << 62:
        return int(rng.integers(0, n))
    k = (n.bit_length() + 71) // 8   # 64 extra bits: the modulo bias is negligible
    return int.from_bytes(rng.bytes(k), "little") % n


def _log_uniform(rng, lo: int, hi: int) -> int:
    """lo .. hi with a uniformly chosen bit length (small values as likely as large)."""
    b = int(rng.integers(0, hi.bit_length() + 1))
    x = 0 if b == 0 else (1 << (b - 1)) + _below(rng, 1 << (b - 1))
    return min(hi, max(lo, x))


def legal(a: int, v: int, vw: int, qw: int) -> bool:
    """The documented operand range of rtl/divider.v."""
    return 1 <= v < (1 << vw) and 0 <= a < (v << qw)


def edge_pairs(vw: int, qw: int) -> list[tuple[int, int]]:
    """Edge operands (module docstring), each pair once, all in range."""
    vmax, qmax = (1 << vw) - 1, (1 << qw) - 1
    half = 1 << (vw - 1)
    divisors = sorted({v for v in (1, 2, 3, half - 1, half, half + 1, vmax - 1, vmax)
                       if 1 <= v <= vmax})
    pairs = {}
    for v in divisors:
        cands = [0, 1, v - 1, v, v + 1, (v << qw) - 1]
        for q in (2, 3, 1 << (qw - 1), qmax):
            cands += [q * v - 1, q * v, q * v + 1]
        for a in cands:
            if legal(a, v, vw, qw):
                pairs[(a, v)] = None
    return list(pairs)


def random_pairs(rng, n: int, vw: int, qw: int) -> list[tuple[int, int]]:
    """n random pairs in three mixes: uniform; log-uniform v, q with a uniform
    remainder; exact divisions and remainder v - 1."""
    vmax, qmax = (1 << vw) - 1, (1 << qw) - 1
    out = []
    for i in range(n):
        mix = i % 3
        if mix == 0:
            v = 1 + _below(rng, vmax)
            a = _below(rng, v << qw)
        else:
            v = _log_uniform(rng, 1, vmax)
            q = _log_uniform(rng, 0, qmax)
            r = _below(rng, v) if mix == 1 else (0 if rng.random() < 0.5 else v - 1)
            a = q * v + r
        out.append((a, v))
    return out


def softmax_pairs(rng, n: int) -> list[tuple[int, int]]:
    """softmax's reciprocal operands: (2^41 + total, 2 total) for totals at the ends of
    their range, their neighbours, and random ones."""
    lo, hi = SOFTMAX_TOTAL
    totals = [lo, lo + 1, lo + 2, hi - 1, hi, (lo + hi) // 2]
    totals += [_log_uniform(rng, lo, hi) for _ in range(n // 2)]
    totals += [lo + _below(rng, hi - lo + 1) for _ in range(n - n // 2)]
    return [(SOFTMAX_DIVIDEND + t, 2 * t) for t in totals]


def all_pairs(vw: int, qw: int) -> list[tuple[int, int]]:
    return [(a, v) for v in range(1, 1 << vw) for a in range(v << qw)]


def make_operands(rng, cfg: dict, n_random: int = N_RANDOM) -> dict:
    """Dividends, divisors and kinds of one run, shuffled (module docstring)."""
    vw, qw = cfg["DIVISOR_BITS"], cfg["QUOTIENT_BITS"]
    exhaustive = (1 << vw) * (1 << (vw + qw)) <= EXHAUSTIVE_MAX
    parts = []
    if exhaustive:
        parts += [("exhaustive", p) for _ in range(2) for p in all_pairs(vw, qw)]
    else:
        parts += [("edge", p) for p in edge_pairs(vw, qw)]
        parts += [("random", p) for p in random_pairs(rng, n_random, vw, qw)]
        if vw >= 25 and qw >= 26:   # wide enough for softmax's reciprocal
            parts += [("softmax", p) for p in softmax_pairs(rng, N_SOFTMAX)]
    order = rng.permutation(len(parts))
    parts = [parts[i] for i in order]
    kinds = [k for k, _ in parts]
    a = [p[0] for _, p in parts]
    v = [p[1] for _, p in parts]
    assert all(legal(x, y, vw, qw) for x, y in zip(a, v)), "operand out of range"
    return dict(dividend=a, divisor=v, kind=kinds, exhaustive=exhaustive)


# ------------------------------------------------------------------ reference
def reference(a, v, qw: int, wrong: str = "") -> dict:
    """Quotient a // v, remainder a % v and the latency qw of every division.

    Deliberately wrong references: ``wrong="plus1"`` the quotient + 1, ``wrong="ceil"``
    a ceiling divider (right only for exact divisions); the remainder follows the
    quotient (a - q v).
    """
    if wrong not in ("", "plus1", "ceil"):
        raise ValueError(f"unknown wrong reference {wrong!r}")
    q = [x // y for x, y in zip(a, v)]
    if wrong == "plus1":
        q = [x + 1 for x in q]
    elif wrong == "ceil":
        q = [-(-x // y) for x, y in zip(a, v)]
    r = [x - qq * y for x, y, qq in zip(a, v, q)]
    return dict(q=q, r=r, lat=[qw] * len(a))


def _obj(values) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = [int(x) for x in values]
    return out


# ------------------------------------------------------------------ runs
def simulate(sim: str, config: str, test_id: str, n_random: int = N_RANDOM) -> dict:
    """Write the operand image, run tb_divider, read every output back.

    Returns the operands, the simulated outputs ``(values, valid)`` by name and the run."""
    seed = test_seed()
    cfg = CONFIGS[config]
    ops = make_operands(np.random.default_rng(seed), cfg, n_random)
    vw, qw = cfg["DIVISOR_BITS"], cfg["QUOTIENT_BITS"]
    n = len(ops["dividend"])
    params = dict(cfg, NDIV=n)
    bdir = build_dir_for(DUT, sim, test_id, params)
    words = _obj([(a << vw) | v for a, v in zip(ops["dividend"], ops["divisor"])])
    images = [write_image(bdir / "ops.hex", words, 2 * vw + qw, parameter="OPS_FILE", memory="u_ops.mem")]
    dumps = [Dump(f"{f.split('.')[0].upper()}_FILE", f) for _, f, _, _ in OUTPUTS]
    run = run_job(SimJob(DUT, "tb_divider", sim, bdir, params, images, dumps, 2 * n * (qw + 2) + 64))
    widths = {"V": vw, "Q": qw}
    got = {name: read_values(bdir / fname, widths.get(width, width), False, n)
           for name, fname, width, _ in OUTPUTS}
    return dict(ops=ops, got=got, run=run, n=n)


def compare_outputs(res: dict, wrong: str = "") -> dict:
    """Every output against the reference (``wrong``: a deliberately wrong one), by name."""
    ops = res["ops"]
    a, d = _obj(ops["dividend"]), _obj(ops["divisor"])
    qw = int(res["run"].job.parameters["QUOTIENT_BITS"])
    expected = reference(a, d, qw, wrong)
    return {name: compare(_obj(expected[key]), _obj(res["got"][name][0]), valid=res["got"][name][1],
                          names=("division",), inputs={"dividend": a, "divisor": d, "kind": np.array(ops["kind"])})
            for name, _, _, key in OUTPUTS}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_divider(sim, config, request):
    toolchain.require_simulator(sim)
    cfg = CONFIGS[config]
    res = simulate(sim, config, request.node.name)
    n, qw, cycles = res["n"], cfg["QUOTIENT_BITS"], res["run"].cycles
    kinds = dict(zip(*np.unique(res["ops"]["kind"], return_counts=True)))
    for name, c in compare_outputs(res).items():
        assert c.mismatches == 0 and c.compared == n, c.message(f"divider {name}")
    print(f"{request.node.name}: {n} divisions {kinds}, {cycles} cycles")
    if cfg["GAPS"] == 0:   # back to back: one division every QUOTIENT_BITS + 1 cycles
        assert cycles == n * (qw + 1) + 2, cycles
    if res["ops"]["exhaustive"]:
        assert {str(k): int(v) for k, v in kinds.items()} == {
            "exhaustive": 2 * len(all_pairs(cfg["DIVISOR_BITS"], qw))}


@pytest.mark.parametrize("config, wrong", [("layernorm", "plus1"), ("softmax_recip", "ceil")])
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_divider_detects_wrong_reference(sim, config, wrong, request):
    """The same simulated outputs against a deliberately wrong reference must differ: the
    quotient + 1 (every division), or a ceiling divider (all but exact divisions)."""
    toolchain.require_simulator(sim)
    res = simulate(sim, config, request.node.name, n_random=300)
    c = compare_outputs(res, wrong)
    assert c["quotient"].mismatches > 0 and c["latency"].mismatches == 0
    if wrong == "plus1":
        assert c["quotient"].mismatches == res["n"]
    print(f"{request.node.name}: {wrong} reference -> {c['quotient'].mismatches} of "
          f"{res['n']} quotients differ (as intended)")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_operands_cover_the_edges(config):
    """The operand mix holds what the docstring promises, all inside the port ranges."""
    cfg = CONFIGS[config]
    vw, qw = cfg["DIVISOR_BITS"], cfg["QUOTIENT_BITS"]
    vmax, qmax = (1 << vw) - 1, (1 << qw) - 1
    ops = make_operands(np.random.default_rng(1), cfg)
    pairs = list(zip(ops["dividend"], ops["divisor"]))
    assert all(legal(a, v, vw, qw) for a, v in pairs)
    if ops["exhaustive"]:
        assert set(pairs) == set(all_pairs(vw, qw))
        return
    q = [a // v for a, v in pairs]
    r = [a % v for a, v in pairs]
    assert any(v == 1 for _, v in pairs) and any(v == vmax for _, v in pairs)
    assert any(a == 0 for a, _ in pairs)
    assert ((vmax << qw) - 1, vmax) in pairs                     # the largest dividend
    assert sum(x == qmax for x in q) >= 8                         # quotient at its limit
    assert sum(x == 0 for x in r) >= 100                          # exact divisions
    exact = {(a, v) for (a, v), rr in zip(pairs, r) if rr == 0 and a > 0}
    assert sum((a - 1, v) in pairs and (a + 1, v) in pairs for a, v in exact) >= 20
    if vw >= 25 and qw >= 26:
        lo, hi = SOFTMAX_TOTAL
        assert (SOFTMAX_DIVIDEND + lo, 2 * lo) in pairs and (SOFTMAX_DIVIDEND + hi, 2 * hi) in pairs
    wrong_ceil = sum(x != -(-a // v) for x, (a, v) in zip(q, pairs))
    assert wrong_ceil >= len(pairs) // 2   # the ceiling reference is far from right
