"""t2c: PyTorch model -> bit-exact integer reference -> golden vectors, memory images, RTL co-simulation.

Imports are lazy: ``import t2c.arith`` loads numpy only (the cocotb testbenches rely on
that inside the simulator), while ``t2c.quantize`` etc. pull in torch on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "quantize": "t2c.convert", "convert": "t2c.convert", "QConfig": "t2c.convert",
    "QModel": "t2c.convert", "UnsupportedOpError": "t2c.convert",
    "AccumulatorOverflowError": "t2c.convert", "IntGraph": "t2c.ir",
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 't2c' has no attribute {name!r}")
