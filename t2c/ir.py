"""IntGraph: the integer-only intermediate representation.

Every op holds integer parameters only (numpy int64 arrays and Python ints):
weights, int32-valued biases, per-channel requantization multipliers ``m`` and
shifts ``s``, zero points and clamp bounds.  The float ``scale`` of each tensor is
metadata for people (dequantizing the output, reports); no op reads it.

The arithmetic of each op is ``t2c.arith``; ``t2c.ref`` executes a graph.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from . import arith


@dataclass(frozen=True)
class TensorSpec:
    """An integer tensor: ``real = scale * (q - zero_point)``, ``q`` in ``qrange(bits, signed)``."""

    name: str
    shape: tuple[int, ...]
    bits: int
    signed: bool
    zero_point: int
    scale: float

    @property
    def qmin(self) -> int:
        return arith.qrange(self.bits, self.signed)[0]

    @property
    def qmax(self) -> int:
        return arith.qrange(self.bits, self.signed)[1]


@dataclass
class Requant:
    """``y = clip(((acc*m [+ (r - r_zp)*residual_m] + 2**(s-1)) >> s) + zero_point, qmin, qmax)``.

    ``m``, ``s`` (and ``residual_m``) are int64 arrays, one entry per output channel
    (length 1 for per-tensor).  With a residual the two products share the shift ``s``:
    one rounding for the whole sum (``t2c.arith.requantize_sum``).
    """

    m: np.ndarray
    s: np.ndarray
    zero_point: int
    qmin: int
    qmax: int
    residual_m: np.ndarray | None = None
    residual_zero_point: int = 0


@dataclass
class Op:
    """Base: ``name`` is the stable layer name; ``inputs``/``output`` are tensor names."""

    kind: ClassVar[str] = "op"
    name: str
    inputs: list[str]
    output: str

    def params(self) -> dict[str, np.ndarray]:
        """Integer parameter arrays (for golden files and memory export)."""
        return {}

    def attrs(self) -> dict:
        """Small integer attributes (for the manifest)."""
        return {}


def _requant_params(rq: Requant) -> dict[str, np.ndarray]:
    p = {"m": np.asarray(rq.m, np.int64), "s": np.asarray(rq.s, np.int64)}
    if rq.residual_m is not None:
        p["residual_m"] = np.asarray(rq.residual_m, np.int64)
    return p


def _requant_attrs(rq: Requant) -> dict:
    a = {"out_zero_point": rq.zero_point, "qmin": rq.qmin, "qmax": rq.qmax}
    if rq.residual_m is not None:
        a["residual_zero_point"] = rq.residual_zero_point
    return a


@dataclass
class _Weighted(Op):
    """Shared by Conv2d and Linear: integer weights, int32 bias, requantization."""

    weight: np.ndarray = None
    bias: np.ndarray = None
    x_zero_point: int = 0
    wbits: int = 8
    requant: Requant = None

    @property
    def reduction(self) -> int:
        """K: products summed per accumulator."""
        return int(np.prod(self.weight.shape[1:]))

    def params(self):
        return {"weight": self.weight, "bias": self.bias, **_requant_params(self.requant)}

    def attrs(self):
        return {"x_zero_point": self.x_zero_point, "wbits": self.wbits, **_requant_attrs(self.requant)}


@dataclass
class Conv2d(_Weighted):
    """Integer conv: ``acc = bias + sum((x - x_zero_point) * w)``, then ``requant``.

    ``inputs`` is ``[x]`` or ``[x, residual]``.  Padding inserts ``x_zero_point``
    (real zero).  Weights ``[Cout, Cin/groups, kh, kw]``, signed ``wbits``.
    """

    kind: ClassVar[str] = "conv"
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def attrs(self):
        base = super().attrs()
        return {"x_zero_point": base.pop("x_zero_point"), "wbits": base.pop("wbits"),
                "stride": list(self.stride), "padding": list(self.padding), "dilation": list(self.dilation),
                "groups": self.groups, "kernel": list(self.weight.shape[2:]), **base}


@dataclass
class Linear(_Weighted):
    """Integer fully connected layer over the last axis; weights ``[Cout, Cin]``."""

    kind: ClassVar[str] = "linear"


@dataclass
class Add(Op):
    """``y = requant_sum((a - a_zp) * m, (b - b_zp) * residual_m)``: one shift, one rounding."""

    kind: ClassVar[str] = "add"
    a_zero_point: int = 0
    requant: Requant = None  # residual_* describe input b

    def params(self):
        return _requant_params(self.requant)

    def attrs(self):
        return {"a_zero_point": self.a_zero_point, **_requant_attrs(self.requant)}


@dataclass
class MaxPool2d(Op):
    """Exact max over windows; padding never wins (it acts as the minimum code)."""

    kind: ClassVar[str] = "maxpool"
    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)

    def attrs(self):
        return {"kernel": list(self.kernel), "stride": list(self.stride),
                "padding": list(self.padding), "dilation": list(self.dilation)}


@dataclass
class _WindowSum(Op):
    """The fields of the average pools: windows walked by ``kernel``, ``stride``,
    ``padding`` (padding counts as real 0), ``acc = sum of (x - x_zero_point)``, then
    ``requant``.  Not an op kind itself (no ``kind`` of its own)."""

    kernel: tuple[int, int] = (2, 2)
    stride: tuple[int, int] = (2, 2)
    padding: tuple[int, int] = (0, 0)
    x_zero_point: int = 0
    requant: Requant = None

    def params(self):
        return _requant_params(self.requant)

    def attrs(self):
        return {"kernel": list(self.kernel), "stride": list(self.stride), "padding": list(self.padding),
                "x_zero_point": self.x_zero_point, **_requant_attrs(self.requant)}


@dataclass
class AvgPool2d(_WindowSum):
    """``acc = sum over the window of (x - x_zero_point)`` (padding counts as real 0),
    then ``requant`` with ``real = s_x / (kh * kw * s_y)``."""

    kind: ClassVar[str] = "avgpool"


@dataclass
class Flatten(Op):
    """Reshape ``[N, ...] -> [N, -1]`` (C, H, W order); values untouched."""

    kind: ClassVar[str] = "flatten"


@dataclass
class ReLU(Op):
    """``clip(x, zero_point, qmax)`` on an already quantized tensor (ReLU6: qmax < code max)."""

    kind: ClassVar[str] = "relu"
    zero_point: int = 0
    qmax: int = 127

    def attrs(self):
        return {"zero_point": self.zero_point, "qmax": self.qmax}


@dataclass
class Constant(Op):
    """A parameter used as a tensor (class token, position embedding): stored codes."""

    kind: ClassVar[str] = "const"
    value: np.ndarray = None

    def params(self):
        return {"value": self.value}


@dataclass
class Movement(Op):
    """Data movement (``t2c.movement``): reshape, permute, transpose, index, expand, ...

    Codes are copied, never changed.  ``args`` may hold symbolic sizes
    ``{"dim_of": tensor, "index": i}`` resolved from that tensor at run time.
    """

    kind: ClassVar[str] = "move"
    fn: str = "identity"
    args: list = field(default_factory=list)

    def attrs(self):
        return {"fn": self.fn, "args": self.args}


@dataclass
class Lut(Op):
    """``y = table[x - x_qmin]``: a non-linear function tabulated over every input code."""

    kind: ClassVar[str] = "lut"
    fn: str = ""
    table: np.ndarray = None
    x_qmin: int = 0

    def params(self):
        return {"table": self.table}

    def attrs(self):
        return {"fn": self.fn, "x_qmin": self.x_qmin, "entries": int(self.table.size)}


@dataclass
class Softmax(Op):
    """``t2c.arith.softmax_int`` over the last axis; output scale ``1 / qmax``."""

    kind: ClassVar[str] = "softmax"
    exp_table: np.ndarray = None
    qmax: int = 255

    def params(self):
        return {"exp_table": self.exp_table}

    def attrs(self):
        return {"qmax": self.qmax, "exp_frac_bits": arith.SOFTMAX_EXP_FRAC,
                "recip_bits": arith.SOFTMAX_RECIP_BITS}


@dataclass
class _TwoOperands(Op):
    """The fields of ops that combine two zero-point-removed operands, then requantize once
    (matmul, mul).  Not an op kind itself (no ``kind`` of its own)."""

    a_zero_point: int = 0
    b_zero_point: int = 0
    requant: Requant = None

    def params(self):
        return _requant_params(self.requant)

    def attrs(self):
        return {"a_zero_point": self.a_zero_point, "b_zero_point": self.b_zero_point,
                **_requant_attrs(self.requant)}


@dataclass
class MatMul(_TwoOperands):
    """Two activations: ``acc = (a - a_zp) @ (b - b_zp)`` (last two axes), then ``requant``."""

    kind: ClassVar[str] = "matmul"


@dataclass
class LayerNorm(Op):
    """``t2c.arith.layernorm_int`` over the last axis (integer mean, variance, isqrt)."""

    kind: ClassVar[str] = "layernorm"
    x_zero_point: int = 0
    gain: np.ndarray = None
    offset: np.ndarray = None
    gain_shift: int = 0
    eps_int: int = 0
    zero_point: int = 0
    qmin: int = -128
    qmax: int = 127

    def params(self):
        return {"gain": self.gain, "offset": self.offset}

    def attrs(self):
        return {"x_zero_point": self.x_zero_point, "gain_shift": self.gain_shift, "eps_int": self.eps_int,
                "out_zero_point": self.zero_point, "qmin": self.qmin, "qmax": self.qmax}


@dataclass
class Concat(Op):
    """Each input requantized to the output scale (``requants[i]``), then concatenated on ``dim``."""

    kind: ClassVar[str] = "concat"
    dim: int = 0
    input_zero_points: list = field(default_factory=list)
    requants: list = field(default_factory=list)

    def params(self):
        p = {}
        for i, rq in enumerate(self.requants):
            p.update({f"{k}{i}": v for k, v in _requant_params(rq).items()})
        return p

    def attrs(self):
        return {"dim": self.dim, "input_zero_points": self.input_zero_points,
                **_requant_attrs(self.requants[0])}


@dataclass
class Mul(_TwoOperands):
    """``y = t2c.arith.multiply(a, a_zp, b, b_zp, m, s, ...)``: the product of the
    zero-point-removed codes (numpy broadcasting), one per-tensor requantization with
    ``real = S_a S_b / S_y``.  Squeeze-excite, gating, layer scale (``b`` a Constant)."""

    kind: ClassVar[str] = "mul"


@dataclass
class Affine(Op):
    """Per-channel affine on ``axis`` (a BatchNorm that follows no conv), ``t2c.arith.affine``:
    ``y = clip((((x - zx) * m[c] + addend[c] + 2**(s[c]-1)) >> s[c]) + zy, qmin, qmax)``;
    ``requant.m`` is signed (negative for a negative BatchNorm gain)."""

    kind: ClassVar[str] = "affine"
    x_zero_point: int = 0
    addend: np.ndarray = None
    axis: int = 1
    requant: Requant = None

    def params(self):
        return {**_requant_params(self.requant), "addend": self.addend}

    def attrs(self):
        return {"x_zero_point": self.x_zero_point, "axis": self.axis, **_requant_attrs(self.requant)}


@dataclass
class AvgPoolWindows(_WindowSum):
    """Average pooling where each output window has its own divisor: the windows are
    walked as AvgPool2d's (``kernel``, ``stride``, ``padding``; padding counts as real 0),
    ``acc = sum of (x - x_zero_point)``, then ``requant`` with ``m``, ``s`` of length
    ``Ho * Wo``, one entry per output window in row-major order, the same for every channel
    (``real = S_x / (divisor[oh, ow] * S_y)``).  Adaptive pooling with unequal windows,
    ``ceil_mode``, ``count_include_pad=False`` and ``divisor_override`` lower to this
    (after a ``move`` that lays unequal windows out on a uniform grid).  The layout of
    ``rtl/pool.v``'s per-window ``(m, s)`` table (docs/pool_eltwise.md) tiled over channels."""

    kind: ClassVar[str] = "avgpool_window"


