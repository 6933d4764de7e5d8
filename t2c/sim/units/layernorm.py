"""The LayerNorm unit: integer LayerNorm rows on ``rtl/layernorm.v`` (t2c.arith.layernorm_int).

Images: ``x.hex`` (rows back to back), ``gain.hex`` / ``offset.hex`` (each element's
channel gain and offset: they ride along with the data, so layers with other tables
need no rebuild) and ``desc.hex`` (one packed descriptor word per row: n, G, eps, zy,
qmin, qmax); wrapper ``sim/hdl/tb_layernorm.v`` streams the elements and dumps every
output (``y.hex``), its ``last_o`` flag (``last.hex``) and the row's root ``r_o`` (``r.hex``).

:func:`check_fits` refuses data that does not fit the RTL's parameters (the widths
derived in the header of rtl/layernorm.v); :func:`widths` mirrors that derivation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..build import Dump, SimJob
from ..compare import index_names
from ..images import read_values, write_image
from . import LayerCase, SimOptions, UnitJob, Workspace
from .rows import golden_rows, last_flags

TOP = "tb_layernorm"
DEFAULTS = dict(max_n=256, gain_bits=16, off_bits=32, max_shift=30, eps_bits=32)
EXTRA_CYCLES_PER_ROW = 40   # a row takes n (OUT_BITS + 3) + RW + 4 cycles (docs/vit_rtl.md)


def widths(*, in_bits: int, out_bits: int, max_n: int, gain_bits: int, off_bits: int,
           max_shift: int, eps_bits: int) -> dict:
    """The derived widths of rtl/layernorm.v (same formulas as its localparams)."""
    nb = max(1, (max_n - 1).bit_length()) if max_n > 1 else 1   # $clog2(MAX_N)
    nw = max(1, int(max_n).bit_length())                          # $clog2(MAX_N + 1)
    shw = max(1, int(max_shift).bit_length())                     # $clog2(MAX_SHIFT + 1)
    ssw = 2 * in_bits + 3 * nb
    rw = (max(ssw, eps_bits) + 2) // 2
    opw = max(off_bits, out_bits + 2 + max_shift) + 1
    p1w, p2w = in_bits + nb + 1 + gain_bits, opw + rw + 1
    nc = max(max(p1w, p2w) + 2, rw + max_shift + 1) + 1
    return dict(NB=nb, NW=nw, SHW=shw, DW=in_bits + nb + 1, SSW=ssw, RW=rw, OPW=opw, P1W=p1w,
                P2W=p2w, NUMW=max(nc, rw + out_bits + 1),
                DSW=nw + shw + eps_bits + 3 * (out_bits + 1))


def _outside(a, lo: int, hi: int) -> bool:
    a = np.asarray(a, dtype=object).reshape(-1)
    return bool(a.size) and (min(a) < lo or max(a) > hi)


def check_fits(*, lens, x, gain, offset, shift, eps, zy, qmin, qmax, in_bits: int,
               in_signed: bool, out_bits: int, max_n: int, gain_bits: int, off_bits: int,
               max_shift: int, eps_bits: int) -> None:
    """Raise ValueError when the data exceeds the widths rtl/layernorm.v is built with
    (the bounds derived in its header then no longer hold)."""
    lens = np.asarray(lens)
    problems = []
    if lens.min() < 1 or lens.max() > max_n:
        problems.append(f"row lengths {lens.min()}..{lens.max()} outside 1..MAX_N={max_n}")
    lo = -(1 << (in_bits - 1)) if in_signed else 0
    checks = [("input codes", x, lo, lo + (1 << in_bits) - 1),
              ("gain", gain, -(1 << (gain_bits - 1)), (1 << (gain_bits - 1)) - 1),
              ("offset", offset, -(1 << (off_bits - 1)), (1 << (off_bits - 1)) - 1),
              ("gain_shift", shift, 0, max_shift),
              ("eps_int", eps, 0, (1 << eps_bits) - 1)]
    checks += [(name, v, -(1 << out_bits), (1 << out_bits) - 1)
               for name, v in (("zy", zy), ("qmin", qmin), ("qmax", qmax))]
    checks.append(("qmax - qmin", np.asarray(qmax, dtype=object) - np.asarray(qmin, dtype=object),
                   0, (1 << out_bits) - 1))
    problems += [f"{name} outside {lo_}..{hi_}" for name, v, lo_, hi_ in checks if _outside(v, lo_, hi_)]
    if problems:
        raise ValueError("rtl/layernorm.v (IN_BITS={}, OUT_BITS={}, MAX_N={}, GAIN_BITS={}, "
                         "OFF_BITS={}, MAX_SHIFT={}, EPS_BITS={}) cannot run this: {}".format(
                             in_bits, out_bits, max_n, gain_bits, off_bits, max_shift, eps_bits,
                             "; ".join(problems)))


def pack_descriptors(lens, shift, eps, zy, qmin, qmax, w: dict, *, out_bits: int,
                     eps_bits: int) -> np.ndarray:
    """One word per row: {n, G, eps, zy, qmin, qmax} (tb_layernorm.v's D_FILE layout)."""
    qw = out_bits + 1
    m = (1 << qw) - 1
    words = [(((int(n) << w["SHW"] | int(g)) << eps_bits | int(e)) << 3 * qw)
             | ((int(z) & m) << 2 * qw) | ((int(a) & m) << qw) | (int(b) & m)
             for n, g, e, z, a, b in zip(lens, shift, eps, zy, qmin, qmax)]
    return np.array(words, dtype=object)


def parameters(*, nx: int, nrows: int, in_bits: int = 8, in_signed: bool = True, out_bits: int = 8,
               max_n: int = DEFAULTS["max_n"], gain_bits: int = DEFAULTS["gain_bits"],
               off_bits: int = DEFAULTS["off_bits"], max_shift: int = DEFAULTS["max_shift"],
               eps_bits: int = DEFAULTS["eps_bits"], gaps: int = 0) -> dict:
    return dict(IN_BITS=in_bits, IN_SIGNED=int(in_signed), OUT_BITS=out_bits, MAX_N=max_n,
                GAIN_BITS=gain_bits, OFF_BITS=off_bits, MAX_SHIFT=max_shift, EPS_BITS=eps_bits,
                NX=int(nx), NROWS=int(nrows), GAPS=gaps)


def _cfg(params: dict) -> dict:
    return dict(in_bits=params["IN_BITS"], out_bits=params["OUT_BITS"], max_n=params["MAX_N"],
                gain_bits=params["GAIN_BITS"], off_bits=params["OFF_BITS"],
                max_shift=params["MAX_SHIFT"], eps_bits=params["EPS_BITS"])


def job(build_dir: Path, options: SimOptions, params: dict, *, x, lens, gain, offset, shift, eps,
        zy, qmin, qmax) -> SimJob:
    """Images + SimJob for rows of codes: ``x``, ``gain``, ``offset`` per element (the
    element's channel values); ``lens``, ``shift`` (G), ``eps``, ``zy``, ``qmin``, ``qmax``
    per row (scalars broadcast).  The input zero point cancels (d = n x - sum x)."""
    x, gain, offset = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (x, gain, offset))
    lens = np.asarray(lens, dtype=np.int64).reshape(-1)
    shift, eps, zy, qmin, qmax = (np.broadcast_to(np.asarray(v, dtype=np.int64), lens.shape).copy()
                                  for v in (shift, eps, zy, qmin, qmax))
    if lens.sum() != x.size or gain.size != x.size or offset.size != x.size or x.size != params["NX"]:
        raise ValueError("row lengths, gains and offsets must match the inputs")
    cfg = _cfg(params)
    check_fits(lens=lens, x=x, gain=gain, offset=offset, shift=shift, eps=eps, zy=zy, qmin=qmin,
               qmax=qmax, in_signed=bool(params["IN_SIGNED"]), **cfg)
    w = widths(**cfg)
    d = Path(build_dir)
    desc = pack_descriptors(lens, shift, eps, zy, qmin, qmax, w, out_bits=cfg["out_bits"],
                            eps_bits=cfg["eps_bits"])
    images = [write_image(d / "x.hex", x, cfg["in_bits"], parameter="X_FILE", memory="u_x.mem"),
              write_image(d / "gain.hex", gain, cfg["gain_bits"], parameter="G_FILE", memory="u_g.mem"),
              write_image(d / "offset.hex", offset, cfg["off_bits"], parameter="O_FILE", memory="u_o.mem"),
              write_image(d / "desc.hex", desc, w["DSW"], parameter="D_FILE", memory="u_d.mem")]
    max_cycles = int((cfg["out_bits"] + 5) * x.size + EXTRA_CYCLES_PER_ROW * lens.size)
    return SimJob("layernorm", TOP, options.sim, d, params, images,
                  [Dump("Y_FILE", "y.hex"), Dump("L_FILE", "last.hex"), Dump("R_FILE", "r.hex")],
                  max_cycles, rtl_dirs=options.rtl_dirs, waves=options.waves,
                  fast_build=options.fast_build, quiet=options.quiet)


