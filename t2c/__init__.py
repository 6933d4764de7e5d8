"""t2c: PyTorch model -> bit-exact integer reference -> golden vectors, memory images, RTL co-simulation.

The top-level names are loaded on first use, so that ``import t2c.arith``, ``t2c.golden``,
``t2c.export`` and ``t2c.sim`` (the hardware side) never import torch: hardware CI needs
numpy, cocotb and the simulators only.  ``t2c.quantize``, ``t2c.convert``, ``t2c.QConfig``
and ``t2c.QModel`` import the converter (and torch) when first touched.

``t2c.convert`` is both the conversion subpackage and the function
``convert(qmodel, example_input)``: the subpackage is callable (see t2c/convert/__init__.py).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "quantize": "t2c.convert", "QConfig": "t2c.qconfig", "LayerRule": "t2c.qconfig",
    "load_config": "t2c.qconfig", "QModel": "t2c.convert",
    "UnsupportedOpError": "t2c.convert", "AccumulatorOverflowError": "t2c.convert",
    "IntGraph": "t2c.ir",
}
__all__ = ["quantize", "convert", "QConfig", "LayerRule", "load_config", "QModel", "IntGraph", "UnsupportedOpError",
           "AccumulatorOverflowError", "__version__"]


def __getattr__(name: str):
    if name == "convert":
        return importlib.import_module("t2c.convert")  # the callable subpackage
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 't2c' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
