"""Float model -> QModel (quantize) -> IntGraph (convert).

This subpackage is also the function ``t2c.convert(qmodel, example_input)``: calling the
module calls :func:`t2c.convert.lower.convert`.  (``import t2c.convert.capture`` binds the
name ``t2c.convert`` to this module, so a plain function of that name in ``t2c`` would be
replaced by it; a callable module keeps both meanings without a rename.)
"""
import sys
import types

from .capture import FNode, UnsupportedOpError, capture
from .lower import AccumulatorOverflowError, convert
from ..qconfig import LayerRule, QConfig, load_config
from .qmodel import QModel, quantize

__all__ = ["capture", "FNode", "UnsupportedOpError", "quantize", "QConfig", "LayerRule", "load_config",
           "QModel", "convert", "AccumulatorOverflowError"]


class _CallableModule(types.ModuleType):
    def __call__(self, qmodel, example_input):
        return convert(qmodel, example_input)


sys.modules[__name__].__class__ = _CallableModule
