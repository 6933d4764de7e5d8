"""A whole network through the RTL, chained: every layer's input is what the RTL computed.

:func:`run_network` walks the layers of a golden directory in order.  An arithmetic layer
runs on its RTL unit (:func:`t2c.sim.layers.run_layer`) fed the *RTL outputs* of the
layers before it; data movement (reshape, permute, flatten, indexing, constants) runs in
Python on those outputs (``t2c.movement``, the same code the reference runs).  After each
layer its output is compared with the reference (``==``, every element).  On the first
mismatch the run stops and names the layer and the element; with ``keep_going`` it goes
on from the reference's output of that layer (the golden tensor), so later layers are
tested independently.

The reference defaults to the golden directory's tensors (one input); a dataset run
passes a batch of inputs and the reference's tensors for it (``IntGraph.run(record=True)``),
and every unit runs the whole batch at once (convs stacked, rows batched).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from .. import movement
from ..golden import Golden
from .compare import Comparison, compare
from .layers import UnitRun, layer_unit, run_layer
from .units import MOVEMENT_OPS, SimOptions

PYTHON = "Python: data movement"


@dataclass
class LayerResult:
    """One layer of a network run."""

    layer: str
    op: str
    runs_on: str                    # the unit's name, or PYTHON
    comparison: Comparison
    wall_s: float
    run: UnitRun | None = None      # the unit run (None for data movement)
    fed_from: str = "rtl"           # "rtl": the RTL outputs before it; "golden": after a failure
    inputs_at_failure: str = ""     # the layer's inputs at its first differing element
    replay: tuple | None = None     # (inputs, expected) of a failing unit layer: run it again, e.g. with waves

    @property
    def passed(self) -> bool:
        return self.comparison.mismatches == 0

    @property
    def cycles(self) -> int | None:
        return None if self.run is None else self.run.cycles

    @property
    def utilization(self) -> float | None:
        return None if self.run is None else self.run.utilization

    def row(self) -> dict:
        r = self.run
        return {"layer": self.layer, "op": self.op, "unit": self.runs_on, "cycles": self.cycles,
                "mac_utilization": self.utilization, "compared": self.comparison.compared,
                "mismatches": self.comparison.mismatches, "wall_s": round(self.wall_s, 3),
                "sim_s": None if r is None else round(r.sim_s, 4), "fed_from": self.fed_from,
                "macs": None if r is None else r.stats.get("macs"),
                "hdl": [] if r is None else [str(s.path) for s in r.sources],
                "user_rtl": None if r is None else (r.user_rtl or None)}


@dataclass
class NetworkRun:
    model: str
    sim: str
    rows: int
    cols: int
    images: int
    layers: list[LayerResult] = field(default_factory=list)
    output: np.ndarray | None = None          # the network's output as the RTL computed it
    expected_output: np.ndarray | None = None
    stopped_at: str | None = None              # the first failing layer when the run stopped there
    wall_s: float = 0.0

    @property
    def failures(self) -> list[LayerResult]:
        return [r for r in self.layers if not r.passed]

    @property
    def passed(self) -> bool:
        return not self.failures and self.stopped_at is None and self.output is not None

    @property
    def cycles(self) -> int:
        return sum(r.cycles or 0 for r in self.layers)

    def python_ops(self) -> list[tuple[str, str]]:
        """(layer, op) of every layer that ran in Python (data movement only)."""
        return [(r.layer, r.op) for r in self.layers if r.runs_on == PYTHON]

    def verdict(self) -> str:
        status = "PASS" if self.passed else "FAIL"
        n_rtl = sum(r.run is not None for r in self.layers)
        bad = sum(r.comparison.mismatches for r in self.layers)
        per_image = f" ({self.cycles // max(self.images, 1):,} per image)" if self.images > 1 else ""
        return (f"{self.model} {self.sim} whole network: {status}, {len(self.layers)} layers ({n_rtl} on RTL, "
                f"{len(self.layers) - n_rtl} data movement in Python), {bad} mismatches, "
                f"{self.cycles:,} cycles{per_image}, {self.images} image{'s' * (self.images != 1)}, "
                f"{self.wall_s:.1f} s")

    def table(self) -> str:
        head = ("layer", "op", "unit", "cycles", "MAC util", "compared", "mismatches", "wall s")
        rows = [(r.layer, r.op, "Python" if r.runs_on == PYTHON else r.runs_on + (
                     f" ({r.run.user_rtl})" if r.run is not None and r.run.user_rtl else ""),
                 "-" if r.cycles is None else f"{r.cycles:,}",
                 "-" if r.utilization is None else f"{r.utilization:.1%}", f"{r.comparison.compared:,}",
                 str(r.comparison.mismatches), f"{r.wall_s:.2f}") for r in self.layers]
        widths = [max(len(h), *(len(x[i]) for x in rows)) if rows else len(h) for i, h in enumerate(head)]
        right = {3, 4, 5, 6, 7}
        fmt = lambda vals: "  ".join(v.rjust(w) if i in right else v.ljust(w)  # noqa: E731
                                     for i, (v, w) in enumerate(zip(vals, widths))).rstrip()
        return "\n".join([fmt(head), *map(fmt, rows)])

    def sources(self) -> list:
        """Every HDL file any layer compiled (t2c.sim.hdl.Source), once each."""
        seen = {}
        for r in self.layers:
            for s in (r.run.sources if r.run is not None else ()):
                seen.setdefault(s.path, s)
        return list(seen.values())

    def modules(self) -> str:
        return ", ".join(sorted({s.module for s in self.sources() if s.path.suffix in (".v", ".sv")}))

    def unused_rtl_dirs(self, rtl_dirs=None) -> list:
        """The user's RTL directories (``rtl_dirs``, default $T2C_RTL_DIR) from which no
        layer's build compiled a file: their modules are named wrong or not needed."""
        from .hdl import user_rtl_dirs

        used = [s.path for s in self.sources() if s.user]
        return [d for d in user_rtl_dirs(rtl_dirs) if not any(p.is_relative_to(d) for p in used)]

    def to_json(self) -> dict:
        return {"model": self.model, "simulator": self.sim, "array": {"rows": self.rows, "cols": self.cols},
                "images": self.images, "passed": self.passed, "cycles": self.cycles,
                "stopped_at": self.stopped_at, "wall_s": round(self.wall_s, 2),
                "python_ops": [{"layer": n, "op": o} for n, o in self.python_ops()],
                "layers": [r.row() for r in self.layers],
                "hdl_files": [s.to_json() for s in self.sources()]}


