"""rtl/pool.v (wrapper sim/hdl/tb_pool.v): max and average pooling, bit-exact, Icarus and Verilator.

Through the unit's job builder (``t2c.sim.units.pool``): many pooling jobs (descriptors)
back to back in one simulation per build, every output window compared on the pytest
side with ``==`` (``t2c.sim.compare``), and every ``last_o`` flag (1 exactly on each job's
last window).  References: the windows of ``t2c.ref`` (``_window_slices``, the executor's
own), max over them with padding at -inf, and ``t2c.arith.requantize(sum of (x - zx), m, s,
zy, qmin, qmax)`` with each window's (m, s) (per channel or per window); for s = 0 (outside
the contract) the header's ``clip(acc * m + zy, qmin, qmax)``.  Where the IR can express
the job (max pooling; average pooling per channel without dilation, s in 1..62) the
reference is asserted equal to ``t2c.ref.run_op(MaxPool2d / AvgPool2d)``.

Jobs per build (>= 100,000 output windows, random + edge):

* a grid: every (kernel 1..3, stride 1..3, padding 0..1, dilation 1..2) on each axis (36
  per axis, paired), max and average;
* random geometries: C 1..6, H, W 1..14, kernel 1..5, stride 1..4, dilation 1..3, padding
  up to the effective kernel (max pooling: only jobs with no all-padding window),
  signed / unsigned codes of 2..IN_BITS-bit ranges, zero points anywhere or at both ends
  of the code range (and of the port), output ranges of 2..OUT_BITS bits with the zero
  point at either end, ReLU-fused (qmin = zy), and the whole output port;
  (m, s) per channel from ``quantize_multiplier`` of the real divisor, or per window:
  contract-shaped, uniform over the port (every shift 0..63), multipliers at both ends
  (0, 1, 2^(MULT_BITS-2), 2^(MULT_BITS-1) - 1) and with the ignored MSB set;
* edges: 1x1 windows (N = 1), 1x1 maps, whole-image windows (global average pooling,
  also padded: the kernel larger than the map), a whole row of 2000 (or the DIMW limit),
  the largest window sums (codes at one end, zx at the other; in the small build exactly
  at the ACCW limit), all-negative maps with padding (max: padding must not win).

Builds: the default (IN_BITS 8, OUT_BITS 8, ACCW 32, MULT_BITS 32, DIMW 16), the same with
the read ports stalled by tb_harness's bubbles, and a small one (IN_BITS 4, OUT_BITS 6,
ACCW 12, MULT_BITS 16, DIMW 8: geometry at the field limits).  Cycles exact:
``t2c.sim.units.pool.cycles`` (without stalls ``sum(N_k + 2) + 5``, N_k a job's taps).
Negative tests: a floor-rounding reference (average) and a reference letting padding win
(max: padding as code 0) must report mismatches on the same output.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.ir import AvgPool2d, MaxPool2d, Requant
from t2c.ref import _window_slices, run_op
from t2c.sim import toolchain
from t2c.sim.build import build_dir_for, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.units import SimOptions
from t2c.sim.units import pool as unit
from t2c.sim.units.pool import PoolDesc, check_fits, padding_only_windows

N_WINDOWS = 100_000   # output windows per build (acceptance: >= 100,000)
BUILDS = {
    "default": dict(in_bits=8, out_bits=8, accw=32, mult_bits=32, dimw=16),
    "small": dict(in_bits=4, out_bits=6, accw=12, mult_bits=16, dimw=8),
}
CONFIGS = {"default": ("default", 0), "default_stalls": ("default", 1), "small": ("small", 0)}
GRID = [(k, s, p, d) for k in (1, 2, 3) for s in (1, 2, 3) for p in (0, 1) for d in (1, 2)]


def hdl(build: dict, descs, x, m, gaps: int = 0) -> dict:
    return unit.build_parameters(descs, x, m, gaps=gaps, **build)


# ------------------------------------------------------------------ reference
def windows(d: PoolDesc, xmap, pad_value) -> np.ndarray:
    """[kh*kw, C*Ho*Wo]: every window's taps, from t2c.ref's window slices."""
    views = _window_slices(np.asarray(xmap, dtype=np.int64)[None], d.kernel, d.stride, d.padding,
                           d.dilation, pad_value)
    return np.stack([v.reshape(-1) for v in views])


def window_params(d: PoolDesc, m, s, mult_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Each window's (m, s): its own, or its channel's; m as the port reads it (MSB ignored)."""
    m, s = np.asarray(m, dtype=np.int64), np.asarray(s, dtype=np.int64)
    if not d.per_window:
        m, s = np.repeat(m, d.ho * d.wo), np.repeat(s, d.ho * d.wo)
    return m & np.int64((1 << (mult_bits - 1)) - 1), s


