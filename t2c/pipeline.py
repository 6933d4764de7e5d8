"""Named model -> calibrated QModel -> IntGraph and integer golden input, reproducibly.

Calibration runs in float64 and scales are rounded to float32, so the integer
parameters (and every golden file) come out the same on any CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .convert import QConfig, QModel, convert, quantize
from .ir import IntGraph
from .models import get_model


@dataclass
class Prepared:
    name: str
    config: QConfig
    qmodel: QModel
    graph: IntGraph
    x_int: np.ndarray  # the golden input, as integer codes


def prepare(name: str, config: QConfig | None = None) -> Prepared:
    entry = get_model(name)
    config = config or QConfig()
    qmodel = quantize(entry.build(), config).double()
    with torch.no_grad():
        qmodel.calibrate([b.double() for b in entry.calibration()])
    x = entry.golden_input().double()
    graph = convert(qmodel, x)
    graph.meta["model"] = name
    return Prepared(name, config, qmodel, graph, graph.quantize_input(x.numpy()))
