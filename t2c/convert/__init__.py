"""Float model -> QModel (quantize) -> IntGraph (convert)."""
from .capture import FNode, UnsupportedOpError, capture
from .lower import AccumulatorOverflowError, convert
from .qmodel import QConfig, QModel, quantize

__all__ = ["capture", "FNode", "UnsupportedOpError", "quantize", "QConfig", "QModel",
           "convert", "AccumulatorOverflowError"]
