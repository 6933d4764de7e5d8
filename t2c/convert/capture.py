"""Capture a float model with torch.fx and fuse it into quantizable layers.

No model-name tables: every ``nn.Module`` that torch.fx can trace is reduced to a
small set of layer kinds by looking at the ops themselves:

* ``conv`` / ``linear``: Conv2d or Linear, with a following BatchNorm folded in, an
  optional residual add fused after it (``conv(x) + r``) and an optional ReLU/ReLU6;
* ``add``: an add of two quantized tensors (+ReLU) that could not be fused into a conv;
* ``maxpool``, ``avgpool`` (AvgPool2d, AdaptiveAvgPool2d with a divisible size, and
  ``mean`` over H, W), ``flatten`` (flatten / reshape to 2-D), ``relu``;
* ``input`` and ``output``.

Dropout and Identity vanish.  Anything else raises ``UnsupportedOpError`` naming the
fx node, the op and the model source line.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn


class UnsupportedOpError(TypeError):
    """An op t2c cannot turn into integer arithmetic."""


@dataclass
class FNode:
    """One fused float layer, ready to be given quantizers."""

    name: str
    kind: str
    inputs: list[str] = field(default_factory=list)
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    attrs: dict = field(default_factory=dict)
    residual: str | None = None  # name of the tensor added before the activation
    act: str | None = None  # None, "relu" or "relu6"


# ------------------------------------------------------------------ fx helpers
def _source_line(node: fx.Node) -> str:
    trace = node.stack_trace or ""
    frames = re.findall(r'File "([^"]+)", line (\d+)', trace)
    user = [f for f in frames if "/torch/" not in f[0]]
    if user:
        return f" (model source {user[-1][0]}:{user[-1][1]})"
    return ""


def _unsupported(node: fx.Node, what: str) -> UnsupportedOpError:
    return UnsupportedOpError(
        f"cannot convert fx node {node.name!r}: {what}{_source_line(node)}. "
        "Supported: Conv2d, Linear, BatchNorm2d (after a conv), ReLU/ReLU6, add, "
        "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, mean over H/W, flatten, Dropout, Identity."
    )


def trace(model: nn.Module) -> fx.GraphModule:
    """Symbolically trace ``model`` recording source lines for error messages."""
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    try:
        graph = tracer.trace(model)
    except Exception as e:  # torch.fx raises many types for untraceable control flow
        raise UnsupportedOpError(f"torch.fx could not trace {type(model).__name__}: {e}") from e
    return fx.GraphModule(tracer.root, graph)


def _layer_name(node: fx.Node) -> str:
    """The module path for module calls (``layer1.0.conv1``), else the fx node name."""
    return str(node.target) if node.op == "call_module" else node.name


def _topological(nodes: list[FNode]) -> list[FNode]:
    """Stable topological order (a fused residual may come from a later-traced layer)."""
    done: set[str] = set()
    order: list[FNode] = []
    pending = list(nodes)
    while pending:
        for i, fn in enumerate(pending):
            deps = fn.inputs + ([fn.residual] if fn.residual else [])
            if all(d in done for d in deps):
                order.append(pending.pop(i))
                done.add(fn.name)
                break
        else:  # pragma: no cover - fx graphs are acyclic
            raise ValueError("cycle in the fused graph")
    return order


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


# ------------------------------------------------------------------ raw ops
def _classify(gm: fx.GraphModule, node: fx.Node):
    """(kind, data) for one fx node; kind 'alias' means output = first input."""
    if node.op == "placeholder":
        return "input", {}
    if node.op == "output":
        return "output", {}
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if isinstance(m, nn.Conv2d):
            if m.padding_mode != "zeros":
                raise _unsupported(node, f"Conv2d with padding_mode={m.padding_mode!r}")
            if isinstance(m.padding, str):
                raise _unsupported(node, f"Conv2d with padding={m.padding!r} (use integers)")
            return "conv", {"module": m}
        if isinstance(m, nn.Linear):
            return "linear", {"module": m}
        if isinstance(m, nn.BatchNorm2d):
            return "bn", {"module": m}
        if isinstance(m, nn.ReLU):
            return "relu", {}
        if isinstance(m, nn.ReLU6):
            return "relu6", {}
        if isinstance(m, (nn.Dropout, nn.Identity)):
            return "alias", {}
        if isinstance(m, nn.MaxPool2d):
            if m.ceil_mode:
                raise _unsupported(node, "MaxPool2d(ceil_mode=True)")
            return "maxpool", {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                               "padding": _pair(m.padding), "dilation": _pair(m.dilation)}
        if isinstance(m, nn.AvgPool2d):
            if m.ceil_mode or (any(_pair(m.padding)) and not m.count_include_pad) or m.divisor_override:
                raise _unsupported(node, "AvgPool2d with ceil_mode, divisor_override or padding "
                                         "without count_include_pad")
            return "avgpool", {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                               "padding": _pair(m.padding)}
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return "adaptive_avgpool", {"output_size": _pair(m.output_size)}
        if isinstance(m, nn.Flatten):
            if m.end_dim != -1:
                raise _unsupported(node, "Flatten with end_dim != -1")
            return "flatten", {"start_dim": m.start_dim}
        raise _unsupported(node, f"module {node.target!r} of type {type(m).__name__}")
    if node.op in ("call_function", "call_method"):
        t = node.target
        if t in (operator.add, torch.add, "add", operator.iadd, "add_"):
            if len(node.args) != 2 or not all(isinstance(a, fx.Node) for a in node.args) or node.kwargs:
                raise _unsupported(node, "add of a tensor and a constant (only tensor + tensor)")
            return "add", {}
        if t in (F.relu, torch.relu, "relu", "relu_", torch.relu_):
            return "relu", {}
        if t is F.relu6:
            return "relu6", {}
        if t in (torch.flatten, "flatten"):
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            end = node.args[2] if len(node.args) > 2 else node.kwargs.get("end_dim", -1)
            if end != -1:
                raise _unsupported(node, "flatten with end_dim != -1")
            return "flatten", {"start_dim": start}
        if t in ("view", "reshape", torch.reshape):
            return "reshape", {"shape": node.args[1:]}
        if t in (F.adaptive_avg_pool2d,):
            return "adaptive_avgpool", {"output_size": _pair(node.args[1])}
        if t in (torch.mean, "mean"):
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
            dims = tuple(sorted(d % 4 for d in (dims if isinstance(dims, (tuple, list)) else (dims,))))
            if dims != (2, 3):
                raise _unsupported(node, f"mean over dims {dims} (only over H, W)")
            return "mean_hw", {"keepdim": bool(keep)}
        if t in ("size", getattr):
            return "meta", {}
        if t in (F.dropout, "contiguous", "clone"):
            return "alias", {}
        name = getattr(t, "__name__", str(t))
        raise _unsupported(node, f"{node.op} {name}")
    if node.op == "get_attr":
        raise _unsupported(node, f"parameter {node.target!r} used directly in the forward pass")
    raise _unsupported(node, node.op)


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d):
    """Fold eval-mode BatchNorm into the preceding conv (in float64)."""
    w = weight.detach().to(torch.float64)
    b = torch.zeros(w.shape[0], dtype=torch.float64) if bias is None else bias.detach().to(torch.float64)
    mean = bn.running_mean.to(torch.float64)
    var = bn.running_var.to(torch.float64)
    gamma = bn.weight.detach().to(torch.float64) if bn.affine else torch.ones_like(mean)
    beta = bn.bias.detach().to(torch.float64) if bn.affine else torch.zeros_like(mean)
    k = gamma / torch.sqrt(var + bn.eps)
    return w * k.reshape(-1, *([1] * (w.dim() - 1))), (b - mean) * k + beta


# ------------------------------------------------------------------ fusion
def capture(model: nn.Module) -> list[FNode]:
    """Trace and fuse ``model`` into a topologically ordered list of ``FNode``."""
    model = model.eval()
    gm = trace(model)
    nodes: list[FNode] = []
    by_name: dict[str, FNode] = {}
    value: dict[fx.Node, str | None] = {}  # fx node -> FNode name of its value (None: not a tensor)
    open_layer: dict[str, bool] = {}  # FNode name -> still fusable (no act yet, single consumer)
    n_users = {n: len(n.users) for n in gm.graph.nodes}

    def emit(fn: FNode) -> str:
        if fn.name in by_name:
            raise ValueError(f"duplicate layer name {fn.name!r}")
        nodes.append(fn)
        by_name[fn.name] = fn
        return fn.name

    def src(arg) -> str:
        if not isinstance(arg, fx.Node) or value.get(arg) is None:
            raise _unsupported(arg if isinstance(arg, fx.Node) else node, "non-tensor operand")
        return value[arg]

    def fusable(arg: fx.Node) -> FNode | None:
        """The layer producing ``arg`` if this consumer may fuse into it."""
        name = value.get(arg)
        if name is None or not open_layer.get(name) or n_users[arg] != 1:
            return None
        return by_name[name]

    for node in gm.graph.nodes:
        kind, data = _classify(gm, node)
        if kind == "input":
            if nodes:
                raise _unsupported(node, "models with more than one input")
            value[node] = emit(FNode("input", "input"))
        elif kind == "output":
            out = node.args[0]
            if isinstance(out, (tuple, list)):
                if len(out) != 1:
                    raise _unsupported(node, "models with more than one output")
                out = out[0]
            emit(FNode("output", "output", [src(out)]))
        elif kind in ("alias", "meta"):
            value[node] = value.get(node.args[0]) if kind == "alias" else None
        elif kind in ("conv", "linear"):
            m = data["module"]
            attrs = {}
            if kind == "conv":
                attrs = {"stride": _pair(m.stride), "padding": _pair(m.padding),
                         "dilation": _pair(m.dilation), "groups": m.groups}
            w = m.weight.detach().to(torch.float64)
            b = None if m.bias is None else m.bias.detach().to(torch.float64)
            fn = FNode(node.target, kind, [src(node.args[0])], w, b, attrs)
            value[node] = emit(fn)
            open_layer[fn.name] = True
        elif kind == "bn":
            prod = fusable(node.args[0])
            if prod is None or prod.kind != "conv" or prod.residual is not None:
                raise _unsupported(node, "BatchNorm2d that does not directly follow a Conv2d")
            prod.weight, prod.bias = _fold_bn(prod.weight, prod.bias, gm.get_submodule(node.target))
            value[node] = prod.name
        elif kind in ("relu", "relu6"):
            prod = fusable(node.args[0])
            if prod is not None and prod.kind in ("conv", "linear", "add"):
                prod.act = kind
                open_layer[prod.name] = False
                value[node] = prod.name
            else:
                fn = FNode(_layer_name(node), "relu", [src(node.args[0])], attrs={"relu6": kind == "relu6"})
                value[node] = emit(fn)
        elif kind == "add":
            a, b = node.args
            host = next((fusable(x) for x in (a, b)
                         if fusable(x) is not None and fusable(x).kind in ("conv", "linear")
                         and fusable(x).residual is None), None)
            if host is not None:
                other = b if value.get(a) == host.name else a
                host.residual = src(other)
                value[node] = host.name
            else:
                fn = FNode(node.name, "add", [src(a), src(b)])
                value[node] = emit(fn)
                open_layer[fn.name] = True
        elif kind in ("maxpool", "avgpool"):
            value[node] = emit(FNode(_layer_name(node), kind,
                                     [src(node.args[0])], attrs=data))
        elif kind in ("adaptive_avgpool", "mean_hw"):
            attrs = {"output_size": data.get("output_size", (1, 1)), "adaptive": True}
            name = _layer_name(node)
            value[node] = emit(FNode(name, "avgpool", [src(node.args[0])], attrs=attrs))
            if kind == "mean_hw" and not data["keepdim"]:
                value[node] = emit(FNode(node.name + ".flatten", "flatten", [name], attrs={"start_dim": 1}))
        elif kind == "flatten":
            if data["start_dim"] != 1:
                raise _unsupported(node, f"flatten(start_dim={data['start_dim']}) (only 1)")
            value[node] = emit(FNode(_layer_name(node), "flatten", [src(node.args[0])], attrs={"start_dim": 1}))
        elif kind == "reshape":
            shape = data["shape"]
            if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
                shape = tuple(shape[0])
            if len(shape) != 2 or shape[1] != -1:
                raise _unsupported(node, f"reshape to {shape} (only x.view(N, -1))")
            value[node] = emit(FNode(node.name, "flatten", [src(node.args[0])], attrs={"start_dim": 1}))
        else:  # pragma: no cover - _classify only returns the kinds above
            raise _unsupported(node, kind)
    return _topological(nodes)
