"""Capture a float model with torch.fx and fuse it into quantizable layers.

No model-name tables: every ``nn.Module`` that torch.fx can trace is reduced to a
small set of layer kinds by looking at the ops themselves:

* ``conv`` / ``linear``: Conv2d or Linear (modules or ``F.conv2d`` / ``F.linear`` on
  parameters), with a following BatchNorm (module or ``F.batch_norm``) folded in, an
  optional residual add fused after it (``conv(x) + r``) and an optional ReLU/ReLU6;
* ``affine``: a BatchNorm that follows no conv (after a concat, on the input): a
  per-channel scale and offset (+ReLU);
* ``add``: an add of two quantized tensors (+ReLU) that could not be fused into a conv;
  ``mul``: the product of two quantized tensors (squeeze-excite, gating, layer scale);
* ``maxpool``, ``avgpool`` (any kernel, stride, padding, ``ceil_mode``,
  ``count_include_pad``, ``divisor_override``; adaptive pooling of any sizes; ``mean``
  over H, W), ``flatten``, ``relu``;
* element-wise functions of one tensor: ``lut`` (GELU, SiLU, sigmoid, tanh, hard-sigmoid,
  hard-swish, ... as modules, functions or any composition such as
  ``x * F.relu6(x + 3) / 6``: the whole chain is one table over the input codes),
  ``scale`` (multiplication by a positive number: only the scale changes);
* transformer pieces: ``layernorm`` (over the last dims), ``softmax``, ``matmul`` (two
  activations; ``scaled_dot_product_attention`` and ``nn.MultiheadAttention`` become
  ``.qk`` matmul, ``.softmax``, ``.av`` matmul), ``const`` (a parameter used as a tensor),
  ``add_const`` (a constant added to attention logits before a softmax), ``concat``;
* ``move``: data movement that keeps codes and scale (reshape, permute, transpose,
  flatten, indexing, unbind, chunk, split, expand, pad with zeros, roll);
* ``input`` and ``output``.

Sizes computed from shapes (``x.size(1) // groups``, ``h // p``) stay symbolic, so the
batch size is free.  With an example input (``capture(model, example_input)``) the
tracer also knows every value at that input shape: Python control flow on shapes (a
window larger than the map, a padding amount) is resolved there, functions that
libraries hide from torch.fx (``torch.fx.wrap``) are traced through, and tensors that
depend on parameters and shapes only (a relative position bias, an attention mask) are
computed once and become constants.  Dropout and Identity vanish.  Anything else
raises ``UnsupportedOpError`` naming the fx node, the op and the model source line.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Callable

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


SUPPORTED = ("Conv2d, Linear (modules or F.conv2d/F.linear), BatchNorm (folded into a conv, else a "
             "per-channel affine), ReLU/ReLU6, add, mul, element-wise functions of one tensor (tables), "
             "MaxPool2d, AvgPool2d, adaptive pooling, mean over H/W, flatten, LayerNorm, softmax, matmul, "
             "scaled_dot_product_attention, MultiheadAttention, cat, reshape/permute/transpose/indexing/"
             "chunk/split/pad/roll, Dropout, Identity")


# ------------------------------------------------------------------ fx helpers
def _source_line(node: fx.Node) -> str:
    trace = node.stack_trace or ""
    frames = re.findall(r'File "([^"]+)", line (\d+)', trace)
    user = [f for f in frames if "/torch/" not in f[0] and f[0] != __file__]
    if user:
        return f" (model source {user[-1][0]}:{user[-1][1]})"
    return ""


def _unsupported(node: fx.Node, what: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"cannot convert fx node {node.name!r}: {what}{_source_line(node)}. "
                              f"Supported: {SUPPORTED}.")


_NO = object()  # no value known at trace time

SHAPE_METHODS = ("size", "dim", "new_zeros", "new_ones", "new_empty", "new_full")
SHAPE_ATTRS = ("shape", "ndim", "dtype", "device", "is_cuda")
SHAPE_FUNCTIONS = (torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like)


def _shape_only(node: fx.Node) -> bool:
    """Ops that read a tensor's shape (or dtype / device), never its values."""
    if node.op == "call_method":
        return node.target in SHAPE_METHODS
    if node.op == "call_function":
        if node.target is getattr:
            return node.args[1] in SHAPE_ATTRS
        return node.target in SHAPE_FUNCTIONS
    return False


class _Proxy(fx.Proxy):
    """A proxy that knows its value at the example input (when there is one): Python
    control flow, ``len`` and ``int`` on shapes get that value."""

    def _known(self, what: str):
        return self.tracer.known(self.node, what)

    def __len__(self):
        return len(self._known("len()"))

    def __setitem__(self, key, value):  # recorded (the example's value is updated in place)
        self.tracer.create_proxy("call_function", operator.setitem, (self, key, value), {})

    def __index__(self):
        return operator.index(self._known("an index"))

    def __int__(self):
        return int(self._known("int()"))

    def __float__(self):
        return float(self._known("float()"))


