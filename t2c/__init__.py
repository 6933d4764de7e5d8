"""t2c: PyTorch model -> bit-exact integer reference -> golden vectors, memory images, RTL co-simulation."""
from .convert import AccumulatorOverflowError, QConfig, QModel, UnsupportedOpError, convert, quantize
from .ir import IntGraph

__version__ = "0.1.0"
__all__ = ["quantize", "convert", "QConfig", "QModel", "IntGraph", "UnsupportedOpError",
           "AccumulatorOverflowError", "__version__"]