def reference(d: PoolDesc, xmap, m, s, mult_bits: int, *, rounding: bool = True,
              pad_wins: bool = False) -> np.ndarray:
    """The job's output windows in order (c, oh, ow).  ``rounding=False``: floor instead of
    round half up; ``pad_wins``: max pooling with padding as code 0 (both wrong)."""
    if not d.avg:
        return windows(d, xmap, 0 if pad_wins else np.iinfo(np.int64).min).max(axis=0)
    acc = windows(d, np.asarray(xmap, dtype=np.int64) - d.zx, 0).sum(axis=0)
    m, s = window_params(d, m, s, mult_bits)
    pos = s >= 1
    s1 = np.where(pos, s, 1)
    if rounding:
        y = arith.requantize(acc, m, s1, d.zy, d.qmin, d.qmax)
    else:
        y = np.clip(((acc * m) >> s1) + d.zy, d.qmin, d.qmax)
    return np.where(pos, y, np.clip(acc * m + d.zy, d.qmin, d.qmax))


def ir_reference(d: PoolDesc, xmap, m, s):
    """t2c.ref.run_op on the IR op of the job, where the IR can express it (else None)."""
    x = np.asarray(xmap, dtype=np.int64)[None]
    if not d.avg:
        op = MaxPool2d("pool", ["x"], "y", kernel=d.kernel, stride=d.stride, padding=d.padding,
                       dilation=d.dilation)
        return run_op(op, [x])[1].reshape(-1)
    s = np.asarray(s)
    if d.per_window or d.dilation != (1, 1) or s.min() < 1 or s.max() > arith.MAX_SHIFT \
            or np.max(m) >= 1 << 31:
        return None
    op = AvgPool2d("pool", ["x"], "y", kernel=d.kernel, stride=d.stride, padding=d.padding, x_zero_point=d.zx,
                   requant=Requant(np.asarray(m, np.int64), s.astype(np.int64), d.zy, d.qmin, d.qmax))
    return run_op(op, [x])[1].reshape(-1)


# ------------------------------------------------------------------ jobs
def _codes(rng, shape, in_bits: int, signed: bool, kind: str = "") -> np.ndarray:
    lo, hi = arith.qrange(in_bits, signed)
    kind = kind or rng.choice(["full", "narrow", "ends", "negative" if signed else "full"])
    if kind == "narrow":  # a 2..in_bits-bit sub-range: ties in the max, small sums
        blo, bhi = arith.qrange(int(rng.integers(2, in_bits + 1)), signed)
        return rng.integers(blo, bhi + 1, shape)
    if kind == "ends":
        return rng.choice(np.array([lo, hi]), shape)
    if kind == "negative":
        return rng.integers(lo, 0, shape)
    return rng.integers(lo, hi + 1, shape)


def _zero_point(rng, in_bits: int, signed: bool) -> int:
    lo, hi = arith.qrange(in_bits, signed)
    plo, phi = arith.qrange(in_bits + 1, True)
    return int(rng.choice([lo, hi, plo, phi, int(rng.integers(lo, hi + 1))], p=[.2, .2, .05, .05, .5]))


def _out_range(rng, out_bits: int) -> dict:
    if rng.random() < 0.1:  # the whole port
        lo, hi = arith.qrange(out_bits + 1, True)
    else:
        lo, hi = arith.qrange(int(rng.integers(2, out_bits + 1)), bool(rng.integers(2)))
    zy = int(rng.choice([lo, hi, int(rng.integers(lo, hi + 1))]))
    qmin = zy if rng.random() < 0.15 else lo
    return dict(zy=zy, qmin=qmin, qmax=hi)


