"""What ``t2c layers`` prints: per layer, the op, which RTL unit runs it (or that it is
data movement in Python), the ops fused into it, its bit widths and reduction length."""
from __future__ import annotations

from .ir import Conv2d, IntGraph, Linear, MatMul


def _runs_on(kind: str) -> str:
    from .sim.units import unit_for

    try:
        unit = unit_for(kind)
    except ValueError:
        return "no RTL unit yet"
    return "Python: data movement" if unit is None else unit.name


def layer_table(graph: IntGraph) -> list[tuple]:
    """(layer, op, runs on, fused, w/a/out bits, quantizers, K, output shape) per layer."""
    fused = graph.meta.get("fused", {})
    quant = graph.meta.get("quantization", {}).get("layers", {})
    rows = []
    for op in graph.ops:
        ins = [graph.tensors[t] for t in op.inputs]
        out = graph.tensors[op.output]
        wbits = op.wbits if isinstance(op, (Conv2d, Linear)) else None
        bits = f"{wbits or '-'}/{ins[0].bits if ins else '-'}/{out.bits}"
        if isinstance(op, (Conv2d, Linear)):
            k = op.reduction
        elif isinstance(op, MatMul):
            k = ins[0].shape[-1]
        else:
            k = "-"
        q = quant.get(op.name)
        qs = "-" if q is None else (f"{q['weight_quantizer']}/{q['act_quantizer']}"
                                    + ("" if q["per_channel"] else " per-tensor"))
        rows.append((op.name, op.kind, _runs_on(op.kind), "+".join(fused.get(op.name, [])) or "-", bits, qs, k,
                     "x".join(map(str, out.shape))))
    return rows


def sparsity_line(graph: IntGraph) -> str | None:
    """``sparsity: conv1 2:4 44.4%, ...``: the pattern and achieved zero fraction of every
    pruned layer's integer weight (None when nothing is pruned)."""
    from .sparsity import sparsity

    pruned = graph.meta.get("sparsity") or {}
    if not pruned:
        return None
    parts = [f"{name} {pat} {100 * sparsity(graph.op(name).weight):.1f}%" for name, pat in pruned.items()]
    return "sparsity (zero weights): " + ", ".join(parts)


def runs_in_python(graph: IntGraph) -> list[str]:
    """Layers that no RTL unit runs (data movement, or arithmetic without a unit yet)."""
    return [r[0] for r in layer_table(graph) if r[2] in ("Python: data movement", "no RTL unit yet")]


__all__ = ["layer_table", "runs_in_python", "sparsity_line"]
