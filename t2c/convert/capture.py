"""Capture a float model with torch.fx and fuse it into quantizable layers.

No model-name tables: every ``nn.Module`` that torch.fx can trace is reduced to a
small set of layer kinds by looking at the ops themselves:

* ``conv`` / ``linear``: Conv2d or Linear, with a following BatchNorm folded in, an
  optional residual add fused after it (``conv(x) + r``) and an optional ReLU/ReLU6;
* ``add``: an add of two quantized tensors (+ReLU) that could not be fused into a conv;
* ``maxpool``, ``avgpool`` (AvgPool2d, AdaptiveAvgPool2d with a divisible size, and
  ``mean`` over H, W), ``flatten`` (flatten(1) / ``view(N, -1)``), ``relu``;
* transformer pieces: ``layernorm``, ``softmax``, ``matmul`` (two activations; a
  ``scaled_dot_product_attention`` becomes ``.qk`` matmul, ``.softmax``, ``.av`` matmul),
  ``lut`` (GELU, SiLU, sigmoid, tanh, hardswish tabulated over input codes), ``scale``
  (multiplication by a positive Python number: only the scale changes), ``const``
  (a parameter used as a tensor, e.g. a class token), ``concat``;
* ``move``: data movement that keeps codes and scale (reshape, permute, transpose,
  flatten, indexing, unbind, expand);
* ``input`` and ``output``.

Dropout and Identity vanish.  Anything else raises ``UnsupportedOpError`` naming the
fx node, the op and the model source line.
"""
from __future__ import annotations

import inspect
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
        "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, mean over H/W, flatten, LayerNorm, "
        "softmax, matmul, scaled_dot_product_attention, GELU/SiLU/sigmoid/tanh/hardswish, "
        "cat, reshape/permute/transpose/indexing, Dropout, Identity."
    )


def trace(model: nn.Module) -> fx.GraphModule:
    """Symbolically trace ``model``; optional forward arguments keep their defaults."""
    tracer = fx.Tracer()
    tracer.record_stack_traces = True
    params = list(inspect.signature(model.forward).parameters.values())
    concrete = {p.name: p.default for p in params[1:] if p.default is not inspect.Parameter.empty}
    try:
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception as e:  # torch.fx raises many types for untraceable control flow
        raise UnsupportedOpError(f"torch.fx could not trace {type(model).__name__}: {e}") from e
    return fx.GraphModule(tracer.root, graph)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _module_path(node: fx.Node) -> str:
    """The innermost module the node was traced in ('' at the top level)."""
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack)[-1] if stack else ""