class _Tracer(fx.Tracer):
    """fx.Tracer that also runs the model on an example input, op by op (``values``):
    which nodes depend on the input's values (``dep``), and snapshots of the
    parameter-and-shape-only tensors each input-dependent node consumes (``snapshots``)."""

    def __init__(self, example: torch.Tensor | None):
        super().__init__()
        self.record_stack_traces = True
        self.example = example
        self.values: dict[fx.Node, object] = {}
        self.dep: dict[fx.Node, bool] = {}
        self.snapshots: dict[tuple[fx.Node, fx.Node], torch.Tensor] = {}
        self._placeholders = 0

    def proxy(self, node):
        return _Proxy(node, self)

    def known(self, node: fx.Node, what: str):
        """The example's value of ``node`` for Python control flow: shapes and parameters
        only; a value computed from the input's values is refused (data-dependent)."""
        if self.dep.get(node, False):
            raise _unsupported(node, f"{what} on a value computed from the input (data-dependent control flow)")
        v = self.values.get(node, _NO)
        if v is _NO:
            raise _unsupported(node, f"{what} on a traced value (t2c.quantize(model, config, example_input=x) "
                                     "resolves control flow on shapes)")
        return v

    def to_bool(self, obj):
        return bool(self.known(obj.node, "Python control flow"))

    def iter(self, obj):
        return iter([obj[i] for i in range(len(self.known(obj.node, "iteration")))])

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        self._run(node)
        return node

    def _run(self, node: fx.Node) -> None:
        ins = node.all_input_nodes
        if node.op == "placeholder":
            self.dep[node] = self._placeholders == 0
            if self._placeholders == 0 and self.example is not None:
                self.values[node] = self.example
            self._placeholders += 1
            return
        self.dep[node] = any(self.dep.get(n, False) for n in ins) and not _shape_only(node)
        if self.example is None or any(self.values.get(n, _NO) is _NO for n in ins):
            return
        args = fx.node.map_arg(node.args, lambda n: self.values[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: self.values[n])
        try:
            with _unpatched():
                v = self._execute(node, args, kwargs)
        except Exception:  # the traced program is still valid; this node's value is unknown
            return
        if v is _NO:
            return
        self.values[node] = v
        if self.dep[node]:
            for n in ins:
                w = self.values[n]
                if not self.dep.get(n) and n.op != "get_attr" and isinstance(w, torch.Tensor):
                    self.snapshots[(node, n)] = w.detach().clone()

    def _execute(self, node, args, kwargs):
        if node.op == "get_attr":
            v = self.root
            for part in str(node.target).split("."):
                v = getattr(v, part)
            return v
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "call_module":
            return self.root.get_submodule(node.target)(*args, **kwargs)
        return _NO


@contextlib.contextmanager
def _unpatched():
    """nn.Module's own __call__ / __getattr__ while torch.fx has them patched: the tracer
    runs the example input through real modules without recording anything."""
    from torch.fx import _symbolic_trace as st

    call, get = nn.Module.__call__, nn.Module.__getattr__
    nn.Module.__call__, nn.Module.__getattr__ = st._orig_module_call, st._orig_module_getattr
    try:
        yield
    finally:
        nn.Module.__call__, nn.Module.__getattr__ = call, get


@contextlib.contextmanager
def _through_library_wraps():
    """Trace through functions that libraries registered with ``torch.fx.wrap`` (they hide
    shape-dependent Python from plain tracing; with an example input the tracer resolves it)."""
    from torch.fx import _symbolic_trace as st

    saved = dict(st._wrapped_fns_to_patch)
    for key, frame in saved.items():
        module = str(frame.get("__name__", ""))
        if module != "torch" and not module.startswith("torch."):
            del st._wrapped_fns_to_patch[key]
    try:
        yield
    finally:
        st._wrapped_fns_to_patch.clear()
        st._wrapped_fns_to_patch.update(saved)


def _trace(model: nn.Module, example_input: torch.Tensor | None = None):
    example = None if example_input is None else example_input.detach().to(torch.float32).clone()
    tracer = _Tracer(example)
    params = list(inspect.signature(model.forward).parameters.values())
    concrete = {p.name: p.default for p in params[1:] if p.default is not inspect.Parameter.empty}
    try:
        with torch.no_grad(), _through_library_wraps():
            graph = tracer.trace(model, concrete_args=concrete or None)
    except UnsupportedOpError:
        raise
    except Exception as e:  # torch.fx raises many types for untraceable control flow
        hint = "" if example is not None else \
            " (t2c.quantize(model, config, example_input=x) resolves control flow on shapes at x's shape)"
        raise UnsupportedOpError(f"torch.fx could not trace {type(model).__name__}: {e}{hint}") from e
    return fx.GraphModule(tracer.root, graph), tracer


def trace(model: nn.Module, example_input: torch.Tensor | None = None) -> fx.GraphModule:
    """Symbolically trace ``model``; optional forward arguments keep their defaults."""
    return _trace(model, example_input)[0]


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


def _deps(fn: FNode) -> list[str]:
    return fn.inputs + ([fn.residual] if fn.residual else []) + fn.attrs.get("shape_refs", [])


def _topological(nodes: list[FNode]) -> list[FNode]:
    """Stable topological order (a fused residual may come from a later-traced layer)."""
    done: set[str] = set()
    order: list[FNode] = []
    pending = list(nodes)
    while pending:
        for i, fn in enumerate(pending):
            if all(d in done for d in _deps(fn)):
                order.append(pending.pop(i))
                done.add(fn.name)
                break
        else:  # pragma: no cover - fx graphs are acyclic
            raise ValueError("cycle in the fused graph")
    return order


def _live(nodes: list[FNode]) -> list[FNode]:
    """The layers the output depends on (plus the input)."""
    by_name = {fn.name: fn for fn in nodes}
    need = {fn.name for fn in nodes if fn.kind in ("output", "input")}
    todo = list(need)
    while todo:
        for d in _deps(by_name[todo.pop()]):
            if d not in need:
                need.add(d)
                todo.append(d)
    return [fn for fn in nodes if fn.name in need]


# element-wise functions of one tensor: the torch function and, where arith tabulates it
# by name (docs/arithmetic.md), that name
def _gelu_tanh(t):
    return F.gelu(t, approximate="tanh")


NAMED_FUNCTIONS = {"gelu": F.gelu, "gelu_tanh": _gelu_tanh, "silu": F.silu, "sigmoid": torch.sigmoid,
                   "tanh": torch.tanh, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
                   "softplus": F.softplus, "mish": F.mish}
UNARY_MODULES = {nn.GELU: "gelu", nn.SiLU: "silu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
                 nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.Softplus: "softplus",
                 nn.Mish: "mish", nn.ELU: None, nn.LeakyReLU: None, nn.SELU: None, nn.CELU: None,
                 nn.Hardtanh: None}
UNARY_FUNCTIONS = {F.gelu: "gelu", F.silu: "silu", torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
                   torch.tanh: "tanh", F.tanh: "tanh", F.hardswish: "hardswish",
                   F.hardsigmoid: "hardsigmoid", F.softplus: "softplus", F.mish: "mish",
                   F.elu: None, F.leaky_relu: None, F.selu: None, F.celu: None, F.hardtanh: None,
                   torch.exp: None, torch.neg: None, torch.abs: None, torch.square: None,
                   torch.sqrt: None, torch.rsqrt: None, torch.reciprocal: None, torch.erf: None}
UNARY_METHODS = {"sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh", "tanh_": "tanh",
                 "exp": None, "neg": None, "abs": None, "square": None, "sqrt": None, "rsqrt": None,
                 "reciprocal": None, "erf": None}
ARITH = {operator.add: "add", operator.iadd: "add", torch.add: "add", "add": "add", "add_": "add",
         operator.sub: "sub", operator.isub: "sub", torch.sub: "sub", "sub": "sub", "sub_": "sub",
         "rsub": "rsub", torch.rsub: "rsub",
         operator.mul: "mul", operator.imul: "mul", torch.mul: "mul", "mul": "mul", "mul_": "mul",
         operator.truediv: "div", operator.itruediv: "div", torch.div: "div", "div": "div", "div_": "div",
         operator.floordiv: "floordiv", operator.mod: "mod", operator.neg: "neg",
         operator.pow: "pow", torch.pow: "pow", "pow": "pow"}
CLAMPS = {torch.clamp: "clamp", torch.clip: "clamp", "clamp": "clamp", "clip": "clamp", "clamp_": "clamp",
          "clamp_min": "min", torch.clamp_min: "min", "clamp_max": "max", torch.clamp_max: "max"}
MOVE_METHODS = {"reshape", "view", "permute", "transpose", "flatten", "expand", "unbind", "squeeze",
                "unsqueeze", "roll"}
MOVE_FUNCTIONS = {torch.reshape: "reshape", torch.permute: "permute", torch.transpose: "transpose",
                  torch.flatten: "flatten", torch.unbind: "unbind", torch.squeeze: "squeeze",
                  torch.unsqueeze: "unsqueeze", torch.roll: "roll"}
SOFTMAXES = (F.softmax, torch.softmax, "softmax")
ALIASES = (F.dropout, "contiguous", "clone", "detach", torch.clone)


class _Sym:
    """A size computed from tensor shapes: JSON for ``t2c.movement.resolve`` and its value
    at the example input (None without one)."""

    __slots__ = ("expr", "value")

    def __init__(self, expr, value=None):
        self.expr, self.value = expr, value


def _json(v):
    if isinstance(v, _Sym):
        return v.expr
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    return v


def _refs(a) -> set[str]:
    """Tensors whose shapes a (JSON) argument reads."""
    if isinstance(a, list):
        return set().union(*(_refs(x) for x in a)) if a else set()
    if isinstance(a, dict):
        if "dim_of" in a:
            return {a["dim_of"]}
        return set().union(*(_refs(x) for x in a.values())) if a else set()
    return set()


@dataclass
class _Expr:
    """An element-wise function of one tensor, not yet materialized (a table or a scale)."""

    src: str
    fn: Callable
    desc: str
    node: fx.Node                  # the fx node that made it (naming)
    named: str | None = None       # a single function arith tabulates by name
    factor: float | None = None    # fn(x) == factor * x (a pure positive scale), else None


def _identity(t):
    return t


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
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            return "bn", {"mean": m.running_mean, "var": m.running_var, "eps": m.eps,
                          "weight": m.weight if m.affine else None, "bias": m.bias if m.affine else None}
        if isinstance(m, nn.LayerNorm):
            return "layernorm", {"weight": m.weight, "bias": m.bias, "eps": m.eps,
                                 "shape": tuple(m.normalized_shape)}
        if type(m) is nn.ReLU:
            return "relu", {}
        if type(m) is nn.ReLU6 or (type(m) is nn.Hardtanh and (m.min_val, m.max_val) == (0.0, 6.0)):
            return "relu6", {}
        if type(m) in UNARY_MODULES:
            name = UNARY_MODULES[type(m)]
            if type(m) is nn.GELU and m.approximate == "tanh":
                name = "gelu_tanh"
            if type(m) is nn.Softplus and (m.beta, m.threshold) != (1.0, 20.0):
                name = None
            return "unary", {"fn": m, "name": name}
        if isinstance(m, nn.Softmax):
            return "softmax", {"dim": m.dim}
        if isinstance(m, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)):
            return "alias", {}
        if isinstance(m, nn.MaxPool2d):
            if m.return_indices:
                raise _unsupported(node, "MaxPool2d(return_indices=True)")
            return "maxpool", {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                               "padding": _pair(m.padding), "dilation": _pair(m.dilation),
                               "ceil_mode": bool(m.ceil_mode)}
        if isinstance(m, nn.AvgPool2d):
            return "avgpool", {"kernel": _pair(m.kernel_size), "stride": _pair(m.stride or m.kernel_size),
                               "padding": _pair(m.padding), "ceil_mode": bool(m.ceil_mode),
                               "count_include_pad": bool(m.count_include_pad),
                               "divisor_override": m.divisor_override}
        if isinstance(m, nn.AdaptiveAvgPool2d):
            return "adaptive_avgpool", {"output_size": _pair(m.output_size)}
        if isinstance(m, nn.AdaptiveMaxPool2d):
            if m.return_indices:
                raise _unsupported(node, "AdaptiveMaxPool2d(return_indices=True)")
            return "adaptive_maxpool", {"output_size": _pair(m.output_size)}
        if isinstance(m, nn.Flatten):
            return "move", {"fn": "flatten", "args": [m.start_dim, m.end_dim]}
        if isinstance(m, nn.MultiheadAttention):
            return "mha", {"module": m}
        raise _unsupported(node, f"module {node.target!r} of type {type(m).__name__}")
    if node.op in ("call_function", "call_method"):
        t = node.target
        if t in ARITH:
            return "arith", {"op": ARITH[t]}
        if t in (F.relu, torch.relu, "relu", "relu_", torch.relu_):
            return "relu", {}
        if t is F.relu6:
            return "relu6", {}
        if t is F.hardtanh and (_arg(node, 1, "min_val", -1.0), _arg(node, 2, "max_val", 1.0)) == (0.0, 6.0):
            return "relu6", {}
        if t in CLAMPS:
            lo = _arg(node, 1, "min") if CLAMPS[t] != "max" else None
            hi = _arg(node, 2, "max") if CLAMPS[t] == "clamp" else (_arg(node, 1, "max") if CLAMPS[t] == "max"
                                                                    else None)
            if isinstance(lo, fx.Node) or isinstance(hi, fx.Node):
                raise _unsupported(node, "clamp with tensor bounds")
            if (lo, hi) == (0, None) or (lo, hi) == (0.0, None):
                return "relu", {}
            if lo in (0, 0.0) and hi in (6, 6.0):
                return "relu6", {}
            return "unary", {"fn": lambda v, lo=lo, hi=hi: torch.clamp(v, lo, hi), "name": None,
                             "desc": f"clamp[{lo}, {hi}]"}
        if t in UNARY_FUNCTIONS or (node.op == "call_method" and t in UNARY_METHODS):
            name = UNARY_FUNCTIONS[t] if t in UNARY_FUNCTIONS else UNARY_METHODS[t]
            rest = [a for a in node.args[1:] if not isinstance(a, bool)]  # drop a positional inplace
            kw = dict(node.kwargs)
            kw.pop("inplace", None)
            if any(isinstance(a, fx.Node) for a in [*rest, *kw.values()]):
                raise _unsupported(node, f"{getattr(t, '__name__', t)} with tensor arguments")
            if t is F.gelu and kw.get("approximate", "none") == "tanh":
                name, kw = "gelu_tanh", {}
            if rest or kw:
                name = None
            base = getattr(torch, t.rstrip("_")) if isinstance(t, str) else t
            return "unary", {"fn": lambda v, f=base, a=tuple(rest), k=kw: f(v, *a, **k), "name": name,
                             "desc": getattr(base, "__name__", str(t))}
        if t in SOFTMAXES:
            return "softmax", {"dim": _arg(node, 1, "dim")}
        if t in (torch.matmul, operator.matmul, "matmul", torch.bmm, "bmm"):
            return "matmul", {}
        if t is F.scaled_dot_product_attention:
            if (_arg(node, 3, "attn_mask") is not None or _arg(node, 4, "dropout_p", 0.0)
                    or _arg(node, 5, "is_causal", False)):
                raise _unsupported(node, "scaled_dot_product_attention with a mask, dropout or causal")
            return "sdpa", {"scale": _arg(node, 6, "scale")}
        if t is F.layer_norm:
            return "layernorm", {"weight": _arg(node, 2, "weight"), "bias": _arg(node, 3, "bias"),
                                 "eps": _arg(node, 4, "eps", 1e-5), "shape": _arg(node, 1, "normalized_shape")}
        if t is F.batch_norm:
            if _arg(node, 5, "training", False):
                raise _unsupported(node, "batch_norm in training mode")
            return "bn", {"mean": _arg(node, 1, "running_mean"), "var": _arg(node, 2, "running_var"),
                          "weight": _arg(node, 3, "weight"), "bias": _arg(node, 4, "bias"),
                          "eps": _arg(node, 7, "eps", 1e-5)}
        if t is F.linear:
            return "flinear", {"weight": _arg(node, 1, "weight"), "bias": _arg(node, 2, "bias")}
        if t is F.conv2d:
            padding = _arg(node, 4, "padding", 0)
            if isinstance(padding, str):
                raise _unsupported(node, f"conv2d with padding={padding!r} (use integers)")
            return "fconv", {"weight": _arg(node, 1, "weight"), "bias": _arg(node, 2, "bias"),
                             "stride": _pair(_arg(node, 3, "stride", 1)), "padding": _pair(padding),
                             "dilation": _pair(_arg(node, 5, "dilation", 1)), "groups": _arg(node, 6, "groups", 1)}
        if t in (torch.cat, torch.concat, torch.concatenate):
            return "concat", {"dim": _arg(node, 1, "dim", 0)}
        if t is F.pad:
            mode, value = _arg(node, 2, "mode", "constant"), _arg(node, 3, "value", None)
            if mode != "constant" or value not in (None, 0, 0.0):
                raise _unsupported(node, f"pad with mode={mode!r}, value={value!r} (only zeros)")
            return "pad", {}
        if t in ("chunk", torch.chunk):
            return "chunk", {"chunks": _arg(node, 1, "chunks"), "dim": _arg(node, 2, "dim", 0)}
        if t in ("split", torch.split):
            return "split", {"size": _arg(node, 1, "split_size_or_sections", _arg(node, 1, "split_size")),
                             "dim": _arg(node, 2, "dim", 0)}
        if t in ("view", "reshape", torch.reshape) and node.op == "call_method" or t is torch.reshape:
            return "move", {"fn": "reshape", "args": list(node.args[1:])}
        if (node.op == "call_method" and t in MOVE_METHODS) or t in MOVE_FUNCTIONS:
            return "move", {"fn": MOVE_FUNCTIONS.get(t, t), "args": list(node.args[1:]),
                            "kwargs": dict(node.kwargs)}
        if t is operator.getitem:
            return "getitem", {"index": node.args[1]}
        if t is operator.setitem:
            return "setitem", {}
        if t is F.adaptive_avg_pool2d:
            return "adaptive_avgpool", {"output_size": _pair(_arg(node, 1, "output_size"))}
        if t is F.adaptive_max_pool2d:
            if _arg(node, 2, "return_indices", False):
                raise _unsupported(node, "adaptive_max_pool2d with return_indices")
            return "adaptive_maxpool", {"output_size": _pair(_arg(node, 1, "output_size"))}
        if t is F.max_pool2d:
            if _arg(node, 6, "return_indices", False):
                raise _unsupported(node, "max_pool2d with return_indices")
            k = _pair(_arg(node, 1, "kernel_size"))
            return "maxpool", {"kernel": k, "stride": _pair(_arg(node, 2, "stride", None) or k),
                               "padding": _pair(_arg(node, 3, "padding", 0)),
                               "dilation": _pair(_arg(node, 4, "dilation", 1)),
                               "ceil_mode": bool(_arg(node, 5, "ceil_mode", False))}
        if t is F.avg_pool2d:
            k = _pair(_arg(node, 1, "kernel_size"))
            return "avgpool", {"kernel": k, "stride": _pair(_arg(node, 2, "stride", None) or k),
                               "padding": _pair(_arg(node, 3, "padding", 0)),
                               "ceil_mode": bool(_arg(node, 4, "ceil_mode", False)),
                               "count_include_pad": bool(_arg(node, 5, "count_include_pad", True)),
                               "divisor_override": _arg(node, 6, "divisor_override", None)}
        if t in (torch.mean, "mean"):
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
            dims = tuple(sorted(d % 4 for d in (dims if isinstance(dims, (tuple, list)) else (dims,))))
            if dims != (2, 3):
                raise _unsupported(node, f"mean over dims {dims} (only over H, W)")
            return "mean_hw", {"keepdim": bool(keep)}
        if (t in ("size", "dim", getattr, operator.eq, operator.ne, operator.lt, operator.le, operator.gt,
                  operator.ge, torch._assert, "new_zeros", "new_ones", "new_empty", "new_full")
                or t in SHAPE_FUNCTIONS
                or getattr(t, "__name__", "") in ("_assert", "_assert_is_none")):
            return "meta", {}
        if t in ALIASES:
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


