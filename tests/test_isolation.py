"""No test changes global state for another (root conftest.py ``_registries_restored``):
a quantizer or a unit registered in one test is gone in the next.  The two tests run in
file order in one process; the second fails without the fixture."""
from __future__ import annotations

from t2c.quant import Quantizer, registered_quantizers
from t2c.sim.units import register, units


class _Unit:
    name, ops = "isolation-probe", ("conv",)


def test_a_registers_a_quantizer_and_a_unit():
    class Probe(Quantizer, name="isolation-probe"):
        pass

    register(_Unit())
    assert "isolation-probe" in registered_quantizers() and "isolation-probe" in units()


def test_b_sees_neither():
    assert "isolation-probe" not in registered_quantizers()
    assert "isolation-probe" not in units() and "layer_engine" in units()
