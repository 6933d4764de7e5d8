"""Corner stimulus: crafted cases of a layer that reach the arithmetic corners its model
case misses (t2c.coverage says which).

A *variant* of a layer is the same op with the same geometry (shapes, kernel, stride,
padding, groups, bit widths, signedness, a fused residual or ReLU) and crafted parameters
and inputs, so any unit that accepts the layer accepts its variants.  Crafted parameters
stay within what the converter produces for a layer of that kind: multipliers and shifts
that ``t2c.arith.quantize_multiplier`` yields for some real scale (0.5, 1 and 2^29 here),
zero points within the operand's code range, symmetric weights within ``wbits``, biases
within ``t2c.arith.bias_limit``, LayerNorm gains, offsets and epsilons that some gamma,
beta and eps give.  Each variant's expected output is the reference's (``t2c.ref.run_op``).

The recipes, per op family (docs/coverage.md):

* requantizing ops: ``zp<i>``, the operands' and the output's zero points walked over
  negative, zero, positive and both ends of their ranges, with inputs near the zero point
  and a multiplier of 1/2, so that every odd sum is a visible tie of either sign; ``sat``, a
  multiplier of 2^29 on inputs over the whole range (both ends saturate, and the value
  before the clamp leaves int32); ``qmax`` and
  ``qmin``, a multiplier of 1 and the output zero point chosen so that an output lands on
  the end exactly;
* conv and linear: ``extreme`` (every input at the end farthest from the zero point,
  each output channel's weights all +max or all -max: accumulators at 99% of the bound of
  either sign), ``corners`` (inputs and weights alternating between their ends: the four
  products), ``bias`` (zero weights, biases at +-``bias_limit``);
* matmul: ``extreme`` and ``corners`` on both operands;
* element-wise add: ``ends``, both inputs at the ends of their ranges;
* max pooling: ``lowest`` (every code the lowest: padded windows whose real codes are all
  the lowest, and ties for the maximum);
* LUT: ``addresses``, every table address (split over variants when the tensor is small);
* softmax: ``rows``, a row of equal codes, one dominant element, the maximum first and
  last, a row of the lowest code;
* LayerNorm: ``rows`` (a constant row, the largest variance), ``sqrt`` and ``sqrt-1`` (an
  epsilon that makes the constant row's root argument an exact square, and one less),
  ``ties`` (gain 0 and odd offsets: every division a tie, both signs).

``--stimulus random --samples N --seed S`` adds N variants with the layer's own parameters
and inputs drawn uniformly over each operand's code range.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from . import arith
from .coverage import observing
from .ir import TensorSpec

KINDS = ("corners", "random")


@dataclass
class Variant:
    op: object
    inputs: list[np.ndarray]
    acc: np.ndarray | None
    output: np.ndarray
    in_specs: list[TensorSpec]
    out_spec: TensorSpec


@dataclass
class Stimulus:
    """Which variants ``t2c golden --stimulus`` writes beside each layer."""

    kind: str = "corners"
    samples: int = 4      # random: variants per layer
    seed: int = 0
    multiplier_bits: int = 32

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown stimulus {self.kind!r}: one of {', '.join(KINDS)}")

    def describe(self) -> dict:
        return {"kind": self.kind, **({"samples": self.samples, "seed": self.seed} if self.kind == "random" else {})}

    def variants(self, op, inputs, in_specs, out_spec) -> list[Variant]:
        if op.kind not in RECIPES:
            return []
        rng = np.random.default_rng([self.seed, *map(ord, op.name)])
        ctx = Context(op, [np.asarray(x, np.int64) for x in inputs], list(in_specs), out_spec, rng,
                      self.multiplier_bits)
        cases = random_cases(ctx, self.samples) if self.kind == "random" else RECIPES[op.kind](ctx)
        return [_finish(op, suffix, new_op, ins, specs, out) for suffix, new_op, ins, specs, out in cases]


def _finish(op, suffix: str, new_op, inputs, in_specs, out_spec) -> Variant:
    from .ref import run_op

    new_op = dataclasses.replace(new_op, name=f"{op.name}~{suffix}")
    acc, out, _ = run_op(new_op, inputs)
    return Variant(new_op, inputs, acc, np.asarray(out), in_specs, out_spec)


@dataclass
class Context:
    op: object
    inputs: list[np.ndarray]
    in_specs: list[TensorSpec]
    out_spec: TensorSpec
    rng: np.random.Generator
    multiplier_bits: int

    def half(self) -> tuple[int, int]:
        return arith.quantize_multiplier(0.5, self.multiplier_bits)

    def unit(self) -> tuple[int, int]:
        return arith.quantize_multiplier(1.0, self.multiplier_bits)

    def large(self) -> tuple[int, int]:
        """A real scale of 2^(bits-3), 2^29 for 32-bit multipliers (shift 2): sums far beyond int32."""
        return arith.quantize_multiplier(2.0 ** (self.multiplier_bits - 3), self.multiplier_bits)

    def uniform(self, spec: TensorSpec, shape) -> np.ndarray:
        return self.rng.integers(spec.qmin, spec.qmax, size=shape, endpoint=True)

    def near(self, spec: TensorSpec, zero_point: int, shape, spread: int = 2) -> np.ndarray:
        return np.clip(zero_point + self.rng.integers(-spread, spread, size=shape, endpoint=True),
                       spec.qmin, spec.qmax)


# ====================================================================== zero points and requantization
def zero_point_walk(spec: TensorSpec) -> list[int]:
    """Zero points over the operand's code range: both ends, negative, zero, positive."""
    lo, hi = spec.qmin, spec.qmax
    walk = [lo, hi, 0, (hi + 1) // 2] + ([lo // 2] if lo < 0 else [])
    return list(dict.fromkeys(int(v) for v in walk))


def input_zero_points(op) -> list[int]:
    """The zero point of each input, in input order."""
    if op.kind == "concat":
        return list(op.input_zero_points)
    if op.kind in ("matmul", "mul"):
        return [op.a_zero_point, op.b_zero_point]
    if op.kind == "add":
        return [op.a_zero_point, op.requant.residual_zero_point]
    zx = [op.x_zero_point] if hasattr(op, "x_zero_point") else []
    rq = getattr(op, "requant", None)
    return zx + ([rq.residual_zero_point] if rq is not None and rq.residual_m is not None else [])


def with_zero_points(op, zps: list[int], zy: int | None):
    """``op`` with input zero points ``zps`` and output zero point ``zy`` (a fused ReLU,
    ``qmin == zero point``, moves with it)."""
    if op.kind == "concat":
        rqs = [_requant_zy(rq, zy) for rq in op.requants]
        return dataclasses.replace(op, input_zero_points=list(zps), requants=rqs)
    if op.kind in ("matmul", "mul"):
        return dataclasses.replace(op, a_zero_point=zps[0], b_zero_point=zps[1], requant=_requant_zy(op.requant, zy))
    if op.kind == "add":
        rq = dataclasses.replace(_requant_zy(op.requant, zy), residual_zero_point=zps[1])
        return dataclasses.replace(op, a_zero_point=zps[0], requant=rq)
    if op.kind == "layernorm":
        relu = op.qmin == op.zero_point
        zy = op.zero_point if zy is None else zy
        return dataclasses.replace(op, x_zero_point=zps[0], zero_point=zy, qmin=zy if relu else op.qmin)
    rq = _requant_zy(op.requant, zy)
    if len(zps) > 1:
        rq = dataclasses.replace(rq, residual_zero_point=zps[1])
    return dataclasses.replace(op, x_zero_point=zps[0], requant=rq)


def _requant_zy(rq, zy):
    if zy is None:
        return rq
    relu = rq.qmin == rq.zero_point
    return dataclasses.replace(rq, zero_point=zy, qmin=zy if relu else rq.qmin)


def with_multiplier(op, ms: tuple[int, int]):
    """Every multiplier of ``op`` (and the residual's) set to ``m`` with shift ``s``."""
    m, s = ms

    def set_rq(rq):
        full = lambda a: np.full(np.shape(a), m, np.int64)  # noqa: E731
        return dataclasses.replace(rq, m=full(rq.m), s=np.full(np.shape(rq.s), s, np.int64),
                                   residual_m=None if rq.residual_m is None else full(rq.residual_m))

    if op.kind == "concat":
        return dataclasses.replace(op, requants=[set_rq(rq) for rq in op.requants])
    return dataclasses.replace(op, requant=set_rq(op.requant))


def _specs(ctx: Context, zps: list[int], zy: int | None):
    ins = [dataclasses.replace(s, zero_point=int(z)) for s, z in zip(ctx.in_specs, zps)] + ctx.in_specs[len(zps):]
    out = ctx.out_spec if zy is None else dataclasses.replace(ctx.out_spec, zero_point=int(zy))
    return ins, out


def _output_zero_point(op) -> int:
    if op.kind == "layernorm":
        return op.zero_point
    return (op.requants[0] if op.kind == "concat" else op.requant).zero_point


def requant_cases(ctx: Context, small=lambda op: op) -> list[tuple]:
    """zp<i>, sat, qmax and qmin (module docstring) for any requantizing op; ``small(op)``
    gives the op its small-sum parameters for the zp and landing cases (conv and linear:
    weights of -1, 0, 1)."""
    op, cases = small(ctx.op), []
    walks = [zero_point_walk(s) for s in ctx.in_specs[:len(input_zero_points(op))]]
    out_walk = zero_point_walk(ctx.out_spec)
    n = max(len(out_walk), *(len(w) for w in walks)) if walks else len(out_walk)
    middle = (ctx.out_spec.qmin + ctx.out_spec.qmax + 1) // 2
    steps = [([w[i % len(w)] for w in walks], out_walk[(i + 2) % len(out_walk)]) for i in range(n)]
    steps.append((input_zero_points(op), middle))  # mid-range output: visible ties of both signs
    for i, (zps, zy) in enumerate(steps):
        new = with_multiplier(with_zero_points(op, zps, zy), ctx.half())
        ins = [ctx.near(s, z, x.shape) for s, z, x in zip(ctx.in_specs, zps, ctx.inputs)] + ctx.inputs[len(zps):]
        cases.append((f"zp{i}" if i < n else "ties", new, ins, *_specs(ctx, zps, zy)))
    # mid-range input zero points: sums of both signs, even where the model's inputs are unsigned
    zps = [(s.qmin + s.qmax + 1) // 2 for s in ctx.in_specs[:len(input_zero_points(ctx.op))]]
    ins = [ctx.uniform(s, x.shape) for s, x in zip(ctx.in_specs, ctx.inputs)]
    sat = with_multiplier(with_zero_points(ctx.op, zps, None), ctx.large())
    cases.append(("sat", sat, ins, *_specs(ctx, zps, None)))
    cases += _landing_cases(ctx, op, ins)
    return cases


def _landing_cases(ctx: Context, op, ins) -> list[tuple]:
    """qmax and qmin: a multiplier of 1 and the output zero point chosen so that one
    element's output is exactly the end (the pre-shift values observed, then placed)."""
    from .ref import run_op

    op = with_multiplier(op, ctx.unit())
    zps = input_zero_points(op)
    small = [ctx.near(s, z, x.shape, spread=1) for s, z, x in zip(ctx.in_specs, zps, ins)] + list(ins[len(zps):])
    with observing() as events:
        run_op(op, small)
    u = np.concatenate([((v["total"] + (np.int64(1) << (v["s"] - 1))) >> v["s"]).reshape(-1)
                        for e, v in events if e == "requant"])
    spec, rq = ctx.out_spec, (op.requants[0] if op.kind == "concat" else op.requant)
    relu = rq.qmin == rq.zero_point
    out = []
    for name, end in (("qmax", rq.qmax), ("qmin", rq.qmin)):
        if name == "qmin" and relu:
            zy = _output_zero_point(op)  # ReLU: the lowest output is the zero point, reached by any u <= 0
        else:
            fits = u[(end - u >= spec.qmin) & (end - u <= spec.qmax)]
            if not fits.size:
                continue
            zy = int(end - fits[0])
        out.append((name, with_zero_points(op, zps, zy), small, *_specs(ctx, zps, zy)))
    return out


# ====================================================================== MAC ops
def _extreme_end(spec: TensorSpec, zero_point: int) -> int:
    return spec.qmax if spec.qmax - zero_point >= zero_point - spec.qmin else spec.qmin


def weighted_cases(ctx: Context) -> list[tuple]:
    """requant_cases plus extreme, corners and bias for conv and linear."""
    op, x = ctx.op, ctx.inputs[0]
    spec, zx = ctx.in_specs[0], op.x_zero_point
    whi = (1 << (op.wbits - 1)) - 1
    small = dataclasses.replace(op, weight=ctx.rng.integers(-1, 1, size=op.weight.shape, endpoint=True),
                                bias=ctx.rng.integers(-4, 4, size=op.bias.shape, endpoint=True))
    cases = requant_cases(ctx, lambda _: small)
    sign = np.where(np.arange(op.weight.shape[0]) % 2 == 0, 1, -1).reshape(-1, *([1] * (op.weight.ndim - 1)))
    rest = ctx.inputs[1:]
    extreme = dataclasses.replace(op, weight=np.broadcast_to(sign * whi, op.weight.shape).copy(),
                                  bias=np.zeros_like(op.bias))
    cases.append(("extreme", extreme, [np.full_like(x, _extreme_end(spec, zx)), *rest], ctx.in_specs, ctx.out_spec))
    checker = (np.indices(x.shape).sum(axis=0) % 2).astype(bool)
    w = np.where(ctx.rng.integers(0, 2, size=op.weight.shape).astype(bool), whi, -whi)
    cases.append(("corners", dataclasses.replace(op, weight=w), [np.where(checker, spec.qmax, spec.qmin), *rest],
                  ctx.in_specs, ctx.out_spec))
    limit = arith.bias_limit(op.reduction, spec.bits, spec.signed, zx, op.wbits)
    bias = np.where(np.arange(op.bias.size) % 2 == 0, limit, -limit).reshape(op.bias.shape)
    # the largest multiplier on these accumulators, |acc * m| near 2^62: with a shift of
    # bits - 1 (real 1 - 2^-(bits-1)), and with the largest shift (the rounding term 2^61)
    bits = ctx.multiplier_bits
    m_top = (1 << (bits - 1)) - 1
    for suffix, shift in (("", bits - 1), ("-shift", arith.MAX_SHIFT)):
        ms = arith.quantize_multiplier(m_top * 2.0 ** -shift, bits)
        biased = with_multiplier(dataclasses.replace(op, weight=np.zeros_like(op.weight), bias=bias), ms)
        cases.append((f"bias{suffix}", biased, ctx.inputs, ctx.in_specs, ctx.out_spec))
    return cases


def product_ends(sa: TensorSpec, za: int, sb: TensorSpec, zb: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The codes (a, b) whose product (a - za)(b - zb) is the largest, and the most negative."""
    combos = [(a, b) for a in (sa.qmin, sa.qmax) for b in (sb.qmin, sb.qmax)]
    prod = lambda ab: (ab[0] - za) * (ab[1] - zb)  # noqa: E731
    return max(combos, key=prod), min(combos, key=prod)


def matmul_cases(ctx: Context) -> list[tuple]:
    op = ctx.op
    (sa, sb), (a, b) = ctx.in_specs[:2], ctx.inputs[:2]
    cases = requant_cases(ctx)
    for sign, (ea, eb) in zip("+-", product_ends(sa, op.a_zero_point, sb, op.b_zero_point)):
        cases.append((f"extreme{sign}", op, [np.full_like(a, ea), np.full_like(b, eb)], ctx.in_specs, ctx.out_spec))
    flip = [np.where((np.indices(t.shape).sum(axis=0) % 2).astype(bool), s.qmax, s.qmin)
            for t, s in ((a, sa), (b, sb))]
    flip[1] = np.where(ctx.rng.integers(0, 2, size=b.shape).astype(bool), sb.qmax, sb.qmin)
    cases.append(("corners", op, flip, ctx.in_specs, ctx.out_spec))
    return cases


def add_cases(ctx: Context) -> list[tuple]:
    ends = [np.where(ctx.rng.integers(0, 2, size=x.shape).astype(bool), s.qmax, s.qmin)
            for x, s in zip(ctx.inputs, ctx.in_specs)]
    return requant_cases(ctx) + [("ends", ctx.op, ends, ctx.in_specs, ctx.out_spec)]


# ====================================================================== the other families
def maxpool_cases(ctx: Context) -> list[tuple]:
    x, spec = ctx.inputs[0], ctx.in_specs[0]
    return [("lowest", ctx.op, [np.full_like(x, spec.qmin)], ctx.in_specs, ctx.out_spec),
            ("uniform", ctx.op, [ctx.uniform(spec, x.shape)], ctx.in_specs, ctx.out_spec)]


def lut_cases(ctx: Context) -> list[tuple]:
    op, x = ctx.op, ctx.inputs[0]
    codes = np.arange(op.x_qmin, op.x_qmin + op.table.size, dtype=np.int64)
    cases = []
    for i, start in enumerate(range(0, codes.size, x.size)):
        part = codes[start:start + x.size]
        filled = np.resize(part, x.size).reshape(x.shape)
        cases.append((f"addresses{i}", op, [filled], ctx.in_specs, ctx.out_spec))
    return cases


def _row_cases(ctx: Context, rows: list[np.ndarray], name: str) -> list[tuple]:
    """Rows placed into copies of the input (as many copies as it takes)."""
    x = ctx.inputs[0]
    flat_rows = x.reshape(-1, x.shape[-1]).shape[0]
    cases = []
    for i, start in enumerate(range(0, len(rows), flat_rows)):
        y = x.reshape(-1, x.shape[-1]).copy()
        chunk = rows[start:start + flat_rows]
        y[:len(chunk)] = np.stack(chunk)
        cases.append((f"{name}{i}", ctx.op, [y.reshape(x.shape), *ctx.inputs[1:]], ctx.in_specs, ctx.out_spec))
    return cases


def softmax_cases(ctx: Context) -> list[tuple]:
    spec, n = ctx.in_specs[0], ctx.inputs[0].shape[-1]
    lo, hi = spec.qmin, spec.qmax
    mid = ctx.uniform(spec, n)
    dominant = np.full(n, lo)
    dominant[n // 2] = hi
    first, last = mid.copy(), mid.copy()
    first[0], last[-1] = hi, hi
    first[1:] = np.minimum(first[1:], hi - 1)
    last[:-1] = np.minimum(last[:-1], hi - 1)
    rows = [np.full(n, (lo + hi) // 2), dominant, first, last, np.full(n, lo)]
    return _row_cases(ctx, rows, "rows")


def layernorm_cases(ctx: Context) -> list[tuple]:
    op, spec = ctx.op, ctx.in_specs[0]
    n = ctx.inputs[0].shape[-1]
    lo, hi = spec.qmin, spec.qmax
    spread = np.where(np.arange(n) < n // 2, hi, lo)
    cases = _row_cases(ctx, [np.full(n, op.x_zero_point), spread], "rows")
    const = _row_cases(ctx, [np.full(n, op.x_zero_point)], "sqrt")[0]
    root = max(int(arith.isqrt(np.int64(max(op.eps_int, 4)))), 2)
    cases.append(("sqrt", dataclasses.replace(op, eps_int=root * root), *const[2:]))
    cases.append(("sqrt-1", dataclasses.replace(op, eps_int=root * root - 1), *const[2:]))
    g = op.gain_shift
    odd = (2 * ctx.rng.integers(0, 3, size=np.shape(op.offset)) + 1) << max(g - 1, 0)
    offset = np.where(np.arange(np.size(odd)).reshape(np.shape(odd)) % 2 == 0, odd, -odd)
    ties = dataclasses.replace(op, gain=np.zeros_like(op.gain), offset=offset)
    cases.append(("ties", ties, ctx.inputs, ctx.in_specs, ctx.out_spec))
    walk = zero_point_walk(spec)
    out_walk = zero_point_walk(ctx.out_spec)
    for i in range(max(len(walk), len(out_walk))):
        zx, zy = walk[i % len(walk)], out_walk[(i + 1) % len(out_walk)]
        new = with_zero_points(op, [zx], zy)
        cases.append((f"zp{i}", new, [ctx.uniform(spec, ctx.inputs[0].shape)], *_specs(ctx, [zx], zy)))
    return cases


def random_cases(ctx: Context, samples: int) -> list[tuple]:
    """The layer's own parameters, inputs uniform over each operand's code range."""
    return [(f"random{i}", ctx.op, [ctx.uniform(s, x.shape) for s, x in zip(ctx.in_specs, ctx.inputs)],
             ctx.in_specs, ctx.out_spec) for i in range(samples)]


RECIPES = {"conv": weighted_cases, "linear": weighted_cases, "matmul": matmul_cases, "add": add_cases,
           "avgpool": requant_cases, "avgpool_window": requant_cases, "concat": requant_cases,
           "mul": requant_cases, "affine": requant_cases, "maxpool": maxpool_cases, "lut": lut_cases,
           "softmax": softmax_cases, "layernorm": layernorm_cases}
