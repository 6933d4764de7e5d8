"""rtl/mac_array.v against numpy integer matmul, every element, on Icarus and Verilator.

Each run streams a sequence of GEMM tiles back to back through the array:
C[ROWS][COLS] = bias[COLS] + (A[ROWS][K] - zx) @ W[K][COLS], with K = 1, 2, 3, ROWS,
64, 511, 512 and random K in 1..512, random operands over the whole activation range
(signed or unsigned, ABITS 2..8 across the configurations) and weight range (WBITS
2..8), a random nonzero zero point per tile plus tiles with the zero point at both ends
of the activation range, an extreme tile (every product at its largest magnitude, K =
512) and biases near both int32 limits.  The reference is numpy int64 matmul; the
accumulator bound comes from t2c.arith.accumulator_bound, so every sum fits int32.
The row read port (rd_row_i / rd_res_o) is swept over every row in every cycle and
must equal the flat bus: the wrapper's ``row_err`` counter must read exactly 0.

Cycle counts are exact.  For each tile the wrapper stamps the cycle its first K-step
reaches the DUT (``start``) and the cycle res_valid_o announces its result (``done``).
With K-step j of the stream issued in cycle c_j (tb_harness's bubble LFSR, modelled by
:func:`issue_cycles`; c_j = j without bubbles), rtl/mac_array.v's header gives

    start[t] = c_first(t) + 1,   done[t] = c_last(t) + 5,   cycles = c_last + 6,

so without bubbles, for every tile and the whole stream of NSTEPS = sum(K) K-steps:

    latency  = done[t] - start[t]      = K + 3
    stream   = done[-1] - start[0]     = sum(K) + 3
    cycles   (reset release to done)   = sum(K) + 5

(the input register, then rtl/mac_pe.v's operand, product and accumulator stages), and
with bubbles latency = K + 3 + the bubbles inside the tile.  The numbers are printed.
A reference with the zero point off by one must count mismatches (negative test).
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

DUT, TOP = "mac_array", "tb_mac_array"
ACCW = 32
K_FIXED = (1, 2, 3, 64, 511, 512)
K_RANDOM = 3

CONFIGS = {
    # default geometry and widths, no bubbles: cycle counts are checked
    "8x8_a8s_w8": dict(ROWS=8, COLS=8, ABITS=8, WBITS=8, A_SIGNED=1, GAPS=0),
    "8x8_a8u_w8_gaps": dict(ROWS=8, COLS=8, ABITS=8, WBITS=8, A_SIGNED=0, GAPS=1),
    # the other widths 2..7 on small arrays (fast builds)
    "4x3_a2u_w2": dict(ROWS=4, COLS=3, ABITS=2, WBITS=2, A_SIGNED=0, GAPS=0),
    "3x5_a3s_w7_gaps": dict(ROWS=3, COLS=5, ABITS=3, WBITS=7, A_SIGNED=1, GAPS=1),
    "2x4_a4s_w3": dict(ROWS=2, COLS=4, ABITS=4, WBITS=3, A_SIGNED=1, GAPS=0),
    "5x2_a5u_w4": dict(ROWS=5, COLS=2, ABITS=5, WBITS=4, A_SIGNED=0, GAPS=0),
    "3x3_a6u_w5": dict(ROWS=3, COLS=3, ABITS=6, WBITS=5, A_SIGNED=0, GAPS=0),
    "4x2_a7s_w6": dict(ROWS=4, COLS=2, ABITS=7, WBITS=6, A_SIGNED=1, GAPS=0),
}


# ------------------------------------------------------------------ cycle formulas


def expected_timing(ks, gaps: int) -> dict:
    """start / done stamps per tile and the run's cycles (see the module docstring)."""
    ks = np.asarray(ks)
    issue = issue_cycles(int(ks.sum()), gaps)
    last = np.cumsum(ks) - 1
    first = last - ks + 1
    return {"start": issue[first] + 1, "done": issue[last] + 5, "cycles": int(issue[-1]) + 6}