def _arg(node: fx.Node, i: int, name: str, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _topological(nodes: list[FNode]) -> list[FNode]:
    """Stable topological order (a fused residual may come from a later-traced layer)."""
    done: set[str] = set()
    order: list[FNode] = []
    pending = list(nodes)
    while pending:
        for i, fn in enumerate(pending):
            deps = fn.inputs + ([fn.residual] if fn.residual else []) + fn.attrs.get("shape_refs", [])
            if all(d in done for d in deps):
                order.append(pending.pop(i))
                done.add(fn.name)
                break
        else:  # pragma: no cover - fx graphs are acyclic
            raise ValueError("cycle in the fused graph")
    return order


LUT_MODULES = {nn.GELU: "gelu", nn.SiLU: "silu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
               nn.Hardswish: "hardswish"}
LUT_FUNCTIONS = {F.gelu: "gelu", F.silu: "silu", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
                 torch.tanh: "tanh", F.tanh: "tanh", F.hardswish: "hardswish",
                 "sigmoid": "sigmoid", "tanh": "tanh"}
MOVE_METHODS = {"reshape", "view", "permute", "transpose", "flatten", "expand", "unbind", "squeeze",
                "unsqueeze"}
MOVE_FUNCTIONS = {torch.reshape: "reshape", torch.permute: "permute", torch.transpose: "transpose",
                  torch.flatten: "flatten", torch.unbind: "unbind", torch.squeeze: "squeeze",
                  torch.unsqueeze: "unsqueeze"}


# ------------------------------------------------------------------ raw ops
def _classify(gm: fx.GraphModule, node: fx.Node):
    """(kind, data) for one fx node; kind 'alias' means output = first input."""
    if node.op == "placeholder":
        return "input", {}
    if node.op == "output":
        return "output", {}
    if node.op == "get_attr":
        return "get_attr", {}
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
        if isinstance(m, nn.LayerNorm):
            return "layernorm", {"weight": m.weight, "bias": m.bias, "eps": m.eps,
                                 "shape": tuple(m.normalized_shape)}
        if isinstance(m, nn.ReLU):
            return "relu", {}
        if isinstance(m, nn.ReLU6):
            return "relu6", {}
        if type(m) in LUT_MODULES:
            fn = LUT_MODULES[type(m)]
            if fn == "gelu" and m.approximate == "tanh":
                fn = "gelu_tanh"
            return "lut", {"fn": fn}
        if isinstance(m, nn.Softmax):
            return "softmax", {"dim": m.dim}
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
            return "move", {"fn": "flatten", "args": [m.start_dim, m.end_dim]}
        raise _unsupported(node, f"module {node.target!r} of type {type(m).__name__}")
    if node.op in ("call_function", "call_method"):
        t = node.target
        if t in (operator.add, torch.add, "add", operator.iadd, "add_"):
            if len(node.args) != 2 or not all(isinstance(a, fx.Node) for a in node.args) or node.kwargs:
                raise _unsupported(node, "add of a tensor and a constant (only tensor + tensor)")
            return "add", {}
        if t in (operator.mul, torch.mul, "mul", operator.truediv, torch.div, "div"):
            a, b = node.args[0], node.args[1]
            if isinstance(a, (int, float)) and isinstance(b, fx.Node) and t in (operator.mul, torch.mul, "mul"):
                a, b = b, a
            if not isinstance(a, fx.Node) or not isinstance(b, (int, float)):
                raise _unsupported(node, "multiplication of two tensors (only tensor * positive number)")
            factor = float(b) if t in (operator.mul, torch.mul, "mul") else 1.0 / float(b)
            if not factor > 0:
                raise _unsupported(node, f"multiplication by {factor} (only positive numbers)")
            return "scale", {"factor": factor}
        if t in (F.relu, torch.relu, "relu", "relu_", torch.relu_):
            return "relu", {}
        if t is F.relu6:
            return "relu6", {}
        if t in LUT_FUNCTIONS:
            fn = LUT_FUNCTIONS[t]
            if fn == "gelu" and node.kwargs.get("approximate", "none") == "tanh":
                fn = "gelu_tanh"
            return "lut", {"fn": fn}
        if t in (F.softmax, torch.softmax, "softmax"):
            return "softmax", {"dim": _arg(node, 1, "dim")}
        if t in (torch.matmul, operator.matmul, "matmul", torch.bmm):
            return "matmul", {}
        if t is F.scaled_dot_product_attention:
            if (_arg(node, 3, "attn_mask") is not None or _arg(node, 4, "dropout_p", 0.0)
                    or _arg(node, 5, "is_causal", False)):
                raise _unsupported(node, "scaled_dot_product_attention with a mask, dropout or causal")
            return "sdpa", {"scale": _arg(node, 6, "scale")}
        if t is F.layer_norm:
            return "layernorm", {"weight": node.kwargs.get("weight", _arg(node, 2, "weight")),
                                 "bias": node.kwargs.get("bias", _arg(node, 3, "bias")),
                                 "eps": _arg(node, 4, "eps", 1e-5), "shape": tuple(_arg(node, 1, "normalized_shape"))}
        if t in (torch.cat, torch.concat):
            return "concat", {"dim": _arg(node, 1, "dim", 0)}
        if t in ("view", "reshape", torch.reshape) and node.op == "call_method" or t is torch.reshape:
            return "move", {"fn": "reshape", "args": list(node.args[1:])}
        if (node.op == "call_method" and t in MOVE_METHODS) or t in MOVE_FUNCTIONS:
            return "move", {"fn": MOVE_FUNCTIONS.get(t, t), "args": list(node.args[1:]),
                            "kwargs": dict(node.kwargs)}
        if t is operator.getitem:
            return "getitem", {"index": node.args[1]}
        if t in (F.adaptive_avg_pool2d,):
            return "adaptive_avgpool", {"output_size": _pair(node.args[1])}
        if t in (torch.mean, "mean"):
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
            dims = tuple(sorted(d % 4 for d in (dims if isinstance(dims, (tuple, list)) else (dims,))))
            if dims != (2, 3):
                raise _unsupported(node, f"mean over dims {dims} (only over H, W)")
            return "mean_hw", {"keepdim": bool(keep)}
        if (t in ("size", getattr, operator.eq, torch._assert)
                or getattr(t, "__name__", "") in ("_assert", "_assert_is_none")):
            return "meta", {}
        if t in (F.dropout, "contiguous", "clone"):
            return "alias", {}
        name = getattr(t, "__name__", str(t))
        raise _unsupported(node, f"{node.op} {name}")
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
class _Capture:
    """One pass over the fx graph, emitting fused FNodes."""

    def __init__(self, gm: fx.GraphModule):
        self.gm = gm
        self.nodes: list[FNode] = []
        self.by_name: dict[str, FNode] = {}
        self.value: dict[fx.Node, object] = {}  # fx node -> FNode name | ("shape", ...) | list | None
        self.open_layer: dict[str, bool] = {}  # FNode name -> still fusable
        self.n_users = {n: len(n.users) for n in gm.graph.nodes}

    # ---- naming
    def name_for(self, node: fx.Node, role: str | None = None, claim_path: bool = True) -> str:
        """Module path for the first compute op in a module, else path + role/node name."""
        path = str(node.target) if node.op == "call_module" else _module_path(node)
        candidates = [path] if path and (claim_path or node.op == "call_module") else []
        if path:
            candidates += [f"{path}.{role}"] if role else []
            candidates.append(f"{path}.{node.name}")
        candidates.append(node.name)
        return next(c for c in candidates if c and c not in self.by_name)

    def emit(self, fn: FNode) -> str:
        if fn.name in self.by_name:
            raise ValueError(f"duplicate layer name {fn.name!r}")
        self.nodes.append(fn)
        self.by_name[fn.name] = fn
        return fn.name

    # ---- operands
    def src(self, arg, node: fx.Node) -> str:
        if isinstance(arg, fx.Node) and isinstance(self.value.get(arg), tuple) and self.value[arg][0] == "param":
            self.value[arg] = self.emit_const(arg)
        if not isinstance(arg, fx.Node) or not isinstance(self.value.get(arg), str):
            raise _unsupported(node, "non-tensor operand")
        return self.value[arg]

    def emit_const(self, node: fx.Node) -> str:
        param = self.param(node)
        name = next(c for c in (str(node.target), node.name) if c not in self.by_name)
        return self.emit(FNode(name, "const", [], weight=param.detach().to(torch.float64)))

    def param(self, node) -> torch.Tensor | None:
        if node is None:
            return None
        if isinstance(node, fx.Node) and node.op == "get_attr":
            obj = self.gm
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            return obj
        if isinstance(node, torch.Tensor):
            return node
        raise _unsupported(node, "parameter that is not a module attribute")

    def symbolic(self, a, node):
        """Shape arguments: ints, or ('dim', tensor, i) read from a tensor at run time."""
        if isinstance(a, (list, tuple)):
            return [self.symbolic(x, node) for x in a]
        if isinstance(a, fx.Node):
            v = self.value.get(a)
            if isinstance(v, tuple) and v[0] == "dim":
                return {"dim_of": v[1], "index": v[2]}
            raise _unsupported(node, "shape argument computed from tensor values")
        return a

    def fusable(self, arg) -> FNode | None:
        """The layer producing ``arg`` if this consumer may fuse into it."""
        name = self.value.get(arg)
        if not isinstance(name, str) or not self.open_layer.get(name) or self.n_users[arg] != 1:
            return None
        return self.by_name[name]

    # ---- the pass
    def run(self) -> list[FNode]:
        for node in self.gm.graph.nodes:
            kind, data = _classify(self.gm, node)
            getattr(self, f"on_{kind}")(node, data)
        return _topological(self.nodes)

    def on_input(self, node, data):
        if any(fn.kind == "input" for fn in self.nodes):
            # an optional argument fixed to its default by trace(): only guards use it; used
            # as a tensor, src() refuses it as a second input
            self.value[node] = None
            return
        self.value[node] = self.emit(FNode("input", "input"))

    def on_output(self, node, data):
        out = node.args[0]
        if isinstance(out, (tuple, list)):
            if len(out) != 1:
                raise _unsupported(node, "models with more than one output")
            out = out[0]
        self.emit(FNode("output", "output", [self.src(out, node)]))

    def on_get_attr(self, node, data):
        self.value[node] = ("param", node.target)  # becomes a const only if used as a tensor

    def on_alias(self, node, data):
        self.value[node] = self.value.get(node.args[0])

    def on_meta(self, node, data):
        """Shapes: x.shape / x.size() / x.shape[i] resolve to ('dim', tensor, i)."""
        t = node.target
        a0 = node.args[0] if node.args else None
        v = self.value.get(a0) if isinstance(a0, fx.Node) else None
        if (t == "size" and len(node.args) == 1) or (t is getattr and node.args[1] == "shape"):
            self.value[node] = ("shape", v)
        elif t == "size":
            self.value[node] = ("dim", v, node.args[1])
        else:
            self.value[node] = None

    def on_getitem(self, node, data):
        base = self.value.get(node.args[0])
        idx = data["index"]
        if isinstance(base, tuple) and base[0] == "shape" and isinstance(idx, int):
            self.value[node] = ("dim", base[1], idx)
        elif isinstance(base, tuple) and base[0] == "unbind":
            _, src_name, dim = base
            fn = FNode(self.name_for(node, claim_path=False), "move", [src_name],
                       attrs={"fn": "select", "args": [dim, idx]})
            self.value[node] = self.emit(fn)
        elif isinstance(base, str):
            fn = FNode(self.name_for(node, claim_path=False), "move", [base],
                       attrs={"fn": "getitem", "args": [_index_to_json(idx, node)]})
            self.value[node] = self.emit(fn)
        else:
            raise _unsupported(node, "indexing of a non-tensor value")

    def on_move(self, node, data):
        src = self.src(node.args[0], node)
        fn_name = data["fn"]
        args = self.symbolic(data["args"], node)
        if data.get("kwargs"):
            args += [self.symbolic(v, node) for v in data["kwargs"].values()]
        if fn_name == "unbind":
            self.value[node] = ("unbind", src, args[0] if args else 0)
            return
        refs = sorted({a["dim_of"] for a in _flat(args) if isinstance(a, dict)})
        to_2d = (fn_name == "flatten" and args in ([1], [1, -1])) or (
            fn_name == "reshape" and _flat_args(args) == [{"dim_of": src, "index": 0}, -1])
        if to_2d:  # flatten(1) / x.view(x.size(0), -1)
            fn = FNode(self.name_for(node), "flatten", [src], attrs={"start_dim": 1})
        else:
            fn = FNode(self.name_for(node, claim_path=False), "move", [src],
                       attrs={"fn": fn_name, "args": args, "shape_refs": refs})
        self.value[node] = self.emit(fn)

    def on_conv(self, node, data):
        self._weighted(node, data, "conv")

    def on_linear(self, node, data):
        self._weighted(node, data, "linear")

    def _weighted(self, node, data, kind):
        m = data["module"]
        attrs = {}
        if kind == "conv":
            attrs = {"stride": _pair(m.stride), "padding": _pair(m.padding),
                     "dilation": _pair(m.dilation), "groups": m.groups}
        w = m.weight.detach().to(torch.float64)
        b = None if m.bias is None else m.bias.detach().to(torch.float64)
        fn = FNode(str(node.target), kind, [self.src(node.args[0], node)], w, b, attrs)
        self.value[node] = self.emit(fn)
        self.open_layer[fn.name] = True

    def on_bn(self, node, data):
        prod = self.fusable(node.args[0])
        if prod is None or prod.kind != "conv" or prod.residual is not None:
            raise _unsupported(node, "BatchNorm2d that does not directly follow a Conv2d")
        prod.weight, prod.bias = _fold_bn(prod.weight, prod.bias, data["module"])
        prod.attrs.setdefault("fused", []).append("batchnorm")
        self.value[node] = prod.name

    def _act(self, node, kind):
        prod = self.fusable(node.args[0])
        if prod is not None and prod.kind in ("conv", "linear", "add"):
            prod.act = kind
            prod.attrs.setdefault("fused", []).append(kind)
            self.open_layer[prod.name] = False
            self.value[node] = prod.name
        else:
            fn = FNode(self.name_for(node, "relu"), "relu", [self.src(node.args[0], node)],
                       attrs={"relu6": kind == "relu6"})
            self.value[node] = self.emit(fn)

    def on_relu(self, node, data):
        self._act(node, "relu")

    def on_relu6(self, node, data):
        self._act(node, "relu6")

    def on_add(self, node, data):
        a, b = node.args
        for x in (a, b):
            host = self.fusable(x)
            if host is not None and host.kind in ("conv", "linear") and host.residual is None:
                other = b if x is a else a
                host.residual = self.src(other, node)
                host.attrs.setdefault("fused", []).append("residual add")
                self.value[node] = host.name
                return
        fn = FNode(self.name_for(node, "add"), "add", [self.src(a, node), self.src(b, node)])
        self.value[node] = self.emit(fn)
        self.open_layer[fn.name] = True

    def on_scale(self, node, data):
        fn = FNode(self.name_for(node, "scale"), "scale", [self.src(node.args[0], node)],
                   attrs={"factor": data["factor"]})
        self.value[node] = self.emit(fn)

    def on_lut(self, node, data):
        fn = FNode(self.name_for(node, data["fn"]), "lut", [self.src(node.args[0], node)],
                   attrs={"fn": data["fn"]})
        self.value[node] = self.emit(fn)

    def on_softmax(self, node, data):
        dim = data["dim"]
        if dim not in (-1, None):
            raise _unsupported(node, f"softmax over dim {dim} (only the last dim)")
        fn = FNode(self.name_for(node, "softmax", claim_path=False), "softmax",
                   [self.src(node.args[0], node)])
        self.value[node] = self.emit(fn)

    def on_matmul(self, node, data):
        fn = FNode(self.name_for(node, "matmul", claim_path=False), "matmul",
                   [self.src(node.args[0], node), self.src(node.args[1], node)], attrs={"factor": 1.0})
        self.value[node] = self.emit(fn)

    def on_sdpa(self, node, data):
        """softmax(q @ k^T * scale) @ v as three integer layers: .qk, .softmax, .av."""
        q, k, v = (self.src(a, node) for a in node.args[:3])
        path = _module_path(node)
        base = path if path and f"{path}.qk" not in self.by_name else node.name
        kt = self.emit(FNode(f"{base}.kT", "move", [k], attrs={"fn": "transpose", "args": [-2, -1]}))
        factor = data["scale"]
        qk = self.emit(FNode(f"{base}.qk", "matmul", [q, kt], attrs={"factor": factor}))  # None: 1/sqrt(d)
        sm = self.emit(FNode(f"{base}.softmax", "softmax", [qk]))
        self.value[node] = self.emit(FNode(f"{base}.av", "matmul", [sm, v], attrs={"factor": 1.0}))

    def on_layernorm(self, node, data):
        if len(data["shape"]) != 1:
            raise _unsupported(node, f"LayerNorm over {data['shape']} (only the last dim)")
        gamma, beta = self.param(data["weight"]), self.param(data["bias"])
        n = data["shape"][0]
        w = torch.ones(n, dtype=torch.float64) if gamma is None else gamma.detach().to(torch.float64)
        b = torch.zeros(n, dtype=torch.float64) if beta is None else beta.detach().to(torch.float64)
        fn = FNode(self.name_for(node, "norm"), "layernorm", [self.src(node.args[0], node)], w, b,
                   attrs={"eps": float(data["eps"])})
        self.value[node] = self.emit(fn)

    def on_concat(self, node, data):
        tensors = node.args[0]
        fn = FNode(self.name_for(node, "cat"), "concat", [self.src(t, node) for t in tensors],
                   attrs={"dim": data["dim"]})
        self.value[node] = self.emit(fn)

    def _pool(self, node, kind, attrs):
        self.value[node] = self.emit(FNode(self.name_for(node, kind), kind,
                                           [self.src(node.args[0], node)], attrs=attrs))

    def on_maxpool(self, node, data):
        self._pool(node, "maxpool", data)

    def on_avgpool(self, node, data):
        self._pool(node, "avgpool", data)

    def on_adaptive_avgpool(self, node, data):
        self._pool(node, "avgpool", {"output_size": data["output_size"], "adaptive": True})

    def on_mean_hw(self, node, data):
        self._pool(node, "avgpool", {"output_size": (1, 1), "adaptive": True})
        if not data["keepdim"]:
            name = self.value[node]
            self.value[node] = self.emit(FNode(name + ".flatten", "flatten", [name], attrs={"start_dim": 1}))


def _flat_args(args):
    """reshape(a, b) and reshape((a, b)) alike."""
    return list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)


def _flat(a):
    if isinstance(a, (list, tuple)):
        for x in a:
            yield from _flat(x)
    else:
        yield a


def _index_to_json(idx, node):
    """A getitem index as JSON-able data: ints, None, '...', and slices as dicts."""
    if isinstance(idx, tuple):
        return [_index_to_json(i, node) for i in idx]
    if isinstance(idx, slice):
        for v in (idx.start, idx.stop, idx.step):
            if v is not None and not isinstance(v, int):
                raise _unsupported(node, "slice with computed bounds")
        return {"slice": [idx.start, idx.stop, idx.step]}
    if idx is Ellipsis:
        return "..."
    if idx is None or isinstance(idx, int):
        return idx
    raise _unsupported(node, f"indexing with {type(idx).__name__}")


def capture(model: nn.Module) -> list[FNode]:
    """Trace and fuse ``model`` into a topologically ordered list of ``FNode``."""
    return _Capture(trace(model.eval())).run()
