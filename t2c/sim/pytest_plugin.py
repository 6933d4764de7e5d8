"""t2c's pytest plugin: your hardware CI as a pytest suite in your own repository.

Installed with t2c (entry point ``pytest11``), it adds the options ``--t2c-golden DIR``
(a golden directory written by ``t2c golden``), ``--t2c-sim icarus|verilator``,
``--t2c-unit FILE`` (your unit files) and ``--t2c-stimulus corners`` (also every corner
variant the directory holds), and the fixture ``t2c_layer``: a test that asks for it is
run once per layer of the golden directory that some RTL unit runs (one test id per layer,
and per variant), with ``t2c_layer.run(rtl_dir=...)`` simulating that layer on your RTL and
failing with t2c's mismatch report when any element differs::

    # test_hw.py in your repository
    def test_layer(t2c_layer):
        t2c_layer.run(rtl_dir="rtl")

    $ pytest --t2c-golden golden/mynet --t2c-sim verilator -n auto

Without ``--t2c-golden`` such tests are skipped with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest


def pytest_addoption(parser):
    g = parser.getgroup("t2c", "t2c: co-simulate a golden directory's layers on your RTL")
    g.addoption("--t2c-golden", metavar="DIR", help="a golden directory written by `t2c golden`")
    g.addoption("--t2c-sim", default="icarus", choices=["icarus", "verilator"], help="the simulator (icarus)")
    g.addoption("--t2c-unit", action="append", default=[], metavar="FILE",
                help="a Python file registering your unit(s) (repeatable)")
    g.addoption("--t2c-stimulus", choices=["corners"], help="also every corner variant the directory holds")


def _cases(config) -> tuple[Path | None, list[str]]:
    gdir = config.getoption("--t2c-golden")
    if not gdir:
        return None, []
    from .golden_dirs import open_golden
    from .layers import runnable_layers
    from .units import load_unit_file

    for f in config.getoption("--t2c-unit"):
        load_unit_file(f)
    golden = open_golden(gdir)
    names = [n for n, _, _ in runnable_layers(golden)]
    if config.getoption("--t2c-stimulus"):
        names = [c for n in names for c in (n, *golden.variant_names(n))]
    return Path(gdir), names


def pytest_generate_tests(metafunc):
    if "t2c_layer" not in metafunc.fixturenames:
        return
    gdir, names = _cases(metafunc.config)
    if gdir is None:
        metafunc.parametrize("t2c_layer", [pytest.param(None, marks=pytest.mark.skip(
            reason="no --t2c-golden DIR given"))], indirect=True, ids=["no-golden"])
        return
    metafunc.parametrize("t2c_layer", names, indirect=True, ids=names)


@dataclass
class LayerUnderTest:
    """One layer (or variant) of the golden directory, ready to run on your RTL."""

    golden: Path
    name: str
    sim: str
    runs: list = field(default_factory=list)

    def run(self, rtl_dir=None, **options):
        """Simulate the layer on ``rtl_dir`` (searched before t2c's RTL; more SimOptions as
        keywords) and fail the test unless every element equals the reference."""
        from .golden_dirs import open_golden
        from .layers import run_layer
        from .units import SimOptions

        dirs = None if rtl_dir is None else tuple(Path(d) for d in ([rtl_dir] if isinstance(rtl_dir, (str, Path))
                                                                     else rtl_dir))
        res = run_layer(open_golden(self.golden), self.name, SimOptions(sim=self.sim, rtl_dirs=dirs, **options))
        self.runs.append(res)
        if not res.passed:
            pytest.fail(res.verdict() + "\n" + res.message, pytrace=False)
        return res


@pytest.fixture
def t2c_layer(request):
    if request.param is None:
        pytest.skip("no --t2c-golden DIR given")
    cfg = request.config
    return LayerUnderTest(Path(cfg.getoption("--t2c-golden")), request.param, cfg.getoption("--t2c-sim"))