def read(run, params: dict, out_signed: bool) -> dict:
    """``output`` codes, ``last`` flags and each element's row root ``r`` from the dumps."""
    nx, w = params["NX"], widths(**_cfg(params))
    return {"output": read_values(run.job.dump_path("Y_FILE"), params["OUT_BITS"], out_signed, nx),
            "last": read_values(run.job.dump_path("L_FILE"), 1, False, nx),
            "r": read_values(run.job.dump_path("R_FILE"), w["RW"], False, nx)}


def layer_rows(case: LayerCase, x) -> dict:
    """The job arguments of one LayerNorm layer fed ``x`` (its attributes and tables)."""
    a = case.attrs
    flat, n = golden_rows(x)
    rows = flat.size // n
    return dict(x=flat, lens=np.full(rows, n), gain=np.tile(case.tensor("gain"), rows),
                offset=np.tile(case.tensor("offset"), rows), shift=a["gain_shift"], eps=a["eps_int"],
                zy=a["out_zero_point"], qmin=a["qmin"], qmax=a["qmax"])


class LayerNorm:
    name = "layernorm"
    ops = ("layernorm",)

    def _params(self, case: LayerCase, nx: int, nrows: int, n: int) -> dict:
        tin, tout = case.spec("input"), case.spec("output")
        return parameters(nx=nx, nrows=nrows, in_bits=tin["bits"], in_signed=tin["signed"],
                          out_bits=tout["bits"], max_n=max(DEFAULTS["max_n"], n))

    def check(self, case: LayerCase, options: SimOptions) -> None:
        rows = layer_rows(case, case.tensor("input"))
        params = self._params(case, rows["x"].size, rows["lens"].size, int(rows["lens"][0]))
        check_fits(**{k: np.broadcast_to(v, rows["lens"].shape) if np.ndim(v) == 0 else v
                      for k, v in rows.items()}, in_signed=bool(params["IN_SIGNED"]), **_cfg(params))

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        rows = layer_rows(case, inputs[0])
        n = int(rows["lens"][0])
        params = self._params(case, rows["x"].size, rows["lens"].size, n)
        sim_job = job(ws.dir(params), options, params, **rows)
        shape = np.shape(expected)
        out_signed = case.spec("output")["signed"]

        def decode(run):
            out = read(run, params, out_signed)
            y, valid = out["output"]
            return {"output": (y.reshape(shape), valid.reshape(shape)), "last": out["last"]}

        return UnitJob(sim_job, {"output": np.asarray(expected), "last": last_flags(rows["lens"])},
                       decode, index_names(shape))


UNIT = LayerNorm()