def _table(rng, d: PoolDesc, mult_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(m, s) for a job: per channel from the real divisor, or per window, mixed."""
    n = d.table_size
    taps = d.kernel[0] * d.kernel[1]
    real = 2.0 ** rng.uniform(-10, min(3, mult_bits - 4), n) / taps
    m, s = arith.quantize_multiplier(real, mult_bits)
    m, s = np.atleast_1d(m).astype(np.int64), np.atleast_1d(s).astype(np.int64)
    if d.per_window:
        mhi = (1 << (mult_bits - 1)) - 1
        kind = rng.integers(0, 4, n)
        ends = rng.choice(np.array([0, 1, 1 << (mult_bits - 2), mhi]), n)
        m = np.select([kind == 1, kind == 2, kind == 3],
                      [rng.integers(0, mhi + 1, n), ends, ends | (1 << (mult_bits - 1))], m)
        s = np.where(kind >= 1, rng.integers(0, 64, n), s)
    return m, s


def fits(d: PoolDesc, build: dict) -> bool:
    try:
        check_fits(d, unit.parameters(njobs=1, nx=1, np_=1, nout=1, **build))
    except ValueError:
        return False
    return True


def random_desc(rng, build: dict, avg: bool) -> PoolDesc:
    """A random geometry that fits the build (max pooling: no all-padding window)."""
    in_bits, out_bits = build["in_bits"], build["out_bits"]
    while True:
        signed = bool(rng.integers(2))
        k = tuple(int(v) for v in rng.integers(1, 6, 2))
        dil = tuple(int(v) for v in rng.integers(1, 4, 2))
        eff = [dil[i] * (k[i] - 1) + 1 for i in range(2)]
        pad = tuple(int(rng.integers(0, (eff[i] if avg else eff[i] // 2) + 1)) for i in range(2))
        h, w = (int(v) for v in rng.integers(1, 15, 2))
        d = PoolDesc(avg=avg, in_signed=signed, c=int(rng.integers(1, 7)), h=h, w=w, kernel=k,
                     stride=tuple(int(v) for v in rng.integers(1, 5, 2)), padding=pad, dilation=dil,
                     per_window=avg and bool(rng.integers(2)),
                     zx=_zero_point(rng, in_bits, signed) if avg else 0,
                     **(_out_range(rng, out_bits) if avg else dict(zy=0, qmin=0, qmax=0)))
        if d.ho >= 1 and d.wo >= 1 and fits(d, build):
            return d


def _job(rng, d: PoolDesc, build: dict, kind: str = ""):
    x = _codes(rng, (d.c, d.h, d.w), build["in_bits"], d.in_signed, kind)
    m, s = _table(rng, d, build["mult_bits"])
    return d, x, m, s


def grid_jobs(rng, build: dict) -> list:
    out = []
    for avg in (False, True):
        for i, (kh, sh, ph, dh) in enumerate(GRID):
            kw, sw, pw, dw = GRID[(7 * i + 3) % len(GRID)]
            d = PoolDesc(avg=avg, in_signed=bool(i % 2), c=2, h=7, w=8, kernel=(kh, kw), stride=(sh, sw),
                         padding=(ph, pw), dilation=(dh, dw), per_window=avg and i % 3 == 0,
                         zx=_zero_point(rng, build["in_bits"], bool(i % 2)) if avg else 0,
                         **(_out_range(rng, build["out_bits"]) if avg else dict(zy=0, qmin=0, qmax=0)))
            if not avg and padding_only_windows(d):
                continue
            out.append(_job(rng, d, build))
    return out


def edge_jobs(rng, build: dict) -> list:
    in_bits, out_bits, dimw = build["in_bits"], build["out_bits"], build["dimw"]
    full = dict(zip(("qmin", "qmax"), arith.qrange(out_bits + 1, True)))
    jobs = []
    for avg in (False, True):
        for signed in (False, True):
            lo, hi = arith.qrange(in_bits, signed)
            o = dict(zy=0, **full) if avg else dict(zy=0, qmin=0, qmax=0)
            # 1x1 windows, 1x1 maps, whole-image windows (global pooling, also padded)
            jobs.append(_job(rng, PoolDesc(avg, signed, 8, 12, 12, (1, 1), (1, 1), zx=lo if avg else 0, **o), build))
            jobs.append(_job(rng, PoolDesc(avg, signed, 16, 1, 1, (1, 1), (1, 1), zx=hi if avg else 0, **o), build))
            for h, w in ((1, 1), (4, 4), (7, 5), (12, 12)):
                jobs.append(_job(rng, PoolDesc(avg, signed, 16, h, w, (h, w), (h, w), zx=0, **o), build))
            if avg:
                jobs.append(_job(rng, PoolDesc(avg, signed, 4, 5, 6, (7, 8), (1, 1), (1, 1), zx=lo, **o), build))
            # a whole row of 2000 codes (small build: the DIMW limit, 255), padded
            n = min(2000, (1 << dimw) - 1)
            jobs.append(_job(rng, PoolDesc(avg, signed, 1, 1, n, (1, n), (1, max(1, n // 4)),
                                           (0, n // 2 if avg else 0), zx=hi if avg else 0, **o), build))
            jobs.append(_job(rng, PoolDesc(avg, signed, 1, 1, n, (1, 3), (1, 2), (0, 1), (1, 1),
                                           zx=lo if avg else 0, **o), build))
    # the largest window sums: codes at one end, zx at the other (small build: at the ACCW limit)
    for signed in (False, True):
        lo, hi = arith.qrange(in_bits, signed)
        taps = min(256, ((1 << (build["accw"] - 1)) - 1) // (hi - lo))
        for zx, code in ((lo, "ends"), (hi, "ends")):
            d = PoolDesc(True, signed, 4, taps, 1, (taps, 1), (1, 1), zx=zx, per_window=True, **full)
            dd, x, m, s = _job(rng, d, build)
            x = np.full_like(x, hi if zx == lo else lo)
            jobs.append((dd, x, m, s))
    # max pooling over all-negative maps with padding: padding must not win
    jobs.append(_job(rng, PoolDesc(False, True, 6, 9, 9, (3, 3), (2, 2), (1, 1)), build, "negative"))
    return [j for j in jobs if fits(j[0], build)]  # the small build's ACCW: no 12 x 12 windows


def make_jobs(rng, build: dict, n_windows: int = N_WINDOWS) -> list:
    """Grid + edge + random jobs until the output windows reach ``n_windows``, shuffled."""
    jobs = grid_jobs(rng, build) + edge_jobs(rng, build)
    while sum(j[0].windows for j in jobs) < n_windows:
        jobs.append(_job(rng, random_desc(rng, build, bool(rng.integers(2))), build))
    order = rng.permutation(len(jobs))
    return [jobs[i] for i in order]


# ------------------------------------------------------------------ run
def simulate(sim: str, tag: str, build: dict, jobs, gaps: int = 0, seed: int = 1):
    descs, x, m, s = unit.layout(jobs)
    params = hdl(build, descs, x, m, gaps)
    params["GAP_SEED"] = seed % 65535
    bdir = build_dir_for("pool", sim, tag, params)
    run = run_job(unit.job(bdir, SimOptions(sim=sim), params, descs=descs, x=x, m=m, s=s))
    return run, params, descs, unit.read(run, params)


def references(jobs, descs, build: dict, **wrong) -> np.ndarray:
    return np.concatenate([reference(d, x, m, s, build["mult_bits"], **wrong)
                           for d, (_, x, m, s) in zip(descs, jobs)])


def operands(jobs, descs) -> dict:
    """Per output window: its job, mode and (for the message) the job's geometry."""
    idx = np.concatenate([np.full(d.windows, i) for i, d in enumerate(descs)])
    return {"job": idx, "avg": np.array([int(d.avg) for d in descs])[idx],
            "kernel": np.array([d.kernel[0] * 100 + d.kernel[1] for d in descs])[idx]}


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_pool(sim, config, request):
    toolchain.require_simulator(sim)
    build_name, gaps = CONFIGS[config]
    build = BUILDS[build_name]
    seed = test_seed()
    jobs = make_jobs(np.random.default_rng(seed), build)
    run, params, descs, out = simulate(sim, request.node.name, build, jobs, gaps, seed)
    want = references(jobs, descs, build)
    ir_checked = 0
    for d, (_, x, m, s), r in zip(descs, jobs, np.split(want, np.cumsum([d.windows for d in descs])[:-1])):
        ir = ir_reference(d, x, m, s)
        if ir is not None:
            assert np.array_equal(ir, r), f"test reference differs from t2c.ref.run_op on {d}"
            ir_checked += 1
    ops = operands(jobs, descs)
    for name, expected, got in (("y", want, out["output"]), ("last_o", unit.last_flags(descs), out["last"])):
        c = compare(expected, got[0], valid=got[1], names=("window",), inputs=ops)
        print(c.message(f"pool {config} ({sim}) {name}"))
        assert c.passed, c.message(f"pool {config} ({sim}) {name}")
    taps = sum(d.taps for d in descs)
    shifts = np.unique(np.concatenate([window_params(d, m, s, build["mult_bits"])[1]
                                       for d, (_, _, m, s) in zip(descs, jobs) if d.avg]))
    print(f"{request.node.name}: {len(descs)} jobs, {want.size} windows, {taps} taps, "
          f"{ir_checked} jobs also against t2c.ref.run_op, {run.cycles} cycles")
    assert want.size >= N_WINDOWS and ir_checked > 0
    assert np.array_equal(shifts, np.arange(64)), "every port shift 0..63 in some average window"
    want_cycles = unit.cycles(descs, gaps, params["GAP_SEED"])
    assert run.cycles == want_cycles, f"{run.cycles} cycles, expected {want_cycles}"
    if not gaps:
        assert run.cycles == sum(d.taps + 2 for d in descs) + 5


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_pool_detects_wrong_reference(sim, request):
    """The same output against a floor-rounding average and a max letting padding win
    (padding as code 0) must report mismatches; the true reference matches exactly."""
    toolchain.require_simulator(sim)
    build = BUILDS["default"]
    seed = test_seed()
    rng = np.random.default_rng(seed)
    jobs = edge_jobs(rng, build) + [_job(rng, random_desc(rng, build, avg), build)
                                    for avg in [True, False] * 20]
    run, params, descs, out = simulate(sim, request.node.name, build, jobs, seed=seed)
    y, valid = out["output"]
    right = compare(references(jobs, descs, build), y, valid=valid)
    assert right.mismatches == 0, right.message("true reference")
    avg = operands(jobs, descs)["avg"] == 1
    for name, wrong in (("floor", dict(rounding=False)), ("padding wins", dict(pad_wins=True))):
        bad = compare(references(jobs, descs, build, **wrong), y, valid=valid, names=("window",),
                      inputs=operands(jobs, descs))
        part = avg if name == "floor" else ~avg
        print(f"{request.node.name}: {name} reference -> {bad.mismatches} of {bad.compared} differ "
              f"(as intended); the true reference: {right.mismatches}")
        assert bad.mismatches > 0 and "differ" in bad.message(name)
        assert compare(references(jobs, descs, build, **wrong)[~part], y[~part]).mismatches == 0


# ------------------------------------------------------------------ Python side
@pytest.mark.parametrize("build", list(BUILDS))
def test_jobs_cover_the_cases(build):
    """The jobs fit the build and hold the cases claimed in the module docstring."""
    b = BUILDS[build]
    jobs = make_jobs(np.random.default_rng(1), b, n_windows=20_000)
    descs, x, m, s = unit.layout(jobs)
    params = hdl(b, descs, x, m)
    for d in descs:
        check_fits(d, params)
    for axis in (0, 1):
        combos = {(d.kernel[axis], d.stride[axis], d.padding[axis], d.dilation[axis]) for d in descs}
        assert set(GRID) <= combos
    assert any(d.kernel == (1, 1) for d in descs) and any(d.h == d.w == 1 for d in descs)
    assert any(d.kernel == (d.h, d.w) and d.h > 1 for d in descs if d.avg)
    assert any(d.kernel == (d.h, d.w) and d.h > 1 for d in descs if not d.avg)
    assert any(d.per_window for d in descs) and any(d.avg and not d.per_window for d in descs)
    assert {d.in_signed for d in descs} == {False, True}
    assert any(max(d.h, d.w) >= min(2000, (1 << b["dimw"]) - 1) for d in descs)
    lo, hi = arith.qrange(b["in_bits"] + 1, True)
    assert {lo, hi} <= {d.zx for d in descs if d.avg}
    assert np.max(m) >= 1 << (b["mult_bits"] - 1) and np.min(m) == 0  # the ignored MSB; m = 0


def test_check_fits_refuses():
    params = unit.parameters(njobs=1, nx=1, np_=1, nout=1, **BUILDS["small"])
    ok = PoolDesc(True, True, 1, 4, 4, (2, 2), (2, 2))
    check_fits(ok, params)
    for bad, why in ((PoolDesc(False, True, 1, 1, 1, (2, 1), (1, 1), (2, 0), (3, 1)), "all padding"),
                     (PoolDesc(True, True, 1, 4, 300, (2, 2), (2, 2)), "w = 300"),
                     (PoolDesc(True, True, 1, 12, 12, (12, 12), (1, 1), zx=-8), "do not fit ACCW"),
                     (PoolDesc(True, True, 1, 4, 4, (2, 2), (2, 2), zx=40), "zx = 40")):
        with pytest.raises(ValueError, match=why):
            check_fits(bad, params)


def test_cycles_formula():
    """Without stalls the model is the closed form; stalls only add cycles."""
    rng = np.random.default_rng(2)
    descs = [random_desc(rng, BUILDS["default"], bool(i % 2)) for i in range(20)]
    assert unit.cycles(descs) == sum(d.taps + 2 for d in descs) + 5
    assert unit.cycles(descs, gaps=1) > unit.cycles(descs)
    assert unit.cycles(descs[:1]) == descs[0].taps + 7


# ------------------------------------------------------------------ synthetic layers
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_pool_layers(sim, tmp_path, request):
    """The unit's layer path (t2c.sim.layers.run_layer, what `t2c sim` runs) on layers the
    default models lack: a padded, dilated, strided max pool and a per-channel average pool
    (three multipliers, zero point -3) over two images, written as golden vectors by
    t2c.golden.write_golden from the IR executor; cycles as pinned by the formula."""
    from t2c.golden import write_golden
    from t2c.ir import IntGraph, TensorSpec
    from t2c.sim.golden_dirs import open_golden
    from t2c.sim.layers import run_layer

    toolchain.require_simulator(sim)
    rng = np.random.default_rng(test_seed())
    x = rng.integers(-128, 128, (2, 3, 9, 11))
    mp = MaxPool2d("mp", ["x"], "mp", kernel=(3, 2), stride=(2, 3), padding=(1, 1), dilation=(2, 3))
    m, s = arith.quantize_multiplier(np.array([0.3, 0.05, 0.9]) / 4)
    ap = AvgPool2d("ap", ["mp"], "ap", kernel=(2, 2), stride=(1, 1), padding=(1, 0), x_zero_point=-3,
                   requant=Requant(np.asarray(m), np.asarray(s), 5, -128, 127))
    shapes = {"x": x.shape, "mp": (2, 3, 4, 4), "ap": (2, 3, 5, 3)}
    graph = IntGraph([mp, ap], {n: TensorSpec(n, sh, 8, True, 0 if n != "ap" else 5, 0.1)
                                for n, sh in shapes.items()}, "x", "ap")
    golden = open_golden(write_golden(graph, x, tmp_path / "g"))
    for layer, op in (("mp", mp), ("ap", ap)):
        assert golden.tensor(layer, "output").shape == shapes[layer]
        desc = layout_desc(op, shapes[op.inputs[0]])
        res = run_layer(golden, layer, SimOptions(sim=sim, tag=f"{request.node.name}-{layer}"))
        print(res.verdict())
        assert res.passed and res.unit == "pool", res.message
        assert res.cycles == desc.taps + 7 == unit.cycles([desc])


def layout_desc(op, shape) -> PoolDesc:
    n, c, h, w = shape
    return PoolDesc(isinstance(op, AvgPool2d), True, n * c, h, w, op.kernel, op.stride, op.padding,
                    getattr(op, "dilation", (1, 1)))
