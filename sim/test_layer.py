"""Every conv/linear layer of the default model through rtl/layer_engine.v, on Icarus and
Verilator, compared with its golden vectors (``==`` on every output element).

The flow is in sim/layer_util.py (shared with ``make sim`` and the benchmark).  A failure
names model, layer, the number of differing elements and the first few as (n, c, h, w)
with expected and got (and the waveform file with ``WAVES=1``).
"""
from __future__ import annotations

import pytest

import cocotb
import layer_util as lu
import simutil as su

MODEL = lu.DEFAULT_MODEL
LAYERS = lu.engine_layers(lu.golden_dir(MODEL))  # conv1 .. conv4, fc


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def layer_tb(dut):
    """Await the free-running engine once, check its flags and image guards (the output
    memory is compared with the golden output on the pytest side)."""
    await lu.run_engine(dut)


# ------------------------------------------------------------------ pytest
PENDING = {"conv4": "residual add: requant.v's addend input is pending"}


@pytest.mark.parametrize("layer", [pytest.param(n, marks=pytest.mark.xfail(reason=PENDING[n], strict=True))
                                   if n in PENDING else n for n in LAYERS])
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_layer(sim, layer, request):
    su.require_simulator(sim)
    res = lu.run(MODEL, layer, sim, test_id=request.node.name, quiet=False)
    print(lu.verdict(res))
    assert res.mismatches == 0, res.message
