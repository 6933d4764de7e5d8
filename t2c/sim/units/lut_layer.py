"""The LUT unit: non-linear functions (GELU, SiLU, sigmoid, ...) on ``rtl/lut_layer.v``.

``y = table[x - x_qmin]`` (t2c.arith.lut_lookup).  Images: ``table.hex`` (the unit's ROM,
2^IN_BITS entries) and ``x.hex``; wrapper ``sim/hdl/tb_lut_layer.v`` issues one code per
cycle and dumps every output (``y.hex``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..build import Dump, SimJob
from ..compare import index_names
from ..images import read_values, write_image
from . import LayerCase, SimOptions, UnitJob, Workspace

TOP = "tb_lut_layer"


def parameters(*, nx: int, x_qmin: int, in_bits: int = 8, out_bits: int = 8, out_signed: bool = True,
               gaps: int = 0) -> dict:
    return dict(IN_BITS=in_bits, OUT_BITS=out_bits, OUT_SIGNED=int(out_signed),
                X_QMIN=int(x_qmin) & ((1 << in_bits) - 1), NX=int(nx), GAPS=gaps)


def job(build_dir: Path, options: SimOptions, params: dict, *, x, table) -> SimJob:
    """Images + SimJob for codes ``x`` through a table of 2^IN_BITS entries."""
    x, table = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (x, table))
    if table.size != 1 << params["IN_BITS"]:
        raise ValueError("the table needs 2^in_bits entries")
    if x.size != params["NX"]:
        raise ValueError("NX does not match the inputs")
    d = Path(build_dir)
    images = [write_image(d / "table.hex", table, params["OUT_BITS"], parameter="TABLE_FILE",
                          memory="u_dut.u_lut.mem", guard=False),
              write_image(d / "x.hex", x, params["IN_BITS"], parameter="X_FILE", memory="u_x.mem")]
    return SimJob("lut_layer", TOP, options.sim, d, params, images, [Dump("Y_FILE", "y.hex")],
                  2 * x.size + 64, rtl_dirs=options.rtl_dirs, waves=options.waves,
                  fast_build=options.fast_build, quiet=options.quiet)


def read(run, nx: int, out_bits: int, out_signed: bool):
    return read_values(run.job.dump_path("Y_FILE"), out_bits, out_signed, nx)


class LutLayer:
    name = "lut_layer"
    ops = ("lut",)

    def check(self, case: LayerCase, options: SimOptions) -> None:
        if case.attrs["entries"] != 1 << case.spec("input")["bits"]:
            raise ValueError(f"{case.name}: the table has {case.attrs['entries']} entries, the "
                             f"unit needs one per input code")

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        x = np.asarray(inputs[0], dtype=np.int64).reshape(-1)
        tin, tout = case.spec("input"), case.spec("output")
        params = parameters(nx=x.size, x_qmin=case.attrs["x_qmin"], in_bits=tin["bits"],
                            out_bits=tout["bits"], out_signed=tout["signed"])
        sim_job = job(ws.dir(params), options, params, x=x, table=case.tensor("table"))
        shape = np.shape(expected)

        def decode(run):
            y, valid = read(run, x.size, tout["bits"], tout["signed"])
            return {"output": (y.reshape(shape), valid.reshape(shape))}

        return UnitJob(sim_job, {"output": np.asarray(expected)}, decode, index_names(shape))


UNIT = LutLayer()