@dataclass
class ConstAdd(Op):
    """``y = clip(x + addend, qmin, qmax)``: a constant in the input's own code units (same
    scale and zero point; wider codes, so the clip only bounds the addend's range).  A
    constant added to attention logits (relative position bias, an attention mask) before
    a softmax: an integer addend, no requantization."""

    kind: ClassVar[str] = "add_const"
    addend: np.ndarray = None
    qmin: int = -128
    qmax: int = 127

    def params(self):
        return {"addend": self.addend}

    def attrs(self):
        return {"qmin": self.qmin, "qmax": self.qmax}


@dataclass
class IntGraph:
    """Integer ops in execution order plus the spec of every tensor."""

    ops: list[Op]
    tensors: dict[str, TensorSpec]
    input: str
    output: str
    meta: dict = field(default_factory=dict)

    @property
    def layer_names(self) -> list[str]:
        return [op.name for op in self.ops]

    def op(self, name: str) -> Op:
        """The op called ``name``; an unknown name lists the valid ones."""
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(f"unknown layer {name!r}; valid layers: {', '.join(self.layer_names)}")

    def quantize_input(self, x) -> np.ndarray:
        """Float input -> integer codes of the graph input (the only float step, at the boundary)."""
        spec = self.tensors[self.input]
        q = arith.round_half_up(np.asarray(x, dtype=np.float64) / spec.scale) + spec.zero_point
        return np.clip(q, spec.qmin, spec.qmax).astype(np.int64)

    def dequantize_output(self, q) -> np.ndarray:
        spec = self.tensors[self.output]
        return (np.asarray(q, dtype=np.float64) - spec.zero_point) * spec.scale

    def run(self, x, record: bool = False, gemm_path: str | None = None):
        """Execute on integer input ``x`` (see ``t2c.ref.run``)."""
        from .ref import run  # the executor lives with the reference arithmetic

        return run(self, x, record=record, gemm_path=gemm_path)


