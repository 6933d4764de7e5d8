"""Layer-wise reconstruction after calibration: AdaRound rounding, QDrop activation steps.

``reconstruct(qmodel, data)`` runs once ``calibrate()`` has fixed every scale, when some
quantizer asks for it (``needs_reconstruction``).  It visits the conv/linear layers in
graph order; for each it fits the layer's quantized output to the *float* model's output
of the same layer on the calibration data (mean over samples of the squared error summed
over the output), with the input taken from the *quantized* model as it stands (earlier
layers already reconstructed), as AdaRound's asymmetric reconstruction does:

* an ``adaround`` weight quantizer learns its per-weight rounding (``AdaRoundQuantizer``;
  loss + annealed regulariser, ``iters`` Adam steps on batches of 64);
* a ``qdrop`` quantizer on the layer's input drops its quantization element-wise with
  probability ``drop_prob`` (the input is the quantized model's pre-quantization value
  there), and a ``qdrop`` quantizer on the layer's output is applied in the loss, dropping
  likewise, its step size learning (``QDropQuantizer``).

Seeded (``seed``) and independent of the caller's random state; after it, every
quantizer is an ordinary fixed one and both paths give the same codes.
"""
from __future__ import annotations

import contextlib

import torch
from tqdm import tqdm

from ..quant import AdaRoundQuantizer, QDropQuantizer
from .qmodel import WEIGHTED_KINDS, QModel, _key

BATCH = 64


def needs_reconstruction(qmodel: QModel) -> bool:
    return any(getattr(q, "needs_reconstruction", False) for q in qmodel.quantizers())


def _dropping(q) -> bool:
    return isinstance(q, QDropQuantizer)


@contextlib.contextmanager
def _bypassed(q):
    saved = q.enabled
    q.enabled = False
    try:
        yield
    finally:
        q.enabled = saved


def _learns(qmodel: QModel, fn) -> bool:
    return (isinstance(qmodel.weight_quantizer(fn.name), AdaRoundQuantizer)
            or _dropping(qmodel.act_quantizer(fn.inputs[0])) or _dropping(qmodel.aq[_key(fn.name)]))


def reconstruct(qmodel: QModel, data: torch.Tensor, seed: int = 0, progress: bool = False) -> None:
    """Reconstruct every conv/linear layer whose quantizers learn (see the module docstring)."""
    layers = [fn for fn in qmodel.nodes if fn.kind in WEIGHTED_KINDS and _learns(qmodel, fn)]
    with torch.random.fork_rng(), torch.enable_grad(), qmodel.forward_mode(exact=False):
        torch.manual_seed(seed)
        with torch.no_grad(), qmodel.float_mode():
            target = qmodel.layer_values(data)
        for fn in tqdm(layers, desc="reconstruct", unit="layer", disable=not progress):
            _reconstruct_layer(qmodel, fn, data, target)


def _reconstruct_layer(qmodel: QModel, fn, data: torch.Tensor, target: dict) -> None:
    wq = qmodel.weight_quantizer(fn.name)
    xq, yq = qmodel.act_quantizer(fn.inputs[0]), qmodel.aq[_key(fn.name)]
    x_name = fn.inputs[0]
    with torch.no_grad():
        env = qmodel.layer_values(data)
        x_quant = env[x_name]
        x_pre = None
        if _dropping(xq):
            with _bypassed(xq):
                x_pre = qmodel.layer_values(data)[x_name]
        residual = env[fn.residual] if fn.residual is not None else None
    adaround = isinstance(wq, AdaRoundQuantizer)
    params, iters, lr = [], 0, 1e-3
    if adaround:
        params.append(wq.start_reconstruction(qmodel.weight(fn.name)))
        iters, lr = wq.iters, wq.lr
    drop_out = _dropping(yq)
    if drop_out:
        params.append(yq.learned_scale)
        iters = iters or yq.iters
    drop_in = x_pre is not None
    groups = [{"params": [p], "lr": lr if adaround and p is params[0] else 1e-3} for p in params]
    opt = torch.optim.Adam(groups) if groups else None
    n = data.shape[0]
    if drop_out:
        yq.dropping = True
    try:
        for it in range(iters if opt else 0):
            idx = torch.randint(0, n, (min(BATCH, n),))
            x = x_quant[idx]
            if drop_in:
                x = torch.where(torch.rand_like(x) < xq.drop_prob, x_pre[idx], x)
            layer_env = {x_name: x}
            if residual is not None:
                layer_env[fn.residual] = residual[idx]
            y = qmodel.layer_output(fn, layer_env, None)
            if drop_out:
                y = yq(y)
            loss = (y - target[fn.name][idx]).pow(2).flatten(1).sum(1).mean()
            if adaround:
                warm = wq.warmup * iters
                if it >= warm:
                    t = (it - warm) / max(1.0, iters - warm)
                    hi, lo = wq.beta
                    beta = hi - (hi - lo) * t  # linear decay, as in the paper's code
                    loss = loss + wq.reg_weight * wq.regulariser(beta)
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        if drop_out:
            yq.dropping = False
        if adaround:
            wq.finish_reconstruction()
