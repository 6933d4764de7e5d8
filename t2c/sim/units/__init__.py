"""The unit registry: which RTL unit runs which op of an integer graph.

A *unit* is one small module (``t2c/sim/units/<unit>.py``) that knows, for the layers it
runs, how to write the unit's input images from a layer's golden integers (or any
integers: the whole-network runner feeds it RTL outputs), which HDL wrapper and
parameters to build, and how to decode the unit's output dump back into the golden
output's shape.  Comparison, golden handling and mismatch reports live elsewhere
(:mod:`t2c.sim.layers`, :mod:`t2c.sim.compare`), once for every unit.

================  ===================================  ==============================
unit              ops                                  RTL
================  ===================================  ==============================
layer_engine      conv, linear, matmul                 rtl/layer_engine.v (+ mac_array, requant, ...)
softmax           softmax                              rtl/softmax.v
lut_layer         lut (GELU, SiLU, sigmoid, ...)       rtl/lut_layer.v
layernorm         layernorm                            rtl/layernorm.v
pool              maxpool, avgpool                     rtl/pool.v (+ requant)
eltwise           add, concat (the rescales), relu     rtl/eltwise.v (+ requant)
================  ===================================  ==============================

Ops not in the table are data movement (reshape, permute, flatten, ...), which stays in
Python, or arithmetic that has no RTL unit yet (:func:`unit_for` says which).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..build import SimJob, SimRun, build_dir_for
from ..golden_dirs import Golden

MOVEMENT_OPS = ("move", "flatten", "const")  # codes copied: Python


@dataclass(frozen=True)
class SimOptions:
    """How to run units: simulator, array geometry, the user's RTL, waves, speed knobs."""

    sim: str = "icarus"
    rows: int = 8                 # layer engine: MAC array ROWS
    cols: int = 8                 # layer engine: MAC array COLS
    rtl_dirs: tuple[Path, ...] | None = None   # the user's RTL first (None: $T2C_RTL_DIR)
    waves: bool = False
    pix_end: int | None = None    # layer engine: compute only the first N output pixels
    fast_build: bool | None = None  # Verilator -O0 (True), optimised (False), by run length (None)
    quiet: bool = True
    tag: str = ""                 # build directory name (a test id), default model-layer
    build_root: Path | None = None
    unit_args: tuple[tuple[str, str], ...] = ()  # --unit-arg KEY=VALUE: settings for units (unit_arg())
    require_user_rtl: bool = False  # refuse a build that compiles none of rtl_dirs' files (t2c sim --layer)


def unit_arg(options: "SimOptions", key: str, default: str | None = None) -> str | None:
    """The value of ``--unit-arg KEY=VALUE`` (the last one given), else ``default``."""
    return next((v for k, v in reversed(options.unit_args) if k == key), default)


@dataclass
class LayerCase:
    """One layer of a golden directory, as a unit sees it."""

    golden: Golden
    name: str

    @property
    def entry(self) -> dict:
        return self.golden.layer(self.name)

    @property
    def op(self) -> str:
        return self.entry["op"]

    @property
    def attrs(self) -> dict:
        return self.entry["attrs"]

    def spec(self, tensor: str) -> dict:
        """``bits``, ``signed``, ``zero_point``, ``shape`` of an input/residual/output."""
        return self.entry["tensors"][tensor]

    def tensor(self, name: str) -> np.ndarray:
        return self.golden.tensor(self.name, name)

    @property
    def model(self) -> str:
        return self.golden.manifest.get("model") or "model"


@dataclass
class UnitJob:
    """A unit's simulation of one layer: the job, what to expect, how to read the result."""

    sim_job: SimJob
    expected: dict[str, np.ndarray]                 # "output" first; e.g. "last" flags too
    decode: Callable[[SimRun], dict[str, tuple[np.ndarray, np.ndarray]]]  # name -> (got, valid)
    names: tuple[str, ...]                           # axis names of "output"
    mask: np.ndarray | None = None                   # output elements computed (None: all)
    stats: dict = field(default_factory=dict)        # macs, rows, cols (layer engine)
    cycles_counter: str | None = None                # the unit's own cycle counter (else the
                                                     # wrapper's: reset release to done)
    operands: dict = field(default_factory=dict)     # name -> array broadcastable to "output",
                                                     # shown beside a mismatch (acc, m, s, ...)
    position: Callable[[tuple], str] | None = None   # output index -> where the unit produced it


