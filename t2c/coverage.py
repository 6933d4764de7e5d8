"""Numerics coverage: which arithmetic corners a set of layer cases exercises.

Golden vectors made from model inputs compare the RTL with the reference on whatever the
model produces, and that rarely reaches the corners where hardware goes wrong: a
requantizer that rounds ties down passes every layer of a model whose accumulators never
land on a tie.  This module says, per layer, which corners a set of cases reaches.  It is
computed, not estimated: each case is run again through the reference (``t2c.ref.run_op``)
while ``t2c.arith`` reports its intermediate values (the pre-shift sums it requantizes,
the table addresses it reads, the square roots and divisions it takes), and the bins are
read off those values and off the op's own operands.

A *bin* is one corner of one op family (docs/coverage.md gives every formula):

* requantization (every op that requantizes): exact ties of either sign whose rounding
  shows in the output, saturation at either end, outputs landing exactly on qmin/qmax;
* zero points of every operand and of the output: negative, zero, positive, and at each
  end of the operand's code range;
* MAC (conv, linear, matmul): products at the four corners of ``(x - zx) * w``,
  accumulators within 1% of the bound the converter proves, of either sign; padding read
  with a non-zero input zero point; partial row, column and K tiles of the array;
* pooling: a padded window whose real codes are all the lowest code (max), ties for the
  maximum, divisors that are not a power of two (average);
* element-wise add: both inputs at an end of their range at once;
* LUT: every table address;
* softmax: a row of equal codes, a row with one element dominating (every other one's
  exponential 0), the maximum first, last, a row of the lowest code, reciprocal ties;
* LayerNorm: a constant row, the largest variance, exact squares and their neighbours in
  the integer square root, ties in the final division of either sign.

A bin a layer cannot reach whatever its parameters and inputs (a padding bin without
padding, a partial tile its shape does not have, 99% of a bound that symmetric 4-bit
weights cannot reach) is *unreachable*, with the reason.  Reachability depends only on
the op and its geometry, so it is the same for a layer's model case and for every corner
variant of it (t2c.stimulus).
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from . import arith
from .ir import Add, AvgPoolWindows, Conv2d, Linear, MatMul, MaxPool2d

ROWS, COLS = 8, 8  # the array geometry of the tile bins (t2c sim's default)
ACC_BOUND_SHARE = 0.99  # "within 1% of the proven bound"


@dataclass
class Bin:
    """One corner: how often the cases hit it, whether any case could."""

    name: str
    hits: int = 0
    reachable: bool = True
    why: str = ""       # the reason it is unreachable
    detail: str = ""    # e.g. "200/256 addresses"

    @property
    def hit(self) -> bool:
        return self.hits > 0

    def merged(self, other: "Bin") -> "Bin":
        return dataclasses.replace(self, hits=self.hits + other.hits, detail=other.detail or self.detail)


@dataclass
class LayerCoverage:
    """The bins of one layer over its cases (model case and variants)."""

    layer: str
    op: str
    bins: dict[str, Bin] = field(default_factory=dict)
    cases: int = 0

    def add(self, bins: dict[str, Bin]) -> None:
        self.cases += 1
        for name, b in bins.items():
            self.bins[name] = self.bins[name].merged(b) if name in self.bins else b

    @property
    def hit(self) -> int:
        return sum(b.hit for b in self.bins.values())

    @property
    def reachable(self) -> int:
        return sum(b.reachable for b in self.bins.values())

    @property
    def missed(self) -> list[Bin]:
        return [b for b in self.bins.values() if b.reachable and not b.hit]

    def to_json(self) -> dict:
        return {"layer": self.layer, "op": self.op, "cases": self.cases, "hit": self.hit,
                "reachable": self.reachable, "total": len(self.bins),
                "bins": [dataclasses.asdict(b) for b in self.bins.values()]}


# ====================================================================== observing t2c.arith
@contextlib.contextmanager
def observing():
    """Collect what ``t2c.arith`` reports while the block runs: a list of (event, values)."""
    events: list[tuple[str, dict]] = []
    arith._OBSERVERS.append(lambda event, values: events.append((event, values)))
    try:
        yield events
    finally:
        arith._OBSERVERS.pop()


@dataclass(frozen=True)
class Operand:
    """An operand's code range (bits, signedness) and zero point."""

    bits: int
    signed: bool
    zero_point: int

    @property
    def lo(self) -> int:
        return arith.qrange(self.bits, self.signed)[0]

    @property
    def hi(self) -> int:
        return arith.qrange(self.bits, self.signed)[1]

    @classmethod
    def of(cls, spec) -> "Operand":
        """From a TensorSpec or a golden manifest's tensor entry."""
        get = spec.get if isinstance(spec, dict) else lambda k: getattr(spec, k)
        return cls(int(get("bits")), bool(get("signed")), int(get("zero_point")))


