"""LayerNorm in RTL (rtl/layernorm.v), bit-exact against golden vectors and t2c.arith.

* Golden: every LayerNorm layer of digits-vit (``blocks.{0,1}.norm{1,2}``, ``norm``) on
  Icarus and Verilator, ``==`` on every element of the golden output.
* Random: rows of 1..256 signed codes against ``t2c.arith.layernorm_int`` (seed logged,
  ``T2C_SEED`` reproduces): uniform, narrow, all-equal rows (d = 0, r = max(isqrt(eps), 1),
  also eps = 0), extreme codes only (the largest sum of squares at n = 256), per-row
  eps / zero point / clip range (both clip classes), input bubbles, and elements whose
  division lands exactly on a .5 boundary, with negative and positive numerators
  (constructed: see :func:`tie_rows`).  Every output's row root ``r_o`` is compared too.
* isqrt: a second build (MAX_N = 192 as in ViT-tiny, EPS_BITS = 40, unsigned codes and
  outputs, MAX_SHIFT = 15) runs one-element rows, whose radicand is eps: every v < 1024,
  k^2 - 1, k^2, k^2 + 1 for every k < 64 and 400 random k < 2^20, and 2^40 - 1; plus
  random unsigned rows up to n = 192 with the largest radicand.  Every root the build
  can produce is checked on the Python side instead (the RTL's digit-by-digit
  algorithm, modelled with its register widths, for k^2 - 1, k^2 and every k < 2^21).
* Negative: the same testbenches with a deliberately wrong reference (``trunc``: the
  division truncated instead of rounded half up; ``flip``: one golden output bit
  flipped) must report mismatches naming the element.
* Python side: the width bounds of rtl/layernorm.v hold for the worst-case row and
  ``layernorm_util.check_fits`` refuses data that does not fit.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import cocotb
import layernorm_util as lnu
import simutil as su
import vit_util as vu

arith = su.import_arith()  # t2c.arith without torch (see simutil.import_arith)

MODEL = "digits-vit"
LAYERS = ("blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2", "norm")


# ------------------------------------------------------------------ references
def row_roots(x, lens, zx, eps) -> np.ndarray:
    """r = max(isqrt(sum(d * d) + eps), 1) of every row (what r_o must show)."""
    out, start = [], 0
    for n, z, e in zip(lens.tolist(), zx.tolist(), eps.tolist()):
        xc = x[start:start + n] - z
        d = n * xc - xc.sum()
        out.append(max(int(arith.isqrt(int((d * d).sum()) + e)), 1))
        start += n
    return np.array(out, dtype=np.int64)


def row_terms(x, lens, v):
    """Per row: (start, n, r, numerator d*g + o*r, divisor r << G) of layernorm_int."""
    r = row_roots(x, lens, v["zx"], v["eps"])
    start = 0
    for i, n in enumerate(lens.tolist()):
        xc = x[start:start + n] - v["zx"][i]
        d = n * xc - xc.sum()
        sl = slice(start, start + n)
        yield start, n, r[i], d * v["gain"][sl] + v["offset"][sl] * r[i], r[i] << int(v["shift"][i])
        start += n


def trunc_rows(x, lens, v) -> np.ndarray:
    """Deliberately wrong reference: ``layernorm_int`` with the division truncated
    towards zero instead of rounded half up (negative tests)."""
    out = np.empty(x.size, dtype=np.int64)
    row, _ = vu.row_col(lens)
    for start, n, _r, num, den in row_terms(x, lens, v):
        out[start:start + n] = np.sign(num) * (np.abs(num) // den)
    return np.clip(out + v["zy"][row], v["qmin"][row], v["qmax"][row])


def tie_counts(x, lens, v) -> tuple[int, int]:
    """Elements whose division lands exactly on .5 (and is not clipped away), with a
    negative / positive numerator: where round half up, floor and truncation differ."""
    neg = pos = 0
    row, _ = vu.row_col(lens)
    for start, n, _r, num, den in row_terms(x, lens, v):
        i = row[start]
        q = arith.div_round(num, den) + v["zy"][i]
        tie = ((2 * num + den) % (2 * den) == 0) & (q - 1 >= v["qmin"][i]) & (q <= v["qmax"][i])
        neg += int((tie & (num < 0)).sum())
        pos += int((tie & (num > 0)).sum())
    return neg, pos


def reference_rows(x, lens, v) -> np.ndarray:
    """``t2c.arith.layernorm_int`` row by row (per-row eps, zero points, clip range)."""
    out, start = np.empty(x.size, dtype=np.int64), 0
    for i, n in enumerate(lens.tolist()):
        sl = slice(start, start + n)
        out[sl] = arith.layernorm_int(x[sl], int(v["zx"][i]), v["gain"][sl], v["offset"][sl],
                                      int(v["shift"][i]), int(v["eps"][i]), int(v["zy"][i]),
                                      int(v["qmin"][i]), int(v["qmax"][i]))
        start += n
    return out


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def layernorm_tb(dut):
    """Wait for the free-running wrapper, then compare every y, last_o flag and row root."""
    v = su.load_inputs()
    x, lens = v["x"], v["lens"]
    nx = x.size
    run = await su.wait_done(dut, max_cycles=int((int(v["out_bits"]) + 5) * nx
                                                 + lnu.EXTRA_CYCLES_PER_ROW * lens.size))
    su.check_guards(dut, {"u_x.mem": nx, "u_g.mem": nx, "u_o.mem": nx, "u_d.mem": lens.size})
    y, yv, last, lv, r, rv = lnu.read_outputs(su.current_build_dir(), nx, int(v["out_bits"]),
                                              bool(v["out_signed"]), int(v["r_bits"]))
    wrong = su.wrong_ref()
    golden = v["expected"].size > 0
    if wrong == "trunc":
        expected = trunc_rows(x, lens, v)
    elif wrong in ("", "flip"):
        expected = v["expected"] if golden else reference_rows(x, lens, v)
    else:
        raise ValueError(f"unknown T2C_WRONG_REF={wrong!r}")
    if wrong == "flip":
        expected = vu.flip_one(expected)
    row, col = vu.row_col(lens)
    shape = tuple(int(s) for s in v["shape"]) if golden else (nx,)
    names = tuple(json.loads(v["index_names"])) if golden else ("element",)
    roots = row_roots(x, lens, v["zx"], v["eps"])
    inputs = {"row": row, "col": col, "x": x, "r": roots[row], "gain": v["gain"],
              "offset": v["offset"], "G": v["shift"][row], "eps": v["eps"][row], "zy": v["zy"][row]}
    count, bad_last, msg = vu.compare_rows(expected, y, yv, last, lv, lens, what="layernorm y",
                                           shape=shape, index_names=names, inputs=inputs)
    rcount, rmsg = su.compare(roots[row], r, what="layernorm r_o", index_names=("element",),
                              valid=rv, inputs={"row": row, "eps": v["eps"][row]})
    if rcount:
        msg += "\n" + rmsg
    su.finish(dut._log, dict(kind="layernorm", compared=int(nx), mismatches=count + bad_last + rcount,
                             value_mismatches=count, last_mismatches=bad_last, r_mismatches=rcount,
                             rows=int(lens.size), r_max=int(roots.max()), message=msg,
                             **json.loads(v["stats"]), **run), msg)





# ------------------------------------------------------------------ random rows
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
    rows = [rows[i] for i in rng.permutation(len(rows))]
    args = {k: np.concatenate([r[k] for r in rows]) for k in ("x", "gain", "offset")}
    args.update({k: np.array([r[k] for r in rows], dtype=np.int64)
                 for k in ("shift", "eps", "zx", "zy", "qmin", "qmax")})
    args["lens"] = np.array([len(r["x"]) for r in rows], dtype=np.int64)
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
    args = {"x": np.concatenate([r["x"] for r in rows]),
            "eps": np.array([r["eps"] for r in rows], dtype=np.int64),
            "lens": np.array([len(r["x"]) for r in rows], dtype=np.int64)}
    nx, rows_n = args["x"].size, len(rows)
    args.update(gain=rng.integers(-(1 << 15) + 1, 1 << 15, nx), offset=rng.integers(-4000, 4000, nx),
                shift=rng.integers(0, 16, rows_n), zx=rng.integers(0, 256, rows_n),
                zy=rng.integers(0, 256, rows_n), qmin=0, qmax=255)
    return args, int(eps.size)


def _stats(args) -> dict:
    neg, pos = tie_counts(args["x"], args["lens"], {k: np.broadcast_to(v, args["lens"].shape)
                                                    if np.ndim(v) == 0 else v for k, v in args.items()})
    return dict(ties_neg=neg, ties_pos=pos)


def random_job(sim: str, test_id: str, seed: int | None = None) -> dict:
    seed = su.test_seed() if seed is None else seed
    args = random_rows(np.random.default_rng(seed))
    return lnu.layernorm_job(sim=sim, test_id=test_id, **args, gaps=1, seed=seed, stats=_stats(args))


def isqrt_job(sim: str, test_id: str, seed: int | None = None) -> dict:
    seed = su.test_seed() if seed is None else seed
    args, count = isqrt_rows(np.random.default_rng(seed))
    return lnu.layernorm_job(sim=sim, test_id=test_id, **args, in_signed=False, out_signed=False,
                             max_n=192, max_shift=15, eps_bits=40, seed=seed,
                             stats=dict(isqrt_values=count))


def rerun_expecting_mismatches(job: dict, wrong: str) -> dict:
    """The same build and images once more, with a deliberately wrong reference."""
    return su.expect_mismatches(dict(job, extra_env={"T2C_WRONG_REF": wrong}))


# ------------------------------------------------------------------ pytest: simulations
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_layernorm_golden(sim, request):
    """Every LayerNorm layer of digits-vit in one build (tables ride along with the data);
    then the same run with one golden bit flipped must report exactly that element."""
    su.require_simulator(sim)
    job = vu.golden_job(MODEL, LAYERS[0], sim, test_id=request.node.name, seed=0) \
        if len(LAYERS) == 1 else _golden_job(sim, request.node.name)
    report = su.build_and_test(**job)
    print(f"{request.node.name}: {report['compared']} elements, {report['mismatches']} "
          f"mismatches, {report['cycles']} cycles, {report['wall_s']:.2f} s simulated")
    assert report["mismatches"] == 0 and report["compared"] == len(LAYERS) * 17 * 48
    bad = rerun_expecting_mismatches(job, "flip")
    assert bad["mismatches"] == 1, bad
    assert "[layer=2, n=0, t=8, c=24]" in bad["message"], bad["message"]  # the middle element


def _golden_job(sim: str, test_id: str) -> dict:
    import layer_util
    from t2c.golden import read_golden

    g = read_golden(layer_util.ensure_golden(MODEL))
    return lnu.golden_job(g, LAYERS, sim, test_id=test_id, seed=0)


@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_layernorm_random(sim, request):
    """Random and edge-case rows vs t2c.arith.layernorm_int; then the same run against a
    truncating-division reference must report mismatches."""
    su.require_simulator(sim)
    job = random_job(sim, request.node.name)
    report = su.build_and_test(**job)
    print(f"{request.node.name}: {report['compared']} elements in {report['rows']} rows "
          f"({report['ties_neg']} negative and {report['ties_pos']} positive .5 ties), "
          f"{report['mismatches']} mismatches, {report['cycles']} cycles")
    assert report["mismatches"] == 0
    assert report["ties_neg"] > 0 and report["ties_pos"] > 0
    bad = rerun_expecting_mismatches(job, "trunc")
    assert bad["value_mismatches"] > 0 and "element=" in bad["message"], bad


@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_layernorm_isqrt_unsigned(sim, request):
    """The square root on every radicand listed in isqrt_rows (r_o compared), unsigned
    codes, MAX_N = 192 (ViT-tiny), EPS_BITS = 40."""
    su.require_simulator(sim)
    report = su.build_and_test(**isqrt_job(sim, request.node.name))
    print(f"{request.node.name}: {report['isqrt_values']} radicands, {report['compared']} "
          f"elements, r up to {report['r_max']}, {report['mismatches']} mismatches, "
          f"{report['cycles']} cycles")
    assert report["mismatches"] == 0 and report["r_max"] >= (1 << 20) - 1


def test_run_layernorm_layer():
    """The runner behind `make sim MODEL=digits-vit LAYER=blocks.0.norm1`, and the cycle
    count per row: n (OUT_BITS + 3) + RW + 4 = 48 * 11 + 21 + 4 = 553 (+ 2 for the wrapper)."""
    sim = "icarus" if su.simulator_missing("icarus") is None else "verilator"
    su.require_simulator(sim)
    res = vu.run_vit_layer(MODEL, "blocks.0.norm1", sim)
    assert res["passed"] and res["mismatches"] == 0 and res["elements"] == 17 * 48
    assert res["kind"] == "layernorm" and res["cycles"] == 17 * 553 + 2, res


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
    rw = lnu.widths(in_bits=8, out_bits=8, **{k: v for k, v in lnu.DEFAULTS.items()})["RW"]
    k = np.arange(1, 1 << rw, dtype=np.int64)
    v = np.concatenate([np.arange(1 << 16), k * k - 1, k * k, [(1 << (2 * rw)) - 1]])
    assert (isqrt_digit_model(v, rw) == arith.isqrt(v)).all()


@pytest.mark.parametrize("max_n", [1, 2, 17, 48, 192, 256])
def test_width_bounds_hold_for_worst_rows(max_n):
    """The bounds derived in rtl/layernorm.v's header hold for the worst rows."""
    w = lnu.widths(in_bits=8, out_bits=8, max_n=max_n, gain_bits=16, off_bits=32, max_shift=30,
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
              qmin=[-128], qmax=[127], in_bits=8, in_signed=True, out_bits=8, **lnu.DEFAULTS)
    lnu.check_fits(**ok)
    for bad in (dict(lens=[300], x=[0] * 300), dict(gain=[1 << 15] * 4), dict(offset=[1 << 31] * 4),
                dict(eps=[1 << 32]), dict(shift=[31]), dict(qmin=[0], qmax=[256]),
                dict(x=[128, 0, 0, 0]), dict(qmin=[5], qmax=[4])):
        with pytest.raises(ValueError, match="cannot run"):
            lnu.check_fits(**{**ok, **bad})


def test_random_rows_cover_the_cases():
    """The random mix holds what the tests claim: .5 ties with both numerator signs,
    all-equal rows with eps = 0 (r = 1), full-length rows, both clip bounds, and a
    truncating reference that differs."""
    args = random_rows(np.random.default_rng(1))
    v = {k: a for k, a in args.items()}
    x, lens = args["x"], args["lens"]
    st = _stats(args)
    assert st["ties_neg"] >= 10 and st["ties_pos"] >= 10
    r = row_roots(x, lens, args["zx"], args["eps"])
    assert (r == 1).any() and lens.max() == 256 and lens.min() == 1
    y = reference_rows(x, lens, v)
    row, _ = vu.row_col(lens)
    assert (y == args["qmin"][row]).any() and (y == args["qmax"][row]).any()
    assert (trunc_rows(x, lens, v) != y).sum() > 100
