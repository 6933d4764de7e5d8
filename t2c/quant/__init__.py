"""Quantizers with a fake-quant training path and an integer inference path."""
from .base import QTensor, Quantizer, quantizer_class, registered_quantizers, round_half_up_ste
from .quantizers import (AdaRoundQuantizer, LSQQuantizer, MinMaxQuantizer, MSEQuantizer, PercentileQuantizer,
                         QDropQuantizer)

__all__ = [
    "Quantizer", "QTensor", "quantizer_class", "registered_quantizers", "round_half_up_ste",
    "MinMaxQuantizer", "MSEQuantizer", "PercentileQuantizer", "LSQQuantizer", "AdaRoundQuantizer",
    "QDropQuantizer",
]