def _bn_affine(mean, var, gamma, beta, eps):
    """(k, b) with BatchNorm(x) == k * x + b per channel (float64)."""
    mean, var = mean.detach().to(torch.float64), var.detach().to(torch.float64)
    gamma = torch.ones_like(mean) if gamma is None else gamma.detach().to(torch.float64)
    beta = torch.zeros_like(mean) if beta is None else beta.detach().to(torch.float64)
    k = gamma / torch.sqrt(var + eps)
    return k, beta - mean * k


def _is_tensor_value(v) -> bool:
    return isinstance(v, (str, _Expr)) or (isinstance(v, tuple) and v and v[0] in ("param", "folded"))


def _is_const_value(v) -> bool:
    return isinstance(v, tuple) and bool(v) and v[0] in ("param", "folded")


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


SYM_ARITH = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "floordiv": operator.floordiv,
             "mod": operator.mod}


# ------------------------------------------------------------------ fusion
class _Capture:
    """One pass over the fx graph, emitting fused FNodes."""

    def __init__(self, gm: fx.GraphModule, tracer: _Tracer | None = None):
        self.gm = gm
        self.tracer = tracer
        self.nodes: list[FNode] = []
        self.by_name: dict[str, FNode] = {}
        self.value: dict[fx.Node, object] = {}  # fx node -> FNode name | _Expr | _Sym | ("shape", ...) | ...
        self.open_layer: dict[str, bool] = {}  # FNode name -> still fusable
        # users that read values (x.shape / x.ndim for a guard do not stop a fusion)
        self.n_users = {n: sum(not _shape_only(u) for u in n.users) for n in gm.graph.nodes}
        self._consts: dict[fx.Node, str] = {}

    # ---- trace-time values
    def known(self, node):
        """The value of fx node ``node`` at the example input (``_NO`` without one)."""
        if self.tracer is None or not isinstance(node, fx.Node):
            return _NO
        return self.tracer.values.get(node, _NO)

    def is_const(self, node: fx.Node) -> bool:
        """A tensor computed from parameters and shapes only (known at the example input)."""
        return (node.op in ("call_function", "call_method", "call_module") and self.tracer is not None
                and not self.tracer.dep.get(node, True) and isinstance(self.known(node), torch.Tensor))

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
    def val(self, a):
        return self.value.get(a) if isinstance(a, fx.Node) else a

    def src(self, arg, node: fx.Node) -> str:
        """The tensor (FNode name) of operand ``arg``: materializes tables and constants."""
        v = self.val(arg)
        if isinstance(v, _Expr):
            name = self.materialize(v)
            if isinstance(arg, fx.Node):
                self.value[arg] = name
            return name
        if _is_const_value(v):
            return self.emit_const(arg, node)
        if not isinstance(v, str):
            raise _unsupported(node, "non-tensor operand")
        return v

    def const_tensor(self, arg, node: fx.Node) -> torch.Tensor:
        """The float value of a constant operand (a parameter, or folded at the example input)."""
        v = self.val(arg)
        if isinstance(v, tuple) and v[0] == "param":
            return self.param(arg)
        if isinstance(v, tuple) and v[0] == "folded":
            snap = self.tracer.snapshots.get((node, arg))
            return (snap if snap is not None else self.known(arg)).detach()
        raise _unsupported(node, "expected a constant")

    def emit_const(self, arg: fx.Node, node: fx.Node) -> str:
        if arg in self._consts:
            return self._consts[arg]
        value = self.const_tensor(arg, node)
        base = str(arg.target) if arg.op == "get_attr" else self.name_for(arg, "const", claim_path=False)
        name = next(c for c in (base, arg.name, f"{arg.name}.const") if c not in self.by_name)
        self._consts[arg] = self.emit(FNode(name, "const", [], weight=value.to(torch.float64)))
        return self._consts[arg]

    def param(self, node) -> torch.Tensor | None:
        if node is None:
            return None
        if isinstance(node, fx.Node) and node.op == "get_attr":
            obj = self.gm
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            return obj
        if isinstance(node, fx.Node) and isinstance(self.value.get(node), tuple) \
                and self.value[node][0] == "folded":
            return self.known(node)
        if isinstance(node, torch.Tensor):
            return node
        raise _unsupported(node if isinstance(node, fx.Node) else None,
                           "parameter that is not a module attribute")

    def symbolic(self, a, node):
        """Shape arguments: ints, or JSON sizes read from tensors at run time."""
        if isinstance(a, (list, tuple)):
            return [self.symbolic(x, node) for x in a]
        if isinstance(a, slice):
            return {"slice": [self.symbolic(x, node) for x in (a.start, a.stop, a.step)]}
        if isinstance(a, fx.Node):
            v = self.value.get(a)
            if isinstance(v, _Sym):
                return v.expr
            if _is_num(v):
                return v
            if isinstance(v, tuple) and v[0] == "shape":
                return [self.symbolic(x, node) for x in self.shape_items(v, node)]
            raise _unsupported(node, "shape argument computed from tensor values")
        return a

    def shape_items(self, v, node):
        _, name, start, step, length = v
        if length is None:
            raise _unsupported(node, "a whole shape whose rank is unknown (pass an example input)")
        return [_Sym({"dim_of": name, "index": start + i * step}) for i in range(length)]

    def fusable(self, arg) -> FNode | None:
        """The layer producing ``arg`` if this consumer may fuse into it."""
        name = self.value.get(arg)
        if not isinstance(name, str) or not self.open_layer.get(name) or self.n_users[arg] != 1:
            return None
        return self.by_name[name]

    # ---- element-wise expressions
    def expr(self, arg, node) -> _Expr:
        v = self.val(arg)
        if isinstance(v, _Expr):
            return v
        if isinstance(v, str):
            return _Expr(v, _identity, "x", arg, factor=1.0)
        raise _unsupported(node, "element-wise function of a non-tensor")

    def materialize(self, e: _Expr) -> str:
        if e.desc == "x":
            return e.src
        if e.factor is not None and e.factor > 0:
            return self.emit(FNode(self.name_for(e.node, "scale"), "scale", [e.src], attrs={"factor": e.factor}))
        fn = FNode(self.name_for(e.node, e.named or "lut"), "lut", [e.src],
                   attrs={"fn": e.named or e.desc, "torch_fn": e.fn})
        return self.emit(fn)

    def unary(self, node, f, desc, named=None):
        e = self.expr(node.args[0], node)
        self.value[node] = _Expr(e.src, lambda t, g=e.fn: f(g(t)), f"{desc}({e.desc})", node,
                                 named if e.desc == "x" else None, None)

    def scalar_op(self, node, e: _Expr, op: str, c: float, reflected: bool = False):
        ops = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
               "pow": operator.pow}
        f = ops[op]
        def fn(t, g=e.fn):
            return f(c, g(t)) if reflected else f(g(t), c)

        desc = f"{op}({c}, {e.desc})" if reflected else f"{op}({e.desc}, {c})"
        factor = None
        if not reflected and e.factor is not None and op in ("mul", "div"):
            factor = e.factor * (c if op == "mul" else 1.0 / c)
        self.value[node] = _Expr(e.src, fn, desc, node, None, factor)

    # ---- the pass
    def run(self) -> list[FNode]:
        for node in self.gm.graph.nodes:
            if self.is_const(node) and any(isinstance(self.value.get(a), tuple) and self.value[a][0] == "folded"
                                           for a in node.all_input_nodes):
                self.value[node] = ("folded", node)
                continue
            try:
                kind, data = _classify(self.gm, node)
                getattr(self, f"on_{kind}")(node, data)
            except UnsupportedOpError:
                if not self.is_const(node):
                    raise
                self.value[node] = ("folded", node)
            if self.is_const(node) and self.value.get(node) is None:
                self.value[node] = ("folded", node)
        return _topological(_live(self.nodes))

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

    def on_setitem(self, node, data):
        if not self.is_const(node.args[0]):
            raise _unsupported(node, "assignment into a tensor computed from the input")
        self.value[node] = None  # a constant built in place: its consumers see the result

    def on_meta(self, node, data):
        """Shapes: x.shape / x.size() / x.shape[i] / x.size(i) resolve to symbolic sizes."""
        t = node.target
        a0 = node.args[0] if node.args else None
        v = self.value.get(a0) if isinstance(a0, fx.Node) else None
        known = self.known(node)
        name = None
        if isinstance(v, _Expr):
            name = v.src
        elif isinstance(v, str):
            name = v
        if (t == "size" and len(node.args) == 1 and not node.kwargs) or (t is getattr and node.args[1] == "shape"):
            rank = len(known) if known is not _NO else None
            if name is None and known is not _NO:
                self.value[node] = tuple(int(d) for d in known)
            else:
                self.value[node] = ("shape", name, 0, 1, rank)
        elif t == "size":
            i = _arg(node, 1, "dim")
            if name is None:
                self.value[node] = int(known) if known is not _NO else None
            else:
                self.value[node] = _Sym({"dim_of": name, "index": i}, None if known is _NO else int(known))
        elif (t == "dim" or (t is getattr and node.args[1] == "ndim")) and known is not _NO:
            self.value[node] = int(known)
        else:
            self.value[node] = None

    def on_getitem(self, node, data):
        base = self.value.get(node.args[0])
        idx = data["index"]
        if isinstance(base, tuple) and base and base[0] == "shape":
            _, name, start, step, length = base
            if isinstance(idx, int):
                if length is not None:
                    idx = range(length)[idx]
                elif idx < 0 and start >= 0:
                    raise _unsupported(node, "negative index into a shape of unknown rank")
                known = self.known(node)
                self.value[node] = _Sym({"dim_of": name, "index": start + idx * step},
                                        None if known is _NO else int(known))
            elif isinstance(idx, slice) and all(isinstance(x, (int, type(None))) for x in
                                                (idx.start, idx.stop, idx.step)):
                if length is None:
                    if (idx.stop, idx.step) != (None, None) or (idx.start or 0) < 0 and start > 0:
                        raise _unsupported(node, "slice of a shape of unknown rank")
                    self.value[node] = ("shape", name, start + (idx.start or 0) * step, step, None)
                else:
                    r = range(length)[idx]
                    self.value[node] = ("shape", name, start + r.start * step, step * r.step, len(r))
            else:
                raise _unsupported(node, "indexing a shape with a computed index")
        elif isinstance(base, tuple) and base and base[0] == "values":
            self.value[node] = base[1][idx]
        elif isinstance(base, tuple) and base and base[0] == "unbind":
            _, src_name, dim = base
            fn = FNode(self.name_for(node, claim_path=False), "move", [src_name],
                       attrs={"fn": "select", "args": [dim, idx]})
            self.value[node] = self.emit(fn)
        elif isinstance(base, tuple) and base and base[0] == "pieces":
            _, src_name, dim, bounds = base
            lo, hi = bounds[idx]
            index = [{"slice": [None, None, None]}] * (dim if dim >= 0 else 0) + [{"slice": [lo, hi, None]}]
            if dim < 0:
                index = ["..."] + [{"slice": [lo, hi, None]}] + [{"slice": [None, None, None]}] * (-dim - 1)
            self._emit_move(node, "getitem", [src_name], [index])
        elif isinstance(base, (tuple, list)) and not (base and isinstance(base[0], str)):
            self.value[node] = base[idx]
        elif _is_tensor_value(base):
            src = self.src(node.args[0], node)
            self._emit_move(node, "getitem", [src], [self._index(idx, node)])
        else:
            raise _unsupported(node, "indexing of a non-tensor value")

    def _index(self, idx, node):
        """A getitem index as JSON: ints, None, '...', slices (bounds may be symbolic sizes)."""
        if isinstance(idx, tuple):
            return [self._index(i, node) for i in idx]
        if isinstance(idx, slice):
            return {"slice": [self._bound(v, node) for v in (idx.start, idx.stop, idx.step)]}
        if idx is Ellipsis:
            return "..."
        if idx is None or isinstance(idx, int):
            return idx
        if isinstance(idx, fx.Node) and isinstance(self.value.get(idx), _Sym):
            return self.value[idx].expr
        raise _unsupported(node, f"indexing with {type(idx).__name__}")

    def _bound(self, v, node):
        if v is None or isinstance(v, int):
            return v
        if isinstance(v, fx.Node):
            w = self.value.get(v)
            if isinstance(w, _Sym):
                return w.expr
            if isinstance(w, int):
                return w
        raise _unsupported(node, "slice with bounds computed from tensor values")

    def _emit_move(self, node, fn_name, inputs, args, role=None):
        refs = sorted(_refs(args))
        fn = FNode(self.name_for(node, role, claim_path=False), "move", inputs,
                   attrs={"fn": fn_name, "args": args, "shape_refs": refs})
        self.value[node] = self.emit(fn)

    def on_move(self, node, data):
        src = self.src(node.args[0], node)
        fn_name = data["fn"]
        args = self.symbolic(data["args"], node)
        if data.get("kwargs"):
            kw = data["kwargs"]
            if fn_name == "roll":
                args = [self.symbolic(kw.get("shifts", args[0] if args else None), node),
                        self.symbolic(kw.get("dims", args[1] if len(args) > 1 else None), node)]
            else:
                args += [self.symbolic(v, node) for v in kw.values()]
        if fn_name == "unbind":
            self.value[node] = ("unbind", src, args[0] if args else 0)
            return
        if fn_name == "roll" and (args[1] is None or not isinstance(args[1], (list, int))):
            raise _unsupported(node, "roll without dims")
        to_2d = (fn_name == "flatten" and args in ([1], [1, -1])) or (
            fn_name == "reshape" and _flat_args(args) == [{"dim_of": src, "index": 0}, -1])
        if to_2d:  # flatten(1) / x.view(x.size(0), -1)
            fn = FNode(self.name_for(node), "flatten", [src], attrs={"start_dim": 1})
            self.value[node] = self.emit(fn)
        else:
            self._emit_move(node, fn_name, [src], args)

    def on_pad(self, node, data):
        src = self.src(node.args[0], node)
        pads = self.symbolic(_arg(node, 1, "pad"), node)
        self._emit_move(node, "pad", [src], [pads, 0.0], role="pad")

    def on_chunk(self, node, data):
        src = self.src(node.args[0], node)
        n, dim = data["chunks"], data["dim"]
        known = self.known(node.args[0])
        if not isinstance(n, int) or not isinstance(dim, int):
            raise _unsupported(node, "chunk with computed arguments")
        size = {"dim_of": src, "index": dim}
        step = {"sym": "floordiv", "args": [{"sym": "add", "args": [size, n - 1]}, n]}
        count = n
        if known is not _NO:  # chunk may return fewer pieces than asked
            d = known.shape[dim]
            count = -(-d // -(-d // n)) if d else 0
        bounds = [({"sym": "mul", "args": [step, i]}, {"sym": "mul", "args": [step, i + 1]}) for i in range(count)]
        self.value[node] = ("pieces", src, dim, bounds)

    def on_split(self, node, data):
        src = self.src(node.args[0], node)
        size, dim = data["size"], data["dim"]
        if isinstance(size, int):
            known = self.known(node.args[0])
            if known is _NO:
                raise _unsupported(node, "split into equal parts of a tensor of unknown size")
            d = known.shape[dim]
            size = [min(size, d - i) for i in range(0, d, size)]
        if not all(isinstance(x, int) for x in size):
            raise _unsupported(node, "split with computed sizes")
        ends = [sum(size[:i + 1]) for i in range(len(size))]
        self.value[node] = ("pieces", src, dim, [(e - s, e) for s, e in zip(size, ends)])

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
        self._emit_weighted(node, kind, str(node.target), m.weight, m.bias, attrs)

    def _emit_weighted(self, node, kind, name, weight, bias, attrs):
        w = weight.detach().to(torch.float64)
        b = None if bias is None else bias.detach().to(torch.float64)
        fn = FNode(name, kind, [self.src(node.args[0], node)], w, b, attrs)
        self.value[node] = self.emit(fn)
        self.open_layer[fn.name] = True

    def _functional_name(self, node, weight_arg):
        if isinstance(weight_arg, fx.Node) and weight_arg.op == "get_attr":
            base = str(weight_arg.target)
            base = base[:-len(".weight")] if base.endswith(".weight") else base
            if base not in self.by_name:
                return base
        return self.name_for(node)

    def on_flinear(self, node, data):
        w, b = self.param(data["weight"]), self.param(data["bias"])
        if not isinstance(w, torch.Tensor):
            raise _unsupported(node, "linear with a weight computed from the input")
        self._emit_weighted(node, "linear", self._functional_name(node, data["weight"]), w, b, {})

    def on_fconv(self, node, data):
        w, b = self.param(data["weight"]), self.param(data["bias"])
        if not isinstance(w, torch.Tensor) or w.dim() != 4:
            raise _unsupported(node, "conv2d with a weight computed from the input")
        attrs = {k: data[k] for k in ("stride", "padding", "dilation", "groups")}
        self._emit_weighted(node, "conv", self._functional_name(node, data["weight"]), w, b, attrs)

    def on_bn(self, node, data):
        mean, var = self.param(data["mean"]), self.param(data["var"])
        gamma, beta = self.param(data["weight"]), self.param(data["bias"])
        if mean is None or var is None:
            raise _unsupported(node, "batch norm without running statistics")
        prod = self.fusable(node.args[0])
        if prod is not None and prod.kind == "conv" and prod.residual is None:
            bn = nn.BatchNorm2d(mean.numel(), eps=data["eps"], affine=True)
            with torch.no_grad():
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                bn.weight.copy_(torch.ones_like(mean) if gamma is None else gamma)
                bn.bias.copy_(torch.zeros_like(mean) if beta is None else beta)
            prod.weight, prod.bias = _fold_bn(prod.weight, prod.bias, bn)
            prod.attrs.setdefault("fused", []).append("batchnorm")
            self.value[node] = prod.name
            return
        k, b = _bn_affine(mean, var, gamma, beta, data["eps"])
        name = str(node.target) if node.op == "call_module" else self.name_for(node, "norm")
        fn = FNode(name, "affine", [self.src(node.args[0], node)], k, b, attrs={"axis": 1})
        self.value[node] = self.emit(fn)
        self.open_layer[fn.name] = True

    def _act(self, node, kind):
        v = self.val(node.args[0])
        if isinstance(v, _Expr):
            f = F.relu if kind == "relu" else F.relu6
            self.unary(node, f, kind)
            return
        prod = self.fusable(node.args[0])
        if prod is not None and prod.kind in ("conv", "linear", "add", "affine"):
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

    def on_unary(self, node, data):
        name = data.get("name")
        self.unary(node, data["fn"], name or data.get("desc") or type(data["fn"]).__name__.lower(), name)

    # ---- arithmetic: shapes, element-wise functions, two-tensor ops
    def on_arith(self, node, data):
        op = data["op"]
        if op == "neg":
            a = self.val(node.args[0])
            if isinstance(a, _Sym):
                self.value[node] = _Sym({"sym": "neg", "args": [a.expr]}, None if a.value is None else -a.value)
            elif _is_num(a):
                self.value[node] = -a
            else:
                e = self.expr(node.args[0], node)
                self.value[node] = _Expr(e.src, lambda t, g=e.fn: -g(t), f"neg({e.desc})", node)
            return
        if op == "rsub":
            a, b = node.args[1], node.args[0]
            op = "sub"
        else:
            a, b = node.args[0], node.args[1]
        if node.kwargs.get("alpha", 1) != 1:
            raise _unsupported(node, f"{op} with alpha")
        va, vb = self.val(a), self.val(b)
        if isinstance(va, _Sym) or isinstance(vb, _Sym) or (_is_num(va) and _is_num(vb)):
            self.sym_arith(node, op, va, vb)
            return
        ta, tb = _is_tensor_value(va), _is_tensor_value(vb)
        if ta and tb:
            self.tensor_pair(node, op, a, b)
        elif ta and _is_num(vb):
            self.tensor_scalar(node, op, a, float(vb))
        elif tb and _is_num(va) and op in ("add", "mul"):
            self.tensor_scalar(node, op, b, float(va))
        elif tb and _is_num(va):
            e = self.expr(b, node)
            self.scalar_op(node, e, op, float(va), reflected=True)
        else:
            raise _unsupported(node, f"{op} of {type(va).__name__} and {type(vb).__name__}")

    def sym_arith(self, node, op, va, vb):
        def value(v):
            return v.value if isinstance(v, _Sym) else v

        x, y = value(va), value(vb)
        if op in SYM_ARITH and all(isinstance(v, (int, _Sym)) for v in (va, vb)):
            known = None if x is None or y is None else SYM_ARITH[op](x, y)
            if isinstance(va, int) and isinstance(vb, int):
                self.value[node] = known
            else:
                self.value[node] = _Sym({"sym": op, "args": [_json(va), _json(vb)]}, known)
            return
        if x is None or y is None:
            raise _unsupported(node, f"{op} of sizes that are not known (pass an example input)")
        f = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
             "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow}[op]
        self.value[node] = f(x, y)  # a number computed from shapes: fixed at the traced shape

    def tensor_scalar(self, node, op, t, c: float):
        v = self.val(t)
        if op in ("mul", "div") and isinstance(v, str):
            factor = c if op == "mul" else 1.0 / c
            if factor > 0:
                fn = FNode(self.name_for(node, "scale"), "scale", [v], attrs={"factor": factor})
                self.value[node] = self.emit(fn)
                return
        if _is_const_value(v):
            raise _unsupported(node, f"{op} of a parameter and a number (fold it into the parameter)")
        self.scalar_op(node, self.expr(t, node), op, c)

    def tensor_pair(self, node, op, a, b):
        va, vb = self.val(a), self.val(b)
        ca, cb = _is_const_value(va), _is_const_value(vb)
        if ca and cb:
            raise _unsupported(node, f"{op} of two parameters")
        if not ca and not cb:
            ea, eb = self.expr(a, node), self.expr(b, node)
            if ea.src == eb.src and (ea.desc != "x" or eb.desc != "x" or op != "add"):
                f = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
                     "pow": operator.pow}.get(op)
                if f is None:
                    raise _unsupported(node, f"{op} of tensors")
                factor = None
                if ea.factor is not None and eb.factor is not None and op in ("add", "sub"):
                    factor = ea.factor + eb.factor if op == "add" else ea.factor - eb.factor
                self.value[node] = _Expr(ea.src, lambda t, g=ea.fn, h=eb.fn: f(g(t), h(t)),
                                         f"{op}({ea.desc}, {eb.desc})", node, None, factor)
                return
        if op == "add":
            if (ca or cb) and self._feeds_softmax(node):
                x, c = (b, a) if ca else (a, b)
                fn = FNode(self.name_for(node, "bias", claim_path=False), "add_const", [self.src(x, node)],
                           weight=self.const_tensor(c, node).to(torch.float64))
                self.value[node] = self.emit(fn)
                return
            self.on_add(node, {})
        elif op == "mul":
            fn = FNode(self.name_for(node, "mul", claim_path=False), "mul", [self.src(a, node), self.src(b, node)])
            self.value[node] = self.emit(fn)
        else:
            raise _unsupported(node, f"{op} of two tensors (only add and mul)")

    def _feeds_softmax(self, node: fx.Node) -> bool:
        """Does ``node`` reach a softmax through data movement and constant adds only?"""
        cur = node
        for _ in range(16):
            users = list(cur.users)
            if len(users) != 1:
                return False
            u = users[0]
            if u.target in SOFTMAXES or (u.op == "call_module" and isinstance(self.gm.get_submodule(u.target),
                                                                             nn.Softmax)):
                return True
            movement = ((u.op == "call_method" and u.target in MOVE_METHODS | {"view", "contiguous"})
                        or u.target in MOVE_FUNCTIONS or u.target in ARITH and ARITH[u.target] == "add"
                        or u.target is F.dropout)
            if not movement:
                return False
            cur = u
        return False

    def on_add(self, node, data):
        a, b = node.args[:2]
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

    def on_softmax(self, node, data):
        dim = data["dim"]
        known = self.known(node.args[0])
        if dim not in (-1, None) and not (known is not _NO and dim == known.dim() - 1):
            raise _unsupported(node, f"softmax over dim {dim} (only the last dim)")
        fn = FNode(self.name_for(node, "softmax", claim_path=False), "softmax",
                   [self.src(node.args[0], node)])
        self.value[node] = self.emit(fn)

    def on_matmul(self, node, data):
        fn = FNode(self.name_for(node, "matmul", claim_path=False), "matmul",
                   [self.src(node.args[0], node), self.src(node.args[1], node)], attrs={"factor": 1.0})
        self.value[node] = self.emit(fn)

    def _attention(self, base, q, k, v, factor):
        kt = self.emit(FNode(f"{base}.kT", "move", [k], attrs={"fn": "transpose", "args": [-2, -1]}))
        qk = self.emit(FNode(f"{base}.qk", "matmul", [q, kt], attrs={"factor": factor}))  # None: 1/sqrt(d)
        sm = self.emit(FNode(f"{base}.softmax", "softmax", [qk]))
        return self.emit(FNode(f"{base}.av", "matmul", [sm, v], attrs={"factor": 1.0}))

    def on_sdpa(self, node, data):
        """softmax(q @ k^T * scale) @ v as three integer layers: .qk, .softmax, .av."""
        q, k, v = (self.src(a, node) for a in node.args[:3])
        path = _module_path(node)
        base = path if path and f"{path}.qk" not in self.by_name else node.name
        self.value[node] = self._attention(base, q, k, v, data["scale"])

    def on_mha(self, node, data):
        """nn.MultiheadAttention (no masks): in-projection, per-head attention, out-projection."""
        m: nn.MultiheadAttention = data["module"]
        for i, key in ((5, "attn_mask"), (3, "key_padding_mask")):
            if _arg(node, i, key) is not None:
                raise _unsupported(node, f"MultiheadAttention with {key}")
        if m.bias_k is not None or m.add_zero_attn:
            raise _unsupported(node, "MultiheadAttention with bias_k/bias_v or add_zero_attn")
        path, e, h = str(node.target), m.embed_dim, m.num_heads
        d = e // h
        qkv = [node.args[0], _arg(node, 1, "key"), _arg(node, 2, "value")]
        ins = [self.src(a, node) for a in qkv]
        if not m.batch_first:  # (L, N, E) -> (N, L, E)
            ins = [self.emit(FNode(f"{path}.{r}_bf", "move", [t], attrs={"fn": "transpose", "args": [0, 1]}))
                   for r, t in zip("qkv", ins)]
        if m._qkv_same_embed_dim:
            ws = m.in_proj_weight.chunk(3)
        else:
            ws = (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight)
        bs = m.in_proj_bias.chunk(3) if m.in_proj_bias is not None else (None, None, None)
        heads = []
        for r, t, w, b in zip("qkv", ins, ws, bs):
            lin = FNode(f"{path}.{r}_proj", "linear", [t], w.detach().to(torch.float64),
                        None if b is None else b.detach().to(torch.float64))
            name = self.emit(lin)
            shape = [{"dim_of": name, "index": 0}, {"dim_of": name, "index": 1}, h, d]
            split = self.emit(FNode(f"{path}.{r}_heads", "move", [name],
                                    attrs={"fn": "reshape", "args": [shape], "shape_refs": [name]}))
            heads.append(self.emit(FNode(f"{path}.{r}_t", "move", [split],
                                         attrs={"fn": "transpose", "args": [1, 2]})))
        av = self._attention(path, *heads, None)
        merged = self.emit(FNode(f"{path}.merge_t", "move", [av], attrs={"fn": "transpose", "args": [1, 2]}))
        q0 = ins[0]
        flat = self.emit(FNode(f"{path}.merge", "move", [merged],
                               attrs={"fn": "reshape", "args": [[{"dim_of": q0, "index": 0},
                                                                 {"dim_of": q0, "index": 1}, e]],
                                      "shape_refs": [q0]}))
        op = m.out_proj
        out = self.emit(FNode(f"{path}.out_proj", "linear", [flat], op.weight.detach().to(torch.float64),
                              None if op.bias is None else op.bias.detach().to(torch.float64)))
        if not m.batch_first:
            out = self.emit(FNode(f"{path}.out_lf", "move", [out], attrs={"fn": "transpose", "args": [0, 1]}))
        self.value[node] = ("values", [out, None])

    def on_layernorm(self, node, data):
        shape = data["shape"]
        shape = (shape,) if isinstance(shape, int) else tuple(self.symbolic(list(shape), node))
        if not all(isinstance(s, int) for s in shape):
            raise _unsupported(node, "LayerNorm over a computed shape")
        gamma, beta = self.param(data["weight"]), self.param(data["bias"])
        n = math.prod(shape)
        w = torch.ones(shape, dtype=torch.float64) if gamma is None else gamma.detach().to(torch.float64)
        b = torch.zeros(shape, dtype=torch.float64) if beta is None else beta.detach().to(torch.float64)
        if w.numel() != n:
            raise _unsupported(node, "LayerNorm weight of another shape")
        fn = FNode(self.name_for(node, "norm"), "layernorm", [self.src(node.args[0], node)], w, b,
                   attrs={"eps": float(data["eps"]), "shape": list(shape)})
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

    def on_adaptive_maxpool(self, node, data):
        self._pool(node, "maxpool", {"output_size": data["output_size"], "adaptive": True})

    def on_mean_hw(self, node, data):
        self._pool(node, "avgpool", {"output_size": (1, 1), "adaptive": True})
        if not data["keepdim"]:
            name = self.value[node]
            self.value[node] = self.emit(FNode(name + ".flatten", "flatten", [name], attrs={"start_dim": 1}))


def _flat_args(args):
    """reshape(a, b) and reshape((a, b)) alike."""
    return list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)


def capture(model: nn.Module, example_input: torch.Tensor | None = None) -> list[FNode]:
    """Trace and fuse ``model`` into a topologically ordered list of ``FNode``.

    ``example_input`` (optional) lets the tracer resolve Python control flow on shapes and
    fold parameter-only tensors at that input's shape (module docstring)."""
    gm, tracer = _trace(model.eval(), example_input)
    return _Capture(gm, tracer).run()