class Workspace:
    """Build directories of one run: created under the options' root and held (locked)
    until the run ends, so two runs never write one directory at once."""

    def __init__(self, unit: str, options: SimOptions, tag: str):
        self.unit, self.options, self.tag = unit, options, tag
        self._stack = contextlib.ExitStack()
        self._held: set[Path] = set()

    def dir(self, parameters: dict) -> Path:
        """The build directory for ``parameters``, locked for this run (once: the images of
        a batch run one after the other in the same directory and reuse its build)."""
        from ..build import exclusive

        o = self.options
        d = build_dir_for(self.unit, o.sim, self.tag, parameters, o.rtl_dirs, o.waves, o.build_root,
                          o.fast_build)
        if d not in self._held:
            self._stack.enter_context(exclusive(d))
            self._held.add(d)
        return d

    def close(self) -> None:
        self._stack.close()


class Unit(Protocol):
    name: str
    ops: tuple[str, ...]

    def check(self, layer: LayerCase, options: SimOptions) -> None:
        """Raise ValueError if the unit cannot run ``layer`` with ``options`` (before any work):
        the unit declines the layer, and the next unit registered for the op is asked."""

    def job(self, layer: LayerCase, inputs: list[np.ndarray], expected: np.ndarray,
            options: SimOptions, ws: Workspace) -> UnitJob:
        """Write the images of ``layer`` fed ``inputs`` into ``ws.dir(parameters)``."""


def _registry() -> dict[str, Unit]:
    from .eltwise import UNIT as eltwise
    from .layer_engine import UNIT as engine
    from .layernorm import UNIT as layernorm
    from .lut_layer import UNIT as lut_layer
    from .pool import UNIT as pool
    from .softmax import UNIT as softmax

    return {u.name: u for u in (engine, softmax, lut_layer, layernorm, pool, eltwise)}


UNITS: dict[str, Unit] = {}


def units() -> dict[str, Unit]:
    """Every registered unit by name (loaded on first use)."""
    if not UNITS:
        UNITS.update(_registry())
    return UNITS


def units_for(op: str) -> list[Unit]:
    """Every unit registered for golden op ``op``, the last registered first (so t2c's own
    unit comes last: a unit of yours is asked first, and may decline a layer)."""
    return [u for u in units().values() if op in u.ops]


def unit_for(op: str) -> Unit | None:
    """The first unit for golden op ``op``; None for data movement (raises for arithmetic
    without an RTL unit).  Which unit runs a given layer: :func:`choose_unit`."""
    found = units_for(op)
    if found:
        return found[0]
    if op in MOVEMENT_OPS:
        return None
    raise ValueError(f"op {op!r} has no RTL unit yet; units: "
                     + "; ".join(f"{u.name} ({', '.join(u.ops)})" for u in units().values()))


def declines(unit: Unit, layer: "LayerCase", options: "SimOptions") -> str | None:
    """Why ``unit`` declines ``layer`` (None: it takes it).  A unit declines by an optional
    predicate ``accepts(layer, options) -> bool`` returning False, or by ``check`` raising
    ValueError (unit files written for the first API do that)."""
    accepts = getattr(unit, "accepts", None)
    if accepts is not None and not accepts(layer, options):
        return "its accepts() declined the layer"
    try:
        unit.check(layer, options)
    except ValueError as e:
        return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return None


def choose_unit(layer: "LayerCase", options: "SimOptions") -> Unit:
    """The first unit registered for the layer's op that accepts it (t2c's own last);
    ValueError naming the layer and every unit's reason when none does."""
    found = units_for(layer.op)
    if not found:
        unit_for(layer.op)  # raises: no RTL unit for this op
        raise ValueError(f"{layer.name!r} is a {layer.op} layer: data movement, it runs in Python")
    reasons = []
    for unit in found:
        why = declines(unit, layer, options)
        if why is None:
            return unit
        reasons.append(f"{unit.name}: {why}")
    raise ValueError(f"no unit takes layer {layer.name!r} ({layer.op}): " + "; ".join(reasons))


def register(unit: Unit) -> Unit:
    """Add (or replace) a unit; it takes precedence for its ops over the ones registered
    before it (your own unit for an op, from a unit file: :func:`load_unit_file`)."""
    rest = {k: v for k, v in units().items() if k != unit.name}
    UNITS.clear()
    UNITS.update({unit.name: unit, **rest})
    return unit


def load_unit_file(path: str | Path) -> None:
    """Run a Python file that registers units (``t2c sim --unit FILE``)."""
    import importlib.util

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"unit file {path} not found")
    spec = importlib.util.spec_from_file_location(f"t2c_user_unit_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    before = list(units().items())
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ValueError(f"unit file {path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # the user's code: bad input, not a t2c bug
        raise ValueError(f"unit file {path} failed to load: {type(e).__name__}: {e}") from None
    if list(units().items()) == before:
        raise ValueError(f"unit file {path} registered no unit (call t2c.sim.units.register(...))")