def input_tensor(golden: Golden) -> str:
    """The network input's tensor name: the one layer input no layer produces."""
    produced = {e["output"] for e in golden.manifest["layers"]}
    for e in golden.manifest["layers"]:
        for t in e["inputs"]:
            if t not in produced:
                return t
    raise ValueError(f"{golden.root}: no layer reads the network input")


def python_layer(entry: dict, golden: Golden, env: dict) -> np.ndarray:
    """A data-movement layer on numpy arrays (the reference's own code)."""
    op, attrs = entry["op"], entry["attrs"]
    if op == "const":
        return golden.tensor(entry["name"], "value")
    x = env[entry["inputs"][0]]
    if op == "flatten":
        return x.reshape(x.shape[0], -1)
    return np.ascontiguousarray(movement.apply(attrs["fn"], x, attrs["args"], lambda n: env[n].shape))


def describe_inputs(entry: dict, env: dict, index: tuple) -> str:
    """The layer's inputs at (or around) a failing output element, for the report."""
    parts = []
    for t in entry["inputs"]:
        x = env.get(t)
        if x is None:
            continue
        x = np.asarray(x)
        if x.shape and x.ndim == len(index) and all(i < s for i, s in zip(index, x.shape)) \
                and entry["op"] not in ("conv", "maxpool", "avgpool", "linear", "matmul"):
            parts.append(f"{t}[{', '.join(map(str, index))}] = {x[index]}")
        elif entry["op"] in ("conv", "maxpool", "avgpool") and x.ndim == 4:
            a = entry["attrs"]
            (kh, kw), (sh, sw) = a.get("kernel", (1, 1)), a.get("stride", (1, 1))
            (ph, pw), (dh, dw) = a.get("padding", (0, 0)), a.get("dilation", (1, 1))
            n, _, h, w = index
            h0, w0 = h * sh - ph, w * sw - pw
            rows = slice(max(h0, 0), h0 + dh * (kh - 1) + 1)
            cols = slice(max(w0, 0), w0 + dw * (kw - 1) + 1)
            win = x[n, :, rows, cols]
            parts.append(f"{t}[{n}, :, {rows.start}:{rows.stop}, {cols.start}:{cols.stop}] (its window: "
                         f"{win.size} codes, min {win.min() if win.size else '-'}, "
                         f"max {win.max() if win.size else '-'})")
        elif x.ndim >= 2:
            row = index[:-1]
            parts.append(f"{t}[{', '.join(map(str, row))}, :] (the row it reduces: {x.shape[-1]} codes, "
                         f"min {x[row].min()}, max {x[row].max()})")
    return "; ".join(parts)