# ------------------------------------------------------------------ ops from their records
def op_classes() -> dict[str, type[Op]]:
    """Every op class by its ``kind`` (the subclasses of :class:`Op` that define one)."""
    out, todo = {}, [Op]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if "kind" in cls.__dict__ and dataclasses.is_dataclass(cls):
            out[cls.kind] = cls
    return out


def _requant_from(attrs: dict, tensor, suffix: str = "") -> Requant:
    has = tensor(f"residual_m{suffix}") is not None
    return Requant(tensor(f"m{suffix}"), tensor(f"s{suffix}"), attrs["out_zero_point"], attrs["qmin"], attrs["qmax"],
                   residual_m=tensor(f"residual_m{suffix}") if has else None,
                   residual_zero_point=attrs.get("residual_zero_point", 0) if has else 0)


def op_from_record(kind: str, name: str, inputs: list[str], output: str, attrs: dict, tensor) -> Op:
    """The op whose ``attrs()`` and ``params()`` are ``attrs`` and the arrays ``tensor(name)``
    returns (None for one it does not have): the inverse of what a golden manifest records,
    so a layer of a golden directory can be run again without the graph it came from."""
    cls = op_classes().get(kind)
    if cls is None:
        raise ValueError(f"unknown op kind {kind!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in ("name", "inputs", "output") or f.name.startswith("_"):
            continue
        if f.name == "requant":
            kwargs[f.name] = _requant_from(attrs, tensor)
        elif f.name == "requants":
            kwargs[f.name] = [_requant_from(attrs, tensor, str(i)) for i in range(len(attrs["input_zero_points"]))]
        elif f.name in attrs:
            v = attrs[f.name]
            kwargs[f.name] = tuple(v) if isinstance(f.default, tuple) and isinstance(v, list) else v
        elif f.name == "zero_point" and "out_zero_point" in attrs:
            kwargs[f.name] = attrs["out_zero_point"]
        elif (a := tensor(f.name)) is not None:
            kwargs[f.name] = a
    return cls(name=name, inputs=list(inputs), output=output, **kwargs)
