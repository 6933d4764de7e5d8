"""rtl/layernorm.v (wrapper sim/hdl/tb_layernorm.v): integer LayerNorm rows, bit-exact.

Through the unit's job builder (``t2c.sim.units.layernorm``), compared on the pytest side
with ``==`` (``t2c.sim.compare``) against ``t2c.arith.layernorm_int`` row by row: every
output ``y``, every ``last_o`` flag (set exactly on each row's last element) and every
element's row root ``r_o`` (``max(isqrt(sum d^2 + eps), 1)``).  Seeds are logged,
``T2C_SEED`` reproduces.  The golden digits-vit LayerNorm layers run in
sim/test_layers.py.

* Random (``test_layernorm_random``, input bubbles): rows of 1..256 signed codes:
  uniform, narrow, all-equal rows (d = 0, r = max(isqrt(eps), 1), also eps = 0), extreme
  codes only (the largest sum of squares at n = 256), per-row eps / zero points / clip
  range (both clip bounds), G = 0..15 and 30, and elements whose division lands exactly
  on a .5 boundary, with negative and positive numerators (constructed: ``tie_rows``,
  ``mean_tie_rows``).  Negative: the same outputs against a reference with the division
  truncated instead of rounded half up must report mismatches.
* Output ranges (``test_layernorm_output_ranges``, no bubbles; the blind spot found by
  mutation testing): unsigned uint8 outputs whose qmin is >= 128 (zero point 180 or
  random, every qmin 128..200, qmax up to 255), signed int8 outputs with qmin / qmax /
  zy at the ends of -128..127, and rows with qmin, qmax and zy at both ends of the
  OUT_BITS + 1-bit port range -256..255 (L = qmin - zy up to +-511; y_o carries y
  modulo 2^OUT_BITS).  Negative: a reference that keeps zy, qmin and qmax in OUT_BITS
  bits only (what a port one bit too narrow computes) must report mismatches.
* isqrt (``test_layernorm_isqrt_unsigned``, no bubbles): a second build (MAX_N = 192 as
  in ViT-tiny, EPS_BITS = 40, unsigned codes and outputs, MAX_SHIFT = 15) runs
  one-element rows, whose radicand is eps: every v < 1024, k^2 - 1, k^2, k^2 + 1 for
  every k < 64 and 400 random k < 2^20, and 2^40 - 1; plus random unsigned rows up to
  n = 192 with the largest radicand.  Every root the build can produce is checked on
  the Python side instead (the RTL's digit-by-digit algorithm, modelled with its
  register widths, for k^2 - 1, k^2 and every k < 2^21).
* Without bubbles the whole run's cycle count is checked exactly:
  ``sum(n (OUT_BITS + 3) + RW + 4) + 2`` (``cycles_expected``).
* Python side: the width bounds of rtl/layernorm.v hold for the worst-case row,
  ``check_fits`` refuses data that does not fit, and the row generators hold the
  cases claimed above.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import build_dir_for, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.units import SimOptions
from t2c.sim.units import layernorm as unit
from t2c.sim.units.layernorm import DEFAULTS, check_fits, widths
from t2c.sim.units.rows import last_flags, row_col

JOB_KEYS = ("x", "lens", "gain", "offset", "shift", "eps", "zy", "qmin", "qmax")
ISQRT_BUILD = dict(in_signed=False, max_n=192, max_shift=15, eps_bits=40)


def build_widths(params: dict) -> dict:
    """widths() of the build ``params`` (the unit's HDL parameters)."""
    return widths(in_bits=params["IN_BITS"], out_bits=params["OUT_BITS"], max_n=params["MAX_N"],
                  gain_bits=params["GAIN_BITS"], off_bits=params["OFF_BITS"],
                  max_shift=params["MAX_SHIFT"], eps_bits=params["EPS_BITS"])


def cycles_expected(lens, params: dict) -> int:
    """A row takes n (OUT_BITS + 3) + RW + 4 cycles (rtl/layernorm.v, docs/vit_rtl.md).
    Measured constant 2: the wrapper's input register (the first element is taken in
    cycle 1) and `done` the cycle after the last output is stored (the next row's LOAD
    starts in the cycle of the last output, so rows add up exactly)."""
    per_row = np.asarray(lens) * (params["OUT_BITS"] + 3) + build_widths(params)["RW"] + 4
    return int(per_row.sum()) + 2


# ------------------------------------------------------------------ references
def row_roots(x, lens, zx, eps) -> np.ndarray:
    """r = max(isqrt(sum(d * d) + eps), 1) of every row (what r_o must show)."""
    out, start = [], 0
    for n, z, e in zip(np.asarray(lens).tolist(), np.asarray(zx).tolist(), np.asarray(eps).tolist()):
        xc = x[start:start + n] - z
        d = n * xc - xc.sum()
        out.append(max(int(arith.isqrt(int((d * d).sum()) + e)), 1))
        start += n
    return np.array(out, dtype=np.int64)


def row_terms(x, lens, v):
    """Per row: (start, n, r, numerator d*g + o*r, divisor r << G) of layernorm_int."""
    r = row_roots(x, lens, v["zx"], v["eps"])
    start = 0
    for i, n in enumerate(np.asarray(lens).tolist()):
        xc = x[start:start + n] - v["zx"][i]
        d = n * xc - xc.sum()
        sl = slice(start, start + n)
        yield start, n, r[i], d * v["gain"][sl] + v["offset"][sl] * r[i], r[i] << int(v["shift"][i])
        start += n


def reference_rows(x, lens, v) -> np.ndarray:
    """``t2c.arith.layernorm_int`` row by row (per-row eps, zero points, clip range)."""
    out, start = np.empty(x.size, dtype=np.int64), 0
    for i, n in enumerate(np.asarray(lens).tolist()):
        sl = slice(start, start + n)
        out[sl] = arith.layernorm_int(x[sl], int(v["zx"][i]), v["gain"][sl], v["offset"][sl],
                                      int(v["shift"][i]), int(v["eps"][i]), int(v["zy"][i]),
                                      int(v["qmin"][i]), int(v["qmax"][i]))
        start += n
    return out


def trunc_rows(x, lens, v) -> np.ndarray:
    """Deliberately wrong reference: ``layernorm_int`` with the division truncated
    towards zero instead of rounded half up (negative tests)."""
    out = np.empty(x.size, dtype=np.int64)
    row, _ = row_col(lens)
    for start, n, _r, num, den in row_terms(x, lens, v):
        out[start:start + n] = np.sign(num) * (np.abs(num) // den)
    return np.clip(out + v["zy"][row], v["qmin"][row], v["qmax"][row])


def wrap(v, bits: int):
    """``v`` as a ``bits``-bit two's complement number."""
    v = np.asarray(v, dtype=np.int64) & ((1 << bits) - 1)
    return np.where(v >= 1 << (bits - 1), v - (1 << bits), v)


def narrow_port_rows(x, lens, v, out_bits: int = 8) -> np.ndarray:
    """Deliberately wrong reference: zy, qmin and qmax kept in OUT_BITS bits (two's
    complement) instead of OUT_BITS + 1 (a port or register one bit too narrow)."""
    return reference_rows(x, lens, {**v, **{k: wrap(v[k], out_bits) for k in ("zy", "qmin", "qmax")}})


def tie_counts(x, lens, v) -> tuple[int, int]:
    """Elements whose division lands exactly on .5 (and is not clipped away), with a
    negative / positive numerator: where round half up, floor and truncation differ."""
    neg = pos = 0
    row, _ = row_col(lens)
    for start, n, _r, num, den in row_terms(x, lens, v):
        i = row[start]
        q = arith.div_round(num, den) + v["zy"][i]
        tie = ((2 * num + den) % (2 * den) == 0) & (q - 1 >= v["qmin"][i]) & (q <= v["qmax"][i])
        neg += int((tie & (num < 0)).sum())
        pos += int((tie & (num > 0)).sum())
    return neg, pos


# ------------------------------------------------------------------ rows
def _desc(rng, full: bool = False) -> dict:
    """Per-row descriptor: zero points, clip range (sometimes narrow), eps."""
    zy = int(rng.integers(-60, 61)) if full else int(rng.integers(-128, 128))
    qmin, qmax = -128, 127
    if not full and rng.random() < 0.3:
        qmin, qmax = sorted(int(v) for v in rng.integers(-128, 128, 2))
    e = rng.random()
    eps = 0 if e < 0.25 else int(rng.integers(0, 2000)) if e < 0.7 else int(rng.integers(0, 1 << 32))
    return dict(zx=int(rng.integers(-128, 128)), zy=zy, qmin=qmin, qmax=qmax, eps=eps)


def _params(rng, n: int, shift: int):
    """Random per-element gains (with the extremes) and offsets for one row."""
    gain = rng.integers(-(1 << 15) + 1, 1 << 15, n)
    gain[rng.random(n) < 0.05] = (1 << 15) - 1
    gain[rng.random(n) < 0.05] = -(1 << 15) + 1
    lim = 1 << min(shift + 9, 31)
    return gain, rng.integers(-lim, lim, n)


def tie_rows(rng, count: int):
    """Rows with an element whose division lands exactly on .5 (round half up, floor and
    truncation all differ there): with g = c 2^G, o = m 2^G and eps chosen so that
    r = 2 |d_i| c exactly, d_i g / (r 2^G) = +-1/2 and o r / (r 2^G) = m.  The sign of
    the numerator d_i c 2^G + m 2^G r follows d_i and m (both signs occur)."""
    rows = []
    while len(rows) < count:
        n, shift = int(rng.integers(2, 13)), int(rng.integers(1, 9))
        x = rng.integers(-128, 128, n)
        d = n * x - x.sum()
        i = int(rng.integers(0, n))
        c = int(rng.integers(1, 1 << (14 - shift))) | 1
        r = 2 * abs(int(d[i])) * c
        ssq = int((d * d).sum())
        if d[i] == 0 or r * r < ssq or r * r + 2 * r >= 1 << 32:
            continue
        gain, offset = _params(rng, n, shift)
        gain[i] = c << shift if rng.random() < 0.5 else -(c << shift)
        offset[i] = int(rng.integers(-3, 4)) << shift
        rows.append(dict(x=x, gain=gain, offset=offset, shift=shift,
                         **dict(_desc(rng, full=True), eps=r * r - ssq + int(rng.integers(0, 2 * r + 1)))))
    return rows


def mean_tie_rows(rng, count: int):
    """Rows symmetric around m with elements at m (d = 0 there, so the numerator is o r)
    whose offset is an odd multiple of 2^(G-1): exactly on .5, negative or positive."""
    rows = []
    for _ in range(count):
        n, shift = 2 * int(rng.integers(2, 12)), int(rng.integers(1, 12))
        m = int(rng.integers(-100, 100))
        a = rng.integers(0, 28, n // 2)
        x = np.concatenate([m + a, m - a])
        k = int(rng.integers(1, n // 2))
        x[:k], x[n // 2:n // 2 + k] = m, m
        gain, offset = _params(rng, n, shift)
        offset[x == m] = (2 * rng.integers(-4, 4, int((x == m).sum())) + 1) << (shift - 1)
        rows.append(dict(x=x, gain=gain, offset=offset, shift=shift, **_desc(rng, full=True)))
    return rows


def _stack(rows) -> dict:
    """Row dicts -> the job arguments (elements back to back, per-row arrays) plus zx."""
    args = {k: np.concatenate([np.asarray(r[k]) for r in rows]).astype(np.int64)
            for k in ("x", "gain", "offset")}
    args.update({k: np.array([r[k] for r in rows], dtype=np.int64)
                 for k in ("shift", "eps", "zx", "zy", "qmin", "qmax")})
    args["lens"] = np.array([len(r["x"]) for r in rows], dtype=np.int64)
    return args


def random_rows(rng, max_n: int = 256):
    """The random mix of the module docstring (signed 8-bit codes), as job arguments."""
    rows = []

    def add(x, shift=None, **desc):
        shift = int(rng.integers(0, 16)) if shift is None else shift
        gain, offset = _params(rng, len(x), shift)
        rows.append(dict(x=np.asarray(x), gain=gain, offset=offset, shift=shift, **{**_desc(rng), **desc}))

    def n_any():
        return int(rng.integers(1, 17)) if rng.random() < 0.5 else int(rng.integers(1, max_n + 1))

    for _ in range(30):
        add(rng.integers(-128, 128, n_any()))
    for _ in range(12):  # narrow ranges
        m = int(rng.integers(-124, 128))
        add(rng.integers(m - 4, m + 1, n_any()))
    for n in (1, 2, 3, 16, 48, 192, max_n):  # all equal: d = 0, r = max(isqrt(eps), 1)
        add(np.full(n, int(rng.integers(-128, 128))), eps=0)
        add(np.full(n, int(rng.integers(-128, 128))))
    for _ in range(6):  # extreme codes only
        add(rng.choice([-128, 127], n_any()))
    for eps in (0, (1 << 32) - 1):  # the largest sum of squares (and radicand)
        add(np.repeat([-128, 127], max_n // 2), eps=eps)
    add(np.array([127] + [-128] * (max_n - 1)), eps=0)  # the largest |d|
    add(np.full(max_n, 0), shift=30)  # the largest shift
    rows += tie_rows(rng, 24) + mean_tie_rows(rng, 10)
    return _stack([rows[i] for i in rng.permutation(len(rows))])


def _spread_row(rng, n: int, zy: int, qmin: int, qmax: int, kind: str) -> dict:
    """A row whose outputs spread around zy by about +-(spread * z-score): gains
    spread * sqrt(n) * 2^G (d g / (r 2^G) = spread * z), offsets up to +-40 steps, so
    that both clip bounds and the values between them occur."""
    shift = int(rng.integers(0, 5))
    x = rng.integers(-128, 128, n)
    spread = float(rng.uniform(30, 130))
    gain = np.rint(spread * np.sqrt(n) * (1 << shift) * rng.uniform(0.5, 1.5, n)
                   * rng.choice([-1, 1], n)).astype(np.int64)
    gain = np.clip(gain, -(1 << 15) + 1, (1 << 15) - 1)
    offset = np.rint(rng.uniform(-40, 40, n) * (1 << shift)).astype(np.int64)
    e = rng.random()
    eps = 0 if e < 0.3 else int(rng.integers(0, 1 << 20))
    return dict(x=x, gain=gain, offset=offset, shift=shift, eps=eps, zx=int(rng.integers(-128, 128)),
                zy=zy, qmin=qmin, qmax=qmax, kind=kind)


def output_range_rows(rng):
    """Rows for ``test_layernorm_output_ranges`` (default build, 8-bit outputs):

    * "uint8": qmin >= 128 for an unsigned output: every qmin 128..200 with zy = 180
      (qmax 255 or random qmin..255), then 40 rows with zy in 100..255, qmin in 128..220;
    * "int8": qmin, qmax, zy at the ends of -128..127 (full and narrow ranges);
    * "port": qmin, qmax and zy at both ends of the 9-bit port range -256..255
      (qmax - qmin <= 255; L = qmin - zy from -511 to 511).
    Returns the job arguments plus ``kind`` (one string per row)."""
    rows = []

    def add(zy, qmin, qmax, kind, n=None):
        n = int(rng.integers(2, 49)) if n is None else n
        rows.append(_spread_row(rng, n, int(zy), int(qmin), int(qmax), kind))

    for qmin in range(128, 201):
        qmax = 255 if rng.random() < 0.4 else int(rng.integers(qmin, 256))
        add(180, qmin, qmax, "uint8")
    for _ in range(40):
        qmin = int(rng.integers(128, 221))
        add(int(rng.integers(100, 256)), qmin, 255 if rng.random() < 0.5 else int(rng.integers(qmin, 256)),
            "uint8")
    for zy in (-128, -127, -1, 0, 126, 127):
        for qmin, qmax in ((-128, 127), (-127, 126), (-128, -120), (120, 127), (-128, -128), (127, 127)):
            add(zy, qmin, qmax, "int8")
    for zy, qmin, qmax in ((-256, -256, -1), (-255, -256, -2), (-256, -200, 55), (255, 0, 255),
                           (254, 1, 255), (255, 200, 255), (-256, 200, 255), (-256, 255, 255),
                           (255, -256, -1), (255, -256, -256), (-1, -256, -1), (0, -1, 254),
                           (-256, 0, 255), (255, -256, -2), (128, -128, 127), (-129, -128, 127)):
        for _ in range(2):
            add(zy, qmin, qmax, "port")
    rows = [rows[i] for i in rng.permutation(len(rows))]
    args = _stack(rows)
    args["kind"] = np.array([r["kind"] for r in rows])
    return args


def isqrt_rows(rng):
    """One-element rows (d = 0, radicand = eps) for the unsigned / EPS_BITS = 40 build:
    every v < 1024, k^2 - 1, k^2, k^2 + 1 for k < 64 and 400 random k < 2^20, and the
    largest eps; plus random unsigned rows up to n = 192 (the largest radicand)."""
    ks = np.concatenate([np.arange(1, 64), rng.integers(64, 1 << 20, 400)])
    eps = np.unique(np.concatenate([np.arange(1024), ks * ks - 1, ks * ks, ks * ks + 1,
                                    [(1 << 40) - 1]]))
    rows = []
    for e in eps[rng.permutation(eps.size)].tolist():
        rows.append(dict(x=rng.integers(0, 256, 1), eps=e))
    for _ in range(10):
        rows.append(dict(x=rng.integers(0, 256, int(rng.integers(1, 193))),
                         eps=int(rng.integers(0, 1 << 40))))
    for e in (0, (1 << 40) - 1):
        rows.append(dict(x=np.repeat([0, 255], 96), eps=e))
    args = {"x": np.concatenate([r["x"] for r in rows]).astype(np.int64),
            "eps": np.array([r["eps"] for r in rows], dtype=np.int64),
            "lens": np.array([len(r["x"]) for r in rows], dtype=np.int64)}
    nx, nrows = args["x"].size, len(rows)
    args.update(gain=rng.integers(-(1 << 15) + 1, 1 << 15, nx), offset=rng.integers(-4000, 4000, nx),
                shift=rng.integers(0, 16, nrows), zx=rng.integers(0, 256, nrows),
                zy=rng.integers(0, 256, nrows), qmin=np.zeros(nrows, dtype=np.int64),
                qmax=np.full(nrows, 255))
    return args, int(eps.size)


# ------------------------------------------------------------------ run and check
def run_rows(sim: str, tag: str, args: dict, *, out_signed: bool, gaps: int = 0, seed: int = 1,
             **build):
    """One run of the unit: returns (SimRun, params, {"output", "last", "r": (values, valid)})."""
    params = unit.parameters(nx=args["x"].size, nrows=args["lens"].size, gaps=gaps, **build)
    params["GAP_SEED"] = seed % 65535
    bdir = build_dir_for("layernorm", sim, tag, params)
    run = run_job(unit.job(bdir, SimOptions(sim=sim), params, **{k: args[k] for k in JOB_KEYS}))
    return run, params, unit.read(run, params, out_signed)


def check(sim: str, args: dict, out: dict, expected) -> None:
    """y == expected, last_o == each row's last element, r_o == the row's root, everywhere."""
    x, lens = args["x"], args["lens"]
    row, col = row_col(lens)
    roots = row_roots(x, lens, args["zx"], args["eps"])
    ops = {"row": row, "col": col, "x": x, "r": roots[row], "gain": args["gain"],
           "offset": args["offset"], "G": args["shift"][row], "eps": args["eps"][row],
           "zy": args["zy"][row], "qmin": args["qmin"][row], "qmax": args["qmax"][row]}
    title = f"layernorm ({sim})"
    got = {"y": (expected, out["output"], ops),
           "last_o": (last_flags(lens), out["last"], {"row": row, "col": col}),
           "r_o": (roots[row], out["r"], {"row": row, "eps": args["eps"][row]})}
    for name, (want, (g, valid), inputs) in got.items():
        c = compare(want, g, valid=valid, names=("element",), inputs=inputs)
        print(c.message(f"{title} {name}"))
        assert c.passed, c.message(f"{title} {name}")


def _per_row(args: dict) -> dict:
    return {k: np.broadcast_to(v, args["lens"].shape) if np.ndim(v) == 0 else v for k, v in args.items()}


# ------------------------------------------------------------------ pytest: simulations
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_layernorm_random(sim, request):
    """The random mix with input bubbles: y, last_o and r_o of every element; then the
    same outputs against a truncating-division reference must report mismatches."""
    toolchain.require_simulator(sim)
    seed = test_seed()
    args = random_rows(np.random.default_rng(seed))
    neg, pos = tie_counts(args["x"], args["lens"], args)
    run, params, out = run_rows(sim, request.node.name, args, out_signed=True, gaps=1, seed=seed)
    print(f"{args['x'].size} elements in {args['lens'].size} rows ({neg} negative and {pos} "
          f"positive .5 ties), {run.cycles} cycles with bubbles")
    assert neg > 0 and pos > 0
    check(sim, args, out, reference_rows(args["x"], args["lens"], args))
    y, valid = out["output"]
    wrong = compare(trunc_rows(args["x"], args["lens"], args), y, valid=valid, names=("element",))
    print(wrong.message(f"truncating reference ({sim}, as intended)"))
    assert wrong.mismatches > 0 and wrong.first
    assert run.cycles > cycles_expected(args["lens"], params)  # the bubbles cost cycles


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_layernorm_output_ranges(sim, request):
    """uint8 outputs with qmin >= 128, int8 outputs at the ends of their range, and zy /
    qmin / qmax at both ends of the 9-bit port range (outputs read as unsigned 8-bit
    codes: y modulo 256); exact cycle count; a reference with 8-bit zy / qmin / qmax
    must report mismatches."""
    toolchain.require_simulator(sim)
    seed = test_seed()
    args = output_range_rows(np.random.default_rng(seed))
    run, params, out = run_rows(sim, request.node.name, args, out_signed=False, seed=seed)
    ref = reference_rows(args["x"], args["lens"], args)
    print(f"{args['x'].size} elements in {args['lens'].size} rows, {run.cycles} cycles")
    check(sim, args, out, ref & 0xFF)
    y, valid = out["output"]
    wrong = compare(narrow_port_rows(args["x"], args["lens"], args) & 0xFF, y, valid=valid,
                    names=("element",))
    print(wrong.message(f"8-bit zy/qmin/qmax reference ({sim}, as intended)"))
    assert wrong.mismatches > 0
    want = cycles_expected(args["lens"], params)
    assert run.cycles == want, f"{run.cycles} cycles, expected {want}"


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_layernorm_isqrt_unsigned(sim, request):
    """The square root on every radicand listed in isqrt_rows (r_o compared), unsigned
    codes and outputs, MAX_N = 192 (ViT-tiny), EPS_BITS = 40, MAX_SHIFT = 15; exact cycle
    count (no bubbles)."""
    toolchain.require_simulator(sim)
    seed = test_seed()
    args, count = isqrt_rows(np.random.default_rng(seed))
    args = _per_row(args)
    run, params, out = run_rows(sim, request.node.name, args, out_signed=False, seed=seed, **ISQRT_BUILD)
    roots = row_roots(args["x"], args["lens"], args["zx"], args["eps"])
    print(f"{count} radicands, {args['x'].size} elements, r up to {roots.max()}, {run.cycles} cycles")
    assert roots.max() >= (1 << 20) - 1
    check(sim, args, out, reference_rows(args["x"], args["lens"], args))
    want = cycles_expected(args["lens"], params)
    assert run.cycles == want, f"{run.cycles} cycles, expected {want}"


# ------------------------------------------------------------------ pytest: Python side
def isqrt_digit_model(v, rw: int):
    """rtl/layernorm.v's square root, step by step (remainder kept in RW bits)."""
    v = np.asarray(v, dtype=np.int64)
    rem, root = np.zeros_like(v), np.zeros_like(v)
    for i in range(rw):
        trial = (rem << 2) | ((v >> (2 * (rw - 1 - i))) & 3)
        sub = (root << 2) | 1
        ge = trial >= sub
        rem = np.where(ge, trial - sub, trial)
        root = (root << 1) | ge
        if i < rw - 1:
            assert rem.max() < 1 << rw, "the remainder register would overflow"
    return root


def test_isqrt_digit_model_exhaustive_boundaries():
    """The digit-by-digit algorithm with the RTL's register widths equals arith.isqrt on
    every v < 2^16 and on k^2 - 1, k^2 for every k < 2^21 (every root the default build
    can produce): the simulations then test the RTL on a subset (isqrt_rows)."""
    rw = widths(in_bits=8, out_bits=8, **DEFAULTS)["RW"]
    k = np.arange(1, 1 << rw, dtype=np.int64)
    v = np.concatenate([np.arange(1 << 16), k * k - 1, k * k, [(1 << (2 * rw)) - 1]])
    assert (isqrt_digit_model(v, rw) == arith.isqrt(v)).all()


@pytest.mark.parametrize("max_n", [1, 2, 17, 48, 192, 256])
def test_width_bounds_hold_for_worst_rows(max_n):
    """The bounds derived in rtl/layernorm.v's header hold for the worst rows."""
    w = widths(in_bits=8, out_bits=8, max_n=max_n, gain_bits=16, off_bits=32, max_shift=30,
               eps_bits=32)
    worst = [np.array([255] + [0] * (max_n - 1)), np.repeat([0, 255], (max_n + 1) // 2)[:max_n]]
    for x in worst:
        n = x.size
        d = n * x - x.sum()
        ssq = int((d * d).sum())
        assert np.abs(d).max() < 1 << (w["DW"] - 1) and ssq < 1 << w["SSW"]
        rad = ssq + (1 << 32) - 1
        r = int(arith.isqrt(rad))
        assert r < 1 << w["RW"] and rad < 1 << (2 * w["RW"])
        num = int(np.abs(d).max()) * (1 << 15) + ((1 << 31) + (257 << 30)) * r
        assert 2 * num + (r << 30) < 1 << (w["NUMW"] - 1)


def test_check_fits_refuses():
    ok = dict(lens=[4], x=[1, 2, 3, 4], gain=[1] * 4, offset=[0] * 4, shift=[6], eps=[10], zy=[0],
              qmin=[-128], qmax=[127], in_bits=8, in_signed=True, out_bits=8, **DEFAULTS)
    check_fits(**ok)
    check_fits(**{**ok, "zy": [-256], "qmin": [-256], "qmax": [-1]})  # the port's ends fit
    check_fits(**{**ok, "zy": [255], "qmin": [0], "qmax": [255]})
    for bad in (dict(lens=[300], x=[0] * 300), dict(gain=[1 << 15] * 4), dict(offset=[1 << 31] * 4),
                dict(eps=[1 << 32]), dict(shift=[31]), dict(qmin=[0], qmax=[256]),
                dict(x=[128, 0, 0, 0]), dict(qmin=[5], qmax=[4]), dict(zy=[-257]),
                dict(qmin=[-256], qmax=[0])):
        with pytest.raises(ValueError, match="cannot run"):
            check_fits(**{**ok, **bad})


def test_cycles_formula():
    """The documented timing: n (OUT_BITS + 3) + RW + 4 per row, 553 for n = 48 with the
    defaults (docs/vit_rtl.md: a digits-vit LayerNorm layer, 17 rows of 48 -> 9403)."""
    params = unit.parameters(nx=17 * 48, nrows=17)
    assert build_widths(params)["RW"] == 21
    assert cycles_expected(np.full(17, 48), params) == 17 * 553 + 2 == 9403


def test_random_rows_cover_the_cases():
    """The random mix holds what the tests claim: .5 ties with both numerator signs,
    all-equal rows with eps = 0 (r = 1), full-length rows, both clip bounds, and a
    truncating reference that differs."""
    args = random_rows(np.random.default_rng(1))
    x, lens = args["x"], args["lens"]
    neg, pos = tie_counts(x, lens, args)
    assert neg >= 10 and pos >= 10
    r = row_roots(x, lens, args["zx"], args["eps"])
    assert (r == 1).any() and lens.max() == 256 and lens.min() == 1
    y = reference_rows(x, lens, args)
    row, _ = row_col(lens)
    assert (y == args["qmin"][row]).any() and (y == args["qmax"][row]).any()
    assert (trunc_rows(x, lens, args) != y).sum() > 100


def test_output_range_rows_cover_the_cases():
    """The output-range rows hold what the test claims: unsigned outputs >= 128 at qmin,
    at qmax and between them for every qmin 128..200, int8 rows at -128 and 127, port
    rows at -256 and 255 with L = qmin - zy = +-511, and an 8-bit-port reference that
    differs on every class."""
    args = output_range_rows(np.random.default_rng(1))
    x, lens, kind = args["x"], args["lens"], args["kind"]
    row, _ = row_col(lens)
    y = reference_rows(x, lens, args)
    qmin, qmax, zy = (args[k][row] for k in ("qmin", "qmax", "zy"))
    u = kind[row] == "uint8"
    assert set(range(128, 201)) <= set(args["qmin"][args["kind"] == "uint8"].tolist())
    assert (y[u] == qmin[u]).sum() > 100 and (y[u] == qmax[u]).sum() > 100
    assert ((y > qmin) & (y < qmax) & u).sum() > 500 and (y[u] == 255).any() and y[u].min() >= 128
    s = kind[row] == "int8"
    assert (y[s] == -128).any() and (y[s] == 127).any() and ((y > qmin) & (y < qmax) & s).any()
    p = kind[row] == "port"
    assert (y[p] == -256).any() and (y[p] == 255).any() and ((y > qmin) & (y < qmax) & p).sum() > 50
    lq = args["qmin"] - args["zy"]
    assert lq.max() == 511 and lq.min() == -511
    check_fits(lens=lens, x=x, gain=args["gain"], offset=args["offset"], shift=args["shift"],
               eps=args["eps"], zy=args["zy"], qmin=args["qmin"], qmax=args["qmax"], in_bits=8,
               in_signed=True, out_bits=8, **DEFAULTS)
    wrong = narrow_port_rows(x, lens, args)
    for k in ("uint8", "port"):
        assert ((wrong & 0xFF) != (y & 0xFF))[kind[row] == k].sum() > 50, k