def case_bins(op, inputs: list[np.ndarray], operands: list[Operand], output: Operand) -> dict[str, Bin]:
    """Every bin of ``op`` run on ``inputs`` (``operands``: the inputs' ranges and zero
    points, in order; ``output``: the output's)."""
    from .ref import run_op

    with observing() as events:
        acc, out, _ = run_op(op, inputs)
    bins: dict[str, Bin] = {}
    for family in FAMILIES.get(op.kind, ()):
        for b in family(op, inputs, operands, output, acc, out, events):
            bins[b.name] = b
    return bins


def has_model(kind: str) -> bool:
    """True when op kind ``kind`` has a coverage model."""
    return kind in FAMILIES


# ====================================================================== requantization
def _requant_values(events) -> tuple[np.ndarray, ...]:
    """Flattened (pre-shift sum, shift, zero point, qmin, qmax) of every requantization."""
    parts = [[], [], [], [], []]
    for event, v in events:
        if event != "requant":
            continue
        shape = v["total"].shape
        for i, key in enumerate(("total", "s", "zero_point", "qmin", "qmax")):
            parts[i].append(np.broadcast_to(np.asarray(v[key], dtype=np.int64), shape).reshape(-1))
    return tuple(np.concatenate(p) if p else np.zeros(0, np.int64) for p in parts)


def requant_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    total, s, zp, qmin, qmax = _requant_values(events)
    one = np.int64(1)
    v = ((total + (one << (s - 1))) >> s) + zp          # before the clamp
    tie = (total & ((one << s) - 1)) == (one << (s - 1))
    visible = (v - 1 >= qmin) & (v <= qmax)             # both roundings land inside the range
    rqs = op.requants if op.kind == "concat" else [op.requant]
    neg = Bin("tie-", int((tie & visible & (total < 0)).sum()))
    if all(rq.qmin >= rq.zero_point for rq in rqs):
        neg = dataclasses.replace(neg, reachable=False, why="qmin is the zero point (a fused ReLU): a negative "
                                                            "pre-shift value never shows in the output")
    lo32, hi32 = -(1 << 31), (1 << 31) - 1
    return [Bin("tie+", int((tie & visible & (total > 0)).sum())), neg,
            Bin("saturate_low", int((v < qmin).sum())), Bin("saturate_high", int((v > qmax).sum())),
            Bin("pre_clamp<int32", int((v < lo32).sum())), Bin("pre_clamp>int32", int((v > hi32).sum())),
            Bin("on_qmin", int((v == qmin).sum())), Bin("on_qmax", int((v == qmax).sum()))]


# ====================================================================== zero points
def _zero_point_bins(prefix: str, operand: Operand) -> list[Bin]:
    z, lo, hi = operand.zero_point, operand.lo, operand.hi
    neg = Bin(f"{prefix}<0", int(z < 0))
    if lo >= 0:
        neg = dataclasses.replace(neg, reachable=False, why=f"unsigned {operand.bits}-bit codes: zero point >= 0")
    return [neg, Bin(f"{prefix}=0", int(z == 0)), Bin(f"{prefix}>0", int(z > 0)),
            Bin(f"{prefix}=min", int(z == lo)), Bin(f"{prefix}=max", int(z == hi))]


def zero_point_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    names = ("zx", "zb") if op.kind in ("matmul", "mul", "add") else ("zx",)
    bins = [b for name, o in zip(names, operands) for b in _zero_point_bins(name, o)]
    if op.kind == "concat":
        bins = [b for i, o in enumerate(operands) for b in _zero_point_bins(f"zx{i}", o)]
    return bins + _zero_point_bins("zy", output)


# ====================================================================== MAC
def _weight_operand(op, operands) -> tuple[int, int]:
    """(lowest, highest) of the second GEMM operand minus its zero point."""
    if isinstance(op, MatMul):
        b = operands[1]
        return b.lo - b.zero_point, b.hi - b.zero_point
    w = (1 << (op.wbits - 1)) - 1  # symmetric weights (the converter's)
    return -w, w


