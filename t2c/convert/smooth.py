"""SmoothQuant (Xiao et al., 2022, "SmoothQuant: Accurate and Efficient Post-Training
Quantization for Large Language Models"): move activation outliers into the weights.

For every LayerNorm whose output feeds only linear layers (a transformer's ``norm1 ->
qkv`` and ``norm2 -> fc1``), with ``X`` the LayerNorm output on the calibration data and
``W`` the consumers' weights stacked on the output axis, the per-channel factor

    s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha)      (clamped to [1e-5, 1e5])

divides the LayerNorm's gain and bias (so its output becomes ``X_j / s_j``) and multiplies
input column ``j`` of every consumer: ``(X / s) (s W^T) = X W^T``.  The fold is done on the
*float* parameters before anything is quantized, so the integer graph is built from an
ordinary (smoothed) model and stays exact by construction; the factor itself is not
rounded.  The smoothed float model equals the original up to the float32 rounding of the
changed parameters (``tests/test_methods.py`` measures it).  Returns ``{layernorm: s}``.
"""
from __future__ import annotations

import torch

from .qmodel import QModel, _key

S_RANGE = (1e-5, 1e5)


def smoothable(qmodel: QModel) -> dict[str, list[str]]:
    """LayerNorm layer -> the linear layers reading it, where every reader is a linear."""
    readers: dict[str, list] = {}
    for fn in qmodel.nodes:
        for i, name in enumerate([*fn.inputs, *([fn.residual] if fn.residual else [])]):
            readers.setdefault(name, []).append((fn, i))
    out = {}
    for fn in qmodel.nodes:
        if fn.kind != "layernorm" or len(fn.attrs.get("shape") or [0]) != 1:
            continue
        rs = readers.get(fn.name, [])
        if rs and all(r.kind == "linear" and i == 0 for r, i in rs):
            out[fn.name] = [r.name for r, _ in rs]
    return out


@torch.no_grad()
def smooth(qmodel: QModel, batches: list[torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """Fold the SmoothQuant factors into ``qmodel``'s float parameters (module docstring)."""
    groups = smoothable(qmodel)
    if not groups:
        raise ValueError("smoothquant: the model has no LayerNorm feeding only linear layers "
                         "(SmoothQuant applies to transformer blocks)")
    amax: dict[str, torch.Tensor] = {}
    with qmodel.float_mode():
        for x in batches:
            env = qmodel.layer_values(x)
            for ln in groups:
                a = env[ln].abs().reshape(-1, env[ln].shape[-1]).amax(0).double()
                amax[ln] = a if ln not in amax else torch.maximum(amax[ln], a)
    factors = {}
    for ln, linears in groups.items():
        wmax = torch.stack([qmodel.weight(n).detach().abs().double().amax(0) for n in linears]).amax(0)
        s = (amax[ln].clamp_min(1e-12) ** alpha / wmax.clamp_min(1e-12) ** (1 - alpha)).clamp(*S_RANGE)
        k = _key(ln)
        qmodel.weights[k].div_(s.to(qmodel.weights[k].dtype))
        qmodel.biases[k].div_(s.to(qmodel.biases[k].dtype))
        for n in linears:
            w = qmodel.weights[_key(n)]
            w.mul_(s.to(w.dtype).reshape(1, -1))
        factors[ln] = s
    return factors
