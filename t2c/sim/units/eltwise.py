"""The element-wise unit: add, the per-input rescale of concat, and ReLU on ``rtl/eltwise.v``.

One formula per element (``t2c.arith.requantize_sum``, one shift, one rounding):
``y = clip((((a - za) * ma + (b - zb) * mb + 2^(s-1)) >> s) + zy, qmin, qmax)``; the ops
are parameter choices (:func:`add_operands`, :func:`concat_operands`, :func:`relu_operands`):

* ``add``: ``a``/``b`` the two inputs with their zero points, ``ma = m``, ``mb = residual_m``
  (per channel on the channel axis, as ``t2c.ref.apply_requant`` broadcasts them);
* ``concat``: every part alone, ``mb = 0``: ``requantize(x_i - z_i, m_i, s_i, zy, qmin,
  qmax)``, the parts back to back in one stream; the unit's outputs are split and
  concatenated along ``dim`` in Python (data movement);
* ``relu``: ``ma = 2, s = 1, mb = 0, za = zy = 0``: ``(2x + 1) >> 1 = x``, clipped to
  ``[zero_point, qmax]``.

Images (one value per element, every parameter streams with the data, so one build serves
every layer): ``a.hex``, ``b.hex`` (codes, IN_BITS + 1 bits), ``ma.hex``, ``mb.hex``,
``s.hex`` and ``z.hex`` (``{za, zb, zy, qmin, qmax}`` packed); wrapper
``sim/hdl/tb_eltwise.v`` issues one vector of LANES elements per cycle and dumps every
output (``y.hex``, signed OUT_BITS + 1 bits).  Without bubbles a run of V vectors takes
``V + 1 + LATENCY`` cycles (:func:`cycles`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..build import Dump, SimJob
from ..compare import index_names
from ..images import read_values, write_image
from . import LayerCase, SimOptions, UnitJob, Workspace

TOP = "tb_eltwise"
LATENCY = 5          # rtl/eltwise.v: valid_o 5 cycles after valid_i
SHIFT_BITS = 6
OPERANDS = ("a", "b", "za", "zb", "ma", "mb", "s", "zy", "qmin", "qmax")
RELU_M, RELU_S = 2, 1  # (2x + 1) >> 1 = x: ReLU as a requantization with scale 1


def parameters(*, nx: int, lanes: int = 1, in_bits: int = 8, out_bits: int = 8, mult_bits: int = 32,
               gaps: int = 0) -> dict:
    """HDL parameters of tb_eltwise for ``nx`` elements (a multiple of ``lanes``)."""
    if nx % lanes:
        raise ValueError(f"{nx} elements are not a whole number of {lanes}-lane vectors")
    return dict(LANES=lanes, IN_BITS=in_bits, OUT_BITS=out_bits, MULT_BITS=mult_bits,
                SHIFT_BITS=SHIFT_BITS, NVEC=nx // lanes, GAPS=gaps)


def cycles(nvec: int, gaps: int = 0, gap_seed: int = 1) -> int:
    """tb_eltwise's cycle count: the last vector issued in cycle c (tb_harness's bubble
    LFSR) is at the unit's input in c + 1, out in c + 1 + LATENCY, stored: c + 2 + LATENCY."""
    from ..harness import issue_cycles

    return int(issue_cycles(nvec, gaps, gap_seed)[-1]) + 2 + LATENCY


def port_ranges(params: dict) -> dict:
    """(lo, hi) of every operand port of a build (rtl/eltwise.v's header); ma and mb: the
    whole MULT_BITS field (its MSB is ignored: :func:`multiplier_range` is what counts)."""
    xw, qw, mb = params["IN_BITS"] + 1, params["OUT_BITS"] + 1, params["MULT_BITS"]
    x = (-(1 << (xw - 1)), (1 << (xw - 1)) - 1)
    q = (-(1 << (qw - 1)), (1 << (qw - 1)) - 1)
    m = (0, (1 << mb) - 1)
    return dict(a=x, b=x, za=x, zb=x, ma=m, mb=m, s=(0, (1 << SHIFT_BITS) - 1), zy=q, qmin=q, qmax=q)


def multiplier_range(mult_bits: int) -> dict:
    """The multipliers the unit computes with: [0, 2^(MULT_BITS-1)) (quantize_multiplier's)."""
    return dict(ma=(0, (1 << (mult_bits - 1)) - 1), mb=(0, (1 << (mult_bits - 1)) - 1))