def _cooccurrences(op, inputs, x_mask: np.ndarray, w_mask: np.ndarray) -> int:
    """How many products pair an input where ``x_mask`` holds with a weight (second
    operand) where ``w_mask`` holds: the op's own GEMM on 0/1 operands."""
    from .ref import run_op

    if isinstance(op, MatMul):
        probe = dataclasses.replace(op, a_zero_point=0, b_zero_point=0)
        acc, _, _ = run_op(probe, [x_mask.astype(np.int64), w_mask.astype(np.int64)])
    else:
        probe = dataclasses.replace(op, weight=w_mask.astype(np.int64), bias=np.zeros_like(op.bias),
                                    x_zero_point=0)
        acc, _, _ = run_op(probe, [x_mask.astype(np.int64)])
    return int(np.asarray(acc).sum())


def _real_taps(op, x: np.ndarray) -> int:
    """The most real (not padding) input positions any output of ``op`` sums."""
    if isinstance(op, Conv2d):
        ones = np.ones((1, *x.shape[1:]), np.int64)
        w = np.ones_like(op.weight)
        return int(_cooccurrences_acc(op, ones, w).max())
    return op.reduction if isinstance(op, Linear) else x.shape[-1]


def _cooccurrences_acc(op, x, w) -> np.ndarray:
    from .ref import run_op

    probe = dataclasses.replace(op, weight=w, bias=np.zeros_like(op.bias), x_zero_point=0)
    return np.asarray(run_op(probe, [x])[0])


def mac_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    x, a = np.asarray(inputs[0]), operands[0]
    wlo, whi = _weight_operand(op, operands)
    w = np.asarray(inputs[1]) - operands[1].zero_point if isinstance(op, MatMul) else np.asarray(op.weight)
    xc = x - a.zero_point
    xlo, xhi = a.lo - a.zero_point, a.hi - a.zero_point
    bins = [Bin(f"product[x{xs},w{ws}]", _cooccurrences(op, inputs, xc == xv, w == wv))
            for xs, xv in (("min", xlo), ("max", xhi)) for ws, wv in (("min", wlo), ("max", whi))]
    return (bins + _acc_bound_bins(op, x, a, wlo, whi, acc) + _product_bins(op, acc, events) + _padding_bins(op, a)
            + _tile_bins(op, inputs))


PRODUCT_EXTREME = 1 << 61  # |acc * m| this large needs a requantizer's full 63-bit product and sum


def _product_bins(op, acc, events) -> list[Bin]:
    """The pre-shift sum at the top of int64: an accumulator near int32's end times a
    multiplier near 2^31 (a requantizer's product and rounding sum at their full width)."""
    total, shift = _requant_values(events)[:2]
    rounded = np.abs(total) + (np.int64(1) << (shift - 1))  # the rounding sum's magnitude
    if isinstance(op, MatMul):
        largest = int(np.abs(np.asarray(acc)).max(initial=0)) * ((1 << 31) - 1)
        reach = largest >= PRODUCT_EXTREME  # the operands' bound, not a bias, sets the accumulator
        why = "" if reach else "a matmul's accumulators stay far below int32's end (no bias)"
    else:
        reach, why = True, ""
    return [Bin("|acc*m|>=2^61", int((np.abs(total) >= PRODUCT_EXTREME).sum()), reach, why),
            Bin("|acc*m|+2^(s-1)>=2^62", int((rounded >= 2 * PRODUCT_EXTREME).sum()), reach, why)]


def _acc_bound_bins(op, x, a: Operand, wlo: int, whi: int, acc) -> list[Bin]:
    dx = max(a.hi - a.zero_point, a.zero_point - a.lo)
    xs = (a.lo - a.zero_point, a.hi - a.zero_point)
    if isinstance(op, MatMul):
        k = x.shape[-1]
        bound = k * dx * max(-wlo, whi)
        products = [xv * wv for xv in xs for wv in (wlo, whi)]
        reach = {"+": k * max(products), "-": -k * min(products)}
    else:
        bias = int(np.abs(op.bias).max(initial=0))
        k = op.reduction
        bound = arith.accumulator_bound(k, a.bits, a.signed, a.zero_point, op.wbits, bias)
        top = _real_taps(op, x) * dx * whi + bias  # symmetric weights: |w| <= 2^(wbits-1) - 1
        reach = {"+": top, "-": top}
    acc = np.asarray(acc)
    bins = []
    for sign, hits in (("+", (acc >= ACC_BOUND_SHARE * bound).sum()), ("-", (acc <= -ACC_BOUND_SHARE * bound).sum())):
        ok = reach[sign] >= ACC_BOUND_SHARE * bound
        why = "" if ok else (f"the largest {'positive' if sign == '+' else 'negative'} accumulator this geometry "
                             f"reaches is {reach[sign] / bound:.1%} of the bound (K={k}, operand ranges)")
        bins.append(Bin("acc>=99%bound" if sign == "+" else "acc<=-99%bound", int(hits), ok, why))
    return bins