# ------------------------------------------------------------------ tiles
def random_ks(rng, n: int, k_max: int = 512) -> list[int]:
    """n random K in 1..k_max with a fixed sum (so the build, sized by the total, is reused)."""
    ks = [(k_max + 1) // 2] * n
    for _ in range(16 * n if n > 1 else 0):
        i, j = rng.choice(n, 2, replace=False)
        d = int(rng.integers(0, min(ks[i] - 1, k_max - ks[j]) + 1))
        ks[i] -= d
        ks[j] += d
    return ks


def make_tiles(rng, cfg: dict, n_random: int = K_RANDOM) -> dict:
    """A stream of tiles: operands, zero points, biases and K per tile (int64 arrays)."""
    rows, cols = cfg["ROWS"], cfg["COLS"]
    signed = bool(cfg["A_SIGNED"])
    alo, ahi = arith.qrange(cfg["ABITS"], signed)
    wlo, whi = arith.qrange(cfg["WBITS"], True)
    ks = list(K_FIXED) + [rows] + random_ks(rng, n_random) + [512]
    n = len(ks)
    zx = rng.integers(alo, ahi + 1, n)
    zx = np.where(zx == 0, ahi, zx)  # nonzero zero points...
    zx[1], zx[2] = alo, ahi  # ... and both ends of the range (0 for unsigned)
    a_parts, w_parts, bias = [], [], []
    for t, k in enumerate(ks):
        a = rng.integers(alo, ahi + 1, (rows, k))
        w = rng.integers(wlo, whi + 1, (k, cols))
        if t == n - 1:  # extreme tile: (a - zx) * w = (alo - ahi) * wlo, the largest product
            zx[t] = ahi
            a = np.full((rows, k), alo)
            w = np.full((k, cols), wlo)
        bound = arith.accumulator_bound(k, cfg["ABITS"], signed, int(zx[t]), cfg["WBITS"])
        room = arith.INT32_MAX - bound
        assert room > 0, "tile would overflow int32"
        b = rng.integers(-min(room, 1 << 24), min(room, 1 << 24) + 1, cols)
        if t in (3, 4):  # biases at the int32 limits the bound allows
            b = np.full(cols, room if t == 3 else -room)
        a_parts.append(a)
        w_parts.append(w)
        bias.append(b)
    return dict(k=np.array(ks), zx=zx, bias=np.stack(bias),
                a=np.concatenate(a_parts, axis=1), w=np.concatenate(w_parts, axis=0))


def reference(t: dict, zx_offset: int = 0) -> np.ndarray:
    """bias + (A - zx) @ W per tile, int64 ``[tile, row, col]``; ``zx_offset`` shifts every
    zero point (a deliberately wrong reference for the negative test)."""
    out, s = [], 0
    for i, k in enumerate(t["k"].tolist()):
        a = t["a"][:, s:s + k].astype(np.int64) - (int(t["zx"][i]) + zx_offset)
        out.append(t["bias"][i][None, :] + a @ t["w"][s:s + k].astype(np.int64))
        s += k
    return np.stack(out)


def ctrl_words(ks) -> np.ndarray:
    """One control word per K-step: bit 0 first K-step of a tile, bit 1 its last."""
    ctrl = []
    for k in ks:
        c = np.zeros(k, dtype=np.int64)
        c[0] |= 1
        c[-1] |= 2
        ctrl.append(c)
    return np.concatenate(ctrl)


# ------------------------------------------------------------------ run
def simulate(sim: str, cfg: dict, tag: str, t: dict):
    """Write the tile stream's images and run tb_mac_array; returns the SimRun and the
    dumps ``res`` ``[tile, row, col]``, ``start``, ``done`` as (values, valid)."""
    rows, cols, ntiles = cfg["ROWS"], cfg["COLS"], len(t["k"])
    nsteps = int(t["k"].sum())
    params = dict(cfg, ACCW=ACCW, NSTEPS=nsteps, NTILES=ntiles)
    bdir = build_dir_for(DUT, sim, tag, params)
    with exclusive(bdir):
        images = [
            write_image(bdir / "a.hex", t["a"].T.reshape(-1), cfg["ABITS"], parameter="A_FILE",
                        memory="u_a.mem"),
            write_image(bdir / "w.hex", t["w"].reshape(-1), cfg["WBITS"], parameter="W_FILE",
                        memory="u_w.mem"),
            write_image(bdir / "ctrl.hex", ctrl_words(t["k"].tolist()), 2, parameter="CTRL_FILE",
                        memory="u_ctrl.mem"),
            write_image(bdir / "zx.hex", t["zx"], cfg["ABITS"] + 1, parameter="ZX_FILE",
                        memory="u_zx.mem"),
            write_image(bdir / "bias.hex", t["bias"].reshape(-1), ACCW, parameter="BIAS_FILE",
                        memory="u_bias.mem"),
        ]
        job = SimJob(DUT, TOP, sim, bdir, params, images,
                     [Dump("RES_FILE", "res.hex"), Dump("START_FILE", "start.hex"),
                      Dump("DONE_FILE", "done.hex")],
                     2 * nsteps + 8 * ntiles + 64, counters=("row_err",))
        run = run_job(job)
        res, res_ok = read_values(job.dump_path("RES_FILE"), ACCW, True, ntiles * rows * cols)
        out = {"res": (res.reshape(ntiles, rows, cols), res_ok.reshape(ntiles, rows, cols)),
               "start": read_values(job.dump_path("START_FILE"), 32, False, ntiles),
               "done": read_values(job.dump_path("DONE_FILE"), 32, False, ntiles)}
    return run, out


def _inputs(t: dict) -> dict:
    return {"K": t["k"][:, None, None], "zx": t["zx"][:, None, None], "bias": t["bias"][:, None, :]}


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_mac_array(sim, config, request):
    toolchain.require_simulator(sim)
    cfg = CONFIGS[config]
    t = make_tiles(np.random.default_rng(test_seed()), cfg)
    run, out = simulate(sim, cfg, request.node.name, t)
    got, valid = out["res"]
    cmp = compare(reference(t), got, valid=valid, names=("tile", "row", "col"), inputs=_inputs(t))
    (start, start_ok), (done, done_ok) = out["start"], out["done"]
    ks = t["k"]
    latency, stream, nsteps = done - start, int(done[-1] - start[0]), int(ks.sum())
    pairs = ", ".join(f"K={k}:{c}" for k, c in zip(ks.tolist(), latency.tolist()))
    print(f"{request.node.name}: {cmp.compared} elements in {len(ks)} tiles, {cmp.mismatches} "
          f"mismatches; cycles first K-step -> result: {pairs}; stream {stream} cycles for "
          f"{nsteps} K-steps; {run.cycles} cycles reset release -> done; "
          f"row_err {run.counters['row_err']}")
    assert cmp.mismatches == 0, cmp.message(f"mac_array {config} on {sim}")
    assert cmp.compared == len(ks) * cfg["ROWS"] * cfg["COLS"]
    assert run.counters["row_err"] == 0, "the row read port differed from the flat bus"
    assert start_ok.all() and done_ok.all()
    want = expected_timing(ks, cfg["GAPS"])
    assert start.tolist() == want["start"].tolist(), "first K-steps not at the predicted cycles"
    assert done.tolist() == want["done"].tolist(), "results not at the predicted cycles"
    assert run.cycles == want["cycles"]
    if not cfg["GAPS"]:  # the closed formulas
        assert latency.tolist() == (ks + 3).tolist(), "per-tile latency != K + 3"
        assert stream == nsteps + 3, "stream != sum(K) + 3"
        assert run.cycles == nsteps + 5, "cycles != sum(K) + 5"
    else:
        assert (latency >= ks + 3).all() and stream > nsteps + 3  # the bubbles cost cycles


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_mac_array_detects_wrong_zero_point(sim, request):
    """The same simulated results against a reference with zx + 1 must differ (while the
    true reference matches them exactly)."""
    toolchain.require_simulator(sim)
    cfg = CONFIGS["4x3_a2u_w2"]
    t = make_tiles(np.random.default_rng(test_seed()), cfg, n_random=0)
    _, out = simulate(sim, cfg, request.node.name, t)
    got, valid = out["res"]
    right = compare(reference(t), got, valid=valid, names=("tile", "row", "col"))
    bad = compare(reference(t, zx_offset=1), got, valid=valid, names=("tile", "row", "col"),
                  inputs=_inputs(t))
    print(f"{request.node.name}: zx+1 reference -> {bad.mismatches} of {bad.compared} elements "
          f"differ (as intended); the true reference: {right.mismatches}")
    assert right.mismatches == 0, right.message("true reference")
    assert bad.mismatches > 0
