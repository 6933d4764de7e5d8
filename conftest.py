"""pytest setup for tests/ and sim/: one torch/OpenMP thread per xdist worker.

``make test`` runs one worker per core; each torch op using every core on top of that
oversubscribes the machine (measured: the reconstruction tests ran 6x slower).  Set
before any test module imports torch; a user's own OMP_NUM_THREADS wins.
"""
import os

if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _registries_restored():
    """No test changes global state for another: the quantizer registry and the unit
    registry are put back after every test (a test that registers a quantizer or loads a
    unit file would otherwise change what later tests on the same xdist worker see)."""
    import sys

    base = sys.modules.get("t2c.quant.base")
    quantizers = dict(base._REGISTRY) if base else None
    units_mod = sys.modules.get("t2c.sim.units")
    units = dict(units_mod.UNITS) if units_mod else None
    yield
    if quantizers is not None:
        base._REGISTRY.clear()
        base._REGISTRY.update(quantizers)
    elif "t2c.quant.base" in sys.modules:  # first imported by this test: keep t2c's own only
        reg = sys.modules["t2c.quant.base"]._REGISTRY
        for name in [n for n, cls in reg.items() if not cls.__module__.startswith("t2c.")]:
            del reg[name]
    if units is not None:
        units_mod.UNITS.clear()
        units_mod.UNITS.update(units)
    elif "t2c.sim.units" in sys.modules:
        sys.modules["t2c.sim.units"].UNITS.clear()  # reloaded with the built-in units on first use
