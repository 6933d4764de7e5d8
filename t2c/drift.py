"""How far a QModel's forward is from the IntGraph that ships, layer by layer, in codes.

``compare(qmodel, graph, x)`` runs both on the same inputs and turns every layer output of
the QModel into codes of the IntGraph tensor of the same name
(``clip(round_half_up(y / scale) + zero_point)``), then compares them with ``==``.  With
the exact forward (``qmodel.exact``, the default after calibration) every layer is equal
by construction; with ``exact=False`` (the float fake-quant forward) the differences
accumulate through the network -- ``t2c report --drift`` prints them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from . import arith


@dataclass
class LayerDrift:
    name: str
    elements: int
    equal: int
    max_diff: int
    mean_diff: float


@dataclass
class Drift:
    """QModel forward vs IntGraph on ``samples`` inputs."""

    samples: int
    layers: list[LayerDrift] = field(default_factory=list)
    output: LayerDrift | None = None
    top1_agree: int = 0  # samples whose argmax of the output agrees

    @property
    def first_differing(self) -> str | None:
        return next((d.name for d in self.layers if d.equal != d.elements), None)

    @property
    def all_equal(self) -> bool:
        return self.first_differing is None


def codes_of(values: torch.Tensor, spec) -> np.ndarray:
    """The codes of tensor ``spec`` that real ``values`` quantize to."""
    v = values.detach().to(torch.float64).cpu().numpy()
    return np.clip(arith.round_half_up(v / spec.scale) + spec.zero_point, spec.qmin, spec.qmax).astype(np.int64)


def _layer(name: str, got: np.ndarray, want: np.ndarray) -> LayerDrift:
    d = np.abs(got - want)
    return LayerDrift(name, int(d.size), int((d == 0).sum()), int(d.max(initial=0)), float(d.mean()) if d.size else 0.0)


@torch.no_grad()
def compare(qmodel, graph, x: torch.Tensor, exact: bool | None = None) -> Drift:
    """Every IntGraph tensor the QModel also produces, as codes, QModel vs IntGraph.

    ``exact``: None uses the QModel's own setting, True / False force its forward."""
    with qmodel.forward_mode(qmodel.exact if exact is None else exact):
        values = qmodel.layer_values(x.to(next(iter(qmodel.parameters())).dtype))
    x_int = graph.quantize_input(x.detach().cpu().numpy())
    run = graph.run(x_int, record=True)
    drift = Drift(samples=int(x.shape[0]))
    for op in graph.ops:
        if op.output in values:
            drift.layers.append(_layer(op.name, codes_of(values[op.output], graph.tensors[op.output]),
                                       run.layers[op.name].output))
    out_spec = graph.tensors[graph.output]
    got = codes_of(values[graph.output], out_spec)
    drift.output = _layer(graph.output, got, run.output)
    if got.ndim == 2:
        drift.top1_agree = int((got.argmax(1) == run.output.argmax(1)).sum())
    return drift
