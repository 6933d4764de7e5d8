"""Data movement ops (reshape, permute, transpose, indexing, ...): codes and scale unchanged.

One definition serves the float QModel (torch tensors) and the integer reference
(numpy arrays); it never imports torch itself.  Shape arguments may be symbolic, ``{"dim_of": tensor, "index": i}``:
the size of another tensor's dimension, read at run time (so batch size is free).
"""
from __future__ import annotations

import numpy as np


SYM_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "floordiv": lambda a, b: a // b,
    "mod": lambda a, b: a % b,
    "neg": lambda a: -a,
}


def resolve(args, shape_of):
    """Replace symbolic dims in ``args`` by sizes (``shape_of(name) -> shape``).

    A symbolic size is ``{"dim_of": tensor, "index": i}`` or integer shape arithmetic on
    such sizes, ``{"sym": op, "args": [a, b]}`` with ``op`` in ``SYM_OPS`` (``n // p``,
    ``C // groups``, ``(w - W % w) % w``); slices ``{"slice": [start, stop, step]}`` may
    hold them too.
    """
    if isinstance(args, list):
        return [resolve(a, shape_of) for a in args]
    if isinstance(args, dict):
        if "dim_of" in args:
            return int(shape_of(args["dim_of"])[args["index"]])
        if "sym" in args:
            return int(SYM_OPS[args["sym"]](*(resolve(a, shape_of) for a in args["args"])))
        if "slice" in args:
            return {"slice": resolve(list(args["slice"]), shape_of)}
    return args


def _index(spec):
    if isinstance(spec, list):
        return tuple(_index(s) for s in spec)
    if isinstance(spec, dict):
        return slice(*spec["slice"])
    if spec == "...":
        return Ellipsis
    return spec


def _sizes(args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else tuple(args)


def _torch_long(x):
    import torch

    return torch.long


def apply(fn: str, x, args: list, shape_of):
    """Apply movement ``fn`` to ``x`` (torch.Tensor or np.ndarray)."""
    args = resolve(list(args), shape_of)
    is_torch = not isinstance(x, np.ndarray)  # a torch.Tensor (torch is not imported here)
    nd = x.dim() if is_torch else x.ndim
    if fn in ("reshape", "view"):
        return x.reshape(_sizes(args))
    if fn == "permute":
        dims = _sizes(args)
        return x.permute(dims) if is_torch else np.transpose(x, dims)
    if fn == "transpose":
        a, b = args
        return x.transpose(a, b) if is_torch else np.swapaxes(x, a, b)
    if fn == "flatten":
        start = args[0] if args else 0
        end = args[1] if len(args) > 1 else -1
        start, end = start % nd, end % nd
        shape = tuple(x.shape)
        return x.reshape(shape[:start] + (-1,) + shape[end + 1:])
    if fn == "expand":
        sizes = tuple(s if s != -1 else x.shape[i - (len(_sizes(args)) - nd)]
                      for i, s in enumerate(_sizes(args)))
        return x.expand(sizes) if is_torch else np.broadcast_to(x, sizes)
    if fn == "select":
        dim, i = args
        return x.select(dim, i) if is_torch else np.take(x, i, axis=dim)
    if fn == "getitem":
        return x[_index(args[0])]
    if fn == "identity":
        return x
    if fn == "squeeze":
        return x.squeeze(*args) if is_torch else np.squeeze(x, axis=tuple(args) or None)
    if fn == "unsqueeze":
        return x.unsqueeze(args[0]) if is_torch else np.expand_dims(x, args[0])
    if fn == "pad":  # args: [pads (F.pad order: last dim first, (before, after) pairs), value]
        pads, value = list(args[0]), args[1]
        if is_torch:
            import torch.nn.functional as F  # noqa: N812 (only reached with torch tensors)

            return F.pad(x, pads, value=value)
        widths = [(0, 0)] * nd
        for i in range(len(pads) // 2):
            widths[nd - 1 - i] = (pads[2 * i], pads[2 * i + 1])
        return np.pad(x, widths, constant_values=value)
    if fn == "roll":  # args: [shifts, dims]
        shifts, dims = args
        return x.roll(shifts, dims) if is_torch else np.roll(x, shifts, axis=dims)
    if fn == "take":  # args: [dim, indices]: index_select along one axis
        dim, idx = args
        if is_torch:
            return x.index_select(dim, x.new_tensor(idx, dtype=_torch_long(x)))
        return np.take(x, np.asarray(idx, dtype=np.int64), axis=dim)
    raise ValueError(f"unknown movement {fn!r}")
