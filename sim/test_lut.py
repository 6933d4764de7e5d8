"""rtl/lut.v against t2c.arith.lut_interp, exhaustively, on Icarus and Verilator.

Tables come from t2c itself (t2c.arith.gelu_lut and exp_lut, the convert-time
builders), plus two adversarial tables whose neighbouring entries jump between the
ends of the output range (largest interpolation differences, signed and unsigned).
Every input code 0 .. 2^(IN_BITS+FRAC_BITS)-1 is fed once, in random order, with
and without interpolation (FRAC_BITS = 0 is a plain lookup, lut_lookup); the table
(the unit's own INIT_FILE ROM) is checked loaded at its first, middle and last entry.

The run's cycle count is exact: the last input issued in cycle c (tb_harness's bubble
LFSR, modelled by :func:`issue_cycles`) gives ``cycles = c + 2 + LATENCY`` with the
header's LATENCY = 1 for FRAC_BITS = 0 and 2 otherwise (without bubbles NX + 1 + LATENCY).

Negative tests: the same output against a reference that floors the interpolation
instead of rounding it must differ; a truncated image (the inputs' guard word or the
table's last entry missing) must make run_job raise SimulationError naming the memory
that was not loaded.
"""
from __future__ import annotations

import numpy as np
import pytest

from t2c import arith
from t2c.sim import toolchain
from t2c.sim.build import Dump, SimJob, SimulationError, build_dir_for, exclusive, run_job, test_seed
from t2c.sim.compare import compare
from t2c.sim.images import read_values, write_image
from t2c.sim.harness import issue_cycles

DUT, TOP = "lut", "tb_lut"


def gelu_table(in_bits: int, out_bits: int, out_signed: bool = True) -> np.ndarray:
    """GELU over signed in_bits codes, inputs spanning about [-6, 6), as build_lut orders it."""
    scale = 6.0 / (1 << (in_bits - 1))
    return arith.gelu_lut(in_bits, scale, 0, 6.0 / (1 << (out_bits - 1)), 0, out_bits=out_bits,
                          in_signed=True, out_signed=out_signed)


def exp_table(in_bits: int) -> np.ndarray:
    """exp(-d * s) as unsigned Q0.15 (entry 0 = 2^15: 16 bits), the softmax table."""
    return arith.exp_lut(in_bits, 8.0 / (1 << in_bits), out_frac_bits=15)


def extreme_table(rng, in_bits: int, out_bits: int, out_signed: bool) -> np.ndarray:
    """Entries alternating between the ends of the range, with random ones between."""
    lo, hi = arith.qrange(out_bits, out_signed)
    t = np.where(np.arange(1 << in_bits) % 2 == 0, lo, hi)
    t[3::4] = rng.integers(lo, hi + 1, len(t[3::4]))
    return t


CONFIGS = {
    # name: (HDL parameters, table builder (rng -> table))
    "gelu8": (dict(IN_BITS=8, FRAC_BITS=0, OUT_BITS=8, OUT_SIGNED=1, GAPS=0),
              lambda rng: gelu_table(8, 8)),
    "exp8_u16": (dict(IN_BITS=8, FRAC_BITS=0, OUT_BITS=16, OUT_SIGNED=0, GAPS=0),
                 lambda rng: exp_table(8)),
    "gelu8_f4_gaps": (dict(IN_BITS=8, FRAC_BITS=4, OUT_BITS=8, OUT_SIGNED=1, GAPS=1),
                      lambda rng: gelu_table(8, 8)),
    "exp6_f6_u16": (dict(IN_BITS=6, FRAC_BITS=6, OUT_BITS=16, OUT_SIGNED=0, GAPS=0),
                    lambda rng: exp_table(6)),
    "gelu3_f2_o4u": (dict(IN_BITS=3, FRAC_BITS=2, OUT_BITS=4, OUT_SIGNED=0, GAPS=0),
                     lambda rng: gelu_table(3, 4, out_signed=False)),
    "extreme_s8_f5": (dict(IN_BITS=4, FRAC_BITS=5, OUT_BITS=8, OUT_SIGNED=1, GAPS=1),
                      lambda rng: extreme_table(rng, 4, 8, True)),
    "extreme_u16_f7": (dict(IN_BITS=4, FRAC_BITS=7, OUT_BITS=16, OUT_SIGNED=0, GAPS=0),
                       lambda rng: extreme_table(rng, 4, 16, False)),
}


# ------------------------------------------------------------------ cycle formula


def latency(cfg: dict) -> int:
    """rtl/lut.v: 1 cycle for a plain lookup, 2 with interpolation."""
    return 1 if cfg["FRAC_BITS"] == 0 else 2


def expected_cycles(cfg: dict, nx: int) -> int:
    return int(issue_cycles(nx, cfg["GAPS"])[-1]) + 2 + latency(cfg)


