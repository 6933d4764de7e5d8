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
RTL = ("layernorm", "row_buffer", "row_counter", "divider")
R_NAME = "r.hex"
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


def layernorm_job(*, sim: str, test_id: str, x, lens, gain, offset, shift, eps, zx, zy, qmin,
                  qmax, in_bits: int = 8, in_signed: bool = True, out_bits: int = 8,
                  out_signed: bool = True, max_n: int = DEFAULTS["max_n"],
                  gain_bits: int = DEFAULTS["gain_bits"], off_bits: int = DEFAULTS["off_bits"],
                  max_shift: int = DEFAULTS["max_shift"], eps_bits: int = DEFAULTS["eps_bits"],
                  expected=None, shape=None, index_names=("row", "col"), gaps: int = 0,
                  wrong: str = "", seed: int | None = None, tag: str = "",
                  stats: dict | None = None) -> dict:
    """Images + the build_and_test arguments for rows of codes through rtl/layernorm.v.

    ``x``: the rows back to back; ``gain``/``offset``: per element (the channel's value,
    same size as ``x``); ``lens``, ``shift`` (G), ``eps``, ``zx``, ``zy``, ``qmin``,
    ``qmax``: per row (scalars are broadcast).  ``expected`` (e.g. a golden output) is
    compared instead of ``t2c.arith.layernorm_int``; ``stats`` end up in the report.
    """
    x, gain, offset = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (x, gain, offset))
    lens = np.asarray(lens, dtype=np.int64).reshape(-1)
    shift, eps, zx, zy, qmin, qmax = (np.broadcast_to(np.asarray(v, dtype=np.int64), lens.shape).copy()
                                      for v in (shift, eps, zx, zy, qmin, qmax))
    if lens.sum() != x.size or gain.size != x.size or offset.size != x.size:
        raise ValueError("row lengths, gains and offsets must match the inputs")
    cfg = dict(in_bits=in_bits, out_bits=out_bits, max_n=max_n, gain_bits=gain_bits,
               off_bits=off_bits, max_shift=max_shift, eps_bits=eps_bits)
    check_fits(lens=lens, x=x, gain=gain, offset=offset, shift=shift, eps=eps, zy=zy, qmin=qmin,
               qmax=qmax, in_signed=in_signed, **cfg)
    w = widths(**cfg)
    params = dict(IN_BITS=in_bits, IN_SIGNED=int(in_signed), OUT_BITS=out_bits, MAX_N=max_n,
                  GAIN_BITS=gain_bits, OFF_BITS=off_bits, MAX_SHIFT=max_shift, EPS_BITS=eps_bits,
                  NX=int(x.size), NROWS=int(lens.size), GAPS=gaps)
    bdir = su.build_dir_for("layernorm", sim, test_id, dict(params, tag=tag))
    files = {"X_FILE": su.write_memh(bdir / "x.hex", x, in_bits),
             "G_FILE": su.write_memh(bdir / "gain.hex", gain, gain_bits),
             "O_FILE": su.write_memh(bdir / "offset.hex", offset, off_bits),
             "D_FILE": su.write_memh(bdir / "desc.hex", pack_descriptors(
                 lens, shift, eps, zy, qmin, qmax, w, out_bits=out_bits, eps_bits=eps_bits), w["DSW"])}
    exp = np.zeros(0, dtype=np.int64) if expected is None else np.asarray(expected, np.int64)
    su.save_inputs(bdir, x=x, lens=lens, gain=gain, offset=offset, shift=shift, eps=eps, zx=zx,
                   zy=zy, qmin=qmin, qmax=qmax, out_bits=out_bits, out_signed=int(out_signed),
                   r_bits=w["RW"], expected=exp.reshape(-1),
                   shape=np.asarray(shape if shape is not None else (x.size,), dtype=np.int64),
                   index_names=json.dumps(list(index_names)), stats=json.dumps(stats or {}))
    for f in (vu.Y_NAME, vu.L_NAME, R_NAME):
        (bdir / f).unlink(missing_ok=True)
    job = su.make_job(sim=sim, wrapper="tb_layernorm", rtl=RTL, test_module=TEST_MODULE,
                      build_dir=bdir, parameters=params, files=files,
                      outputs={"Y_FILE": vu.Y_NAME, "L_FILE": vu.L_NAME, "R_FILE": R_NAME},
                      seed=seed, wrong=wrong)
    job.update(testcase="layernorm_tb")
    return job


