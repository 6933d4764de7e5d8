"""ViT softmax and GELU layers in RTL, bit-exact against golden vectors and t2c.arith.

* Golden: ``blocks.{0,1}.attn.softmax`` through rtl/softmax.v and ``blocks.{0,1}.mlp.act``
  (GELU table) through rtl/lut_layer.v, on Icarus and Verilator, ``==`` on every element
  of the golden output of digits-vit (generated into ``sim_build/golden/`` when missing).
* Random: rows of 1..256 codes against ``t2c.arith.softmax_int`` (seed logged,
  ``T2C_SEED`` reproduces): uniform, narrow ranges, ties, all-equal rows (every length
  class, up to total = 256 * 2^15), one-hot rows (the hot element must be exactly
  ``qmax``), extreme codes only, and rows whose result changes when the reciprocal is
  off by one (found by enumeration), with per-row qmax and input bubbles.
* Negative: the same testbenches with a deliberately wrong reference (``floor_recip``:
  the reciprocal floored instead of rounded; ``flip``: one golden output bit flipped)
  must report mismatches.
* Lint of rtl/softmax.v, rtl/lut_layer.v and the wrappers with corner parameters
  (sim/test_lint.py lints every file with its defaults).

``vit_util.run_vit_layer(model, layer, sim)`` is the quiet runner for ``make sim``.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

import cocotb
import simutil as su
import vit_util as vu

arith = su.import_arith()  # t2c.arith (see simutil.import_arith: no torch import)

MODEL = "digits-vit"
SOFTMAX_LAYERS = ("blocks.0.attn.softmax", "blocks.1.attn.softmax")
GELU_LAYERS = ("blocks.0.mlp.act", "blocks.1.mlp.act")
RB = arith.SOFTMAX_RECIP_BITS


# ------------------------------------------------------------------ references
def softmax_rows(x, lens, qmax, table, wrong: str = "") -> np.ndarray:
    """``t2c.arith.softmax_int`` row by row; ``wrong="floor_recip"``: a deliberately wrong
    reference whose reciprocal is ``floor(2^40 / total)`` instead of rounded half up."""
    out = np.empty_like(np.asarray(x, dtype=np.int64))
    start = 0
    for n, q in zip(np.asarray(lens).tolist(), np.asarray(qmax).tolist()):
        row = np.asarray(x[start:start + n], dtype=np.int64)
        if wrong == "floor_recip":
            e = np.asarray(table, dtype=np.int64)[row.max() - row]
            recip = (np.int64(1) << RB) // e.sum()
            out[start:start + n] = np.clip(arith.rounding_shift(e * q * recip, RB), 0, q)
        elif wrong in ("", "flip"):
            out[start:start + n] = arith.softmax_int(row, table, q)
        else:
            raise ValueError(f"unknown T2C_WRONG_REF={wrong!r}")
        start += n
    return out


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def softmax_tb(dut):
    """Wait for the free-running wrapper, then compare every output and last_o flag."""
    v = su.load_inputs()
    x, lens, qmax, table = v["x"], v["lens"], v["qmax"], v["table"]
    nx, out_bits = x.size, int(v["out_bits"])
    run = await su.wait_done(dut, max_cycles=int(4 * nx + vu.SOFTMAX_CYCLES_PER_ROW * lens.size))
    su.check_guards(dut, {"u_x.mem": nx, "u_n.mem": lens.size, "u_q.mem": lens.size})
    su.check_table(dut.u_dut.u_exp.mem, table)
    bdir = su.current_build_dir()
    got, valid = su.read_memh(bdir / vu.Y_NAME, out_bits, signed=False, count=nx)
    last, lvalid = su.read_memh(bdir / vu.L_NAME, 1, signed=False, count=nx)
    wrong = su.wrong_ref()
    golden = v["expected"].size > 0
    if golden and wrong != "floor_recip":
        expected = v["expected"]
    else:
        expected = softmax_rows(x, lens, qmax, table, "floor_recip" if wrong == "floor_recip" else "")
    if wrong == "flip":
        expected = vu.flip_one(expected)
    row, col = vu.row_col(lens)
    shape = tuple(int(s) for s in v["shape"]) if golden else (nx,)
    names = tuple(json.loads(v["index_names"])) if golden else ("element",)
    inputs = {"row": row, "col": col, "x": x, "max": np.repeat(
        [x[s:s + n].max() for s, n in zip(np.cumsum(lens) - lens, lens)], lens),
        "qmax": np.repeat(qmax, lens)}
    count, bad_last, msg = vu.compare_rows(expected, got, valid, last, lvalid, lens, what="softmax y",
                                           shape=shape, index_names=names, inputs=inputs)
    su.finish(dut._log, dict(kind="softmax", compared=int(nx), mismatches=count + bad_last,
                             value_mismatches=count, last_mismatches=bad_last, rows=int(lens.size),
                             floor_rows=int(v.get("floor_rows", 0)),
                             ceil_rows=int(v.get("ceil_rows", 0)), message=msg, **run), msg)


@cocotb.test()
async def lut_layer_tb(dut):
    """Wait for the free-running wrapper, then compare every output element."""
    v = su.load_inputs()
    x, table = v["x"], v["table"]
    nx, in_bits, out_bits = x.size, int(v["in_bits"]), int(v["out_bits"])
    run = await su.wait_done(dut, max_cycles=2 * nx + 64)
    su.check_guards(dut, {"u_x.mem": nx})
    su.check_table(dut.u_dut.u_lut.mem, table)
    got, valid = su.read_memh(su.current_build_dir() / vu.Y_NAME, out_bits,
                              signed=bool(v["out_signed"]), count=nx)
    golden = v["expected"].size > 0
    idx = (x - int(v["x_qmin"])) & ((1 << in_bits) - 1)
    expected = v["expected"] if golden else arith.lut_lookup(table, idx)
    if su.wrong_ref() == "flip":
        expected = vu.flip_one(expected)
    elif su.wrong_ref():
        raise ValueError(f"unknown T2C_WRONG_REF={su.wrong_ref()!r}")
    shape = tuple(int(s) for s in v["shape"])
    names = tuple(json.loads(v["index_names"]))
    count, msg = su.compare(expected.reshape(shape), got.reshape(shape), what="lut y",
                            index_names=names, valid=valid.reshape(shape),
                            inputs={"x": x.reshape(shape), "T[x - x_qmin]": table[idx].reshape(shape)})
    su.finish(dut._log, dict(kind="lut", compared=int(nx), mismatches=count, message=msg, **run), msg)


# ------------------------------------------------------------------ random rows
def _recip_variants(total):
    """div_round(2^40, total) and its floor / ceiling (what a sloppy divider returns)."""
    one = np.int64(1) << RB
    return arith.div_round(one, total), one // total, -(-one // total)


def recip_sensitive_rows(rng, table, max_n: int = 256, per_kind: int = 24):
    """Rows whose output changes when the reciprocal is floor(2^40 / total) or
    ceil(2^40 / total) instead of div_round(2^40, total): they catch a floor or ceiling
    divider (a random row almost never does: an error of 1 in recip moves
    e * qmax * recip by at most 2^23 against a rounding step of 2^40).

    Found by enumeration: all-equal rows of every length 2..max_n and qmax 1..255
    (exact ties qmax / n = k + 1/2 decide on the reciprocal's last bit), and rows
    [127, 127 - d1, 127 - d2] (every d1 <= d2) for qmax 255 and 127.
    Returns ``(rows [(codes, qmax)], floor-sensitive count, ceil-sensitive count)``.
    """
    t = np.asarray(table, dtype=np.int64)
    picked, counts = [], [0, 0]

    def y(e, q, r):
        return np.clip(arith.rounding_shift(e * q * r, RB), 0, q)

    # all-equal rows: e = 2^15 each, total = n * 2^15
    n, q = (a.ravel() for a in np.meshgrid(np.arange(2, max_n + 1), np.arange(1, 256), indexing="ij"))
    e = np.full(n.size, t[0])
    rnd, flo, cei = _recip_variants(n * t[0])
    base = y(e, q, rnd)
    for k, r in enumerate((flo, cei)):
        hit = np.flatnonzero((y(e, q, r) != base) & (n <= 64))  # short rows: fewer cycles
        for i in rng.choice(hit, size=min(per_kind, hit.size), replace=False):
            picked.append((np.full(int(n[i]), int(rng.integers(-128, 128))), int(q[i])))
            counts[k] += 1
    # three-element rows
    d1, d2 = np.triu_indices(t.size)
    e3 = np.stack([np.full(d1.size, t[0]), t[d1], t[d2]], axis=1)
    rnd, flo, cei = _recip_variants(e3.sum(axis=1, keepdims=True))
    for q3 in (255, 127):
        base = y(e3, q3, rnd)
        for k, r in enumerate((flo, cei)):
            hit = np.flatnonzero((y(e3, q3, r) != base).any(axis=1))
            for i in rng.choice(hit, size=min(per_kind // 4, hit.size), replace=False):
                picked.append((np.array([127, 127 - d1[i], 127 - d2[i]]), q3))
                counts[k] += 1
    return picked, counts[0], counts[1]


def random_rows(rng, table, max_n: int = 256):
    """(x back to back, lens, qmax, (floor-, ceil-sensitive row counts)), signed 8-bit codes."""
    lo, hi = -128, 127
    rows: list[tuple[np.ndarray, int]] = []

    def qm():
        r = rng.random()
        return 255 if r < 0.6 else (1 if r < 0.7 else int(rng.integers(1, 256)))

    def n_any():
        r = rng.random()
        return int(rng.integers(1, 17)) if r < 0.4 else int(rng.integers(1, max_n + 1))

    for _ in range(48):  # uniform codes
        rows.append((rng.integers(lo, hi + 1, n_any()), qm()))
    for _ in range(32):  # narrow ranges: many ties, large totals
        n, m, w = n_any(), int(rng.integers(lo + 4, hi + 1)), int(rng.integers(0, 4))
        rows.append((rng.integers(m - w, m + 1, n), qm()))
    for _ in range(24):  # ties between a few values, the max repeated
        n = n_any()
        vals = rng.integers(lo, hi + 1, 3)
        rows.append((rng.choice(vals, n), qm()))
    for n in sorted({1, 2, 3, 4, 5, 7, 16, 17, 100, 255, max_n} | set(rng.integers(1, max_n + 1, 12).tolist())):
        rows.append((np.full(n, int(rng.integers(lo, hi + 1))), qm()))  # all equal
    for q in (255, 17, 1):
        rows.append((np.full(max_n, hi), q))  # total = max_n * 2^15, the largest
    for _ in range(16):  # one-hot: exp(-255 S) rounds to 0, so the hot element is qmax
        n = n_any()
        r = np.full(n, lo)
        r[rng.integers(0, n)] = hi
        rows.append((r, qm()))
    for _ in range(12):  # extreme codes only
        rows.append((rng.choice([lo, hi], n_any()), qm()))
    sens, n_floor, n_ceil = recip_sensitive_rows(rng, table, max_n)
    rows += sens
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    x = np.concatenate([r for r, _ in rows]).astype(np.int64)
    lens = np.array([r.size for r, _ in rows], dtype=np.int64)
    qmax = np.array([q for _, q in rows], dtype=np.int64)
    return x, lens, qmax, (n_floor, n_ceil)


def random_table(rng) -> tuple[np.ndarray, float]:
    """An exp table as t2c builds it, for a random input scale (the tail rounds to 0)."""
    scale = float(rng.uniform(0.045, 0.25))
    t = arith.exp_lut(8, scale, out_frac_bits=arith.SOFTMAX_EXP_FRAC)
    assert t[0] == 1 << 15 and t[-1] == 0
    return t, scale


def random_job(sim: str, test_id: str, wrong: str = "", seed: int | None = None) -> dict:
    seed = su.test_seed() if seed is None else seed
    rng = np.random.default_rng(seed)
    table, _ = random_table(rng)
    x, lens, qmax, nsens = random_rows(rng, table)
    job = vu.softmax_job(sim=sim, test_id=test_id, x=x, lens=lens, qmax=qmax, table=table,
                         gaps=1, wrong=wrong, seed=seed)
    inputs = su.load_inputs(job["build_dir"])
    su.save_inputs(job["build_dir"], **inputs, floor_rows=nsens[0], ceil_rows=nsens[1])
    return job


# ------------------------------------------------------------------ pytest: golden
@pytest.mark.parametrize("layer", SOFTMAX_LAYERS + GELU_LAYERS)
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_vit_layer_golden(sim, layer, request):
    su.require_simulator(sim)
    job = vu.golden_job(MODEL, layer, sim, test_id=request.node.name, seed=0)
    report = su.build_and_test(**job)
    print(f"{request.node.name}: {report['compared']} elements, {report['mismatches']} "
          f"mismatches, {report['cycles']} cycles, {report['wall_s']:.2f} s simulated")
    assert report["mismatches"] == 0 and report["compared"] > 0


# ------------------------------------------------------------------ pytest: random softmax
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_softmax_random(sim, request):
    su.require_simulator(sim)
    report = su.build_and_test(**random_job(sim, request.node.name))
    print(f"{request.node.name}: {report['compared']} elements in {report['rows']} rows "
          f"({report['floor_rows']} floor- and {report['ceil_rows']} ceil-sensitive), "
          f"{report['mismatches']} mismatches, {report['cycles']} cycles")
    assert report["mismatches"] == 0
    assert report["floor_rows"] > 0 and report["ceil_rows"] > 0


def test_softmax_random_rows_cover_the_cases():
    """The random mix holds what the tests claim: one-hot rows give exactly qmax, full
    256-element rows, total up to 256 * 2^15, and rows a floor-reciprocal breaks."""
    rng = np.random.default_rng(1)
    table, _ = random_table(rng)
    x, lens, qmax, nsens = random_rows(rng, table)
    y = softmax_rows(x, lens, qmax, table)
    row, _ = vu.row_col(lens)
    starts = np.cumsum(lens) - lens
    one_hot = [i for i, (s, n) in enumerate(zip(starts, lens))
               if n > 1 and (x[s:s + n] == 127).sum() == 1 and (x[s:s + n] == -128).sum() == n - 1]
    assert one_hot
    for i in one_hot:
        s, n = starts[i], lens[i]
        assert sorted(y[s:s + n].tolist()) == [0] * (n - 1) + [qmax[i]]
    assert lens.max() == 256 and lens.min() == 1
    assert nsens[0] > 0 and nsens[1] > 0
    assert (softmax_rows(x, lens, qmax, table, "floor_recip") != y).any()


# ------------------------------------------------------------------ pytest: negative
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_softmax_detects_floor_recip(sim, request):
    """A reference with floor(2^40 / total) instead of the rounded reciprocal must differ."""
    su.require_simulator(sim)
    report = su.expect_mismatches(random_job(sim, request.node.name, wrong="floor_recip"))
    print(f"{request.node.name}: floor_recip reference -> {report['mismatches']} of "
          f"{report['compared']} elements differ (as intended)")


@pytest.mark.parametrize("layer", ("blocks.0.attn.softmax", "blocks.0.mlp.act"))
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_golden_detects_flipped_bit(sim, layer, request):
    """The golden testbench with one output bit flipped must report exactly that element."""
    su.require_simulator(sim)
    job = vu.golden_job(MODEL, layer, sim, test_id=request.node.name, wrong="flip", seed=0)
    report = su.expect_mismatches(job)
    assert report["mismatches"] == 1, report
    print(f"{request.node.name}: flipped golden bit -> {report['message']}")


# ------------------------------------------------------------------ pytest: runner
def test_run_vit_layer_runner():
    """The quiet runner behind `make sim MODEL=digits-vit LAYER=...` (Icarus: fast build)."""
    sim = "icarus" if su.simulator_missing("icarus") is None else "verilator"
    su.require_simulator(sim)
    res = vu.run_vit_layer(MODEL, "blocks.1.mlp.act", sim)
    assert set(res) >= {"passed", "mismatches", "elements", "cycles", "seconds"}
    assert res["passed"] and res["mismatches"] == 0 and res["elements"] == 17 * 96
    assert res["cycles"] > res["elements"]


# ------------------------------------------------------------------ lint corners
LINT = {
    "softmax": [dict(MAX_N=17), dict(MAX_N=1, IN_SIGNED=0, OUT_BITS=4),
                dict(IN_BITS=4, MAX_N=1024, OUT_BITS=16)],
    "lut_layer": [dict(IN_BITS=4, OUT_BITS=16, OUT_SIGNED=0)],
    "tb_softmax": [dict(MAX_N=17, IN_SIGNED=0)],
    "tb_lut_layer": [dict(IN_BITS=6, OUT_BITS=12, X_QMIN=32)],
}


@pytest.mark.parametrize("top, params", [(t, p) for t, ps in LINT.items() for p in ps],
                         ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}{w}" for k, w in v.items()))
def test_lint_corners(top, params):
    """Corner parameter sets of this file's modules: verilator -Wall and iverilog -Wall clean."""
    path = (su.HDL_DIR if top.startswith("tb_") else su.RTL_DIR) / f"{top}.v"
    su.setup_path()
    ran = False
    if shutil.which("verilator"):
        cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top, "-y", str(su.RTL_DIR),
               "-y", str(su.HDL_DIR)] + (["--timing"] if top.startswith("tb_") else [])
        cmd += [f"-G{k}={v}" for k, v in params.items()] + [str(path)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        assert p.returncode == 0 and "%Warning" not in out and "%Error" not in out, out
        ran = True
    if shutil.which("iverilog"):
        cmd = ["iverilog", "-g2005", "-Wall", "-o", "/dev/null", "-s", top,
               f"-y{su.RTL_DIR}", f"-y{su.HDL_DIR}"]
        cmd += [f"-P{top}.{k}={v}" for k, v in params.items()] + [str(path)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        assert p.returncode == 0 and "warning" not in out.lower() and "error" not in out.lower(), out
        ran = True
    if not ran:
        pytest.skip("neither verilator nor iverilog installed")