def choose_units(golden: Golden, options: SimOptions) -> dict[str, str]:
    """layer -> the unit that will run it, for every arithmetic layer: ValueError naming the
    first layer no registered unit accepts (t2c sim --all checks this before simulating)."""
    from .units import LayerCase, choose_unit

    out = {}
    for e in golden.manifest["layers"]:
        if e["op"] not in MOVEMENT_OPS:
            layer_unit(golden, e["name"])  # an op without any RTL unit
            out[e["name"]] = choose_unit(LayerCase(golden, e["name"]), options).name
    return out


def run_network(golden: Golden, options: SimOptions = SimOptions(), *, inputs: np.ndarray | None = None,
                expected: dict[str, np.ndarray] | None = None, keep_going: bool = False,
                progress: bool = False, on_layer=None) -> NetworkRun:
    """Run every layer of ``golden`` chained on the RTL (module docstring).

    ``inputs``: the network input (default: the golden input); ``expected``: the reference
    output of every layer by layer name (default: the golden tensors).  ``on_layer`` is
    called with each LayerResult as it completes.
    """
    t0 = time.perf_counter()
    entries = golden.manifest["layers"]
    choose_units(golden, options)  # every layer has a taker, before anything runs
    x_in = golden.input() if inputs is None else np.asarray(inputs, dtype=np.int64)
    env = {input_tensor(golden): x_in}
    images = int(np.shape(x_in)[0]) if np.ndim(x_in) else 1
    net = NetworkRun(golden.manifest.get("model") or "model", options.sim, options.rows, options.cols, images)
    it = entries
    if progress:
        from tqdm import tqdm

        it = tqdm(entries, desc=f"{net.model} on {options.sim}", unit="layer", leave=False)
    fed_from = "rtl"
    for entry in it:
        name = entry["name"]
        want = golden.tensor(name, "output") if expected is None else np.asarray(expected[name])
        t1 = time.perf_counter()
        run = None
        if entry["op"] in MOVEMENT_OPS:
            got = python_layer(entry, golden, env)
            cmp = compare(want, got) if np.shape(got) == np.shape(want) else \
                Comparison(int(np.size(want)), int(np.size(want)), ("i",))
            runs_on = PYTHON
        else:
            # tag "net": layers with the same HDL parameters share one build (the images change)
            run = run_layer(golden, name, replace(options, tag=options.tag or f"{net.model}-net"),
                            inputs=[env[t] for t in entry["inputs"]], expected=want)
            got, cmp, runs_on = run.got, run.output, run.unit  # the unit choose_units found
        result = LayerResult(name, entry["op"], runs_on, cmp, time.perf_counter() - t1, run, fed_from)
        net.layers.append(result)
        if on_layer is not None:
            on_layer(result)
        if not result.passed:
            result.inputs_at_failure = describe_inputs(entry, env, cmp.first[0].index) if cmp.first else ""
            result.replay = ([env[t] for t in entry["inputs"]], want) if run is not None else None
            if not keep_going:
                net.stopped_at = name
                break
            got, fed_from = want, "golden"  # independent failures: go on from the reference
        env[entry["output"]] = got
    if net.stopped_at is None:
        last = entries[-1]["output"]
        net.output = env.get(last)
        net.expected_output = golden.tensor(entries[-1]["name"], "output") if expected is None \
            else np.asarray(expected[entries[-1]["name"]])
    net.wall_s = time.perf_counter() - t0
    return net


def merge_runs(runs: list[NetworkRun]) -> NetworkRun:
    """Runs of consecutive chunks of one dataset as one run: per layer the figures summed
    (cycles, elements compared, mismatches, wall time), outputs joined on the batch axis."""
    first = runs[0]
    merged = NetworkRun(first.model, first.sim, first.rows, first.cols, sum(r.images for r in runs))
    for i, layer in enumerate(first.layers):
        parts = [r.layers[i] for r in runs if i < len(r.layers)]
        cmp = Comparison(sum(p.comparison.compared for p in parts), sum(p.comparison.mismatches for p in parts),
                         layer.comparison.index_names,
                         next((p.comparison.first for p in parts if p.comparison.first), []))
        run = None
        if layer.run is not None:
            run = replace(layer.run, cycles=sum(p.run.cycles for p in parts if p.run),
                          sim_s=sum(p.run.sim_s for p in parts if p.run),
                          stats={**layer.run.stats, "macs": sum(p.run.stats.get("macs") or 0 for p in parts if p.run)})
        merged.layers.append(replace(layer, comparison=cmp, run=run, wall_s=sum(p.wall_s for p in parts)))
    merged.stopped_at = next((r.stopped_at for r in runs if r.stopped_at), None)
    if merged.stopped_at is None:
        merged.output = np.concatenate([r.output for r in runs], axis=0)
        merged.expected_output = np.concatenate([r.expected_output for r in runs], axis=0)
    merged.wall_s = sum(r.wall_s for r in runs)
    return merged