def golden_rows(g, layer: str) -> dict:
    """One LayerNorm layer of a read golden directory ``g`` (t2c.golden) as job arguments."""
    entry = g.layer(layer)
    attrs = entry["attrs"]
    tin, tout = entry["tensors"]["input"], entry["tensors"]["output"]
    x = g.tensor(layer, "input")
    n = x.shape[-1]
    rows = x.size // n
    return dict(x=x.reshape(-1), lens=np.full(rows, n), gain=np.tile(g.tensor(layer, "gain"), rows),
                offset=np.tile(g.tensor(layer, "offset"), rows), shift=attrs["gain_shift"],
                eps=attrs["eps_int"], zx=attrs["x_zero_point"], zy=attrs["out_zero_point"],
                qmin=attrs["qmin"], qmax=attrs["qmax"], in_bits=tin["bits"],
                in_signed=tin["signed"], out_bits=tout["bits"], out_signed=tout["signed"],
                expected=g.tensor(layer, "output"))


def golden_job(g, layers, sim: str, *, test_id: str, wrong: str = "", seed: int | None = None,
               tag: str = "") -> dict:
    """The job of one or more LayerNorm layers of a read golden directory ``g``, their
    rows back to back through one build (tables and shifts ride along with the data).
    Mismatches are named by ``(n, t, c)`` (one layer) or ``(layer, n, t, c)``."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    parts = [golden_rows(g, name) for name in layers]
    fixed = ("in_bits", "in_signed", "out_bits", "out_signed")
    if any(p[k] != parts[0][k] for p in parts for k in fixed):
        raise ValueError(f"{layers}: input/output code types differ; run them one at a time")
    rows = [p["lens"].size for p in parts]
    per_row = {k: np.concatenate([np.broadcast_to(p[k], (r,)) for p, r in zip(parts, rows)])
               for k in ("lens", "shift", "eps", "zx", "zy", "qmin", "qmax")}
    per_el = {k: np.concatenate([p[k].reshape(-1) for p in parts]) for k in ("x", "gain", "offset")}
    shapes = {p["expected"].shape for p in parts}
    y = np.stack([p["expected"] for p in parts]) if len(shapes) == 1 else \
        np.concatenate([p["expected"].reshape(-1) for p in parts])
    base = {3: ("n", "t", "c"), 2: ("n", "c")}.get(parts[0]["expected"].ndim)
    if len(parts) == 1:
        y, names = y[0], base or tuple(f"d{i}" for i in range(y.ndim - 1))
    else:
        names = ("layer",) + base if base and len(shapes) == 1 else ("element",)
    n_max = int(per_row["lens"].max())
    return layernorm_job(sim=sim, test_id=test_id, **per_row, **per_el,
                         **{k: parts[0][k] for k in fixed}, max_n=max(DEFAULTS["max_n"], n_max),
                         expected=y, shape=y.shape, index_names=names, wrong=wrong, seed=seed,
                         tag=tag)


def read_outputs(bdir: Path, nx: int, out_bits: int, out_signed: bool, r_bits: int):
    """(y, y valid, last, last valid, r, r valid) from the wrapper's $writememh files."""
    y, yv = su.read_memh(bdir / vu.Y_NAME, out_bits, signed=out_signed, count=nx)
    last, lv = su.read_memh(bdir / vu.L_NAME, 1, signed=False, count=nx)
    r, rv = su.read_memh(bdir / R_NAME, r_bits, signed=False, count=nx)
    return y, yv, last, lv, r, rv
