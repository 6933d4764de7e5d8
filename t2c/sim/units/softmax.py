"""The softmax unit: integer softmax rows on ``rtl/softmax.v`` (t2c.arith.softmax_int).

Images: ``x.hex`` (the rows back to back), ``n.hex`` / ``qmax.hex`` (per row) and the exp
table ``exp.hex`` (2^IN_BITS unsigned Q0.15 entries, the unit's ROM); wrapper
``sim/hdl/tb_softmax.v`` streams the elements through a valid/ready register and dumps
every output (``y.hex``) and its ``last_o`` flag (``last.hex``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ... import arith
from ..build import Dump, SimJob
from ..compare import index_names
from ..images import read_values, write_image
from . import LayerCase, SimOptions, UnitJob, Workspace
from .rows import golden_rows, last_flags

TOP = "tb_softmax"
EXP_BITS = arith.SOFTMAX_EXP_FRAC + 1  # table entries: unsigned Q0.15, EXP[0] = 2^15
DEFAULT_MAX_N = 256                    # row buffer (rows up to 256 elements)
CYCLES_PER_ROW = 40  # a row takes 3n + 30 cycles (4n + 40: margin for input bubbles)


def n_bits(max_n: int) -> int:
    """Width of the softmax's n_i port: $clog2(MAX_N + 1)."""
    return max(1, int(max_n).bit_length())


def parameters(*, nx: int, nrows: int, in_bits: int = 8, in_signed: bool = True, out_bits: int = 8,
               max_n: int = DEFAULT_MAX_N, gaps: int = 0) -> dict:
    return dict(IN_BITS=in_bits, IN_SIGNED=int(in_signed), OUT_BITS=out_bits, MAX_N=max_n,
                NX=int(nx), NROWS=int(nrows), GAPS=gaps)


def job(build_dir: Path, options: SimOptions, params: dict, *, x, lens, qmax, table) -> SimJob:
    """Images + SimJob for rows of codes (``x`` back to back, ``lens``/``qmax`` per row)."""
    x, lens, qmax, table = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (x, lens, qmax, table))
    in_bits, max_n = params["IN_BITS"], params["MAX_N"]
    if lens.sum() != x.size or lens.size != qmax.size or x.size != params["NX"]:
        raise ValueError("row lengths do not add up to the inputs")
    if lens.min() < 1 or lens.max() > max_n:
        raise ValueError(f"row lengths must be 1..{max_n}")
    one = 1 << arith.SOFTMAX_EXP_FRAC
    if table.size != 1 << in_bits or table[0] != one or table.min() < 0 or table.max() > one:
        raise ValueError("the exp table needs 2^in_bits entries in 0..2^15 with EXP[0] = 2^15 "
                         "(the unit's sum width assumes it)")
    d = Path(build_dir)
    images = [write_image(d / "exp.hex", table, EXP_BITS, parameter="EXP_FILE", memory="u_dut.u_exp.mem",
                          guard=False),
              write_image(d / "x.hex", x, in_bits, parameter="X_FILE", memory="u_x.mem"),
              write_image(d / "n.hex", lens, n_bits(max_n), parameter="N_FILE", memory="u_n.mem"),
              write_image(d / "qmax.hex", qmax, params["OUT_BITS"], parameter="Q_FILE", memory="u_q.mem")]
    return SimJob("softmax", TOP, options.sim, d, params, images,
                  [Dump("Y_FILE", "y.hex"), Dump("L_FILE", "last.hex")],
                  int(4 * x.size + CYCLES_PER_ROW * lens.size), rtl_dirs=options.rtl_dirs,
                  waves=options.waves, fast_build=options.fast_build, quiet=options.quiet)


def read(run, nx: int, out_bits: int) -> dict:
    """``output`` codes and ``last`` flags from the dumps."""
    return {"output": read_values(run.job.dump_path("Y_FILE"), out_bits, False, nx),
            "last": read_values(run.job.dump_path("L_FILE"), 1, False, nx)}


class Softmax:
    name = "softmax"
    ops = ("softmax",)

    def check(self, case: LayerCase, options: SimOptions) -> None:
        a = case.attrs
        if a["exp_frac_bits"] != arith.SOFTMAX_EXP_FRAC or a["recip_bits"] != arith.SOFTMAX_RECIP_BITS:
            raise ValueError(f"{case.name}: rtl/softmax.v implements exp_frac_bits="
                             f"{arith.SOFTMAX_EXP_FRAC}, recip_bits={arith.SOFTMAX_RECIP_BITS}, not {a}")

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        x, n = golden_rows(inputs[0])
        rows = x.size // n
        tin, tout = case.spec("input"), case.spec("output")
        params = parameters(nx=x.size, nrows=rows, in_bits=tin["bits"], in_signed=tin["signed"],
                            out_bits=tout["bits"], max_n=max(DEFAULT_MAX_N, n))
        lens = np.full(rows, n)
        sim_job = job(ws.dir(params), options, params, x=x, lens=lens,
                      qmax=np.full(rows, case.attrs["qmax"]), table=case.tensor("exp_table"))
        shape = np.shape(expected)

        def decode(run):
            out = read(run, x.size, tout["bits"])
            y, valid = out["output"]
            return {"output": (y.reshape(shape), valid.reshape(shape)), "last": out["last"]}

        return UnitJob(sim_job, {"output": np.asarray(expected), "last": last_flags(lens)}, decode,
                       index_names(shape) if len(shape) != 4 else ("n", "h", "row", "col"))


UNIT = Softmax()
