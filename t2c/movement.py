"""Data movement ops (reshape, permute, transpose, indexing, ...): codes and scale unchanged.

One definition serves the float QModel (torch tensors) and the integer reference
(numpy arrays); it never imports torch itself.  Shape arguments may be symbolic, ``{"dim_of": tensor, "index": i}``:
the size of another tensor's dimension, read at run time (so batch size is free).
"""
from __future__ import annotations

import numpy as np


def resolve(args, shape_of):
    """Replace symbolic dims in ``args`` by sizes (``shape_of(name) -> shape``)."""
    if isinstance(args, list):
        return [resolve(a, shape_of) for a in args]
    if isinstance(args, dict) and "dim_of" in args:
        return int(shape_of(args["dim_of"])[args["index"]])
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
    raise ValueError(f"unknown movement {fn!r}")