def _outside(ops: dict, ranges: dict) -> list[str]:
    return [f"{k} {int(np.min(ops[k]))}..{int(np.max(ops[k]))} outside {lo}..{hi}"
            for k, (lo, hi) in ranges.items()
            if np.size(ops[k]) and (np.min(ops[k]) < lo or np.max(ops[k]) > hi)]


def check_fits(params: dict, ops: dict, *, layer: bool = False) -> None:
    """Raise ValueError when an operand does not fit its port (see :func:`port_ranges`);
    ``layer``: the multipliers must also be below 2^(MULT_BITS-1) (the ignored MSB)."""
    bad = _outside(ops, port_ranges(params))
    if layer:
        bad += _outside(ops, multiplier_range(params["MULT_BITS"]))
    if bad:
        raise ValueError(f"rtl/eltwise.v (IN_BITS={params['IN_BITS']}, OUT_BITS={params['OUT_BITS']}, "
                         f"MULT_BITS={params['MULT_BITS']}) cannot run this: " + "; ".join(bad))


def pack_z(za, zb, zy, qmin, qmax, params: dict) -> np.ndarray:
    """{za, zb, zy, qmin, qmax} per element, qmax in the lowest bits (tb_eltwise's Z_FILE)."""
    xw, qw = params["IN_BITS"] + 1, params["OUT_BITS"] + 1
    wide = 2 * xw + 3 * qw > 62  # Python ints beyond int64
    word = np.zeros(np.shape(za), dtype=object if wide else np.int64)
    for v, w in ((za, xw), (zb, xw), (zy, qw), (qmin, qw), (qmax, qw)):
        v = np.asarray(v, dtype=np.int64)
        word = (word << w) | (v.astype(object) if wide else v) & ((1 << w) - 1)
    return word


def job(build_dir: Path, options: SimOptions, params: dict, **ops) -> SimJob:
    """Images + SimJob for the element operands ``OPERANDS`` (arrays of NVEC * LANES
    elements, or scalars broadcast)."""
    n = params["NVEC"] * params["LANES"]
    ops = {k: np.broadcast_to(np.asarray(ops[k], dtype=np.int64), (n,)).copy() for k in OPERANDS}
    check_fits(params, ops)
    xw, mbits = params["IN_BITS"] + 1, params["MULT_BITS"]
    zw = 2 * xw + 3 * (params["OUT_BITS"] + 1)
    d = Path(build_dir)
    images = [write_image(d / "a.hex", ops["a"], xw, parameter="A_FILE", memory="u_a.mem"),
              write_image(d / "b.hex", ops["b"], xw, parameter="B_FILE", memory="u_b.mem"),
              write_image(d / "ma.hex", ops["ma"], mbits, parameter="MA_FILE", memory="u_ma.mem"),
              write_image(d / "mb.hex", ops["mb"], mbits, parameter="MB_FILE", memory="u_mb.mem"),
              write_image(d / "s.hex", ops["s"], SHIFT_BITS, parameter="S_FILE", memory="u_s.mem"),
              write_image(d / "z.hex", pack_z(*(ops[k] for k in ("za", "zb", "zy", "qmin", "qmax")),
                                              params), zw, parameter="Z_FILE", memory="u_z.mem")]
    return SimJob("eltwise", TOP, options.sim, d, params, images, [Dump("Y_FILE", "y.hex")],
                  4 * params["NVEC"] + 64, rtl_dirs=options.rtl_dirs, waves=options.waves,
                  fast_build=options.fast_build, quiet=options.quiet)


def read(run, params: dict, n: int | None = None):
    """The outputs ``(y, valid)``: signed OUT_BITS + 1-bit values (the clipped results)."""
    n = params["NVEC"] * params["LANES"] if n is None else n
    return read_values(run.job.dump_path("Y_FILE"), params["OUT_BITS"] + 1, True, n)


# ------------------------------------------------------------------ the ops' operands
def per_channel(v, shape, axis: int) -> np.ndarray:
    """A per-channel parameter broadcast over ``shape`` on ``axis``, as
    ``t2c.ref.apply_requant`` does (length 1: per tensor)."""
    v = np.asarray(v, dtype=np.int64)
    if v.size > 1:
        s = [1] * len(shape)
        s[axis] = -1
        v = v.reshape(s)
    else:
        v = v.reshape(())
    return np.broadcast_to(v, shape).reshape(-1)


