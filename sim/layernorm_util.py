"""LayerNorm layers through rtl/layernorm.v (images, width checks, golden jobs).

Shared by ``sim/test_layernorm.py`` (pytest and the cocotb side) and
``vit_util.run_vit_layer`` (the runner behind ``make sim MODEL=digits-vit LAYER=...``),
in the pattern of ``sim/vit_util.py``: the rows, one packed descriptor word per row
and the per-channel gain / offset tables are written as ``$readmemh`` images into a
build directory of its own, ``simutil.build_and_test`` builds ``sim/hdl/tb_layernorm.v``
and runs the cocotb test ``layernorm_tb`` of ``sim/test_layernorm.py``.

:func:`check_fits` refuses data that does not fit the RTL's parameters (the widths
derived in the header of rtl/layernorm.v); :func:`widths` mirrors that derivation.
This module is imported inside the simulator too: no t2c / torch import at top level.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import simutil as su
import vit_util as vu

TEST_MODULE = "test_layernorm"
RTL = ("layernorm",)
R_NAME = "r.hex"
DEFAULTS = dict(max_n=256, gain_bits=16, off_bits=32, eps_bits=32)
EXTRA_CYCLES_PER_ROW = 40   # a row takes n (OUT_BITS + 3) + RW + 4 cycles (docs/vit_rtl.md)


def widths(*, in_bits: int, out_bits: int, max_n: int, gain_bits: int, off_bits: int,
           eps_bits: int, gain_shift: int) -> dict:
    """The derived widths of rtl/layernorm.v (same formulas as its localparams)."""
    nb = max(1, (max_n - 1).bit_length()) if max_n > 1 else 1   # $clog2(MAX_N)
    nw = max(1, int(max_n).bit_length())                          # $clog2(MAX_N + 1)
    ssw = 2 * in_bits + 3 * nb
    rw = (max(ssw, eps_bits) + 2) // 2
    yw = out_bits + 2
    opw = max(off_bits, yw + gain_shift) + 1
    p1w, p2w = in_bits + nb + 1 + gain_bits, opw + rw + 1
    nc = max(max(p1w, p2w) + 2, rw + gain_shift + 1) + 1
    return dict(NB=nb, NW=nw, DW=in_bits + nb + 1, SSW=ssw, RW=rw, OPW=opw, P1W=p1w, P2W=p2w,
                NUMW=max(nc, rw + out_bits + 1), DEPTH=1 << nb,
                DSW=nw + eps_bits + 3 * (out_bits + 1))


def _fits_signed(a, bits: int) -> bool:
    a = np.asarray(a, dtype=object)
    return bool(a.size == 0 or (min(a.flat) >= -(1 << (bits - 1)) and max(a.flat) < 1 << (bits - 1)))


def check_fits(*, lens, x, eps, zy, qmin, qmax, gain, offset, gain_shift: int, in_bits: int,
               in_signed: bool, out_bits: int, max_n: int, gain_bits: int, off_bits: int,
               eps_bits: int) -> None:
    """Raise ValueError when the data exceeds the widths rtl/layernorm.v is built with."""
    lens, x = np.asarray(lens), np.asarray(x)
    problems = []
    if lens.min() < 1 or lens.max() > max_n:
        problems.append(f"row lengths {lens.min()}..{lens.max()} outside 1..MAX_N={max_n}")
    if lens.max() > len(gain) or len(gain) != len(offset):
        problems.append(f"{len(gain)} gains / {len(offset)} offsets for rows of {lens.max()}")
    lo, hi = (-(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1) if in_signed else (0, (1 << in_bits) - 1)
    if x.size and (x.min() < lo or x.max() > hi):
        problems.append(f"input codes {x.min()}..{x.max()} outside {lo}..{hi}")
    if not _fits_signed(gain, gain_bits):
        problems.append(f"gain {min(gain)}..{max(gain)} does not fit GAIN_BITS={gain_bits}")
    if not _fits_signed(offset, off_bits):
        problems.append(f"offset {min(offset)}..{max(offset)} does not fit OFF_BITS={off_bits}")
    eps = np.asarray(eps, dtype=object)
    if min(eps.flat) < 0 or max(eps.flat) >= 1 << eps_bits:
        problems.append(f"eps_int {max(eps.flat)} does not fit EPS_BITS={eps_bits}")
    for name, v in (("zy", zy), ("qmin", qmin), ("qmax", qmax)):
        if not _fits_signed(v, out_bits + 1):
            problems.append(f"{name} does not fit OUT_BITS+1={out_bits + 1} bits")
    span = np.asarray(qmax, dtype=np.int64) - np.asarray(qmin, dtype=np.int64)
    if span.min() < 0 or span.max() >= 1 << out_bits:
        problems.append(f"need 0 <= qmax - qmin < 2^OUT_BITS, got {span.min()}..{span.max()}")
    if not 0 <= gain_shift <= 62:
        problems.append(f"gain_shift {gain_shift} outside 0..62")
    if problems:
        raise ValueError("rtl/layernorm.v cannot run this layer: " + "; ".join(problems))


def pack_descriptors(lens, eps, zy, qmin, qmax, *, out_bits: int, eps_bits: int) -> list[int]:
    """One word per row: {n, eps, zy, qmin, qmax} (tb_layernorm.v's D_FILE layout)."""
    qw = out_bits + 1
    m = (1 << qw) - 1
    return [(int(n) << (eps_bits + 3 * qw)) | (int(e) << 3 * qw) | ((int(z) & m) << 2 * qw)
            | ((int(a) & m) << qw) | (int(b) & m)
            for n, e, z, a, b in zip(lens, eps, zy, qmin, qmax)]


def layernorm_job(*, sim: str, test_id: str, x, lens, eps, zx, zy, qmin, qmax, gain, offset,
                  gain_shift: int, in_bits: int = 8, in_signed: bool = True, out_bits: int = 8,
                  out_signed: bool = True, max_n: int = DEFAULTS["max_n"],
                  gain_bits: int = DEFAULTS["gain_bits"], off_bits: int = DEFAULTS["off_bits"],
                  eps_bits: int = DEFAULTS["eps_bits"], expected=None, shape=None,
                  index_names=("row", "col"), gaps: int = 0, wrong: str = "",
                  seed: int | None = None, tag: str = "", stats: dict | None = None) -> dict:
    """Images + the build_and_test arguments for rows of codes through rtl/layernorm.v.

    ``x``: the rows back to back; ``lens``, ``eps``, ``zx``, ``zy``, ``qmin``, ``qmax``:
    per row (scalars are broadcast); ``gain``/``offset``: per channel (column).
    ``expected`` (e.g. a golden output) is compared instead of ``t2c.arith.layernorm_int``.
    ``stats`` (name -> int) end up in the report.
    """
    x = np.asarray(x, dtype=np.int64).reshape(-1)
    lens = np.asarray(lens, dtype=np.int64).reshape(-1)
    rows = lens.size
    eps, zx, zy, qmin, qmax = (np.broadcast_to(np.asarray(v, dtype=np.int64), (rows,)).copy()
                               for v in (eps, zx, zy, qmin, qmax))
    gain = np.asarray(gain, dtype=np.int64).reshape(-1)
    offset = np.asarray(offset, dtype=np.int64).reshape(-1)
    if lens.sum() != x.size:
        raise ValueError("row lengths do not add up to the inputs")
    check_fits(lens=lens, x=x, eps=eps, zy=zy, qmin=qmin, qmax=qmax, gain=gain, offset=offset,
               gain_shift=gain_shift, in_bits=in_bits, in_signed=in_signed, out_bits=out_bits,
               max_n=max_n, gain_bits=gain_bits, off_bits=off_bits, eps_bits=eps_bits)
    w = widths(in_bits=in_bits, out_bits=out_bits, max_n=max_n, gain_bits=gain_bits,
               off_bits=off_bits, eps_bits=eps_bits, gain_shift=gain_shift)
    params = dict(IN_BITS=in_bits, IN_SIGNED=int(in_signed), OUT_BITS=out_bits, MAX_N=max_n,
                  GAIN_BITS=gain_bits, OFF_BITS=off_bits, GAIN_SHIFT=gain_shift,
                  EPS_BITS=eps_bits, NX=int(x.size), NROWS=int(rows), GAPS=gaps)
    bdir = su.build_dir_for("layernorm", sim, test_id, dict(params, tag=tag))
    pad = w["DEPTH"] - gain.size
    desc = pack_descriptors(lens, eps, zy, qmin, qmax, out_bits=out_bits, eps_bits=eps_bits)
    files = {"GAIN_FILE": su.write_memh(bdir / "gain.hex", np.pad(gain, (0, pad)), gain_bits, guard=False),
             "OFFSET_FILE": su.write_memh(bdir / "offset.hex", np.pad(offset, (0, pad)), off_bits,
                                          guard=False),
             "X_FILE": su.write_memh(bdir / "x.hex", x, in_bits),
             "D_FILE": su.write_memh(bdir / "desc.hex", np.array(desc, dtype=object), w["DSW"])}
    exp = np.zeros(0, dtype=np.int64) if expected is None else np.asarray(expected, np.int64)
    su.save_inputs(bdir, x=x, lens=lens, eps=eps, zx=zx, zy=zy, qmin=qmin, qmax=qmax, gain=gain,
                   offset=offset, gain_shift=gain_shift, out_bits=out_bits,
                   out_signed=int(out_signed), r_bits=w["RW"], expected=exp.reshape(-1),
                   shape=np.asarray(shape if shape is not None else (x.size,), dtype=np.int64),
                   index_names=json.dumps(list(index_names)), stats=json.dumps(stats or {}))
    for f in (vu.Y_NAME, vu.L_NAME, R_NAME):
        (bdir / f).unlink(missing_ok=True)
    job = su.make_job(sim=sim, wrapper="tb_layernorm", rtl=RTL, test_module=TEST_MODULE,
                      build_dir=bdir, parameters=params, files=files,
                      outputs={"Y_FILE": vu.Y_NAME, "L_FILE": vu.L_NAME, "R_FILE": R_NAME},
                      seed=seed, wrong=wrong)
    job.update(testcase="layernorm_tb", build_args=vu._build_args(sim))
    return job


def golden_job(g, layer: str, sim: str, *, test_id: str, wrong: str = "",
               seed: int | None = None, tag: str = "") -> dict:
    """The job of one LayerNorm layer of a read golden directory ``g`` (t2c.golden)."""
    entry = g.layer(layer)
    attrs = entry["attrs"]
    tin, tout = entry["tensors"]["input"], entry["tensors"]["output"]
    x = g.tensor(layer, "input")
    y = g.tensor(layer, "output")
    n = x.shape[-1]
    names = {3: ("n", "t", "c"), 2: ("n", "c")}.get(x.ndim, tuple(f"d{i}" for i in range(x.ndim)))
    return layernorm_job(sim=sim, test_id=test_id, x=x, lens=np.full(x.size // n, n),
                         eps=attrs["eps_int"], zx=attrs["x_zero_point"], zy=attrs["out_zero_point"],
                         qmin=attrs["qmin"], qmax=attrs["qmax"], gain=g.tensor(layer, "gain"),
                         offset=g.tensor(layer, "offset"), gain_shift=attrs["gain_shift"],
                         in_bits=tin["bits"], in_signed=tin["signed"], out_bits=tout["bits"],
                         out_signed=tout["signed"], max_n=max(DEFAULTS["max_n"], n), expected=y,
                         shape=y.shape, index_names=names, wrong=wrong, seed=seed, tag=tag)


def read_outputs(bdir: Path, nx: int, out_bits: int, out_signed: bool, r_bits: int):
    """(y, y valid, last, last valid, r, r valid) from the wrapper's $writememh files."""
    y, yv = su.read_memh(bdir / vu.Y_NAME, out_bits, signed=out_signed, count=nx)
    last, lv = su.read_memh(bdir / vu.L_NAME, 1, signed=False, count=nx)
    r, rv = su.read_memh(bdir / R_NAME, r_bits, signed=False, count=nx)
    return y, yv, last, lv, r, rv