def _padding_bins(op, a: Operand) -> list[Bin]:
    pad = tuple(getattr(op, "padding", (0, 0)))
    if not any(pad):
        return [Bin("padding,zx!=0", 0, False, "the layer has no padding")]
    return [Bin("padding,zx!=0", int(a.zero_point != 0))]


def _tile_bins(op, inputs) -> list[Bin]:
    """Partial tiles of a ROWS x COLS array: a fact of the layer's shape, hit or unreachable."""
    x = np.asarray(inputs[0])
    if isinstance(op, Conv2d):
        rows, cols, k = int(np.prod(op_output_hw(op, x))), op.weight.shape[0], x.shape[1]
    elif isinstance(op, Linear):
        rows, cols, k = int(np.prod(x.shape[:-1])), op.weight.shape[0], x.shape[-1]
    else:
        rows, cols, k = x.shape[-2], np.shape(inputs[1])[-1], x.shape[-1]
    out = []
    for name, n, size in (("partial_row_tile", rows, ROWS), ("partial_col_tile", cols, COLS),
                          ("partial_k_tile", k, COLS)):
        part = n % size != 0
        out.append(Bin(name, int(part), part, "" if part else f"{n} is a multiple of {size}"))
    return out


def op_output_hw(op: Conv2d, x) -> tuple[int, int]:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = op.weight.shape[2:], op.stride, op.padding, op.dilation
    h, w = x.shape[2:]
    return (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1


# ====================================================================== pooling, element-wise
def maxpool_bins(op: MaxPool2d, inputs, operands, output, acc, out, events) -> list[Bin]:
    from .ref import _window_slices

    x = np.asarray(inputs[0], dtype=np.int64)
    lo = operands[0].lo
    views = np.stack(list(_window_slices(x, op.kernel, op.stride, op.padding, op.dilation, lo - 1)))
    padded = (views == lo - 1).any(axis=0)
    real = np.where(views == lo - 1, np.iinfo(np.int64).min, views)
    best = real.max(axis=0)
    ties = ((real == best) & (real != np.iinfo(np.int64).min)).sum(axis=0) >= 2
    pad = Bin("padded_window_all_lowest", int((padded & (best == lo)).sum()))
    if not any(op.padding):
        pad = dataclasses.replace(pad, reachable=False, why="the layer has no padding")
    return [pad, Bin("max_tie", int(ties.sum()))]


def avgpool_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    if isinstance(op, AvgPoolWindows):
        divisors = {int(d) for d in _window_divisors(op, inputs[0])}
    else:
        divisors = {int(np.prod(op.kernel))}
    odd = sorted(d for d in divisors if d & (d - 1))
    b = Bin("divisor_not_power_of_2", len(odd), bool(odd), "" if odd else
            f"every window divides by a power of two ({sorted(divisors)})", f"divisors {sorted(divisors)}")
    return [b, *_padding_bins(op, operands[0])]


def _window_divisors(op, x) -> np.ndarray:
    """Each window's count of real taps (what count_include_pad=False divides by)."""
    from .ref import _window_sum

    ones = dataclasses.replace(op, x_zero_point=0)
    return np.unique(_window_sum(ones, np.ones((1, 1, *np.shape(x)[2:]), np.int64)))


def add_bins(op: Add, inputs, operands, output, acc, out, events) -> list[Bin]:
    a, b = (np.asarray(t) for t in inputs[:2])
    at_end = lambda t, o: (t == o.lo) | (t == o.hi)  # noqa: E731
    return [Bin("both_inputs_at_an_end", int((at_end(a, operands[0]) & at_end(b, operands[1])).sum()))]


# ====================================================================== tables and rows
def lut_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    seen, size = set(), 0
    for event, v in events:
        if event == "lut":
            seen.update(np.unique(v["index"]).tolist())
            size = int(v["size"])
    full = size > 0 and len(seen) == size
    return [Bin("every_table_address", int(full), detail=f"{len(seen)}/{size} addresses")]


def softmax_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    x = np.asarray(inputs[0], dtype=np.int64).reshape(-1, np.shape(inputs[0])[-1])
    top = x.max(axis=1, keepdims=True)
    unique = (x == top).sum(axis=1) == 1
    e = np.asarray(op.exp_table, np.int64)[top - x]
    dominant = Bin("one_element_dominates", int(((e > 0).sum(axis=1) == 1).sum()))
    if op.exp_table[-1] != 0:
        dominant = dataclasses.replace(dominant, reachable=False, why="the exp table has no zero entry")
    ties = [v for ev, v in events if ev == "divide"]
    tie = Bin("reciprocal_tie", sum(int(_div_ties(v["a"], v["b"]).sum()) for v in ties), False,
              f"2^{arith.SOFTMAX_RECIP_BITS + 1} / sum is odd only for sum = 2^{arith.SOFTMAX_RECIP_BITS + 1}, "
              f"beyond any row's sum of Q0.{arith.SOFTMAX_EXP_FRAC} exponentials")
    return [Bin("row_all_equal", int((x == x[:, :1]).all(axis=1).sum())), dominant,
            Bin("max_first", int((unique & (x.argmax(axis=1) == 0)).sum())),
            Bin("max_last", int((unique & (x.argmax(axis=1) == x.shape[1] - 1)).sum())),
            Bin("row_all_lowest", int((x == operands[0].lo).all(axis=1).sum())), tie]


def _div_ties(a, b) -> np.ndarray:
    """``a / b`` exactly halfway between two integers (div_round's ties)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    return (2 * a) % (2 * b) == b


def layernorm_bins(op, inputs, operands, output, acc, out, events) -> list[Bin]:
    x = np.asarray(inputs[0], dtype=np.int64).reshape(-1, np.shape(inputs[0])[-1])
    n, a = x.shape[1], operands[0]
    xc = x - op.x_zero_point
    d = n * xc - xc.sum(axis=1, keepdims=True)
    var = (d * d).sum(axis=1)
    k = n // 2
    most = n * k * (n - k) * (a.hi - a.lo) ** 2  # k and n - k codes at the two ends of the range
    roots = np.concatenate([v["n"].reshape(-1) for ev, v in events if ev == "isqrt"] or [np.zeros(0, np.int64)])
    r = arith.isqrt(roots)
    divs = [v for ev, v in events if ev == "divide"]
    tie_pos = sum(int((_div_ties(v["a"], v["b"]) & (np.asarray(v["a"]) > 0)).sum()) for v in divs)
    tie_neg = sum(int((_div_ties(v["a"], v["b"]) & (np.asarray(v["a"]) < 0)).sum()) for v in divs)
    return [Bin("row_constant", int((var == 0).sum())), Bin("row_largest_variance", int((var == most).sum())),
            Bin("isqrt_exact_square", int(((r * r == roots) & (roots > 0)).sum())),
            Bin("isqrt_square_minus_1", int(((r + 1) * (r + 1) == roots + 1).sum())),
            Bin("divide_tie+", tie_pos), Bin("divide_tie-", tie_neg)]


# ====================================================================== the families of each op
REQUANT_OPS = ("conv", "linear", "matmul", "add", "avgpool", "avgpool_window", "concat", "mul", "affine")
FAMILIES = {kind: [requant_bins, zero_point_bins] for kind in REQUANT_OPS}
for _kind in ("conv", "linear", "matmul"):
    FAMILIES[_kind].append(mac_bins)
FAMILIES["avgpool"].append(avgpool_bins)
FAMILIES["avgpool_window"].append(avgpool_bins)
FAMILIES["add"].append(add_bins)
FAMILIES["maxpool"] = [maxpool_bins]
FAMILIES["lut"] = [lut_bins]
FAMILIES["softmax"] = [softmax_bins]
FAMILIES["layernorm"] = [layernorm_bins, zero_point_bins]
del _kind

__all__ = ["Bin", "LayerCoverage", "Operand", "case_bins", "observing", "has_model", "FAMILIES"]


# ====================================================================== golden directories and graphs
def _operands(entry: dict) -> tuple[list[Operand], Operand]:
    t = entry["tensors"]
    ins = [Operand.of(t[k]) for k in ("input", "residual") if k in t]
    return ins, Operand.of(t["output"])


def golden_coverage(golden, layers=None, progress: bool = False) -> list[LayerCoverage]:
    """The coverage of every layer of ``golden`` with a coverage model (or of ``layers``):
    its model case and every corner variant the directory holds, each run again through
    the reference."""
    names = layers or [e["name"] for e in golden.manifest["layers"] if has_model(e["op"])]
    for name in names:
        kind = golden.layer(name)["op"]
        if not has_model(kind):
            raise ValueError(f"layer {name!r} is a {kind} layer: no coverage model for that op "
                             f"(ops with one: {', '.join(sorted(FAMILIES))})")
    it = names
    if progress:
        from tqdm import tqdm

        it = tqdm(names, desc="coverage", unit="layer", leave=False)
    out = []
    for name in it:
        lc = LayerCoverage(name, golden.layer(name)["op"])
        for case in [name, *golden.variant_names(name)]:
            entry = golden.layer(case)
            operands, output = _operands(entry)
            inputs = [golden.tensor(case, t) for t in ("input", "residual") if t in entry["tensors"]]
            lc.add(case_bins(golden.op(case), inputs, operands, output))
        out.append(lc)
    return out


def table(coverage: list[LayerCoverage], show_missed: bool = True) -> str:
    """The per-layer table: cases, bins hit / reachable / total, and the bins missed."""
    head = ("layer", "op", "cases", "hit", "reachable", "total", "missed")
    rows = [(c.layer, c.op, str(c.cases), str(c.hit), str(c.reachable), str(len(c.bins)),
             ", ".join(b.name for b in c.missed) if show_missed else str(len(c.missed))) for c in coverage]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = lambda r: "  ".join(v.rjust(w) if 2 <= i <= 5 else v.ljust(w)  # noqa: E731
                              for i, (v, w) in enumerate(zip(r, widths))).rstrip()
    total = (sum(c.hit for c in coverage), sum(c.reachable for c in coverage))
    return "\n".join([fmt(head), *map(fmt, rows),
                      f"{total[0]} of {total[1]} reachable bins hit over {len(coverage)} layers"])


# ====================================================================== the report
def _report_owned(root):
    import json

    try:
        doc = json.loads((root / "coverage.json").read_text())
    except (OSError, ValueError):
        return None
    return {"coverage.json", "coverage.png"} if isinstance(doc, dict) and doc.get("schema") == "t2c.coverage/1" \
        else None


def _report_kind():
    from .fileio import OutputKind

    return OutputKind("a coverage report", _report_owned)


REPORT_OUTPUT = _report_kind()


def write_report(coverage: list[LayerCoverage], model: str, out, force: bool = False):
    """``coverage.json`` (every bin of every layer) and ``coverage.png`` (bins hit, missed and
    unreachable per layer) into the directory ``out``."""
    import json
    from pathlib import Path

    from .fileio import output_dir

    out = Path(out)
    doc = {"schema": "t2c.coverage/1", "model": model, "rows": ROWS, "cols": COLS,
           "hit": sum(c.hit for c in coverage), "reachable": sum(c.reachable for c in coverage),
           "layers": [c.to_json() for c in coverage]}
    with output_dir(out, REPORT_OUTPUT, force) as tmp:
        (tmp / "coverage.json").write_text(json.dumps(doc, indent=1) + "\n")
        plot(coverage, model, tmp / "coverage.png")
    return out


def plot(coverage: list[LayerCoverage], model: str, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.layer for c in coverage]
    hit = np.array([c.hit for c in coverage])
    missed = np.array([len(c.missed) for c in coverage])
    unreachable = np.array([len(c.bins) - c.reachable for c in coverage])
    fig, ax = plt.subplots(figsize=(max(8, 0.3 * len(names) + 3), 5))
    x = np.arange(len(names))
    ax.bar(x, hit, color="tab:green", label="hit")
    ax.bar(x, missed, bottom=hit, color="tab:red", label="reachable, missed")
    ax.bar(x, unreachable, bottom=hit + missed, color="lightgray", label="unreachable")
    ax.set_ylabel("bins")
    ax.set_title(f"{model}: {hit.sum()} of {hit.sum() + missed.sum()} reachable bins hit")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
