"""Run one layer of a golden directory on its RTL unit and compare it with the reference.

:func:`run_layer` is what ``t2c sim --layer L`` (and ``make sim LAYER=L``) does: look the
layer's op up in the unit registry, let the unit write its images from the layer's
golden inputs (or from given inputs), build and run the unit's wrapper, decode the
output dump and compare it with the golden output, ``==`` on every element.  The result
is one :class:`UnitRun` for every unit, with one :meth:`UnitRun.verdict`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..golden import Golden
from .build import SimulationError, run_job
from .compare import Comparison, compare
from .units import LayerCase, SimOptions, Workspace, choose_unit, unit_for, units


@dataclass
class UnitRun:
    """The outcome of one layer on one unit (cycles from the RTL's own counters)."""

    model: str
    layer: str
    op: str
    unit: str
    sim: str
    comparisons: dict[str, Comparison]
    cycles: int
    wall_s: float                  # everything: images, build, simulation, compare
    sim_s: float                   # simulation only: reset release to done
    build_dir: Path
    waves: Path | None = None
    stats: dict = field(default_factory=dict)
    got: np.ndarray | None = None      # what the RTL produced: the output tensor, decoded
    sources: tuple = ()                # the HDL files compiled (t2c.sim.hdl.Source)

    @property
    def user_rtl(self) -> str:
        """``requant from /x/mine`` when the user's RTL ran ('' otherwise)."""
        from .hdl import user_summary

        return user_summary(self.sources)

    @property
    def output(self) -> Comparison:
        return self.comparisons["output"]

    @property
    def compared(self) -> int:
        return self.output.compared

    @property
    def mismatches(self) -> int:
        return sum(c.mismatches for c in self.comparisons.values())

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.compared > 0

    @property
    def first(self) -> list:
        return self.output.first

    @property
    def utilization(self) -> float | None:
        """Useful MACs per cycle over ROWS * COLS (layer engine), else None."""
        macs, rows, cols = (self.stats.get(k) for k in ("macs", "rows", "cols"))
        if not macs or not self.cycles:
            return None
        return macs / (self.cycles * rows * cols)

    @property
    def message(self) -> str:
        """Every comparison's message (mismatches listed with their index)."""
        title = f"{self.model} {self.layer} ({self.sim})"
        lines = [c.message(title if name == "output" else f"{title} {name}")
                 for name, c in self.comparisons.items() if name == "output" or c.mismatches]
        if self.mismatches:
            lines.append(f"  waveform: {self.waves}" if self.waves else "  (--waves / WAVES=1 keeps a waveform)")
        return "\n".join(lines)

    def verdict(self) -> str:
        """The one-line verdict of ``t2c sim`` / ``make sim``."""
        status = "PASS" if self.passed else "FAIL"
        util = self.utilization
        what = f"MAC utilization {util:.1%}" if util is not None else f"{self.unit} unit"
        mine = f", {self.user_rtl}" if self.user_rtl else ""
        return (f"{self.layer} {self.model} {self.sim}: {status} {self.mismatches}/{self.compared} "
                f"mismatches, {self.cycles:,} cycles, {what}{mine}, {self.wall_s:.1f} s")


def runnable_layers(golden: Golden) -> list[tuple[str, str, str]]:
    """(layer, op, unit) of every layer some RTL unit runs."""
    out = []
    for e in golden.manifest["layers"]:
        try:
            u = unit_for(e["op"])
        except ValueError:
            continue
        if u is not None:
            out.append((e["name"], e["op"], u.name))
    return out


def layer_unit(golden: Golden, layer: str):
    """The unit that runs ``layer`` (ValueError naming the runnable layers otherwise)."""
    op = golden.layer(layer)["op"]  # KeyError listing the layers if unknown
    try:
        unit = unit_for(op)
    except ValueError as e:
        unit, why = None, str(e)
    else:
        why = f"{layer!r} is a {op} layer: data movement, it runs in Python"
    if unit is None:
        ok = ", ".join(f"{n} ({u})" for n, _, u in runnable_layers(golden))
        raise ValueError(f"{why}; layers with an RTL unit: {ok}")
    return unit


def golden_operands(case: LayerCase, inputs) -> dict[str, np.ndarray]:
    """acc, m and s at each output element of a layer that has them, when the layer runs on
    its golden inputs (then the golden accumulator is this run's): shown beside a mismatch."""
    t = case.entry["tensors"]
    if "acc" not in t or "m" not in t:
        return {}
    golden_inputs = [case.tensor(r) for r in ("input", "residual") if r in t]
    if len(golden_inputs) != len(inputs) or not all(np.array_equal(a, b) for a, b in zip(golden_inputs, inputs)):
        return {}
    acc = case.tensor("acc")
    axis = 1 if case.op in ("conv", "avgpool") and acc.ndim == 4 else acc.ndim - 1
    out = {"acc": acc}
    for name in ("m", "s"):
        v = case.tensor(name).reshape(-1)
        if v.size in (1, acc.shape[axis]):
            shape = [1] * acc.ndim
            shape[axis] = v.size
            out[name] = v.reshape(shape)
    return out if np.shape(acc) == tuple(case.spec("output")["shape"]) else {}


def run_layer(golden: Golden, layer: str, options: SimOptions = SimOptions(),
              inputs: list[np.ndarray] | None = None, expected: np.ndarray | None = None) -> UnitRun:
    """Run ``layer`` of ``golden`` on its unit (inputs and expected output default to the
    golden ones) and compare every output element with ``==``.

    Raises ValueError (bad layer or options), SimulationError (the simulation did not
    finish: build error, timeout, image not loaded, error flag) or ToolMissingError.
    """
    t0 = time.perf_counter()
    layer_unit(golden, layer)  # an unknown or data-movement layer fails here, listing the runnable ones
    case = LayerCase(golden, layer)
    unit = choose_unit(case, options)
    if inputs is None:
        inputs = [case.tensor(t) for t in ("input", "residual") if t in case.entry["tensors"]]
    if expected is None:
        expected = case.tensor("output")
    ws = Workspace(unit.name, options, options.tag or f"{case.model}-{layer}")
    try:
        ujob = unit.job(case, inputs, expected, options, ws)
        run = run_job(ujob.sim_job, require_user_rtl=options.require_user_rtl)
        got = ujob.decode(run)
    finally:
        ws.close()
    operands = {**golden_operands(case, inputs), **ujob.operands}
    comparisons = {}
    for name, want in ujob.expected.items():
        g, valid = got[name]
        out = name == "output"
        comparisons[name] = compare(want, g, valid=valid, mask=ujob.mask if out else None,
                                    names=ujob.names if out else None, inputs=operands if out else None,
                                    position=ujob.position if out else None)
    cycles = run.counters[ujob.cycles_counter] if ujob.cycles_counter else run.cycles
    return UnitRun(case.model, layer, case.op, unit.name, options.sim, comparisons, int(cycles),
                   time.perf_counter() - t0, run.sim_s, ujob.sim_job.build_dir, run.waves,
                   {**ujob.stats, **{k: v for k, v in run.counters.items() if v is not None}},
                   np.asarray(got["output"][0]), run.sources)


__all__ = ["UnitRun", "run_layer", "runnable_layers", "layer_unit", "SimulationError", "units"]