# ------------------------------------------------------------------ run
def prepare(sim: str, config: str, tag: str, rng, repeat: int = 1):
    """Write the table and the inputs (every code, shuffled, ``repeat`` times over) into
    the build directory; returns (SimJob, x, table).  Hold ``exclusive(job.build_dir)``
    from here to the end of the run."""
    cfg, make_table = CONFIGS[config]
    table = np.asarray(make_table(rng), dtype=np.int64)
    xw = cfg["IN_BITS"] + cfg["FRAC_BITS"]
    x = np.concatenate([rng.permutation(1 << xw) for _ in range(repeat)]).astype(np.int64)
    params = dict(cfg, NX=len(x))
    bdir = build_dir_for(DUT, sim, tag, params)
    images = [write_image(bdir / "table.hex", table, cfg["OUT_BITS"], parameter="TABLE_FILE",
                          memory="u_dut.mem", guard=False),
              write_image(bdir / "x.hex", x, xw, parameter="X_FILE", memory="u_x.mem")]
    job = SimJob(DUT, TOP, sim, bdir, params, images, [Dump("Y_FILE", "y.hex")], 2 * len(x) + 64)
    return job, x, table


def read_y(job: SimJob, config: str, nx: int):
    cfg = CONFIGS[config][0]
    return read_values(job.dump_path("Y_FILE"), cfg["OUT_BITS"], bool(cfg["OUT_SIGNED"]), nx)


def operands(x, table, frac_bits: int) -> dict:
    i = x >> frac_bits
    return {"x": x, "T[i]": table[i], "T[j]": table[np.minimum(i + 1, len(table) - 1)]}


def floor_interp(table, x, frac_bits: int) -> np.ndarray:
    """lut_interp without its rounding term (a deliberately wrong reference)."""
    t = np.asarray(table, dtype=np.int64)
    i, f = x >> frac_bits, x & ((1 << frac_bits) - 1)
    j = np.minimum(i + 1, len(t) - 1)
    return t[i] + (((t[j] - t[i]) * f) >> frac_bits)


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_lut(sim, config, request):
    toolchain.require_simulator(sim)
    cfg = CONFIGS[config][0]
    job, x, table = prepare(sim, config, request.node.name, np.random.default_rng(test_seed()))
    with exclusive(job.build_dir):
        run = run_job(job)
        y, valid = read_y(job, config, len(x))
    in_bits, frac_bits = cfg["IN_BITS"], cfg["FRAC_BITS"]
    expected = arith.lut_interp(table, x, in_bits, frac_bits)
    if frac_bits == 0:
        assert np.array_equal(expected, arith.lut_lookup(table, x))
    cmp = compare(expected, y, valid=valid, names=("n",), inputs=operands(x, table, frac_bits))
    exhaustive = np.array_equal(np.sort(x), np.arange(1 << (in_bits + frac_bits)))
    print(f"{request.node.name}: {cmp.compared} inputs (exhaustive: {exhaustive}), "
          f"{cmp.mismatches} mismatches, {run.cycles} cycles (latency {latency(cfg)})")
    assert cmp.mismatches == 0, cmp.message(f"lut {config} on {sim}")
    assert exhaustive and cmp.compared == 1 << (in_bits + frac_bits)
    assert run.cycles == expected_cycles(cfg, len(x)), \
        f"{run.cycles} cycles, expected {expected_cycles(cfg, len(x))} (last issue + 2 + latency)"
    if not cfg["GAPS"]:
        assert run.cycles == len(x) + 1 + latency(cfg)


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_lut_detects_wrong_reference(sim, request):
    """The same output against an interpolation that floors instead of rounding must
    differ (while the true reference matches it exactly)."""
    toolchain.require_simulator(sim)
    config = "extreme_s8_f5"
    frac_bits = CONFIGS[config][0]["FRAC_BITS"]
    job, x, table = prepare(sim, config, request.node.name, np.random.default_rng(test_seed()))
    with exclusive(job.build_dir):
        run_job(job)
        y, valid = read_y(job, config, len(x))
    right = compare(arith.lut_interp(table, x, CONFIGS[config][0]["IN_BITS"], frac_bits), y,
                    valid=valid, names=("n",))
    bad = compare(floor_interp(table, x, frac_bits), y, valid=valid, names=("n",),
                  inputs=operands(x, table, frac_bits))
    print(f"{request.node.name}: floor reference -> {bad.mismatches} of {bad.compared} inputs "
          f"differ (as intended); the true reference: {right.mismatches}")
    assert right.mismatches == 0, right.message("true reference")
    assert bad.mismatches > 0


@pytest.mark.parametrize("image", ["x", "table"])
@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_lut_detects_unloaded_image(sim, image, request):
    """A truncated $readmemh image (x on Icarus, 0 on Verilator where the words are
    missing) must make run_job raise SimulationError naming the memory not loaded: the
    inputs without their guard word, or the table without its last entry."""
    toolchain.require_simulator(sim)
    config = "gelu3_f2_o4u"
    job, x, table = prepare(sim, config, request.node.name, np.random.default_rng(test_seed()))
    img = next(i for i in job.images if i.parameter == f"{image.upper()}_FILE")
    memory, index = img.memory, img.words if image == "x" else len(table) - 1
    assert table[-1] != 0  # on Verilator the missing entry reads 0: it must differ from that
    with exclusive(job.build_dir):
        img.path.write_text("\n".join(img.path.read_text().splitlines()[:-1]) + "\n")
        with pytest.raises(SimulationError) as err:
            run_job(job)
    msg = str(err.value)
    print(f"{request.node.name}: {msg}")
    assert "memory image not (fully) loaded" in msg and f"{memory}[{index}]" in msg, msg
