"""rtl/lut.v against t2c.arith.lut_interp, exhaustively, on Icarus and Verilator.

Tables come from t2c itself (t2c.arith.gelu_lut and exp_lut, the convert-time
builders), plus two adversarial tables whose neighbouring entries jump between the
ends of the output range (largest interpolation differences, signed and unsigned).
Every input code 0 .. 2^(IN_BITS+FRAC_BITS)-1 is fed once, in random order, with
and without interpolation (FRAC_BITS = 0 is a plain lookup, lut_lookup).
"""
from __future__ import annotations

import numpy as np
import pytest

import cocotb
import simutil as su

arith = su.import_arith()  # t2c.arith (see simutil.import_arith: no torch import)

DUT = "lut"


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


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def lut_tb(dut):
    """Wait for the free-running wrapper, then compare the output for every input."""
    v = su.load_inputs()
    x, table = v["x"], v["table"]
    in_bits, frac_bits, out_bits = v["in_bits"], v["frac_bits"], v["out_bits"]
    run = await su.wait_done(dut, max_cycles=2 * len(x) + 64)
    su.check_guards(dut, {"u_x.mem": len(x)})
    su.check_table(dut.u_dut.mem, table)
    got, valid = su.read_memh(su.current_build_dir() / "y.hex", out_bits,
                              signed=bool(v["out_signed"]), count=len(x))
    expected = arith.lut_interp(table, x, in_bits, frac_bits)
    i = x >> frac_bits
    count, msg = su.compare(expected, got, what="lut y", index_names=("n",), valid=valid,
                            inputs={"x": x, "T[i]": table[i],
                                    "T[j]": table[np.minimum(i + 1, len(table) - 1)]})
    su.finish(dut._log, dict(compared=len(x), mismatches=count, exhaustive=bool(
        np.array_equal(np.unique(x), np.arange(1 << (in_bits + frac_bits)))), **run), msg)


# ------------------------------------------------------------------ pytest
def prepare(sim: str, config: str, test_id: str, seed: int | None = None,
            repeat: int = 1) -> dict:
    """Write the table and the inputs (every code, shuffled, ``repeat`` times over);
    returns the arguments of su.build_and_test."""
    seed = su.test_seed() if seed is None else seed
    rng = np.random.default_rng(seed)
    cfg, make_table = CONFIGS[config]
    table = np.asarray(make_table(rng), dtype=np.int64)
    xw = cfg["IN_BITS"] + cfg["FRAC_BITS"]
    x = np.concatenate([rng.permutation(1 << xw) for _ in range(repeat)]).astype(np.int64)
    params = dict(cfg, NX=len(x))
    bdir = su.build_dir_for(DUT, sim, test_id, params)
    files = {"TABLE_FILE": su.write_memh(bdir / "table.hex", table, cfg["OUT_BITS"], guard=False),
             "X_FILE": su.write_memh(bdir / "x.hex", x, xw)}
    su.save_inputs(bdir, x=x, table=table, in_bits=cfg["IN_BITS"], frac_bits=cfg["FRAC_BITS"],
                   out_bits=cfg["OUT_BITS"], out_signed=cfg["OUT_SIGNED"])
    return su.make_job(sim=sim, wrapper="tb_lut", rtl=(DUT,), test_module="test_lut",
                       build_dir=bdir, parameters=params, files=files,
                       outputs={"Y_FILE": "y.hex"}, seed=seed)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_lut(sim, config, request):
    su.require_simulator(sim)
    report = su.build_and_test(**prepare(sim, config, request.node.name))
    print(f"{request.node.name}: {report['compared']} inputs (exhaustive: "
          f"{report['exhaustive']}), {report['mismatches']} mismatches")
    assert report["mismatches"] == 0 and report["exhaustive"]


@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_lut_detects_unloaded_image(sim, request):
    """A truncated $readmemh image must fail the guard check (x on Icarus, 0 on Verilator)."""
    su.require_simulator(sim)
    job = prepare(sim, "gelu3_f2_o4u", request.node.name)
    x_file = job["files"]["X_FILE"]
    x_file.write_text("\n".join(x_file.read_text().splitlines()[:-1]) + "\n")  # drop the guard
    with pytest.raises(SystemExit):
        su.build_and_test(**job)
    assert su.read_report(job["build_dir"]) is None  # it failed before comparing