def add_operands(case: LayerCase, a, b) -> tuple[dict, tuple[int, ...]]:
    """The operands of an Add layer fed ``a`` and ``b`` (broadcast to one shape), and that shape."""
    at = case.attrs
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    shape = np.broadcast_shapes(a.shape, b.shape)
    axis = 1 if a.ndim > 1 else 0  # t2c.ref._add
    ops = dict(a=np.broadcast_to(a, shape).reshape(-1), b=np.broadcast_to(b, shape).reshape(-1),
               za=at["a_zero_point"], zb=at["residual_zero_point"],
               ma=per_channel(case.tensor("m"), shape, axis),
               mb=per_channel(case.tensor("residual_m"), shape, axis),
               s=per_channel(case.tensor("s"), shape, axis),
               zy=at["out_zero_point"], qmin=at["qmin"], qmax=at["qmax"])
    return ops, tuple(shape)


def concat_operands(case: LayerCase, parts) -> tuple[dict, list[tuple[int, ...]]]:
    """The operands of a Concat layer's rescales, the parts back to back, and their shapes."""
    at = case.attrs
    zs = at["input_zero_points"]
    if len(parts) != len(zs):
        raise ValueError(f"{case.name}: {len(parts)} inputs for a concat of {len(zs)}")
    cols = {k: [] for k in ("a", "za", "ma", "s")}
    shapes = []
    for i, (x, z) in enumerate(zip(parts, zs)):
        x = np.asarray(x, dtype=np.int64)
        shapes.append(x.shape)
        cols["a"].append(x.reshape(-1))
        cols["za"].append(np.full(x.size, z, dtype=np.int64))
        cols["ma"].append(per_channel(case.tensor(f"m{i}"), x.shape, 0))  # t2c.ref._concat: axis 0
        cols["s"].append(per_channel(case.tensor(f"s{i}"), x.shape, 0))
    ops = {k: np.concatenate(v) for k, v in cols.items()}
    ops.update(b=0, zb=0, mb=0, zy=at["out_zero_point"], qmin=at["qmin"], qmax=at["qmax"])
    return ops, shapes


def relu_operands(x, zero_point: int, qmax: int) -> dict:
    """``clip(x, zero_point, qmax)`` as the unit's operands (t2c.ref._relu)."""
    return dict(a=np.asarray(x, dtype=np.int64).reshape(-1), b=0, za=0, zb=0, ma=RELU_M, mb=0,
                s=RELU_S, zy=0, qmin=zero_point, qmax=qmax)


class Eltwise:
    name = "eltwise"
    ops = ("add", "concat", "relu")

    def _operands(self, case: LayerCase, inputs):
        """(operands, output shape before concatenation, how to assemble the output)."""
        if case.op == "add":
            ops, shape = add_operands(case, inputs[0], inputs[1])
            return ops, lambda y: y.reshape(shape)
        if case.op == "concat":
            ops, shapes = concat_operands(case, inputs)
            sizes = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
            dim = case.attrs["dim"]
            return ops, lambda y: np.concatenate([p.reshape(s) for p, s in zip(np.split(y, sizes), shapes)],
                                                 axis=dim)
        x = np.asarray(inputs[0], dtype=np.int64)
        return relu_operands(x, case.attrs["zero_point"], case.attrs["qmax"]), lambda y: y.reshape(x.shape)

    def _params(self, case: LayerCase, n: int) -> dict:
        ins = [t for t in ("input", "residual") if t in case.entry["tensors"]]
        in_bits = max(case.spec(t)["bits"] for t in ins)
        return parameters(nx=n, in_bits=in_bits, out_bits=case.spec("output")["bits"])

    def check(self, case: LayerCase, options: SimOptions) -> None:
        if case.op == "concat" and len(case.attrs["input_zero_points"]) > 2:
            raise ValueError(f"{case.name}: the golden directory holds two inputs of a concat of "
                             f"{len(case.attrs['input_zero_points'])}")
        inputs = [case.tensor(t) for t in ("input", "residual") if t in case.entry["tensors"]]
        ops, _ = self._operands(case, inputs)
        check_fits(self._params(case, np.size(ops["a"])), ops, layer=True)

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        ops, assemble = self._operands(case, inputs)
        n = int(np.size(ops["a"]))
        params = self._params(case, n)
        sim_job = job(ws.dir(params), options, params, **ops)
        shape = np.shape(expected)

        def decode(run):
            y, valid = read(run, params, n)
            return {"output": (assemble(y), assemble(valid))}

        return UnitJob(sim_job, {"output": np.asarray(expected)}, decode, index_names(shape))


UNIT = Eltwise()
