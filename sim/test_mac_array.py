"""rtl/mac_array.v against numpy integer matmul, every element, on Icarus and Verilator.

Each run streams a sequence of GEMM tiles back to back through the array:
C[ROWS][COLS] = bias[COLS] + (A[ROWS][K] - zx) @ W[K][COLS], with K = 1, 2, 3, ROWS,
64, 511, 512 and random K in 1..512, random operands over the whole activation range
(signed or unsigned, ABITS 2..8 across the configurations) and weight range (WBITS
2..8), a random nonzero zero point per tile plus tiles with the zero point at both ends
of the activation range, an extreme tile (every product at its largest magnitude, K =
512) and biases near both int32 limits.  The reference is numpy int64 matmul; the
accumulator bound comes from t2c.arith.accumulator_bound, so every sum fits int32.

Cycle counts are deterministic: for each tile the wrapper stamps the cycle its first
K-step reaches the DUT and the cycle res_valid_o announces the result.  Without
bubbles the difference must be within 2*(ROWS+COLS) of the ideal K (it is K+1), and
the whole stream must take sum(K) + a constant.  The numbers are printed.
"""
from __future__ import annotations

import numpy as np
import pytest

import cocotb
import simutil as su

arith = su.import_arith()  # t2c.arith (see simutil.import_arith: no torch import)

DUT = "mac_array"
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


def reference(t: dict, wrong: str = "") -> np.ndarray:
    """bias + (A - zx) @ W per tile, int64; ``wrong="zx"`` uses zx + 1 (negative test)."""
    out, s = [], 0
    for i, k in enumerate(t["k"].tolist()):
        zx = t["zx"][i] + (1 if wrong == "zx" else 0)
        if wrong not in ("", "zx"):
            raise ValueError(f"unknown T2C_WRONG_REF={wrong!r}")
        a = t["a"][:, s:s + k].astype(np.int64) - zx
        out.append(t["bias"][i][None, :] + a @ t["w"][s:s + k].astype(np.int64))
        s += k
    return np.stack(out)


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def mac_array_tb(dut):
    """Wait for the free-running wrapper, then compare every tile element and cycle counts."""
    t = su.load_inputs()
    rows, cols, ntiles = t["rows"], t["cols"], len(t["k"])
    nsteps = int(t["k"].sum())
    run = await su.wait_done(dut, max_cycles=2 * nsteps + 8 * ntiles + 64)
    su.check_guards(dut, {"u_a.mem": nsteps * rows, "u_w.mem": nsteps * cols,
                          "u_ctrl.mem": nsteps, "u_zx.mem": ntiles, "u_bias.mem": ntiles * cols})
    bdir = su.current_build_dir()
    got, valid = su.read_memh(bdir / "res.hex", ACCW, signed=True, count=ntiles * rows * cols)
    start_cyc, _ = su.read_memh(bdir / "start.hex", 32, signed=False, count=ntiles)
    done_cyc, _ = su.read_memh(bdir / "done.hex", 32, signed=False, count=ntiles)
    latency = (done_cyc - start_cyc).tolist()
    shape = (ntiles, rows, cols)
    count, msg = su.compare(
        reference(t, su.wrong_ref()), got.reshape(shape), what="mac_array result",
        index_names=("tile", "row", "col"), valid=valid.reshape(shape),
        inputs={"K": t["k"][:, None, None], "zx": t["zx"][:, None, None],
                "bias": t["bias"][:, None, :]})
    row_err = int(dut.row_err.value)
    if row_err:
        count += 1
        msg += f"\nrow read port differed from the flat bus in {row_err} cycles"
    su.finish(dut._log, dict(compared=ntiles * rows * cols, mismatches=count,
                             tiles=ntiles, k=t["k"].tolist(), latency=latency,
                             stream_cycles=int(done_cyc[-1] - start_cyc[0]), steps=nsteps,
                             **run), msg)


# ------------------------------------------------------------------ pytest
def prepare(sim: str, cfg: dict, test_id: str, wrong: str = "", seed: int | None = None,
            n_random: int = K_RANDOM) -> dict:
    """Write the tile stream's images; returns the arguments of su.build_and_test."""
    seed = su.test_seed() if seed is None else seed
    t = make_tiles(np.random.default_rng(seed), cfg, n_random)
    rows, cols, ntiles = cfg["ROWS"], cfg["COLS"], len(t["k"])
    params = dict(cfg, ACCW=ACCW, NSTEPS=int(t["k"].sum()), NTILES=ntiles)
    bdir = su.build_dir_for(DUT, sim, test_id, params)
    ctrl = []
    for k in t["k"].tolist():  # bit 0: first K-step of a tile, bit 1: last
        c = np.zeros(k, dtype=np.int64)
        c[0] |= 1
        c[-1] |= 2
        ctrl.append(c)
    ctrl = np.concatenate(ctrl)
    files = {
        "A_FILE": su.write_memh(bdir / "a.hex", t["a"].T.reshape(-1), cfg["ABITS"]),
        "W_FILE": su.write_memh(bdir / "w.hex", t["w"].reshape(-1), cfg["WBITS"]),
        "CTRL_FILE": su.write_memh(bdir / "ctrl.hex", ctrl, 2),
        "ZX_FILE": su.write_memh(bdir / "zx.hex", t["zx"], cfg["ABITS"] + 1),
        "BIAS_FILE": su.write_memh(bdir / "bias.hex", t["bias"].reshape(-1), ACCW),
    }
    su.save_inputs(bdir, rows=rows, cols=cols, **t)
    return su.make_job(sim=sim, wrapper="tb_mac_array", rtl=("mac_pe", DUT),
                       test_module="test_mac_array", build_dir=bdir, parameters=params,
                       files=files, outputs={"RES_FILE": "res.hex", "START_FILE": "start.hex",
                                "DONE_FILE": "done.hex"},
                       seed=seed, wrong=wrong)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_mac_array(sim, config, request):
    su.require_simulator(sim)
    cfg = CONFIGS[config]
    report = su.build_and_test(**prepare(sim, cfg, request.node.name))
    pairs = ", ".join(f"K={k}:{c}" for k, c in zip(report["k"], report["latency"]))
    print(f"{request.node.name}: {report['compared']} elements in {report['tiles']} tiles, "
          f"{report['mismatches']} mismatches; cycles first K-step -> result: {pairs}; "
          f"stream {report['stream_cycles']} cycles for {report['steps']} K-steps")
    assert report["mismatches"] == 0
    if not cfg["GAPS"]:  # deterministic cycle counts: a functional latency bound
        slack = 2 * (cfg["ROWS"] + cfg["COLS"])
        over = [(k, c) for k, c in zip(report["k"], report["latency"]) if c > k + slack]
        assert not over, f"tiles over K + 2*(ROWS+COLS) = K + {slack} cycles: {over}"
        assert report["stream_cycles"] <= report["steps"] + slack, "tiles not back to back"


@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_mac_array_detects_wrong_zero_point(sim, request):
    """The same testbench against a reference with zx + 1 must report mismatches."""
    su.require_simulator(sim)
    job = prepare(sim, CONFIGS["4x3_a2u_w2"], request.node.name, wrong="zx", n_random=0)
    report = su.expect_mismatches(job)
    print(f"{request.node.name}: zx+1 reference -> {report['mismatches']} of "
          f"{report['compared']} elements differ (as intended)")
