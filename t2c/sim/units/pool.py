"""The pooling unit: max and average pooling on ``rtl/pool.v`` (t2c.ref._maxpool / _avgpool).

The unit walks the windows itself (kernel, stride, padding, dilation from a descriptor),
reading one input code per tap from a memory and, per window, its ``(m, s)`` from a table:
per channel (an AvgPool2d layer) or per output window (``PoolDesc.per_window``: each window
its own divisor, as adaptive average pooling with unequal windows needs).  Max pooling:
the max of the window's real taps (padding never wins); average pooling:
``requantize(sum of (x - zx) over the window, m, s, zy, qmin, qmax)``, padding counting 0.

Images: ``desc.hex`` (one packed descriptor per job: several jobs run back to back in one
simulation, e.g. a test's many geometries on one build), ``x.hex`` (every job's maps at
its ``x_base``), ``p.hex`` (``{m, s}`` entries from each job's ``p_base``); wrapper
``sim/hdl/tb_pool.v`` dumps every output window (``y.hex``, signed OUT_BITS + 1 bits) and
its ``last_o`` flag (``last.hex``: 1 on each job's last window).  Cycles: :func:`cycles`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ... import arith
from ..build import Dump, SimJob
from ..compare import index_names
from ..images import read_values, write_image
from . import LayerCase, SimOptions, UnitJob, Workspace

TOP = "tb_pool"
LATENCY = 5            # rtl/pool.v: a window is on y_o 5 cycles after its last tap is issued
JOB_GAP = 2            # tb_pool: the next job's start_i 2 cycles after the last tap (busy_o low)
AW = 32                # tb_pool's address width
SHIFT_BITS = 6
DEFAULTS = dict(in_bits=8, out_bits=8, accw=32, mult_bits=32, dimw=16)
GEOMETRY = ("c", "h", "w", "ho", "wo", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw")


def out_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """Output length of a pooled axis: floor((n + 2p - d (k - 1) - 1) / s) + 1 (PyTorch, floor mode)."""
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


@dataclass(frozen=True)
class PoolDesc:
    """One pooling job: C maps of H x W codes at ``x_base``, its (m, s) table at ``p_base``."""

    avg: bool
    in_signed: bool
    c: int
    h: int
    w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    per_window: bool = False
    x_base: int = 0
    p_base: int = 0
    zx: int = 0
    zy: int = 0
    qmin: int = 0
    qmax: int = 0

    @property
    def ho(self) -> int:
        return out_size(self.h, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0])

    @property
    def wo(self) -> int:
        return out_size(self.w, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1])

    @property
    def windows(self) -> int:
        return self.c * self.ho * self.wo

    @property
    def taps(self) -> int:
        return self.windows * self.kernel[0] * self.kernel[1]

    @property
    def table_size(self) -> int:
        """(m, s) entries the job reads: one per window, or one per channel."""
        return self.windows if self.per_window else self.c

    def fields(self) -> dict:
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel, self.stride, self.padding, self.dilation
        return dict(c=self.c, h=self.h, w=self.w, ho=self.ho, wo=self.wo, kh=kh, kw=kw, sh=sh, sw=sw,
                    ph=ph, pw=pw, dh=dh, dw=dw)


def padding_only_windows(d: PoolDesc) -> int:
    """Windows of one channel whose taps are all padding (max pooling has no value there)."""
    def real(n, k, s, p, dil, no):
        start = np.arange(no)[:, None] * s - p + np.arange(k)[None, :] * dil
        return ((start >= 0) & (start < n)).any(axis=1)

    rows = real(d.h, d.kernel[0], d.stride[0], d.padding[0], d.dilation[0], d.ho)
    cols = real(d.w, d.kernel[1], d.stride[1], d.padding[1], d.dilation[1], d.wo)
    return int((~(rows[:, None] & cols[None, :])).sum())


def check_fits(d: PoolDesc, params: dict) -> None:
    """Raise ValueError when a job does not fit the build (rtl/pool.v's header)."""
    dimw, in_bits, out_bits = params["DIMW"], params["IN_BITS"], params["OUT_BITS"]
    problems = []
    f = d.fields()
    top = (1 << dimw) - 1
    for k, v in f.items():
        lo = 0 if k in ("ph", "pw") else 1
        if not lo <= v <= top:
            problems.append(f"{k} = {v} outside {lo}..{top}")
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = d.kernel, d.stride, d.padding, d.dilation
    if max((d.ho - 1) * sh - ph + (kh - 1) * dh, (d.wo - 1) * sw - pw + (kw - 1) * dw) >= 1 << (dimw + 1):
        problems.append("tap coordinates beyond the DIMW + 2-bit signed range")
    if d.x_base + d.c * d.h * d.w > 1 << AW or d.p_base + d.table_size > 1 << AW:
        problems.append("addresses beyond 2^32")
    xlo, xhi = arith.qrange(in_bits + 1, True)
    qlo, qhi = arith.qrange(out_bits + 1, True)
    if not xlo <= d.zx <= xhi:
        problems.append(f"zx = {d.zx} outside {xlo}..{xhi}")
    for k in ("zy", "qmin", "qmax"):
        if not qlo <= getattr(d, k) <= qhi:
            problems.append(f"{k} = {getattr(d, k)} outside {qlo}..{qhi}")
    if d.avg:
        clo, chi = arith.qrange(in_bits, d.in_signed)
        dx = max(chi - d.zx, d.zx - clo)
        if kh * kw * dx > (1 << (params["ACCW"] - 1)) - 1:
            problems.append(f"window sums up to {kh * kw * dx} do not fit ACCW = {params['ACCW']}")
    else:
        if out_bits < in_bits:
            problems.append("max pooling outputs the input codes: OUT_BITS < IN_BITS")
        if d.ho >= 1 and d.wo >= 1 and padding_only_windows(d):
            problems.append(f"{padding_only_windows(d)} windows per channel are all padding")
    if problems:
        raise ValueError("rtl/pool.v (IN_BITS={}, OUT_BITS={}, ACCW={}, DIMW={}) cannot run {}: {}".format(
            in_bits, out_bits, params["ACCW"], dimw, d, "; ".join(problems)))


def layout(jobs) -> tuple[list[PoolDesc], np.ndarray, np.ndarray, np.ndarray]:
    """Several jobs ``(desc, maps [C, H, W], m [table_size], s [table_size])`` back to back:
    (descriptors with their ``x_base`` / ``p_base``, X image, m and s tables)."""
    descs, xs, ms, ss = [], [], [], []
    xb = pb = 0
    for d, x, m, s in jobs:
        x = np.asarray(x, dtype=np.int64).reshape(-1)
        m, s = (np.broadcast_to(np.asarray(v, dtype=np.int64), (d.table_size,)) for v in (m, s))
        if x.size != d.c * d.h * d.w:
            raise ValueError(f"{x.size} codes for {d.c} maps of {d.h} x {d.w}")
        descs.append(replace(d, x_base=xb, p_base=pb))
        xs.append(x)
        ms.append(m)
        ss.append(s)
        xb, pb = xb + x.size, pb + d.table_size
    return descs, np.concatenate(xs), np.concatenate(ms), np.concatenate(ss)


def parameters(*, njobs: int, nx: int, np_: int, nout: int, in_bits: int = DEFAULTS["in_bits"],
               out_bits: int = DEFAULTS["out_bits"], accw: int = DEFAULTS["accw"],
               mult_bits: int = DEFAULTS["mult_bits"], dimw: int = DEFAULTS["dimw"], gaps: int = 0) -> dict:
    return dict(IN_BITS=in_bits, OUT_BITS=out_bits, ACCW=accw, MULT_BITS=mult_bits, SHIFT_BITS=SHIFT_BITS,
                DIMW=dimw, NJOBS=int(njobs), NX=int(nx), NP=int(np_), NOUT=int(nout), GAPS=gaps)


def build_parameters(descs, x, m, *, gaps: int = 0, **widths) -> dict:
    """parameters() for a layout's descriptors, X image and table."""
    return parameters(njobs=len(descs), nx=np.size(x), np_=np.size(m), nout=sum(d.windows for d in descs),
                      gaps=gaps, **widths)


def pack_descriptors(descs, params: dict) -> np.ndarray:
    """tb_pool's D_FILE words: {avg, in_signed, per_window, geometry (DIMW each), x_base,
    p_base (32 bits each), zx, zy, qmin, qmax}, qmax in the lowest bits."""
    dimw, xw, qw = params["DIMW"], params["IN_BITS"] + 1, params["OUT_BITS"] + 1
    words = []
    for d in descs:
        fields = [(int(d.avg), 1), (int(d.in_signed), 1), (int(d.per_window), 1)]
        fields += [(v, dimw) for v in d.fields().values()]
        fields += [(d.x_base, AW), (d.p_base, AW), (d.zx, xw), (d.zy, qw), (d.qmin, qw), (d.qmax, qw)]
        word = 0
        for v, w in fields:
            word = (word << w) | (int(v) & ((1 << w) - 1))
        words.append(word)
    return np.array(words, dtype=object)


def descriptor_bits(params: dict) -> int:
    return 3 + 13 * params["DIMW"] + 2 * AW + params["IN_BITS"] + 1 + 3 * (params["OUT_BITS"] + 1)


def cycles(descs, gaps: int = 0, gap_seed: int = 1) -> int:
    """tb_pool's cycle count.  Job k's start_i is in cycle T (T = 1 for the first job); its
    taps are issued in the first N_k cycles after T without a stall (tb_harness's bubbles:
    ``issue_cycles``), the last in cycle t; busy_o is low from t + 1, so the next start is in
    t + JOB_GAP; the last job's last window is on y_o in t + LATENCY and stored: cycles =
    t + LATENCY + 1.  Without bubbles: sum(N_k + 2) + 5."""
    from ..harness import issue_cycles

    total = sum(d.taps for d in descs)
    free = issue_cycles(total + 3 * len(descs) + 16, gaps, gap_seed)
    start, t = 1, 0
    for d in descs:
        k = int(np.searchsorted(free, start + 1))
        t = int(free[k + d.taps - 1])
        start = t + JOB_GAP
    return t + LATENCY + 1


def job(build_dir: Path, options: SimOptions, params: dict, *, descs, x, m, s) -> SimJob:
    """Images + SimJob for laid-out jobs (:func:`layout`)."""
    x, m, s = (np.asarray(a, dtype=np.int64).reshape(-1) for a in (x, m, s))
    for d in descs:
        check_fits(d, params)
    if x.size != params["NX"] or m.size != params["NP"] or s.size != m.size or len(descs) != params["NJOBS"]:
        raise ValueError("the images do not match NX / NP / NJOBS")
    mb = params["MULT_BITS"]
    if m.size and (m.min() < 0 or m.max() >= 1 << mb or s.min() < 0 or s.max() >= 1 << SHIFT_BITS):
        raise ValueError(f"m must fit {mb} bits unsigned and s {SHIFT_BITS} bits")
    pw = mb + SHIFT_BITS
    p = (m.astype(object) << SHIFT_BITS) | s.astype(object) if pw > 62 else (m << SHIFT_BITS) | s
    d = Path(build_dir)
    images = [write_image(d / "desc.hex", pack_descriptors(descs, params), descriptor_bits(params),
                          parameter="D_FILE", memory="u_d.mem"),
              write_image(d / "x.hex", x, params["IN_BITS"], parameter="X_FILE", memory="u_x.mem"),
              write_image(d / "p.hex", p, pw, parameter="P_FILE", memory="u_p.mem")]
    taps = sum(dd.taps for dd in descs)
    return SimJob("pool", TOP, options.sim, d, params, images,
                  [Dump("Y_FILE", "y.hex"), Dump("L_FILE", "last.hex")],
                  2 * taps + 8 * len(descs) + 64, rtl_dirs=options.rtl_dirs, waves=options.waves,
                  fast_build=options.fast_build, quiet=options.quiet)


def read(run, params: dict) -> dict:
    """``output`` values (signed OUT_BITS + 1 bits) and ``last`` flags from the dumps."""
    n = params["NOUT"]
    return {"output": read_values(run.job.dump_path("Y_FILE"), params["OUT_BITS"] + 1, True, n),
            "last": read_values(run.job.dump_path("L_FILE"), 1, False, n)}


def last_flags(descs) -> np.ndarray:
    """1 on every job's last window (what last_o must say), else 0."""
    flags = np.zeros(sum(d.windows for d in descs), dtype=np.int64)
    flags[np.cumsum([d.windows for d in descs]) - 1] = 1
    return flags


# ------------------------------------------------------------------ a layer as one job
def layer_job(case: LayerCase, x) -> tuple[PoolDesc, np.ndarray, np.ndarray, np.ndarray]:
    """The job of a MaxPool2d / AvgPool2d layer fed ``x`` [N, C, H, W]: N * C maps, the
    layer's per-channel (m, s) as a per-channel table (max pooling: a table of zeros)."""
    a = case.attrs
    x = np.asarray(x, dtype=np.int64)
    n, c, h, w = x.shape
    avg = case.op == "avgpool"
    d = PoolDesc(avg=avg, in_signed=bool(case.spec("input")["signed"]), c=n * c, h=h, w=w,
                 kernel=tuple(a["kernel"]), stride=tuple(a["stride"]), padding=tuple(a["padding"]),
                 dilation=tuple(a.get("dilation", (1, 1))), zx=a.get("x_zero_point", 0),
                 zy=a.get("out_zero_point", 0), qmin=a.get("qmin", 0), qmax=a.get("qmax", 0))
    if avg:
        m, s = (np.tile(np.broadcast_to(case.tensor(k).reshape(-1), (c,)), n) for k in ("m", "s"))
    else:
        m, s = np.zeros(n * c, dtype=np.int64), np.ones(n * c, dtype=np.int64)
    return d, x, m, s


class Pool:
    name = "pool"
    ops = ("maxpool", "avgpool")

    def _params(self, case: LayerCase, descs, x, m) -> dict:
        return build_parameters(descs, x, m, in_bits=case.spec("input")["bits"],
                                out_bits=case.spec("output")["bits"])

    def check(self, case: LayerCase, options: SimOptions) -> None:
        descs, x, m, s = layout([layer_job(case, case.tensor("input"))])
        if m.max(initial=0) >= 1 << (DEFAULTS["mult_bits"] - 1):
            raise ValueError(f"{case.name}: multipliers must be below 2^{DEFAULTS['mult_bits'] - 1}")
        check_fits(descs[0], self._params(case, descs, x, m))

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        descs, x, m, s = layout([layer_job(case, inputs[0])])
        params = self._params(case, descs, x, m)
        sim_job = job(ws.dir(params), options, params, descs=descs, x=x, m=m, s=s)
        shape = np.shape(expected)

        def decode(run):
            out = read(run, params)
            y, valid = out["output"]
            return {"output": (y.reshape(shape), valid.reshape(shape)), "last": out["last"]}

        return UnitJob(sim_job, {"output": np.asarray(expected), "last": last_flags(descs)}, decode,
                       index_names(shape))


UNIT = Pool()
