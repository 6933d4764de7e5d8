"""One layer of a t2c model through rtl/layer_engine.v, checked against its golden vectors.

Shared by ``sim/test_layer.py`` (pytest), ``sim/run_layer.py`` (``make sim LAYER=...``)
and ``bench/bench_layer.py``.  The flow of :func:`run`:

1. golden vectors: ``golden/<model>/`` when committed, else generated once into
   ``sim_build/golden/<model>/`` (``t2c.golden.write_golden``, deterministic);
2. ``t2c.export.engine.write_images`` writes the engine's memory images from the
   layer's golden integers into the build directory (``simutil.build_dir_for``: one
   directory per simulator, test id and HDL parameters, so ``pytest -n auto`` is safe);
3. ``simutil.build_and_test`` builds ``sim/hdl/tb_layer_engine.v`` and runs the cocotb
   test ``layer_tb`` of ``sim/test_layer.py``: it awaits ``done`` once (the engine runs
   free), checks the engine's error flag and every memory's guard word, and records the
   cycle counts; the wrapper dumps the output memory to ``y.hex``;
4. the output memory is decoded with ``t2c.export.engine.decode_output`` and compared with
   the golden output, ``==`` on every element (:func:`compare_output`).

This module is imported inside the simulator too (by sim/test_layer.py), so it imports
t2c (and with it torch) only inside functions that run on the pytest side.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import simutil as su

DUT = "layer_engine"
WRAPPER = "tb_layer_engine"
RTL = ("layer_engine", "engine_ctrl", "engine_pixwalk", "engine_post", "engine_mem",
       "mac_array", "mac_pe", "requant")
DEFAULT_MODEL = "digits-cnn"
GOLDEN_DIR = su.REPO / "golden"
GOLDEN_CACHE = su.BUILD_ROOT / "golden"
Y_NAME = "y.hex"
IMAGES = "images"
GUARDS_NAME = "guards.json"
MAX_SHOW = 8  # mismatches listed in a failure message
# memory image -> its memory inside the engine (relative to the wrapper's u_dut)
MEMORY_PATHS = {"desc": "desc", "tiles": "u_tiles.mem", "input": "u_act.mem", "weight": "u_w.mem",
                "bias": "u_bias.mem", "m": "u_m.mem", "s": "u_s.mem", "residual": "u_res.mem",
                "residual_m": "u_rm.mem"}


def rtl_sources() -> list[Path]:
    """The engine's RTL files: ``rtl/<module>.v``, or ``$T2C_RTL_DIR/<module>.v`` where such
    a file exists (your own version of one of our units, same module name and ports)."""
    user = os.environ.get("T2C_RTL_DIR")
    out = []
    for name in RTL:
        mine = Path(user).expanduser().resolve() / f"{name}.v" if user else None
        out.append(mine if mine is not None and mine.is_file() else su.RTL_DIR / f"{name}.v")
    return out


# ------------------------------------------------------------------ golden vectors
@contextlib.contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def golden_dir(model: str) -> Path:
    """Where the golden vectors of ``model`` are (or will be): committed or cached."""
    committed = GOLDEN_DIR / model
    if (committed / "manifest.json").is_file():
        return committed
    return GOLDEN_CACHE / model


def ensure_golden(model: str, log=print) -> Path:
    """The golden directory of ``model``, generated (deterministically) when missing."""
    d = golden_dir(model)
    if (d / "manifest.json").is_file():
        return d
    with _lock(GOLDEN_CACHE / f"{model}.lock"):  # one pytest-xdist worker generates it
        if not (d / "manifest.json").is_file():
            from t2c.golden import write_golden
            from t2c.pipeline import prepare

            log(f"generating golden vectors of {model} into {d}")
            p = prepare(model)
            write_golden(p.graph, p.x_int, d)
    return d


def manifest_layers(gdir: Path) -> list[tuple[str, str]]:
    """(name, op) of every layer in a golden manifest (plain JSON: no t2c import)."""
    m = json.loads((Path(gdir) / "manifest.json").read_text())
    return [(e["name"], e["op"]) for e in m["layers"]]


ENGINE_OPS = ("conv", "linear", "matmul")  # = t2c.export.engine.ENGINE_OPS (no t2c import here)


def engine_layers(gdir: Path) -> list[str]:
    """The layers the engine runs (conv, linear, matmul) of a golden directory."""
    return [n for n, op in manifest_layers(gdir) if op in ENGINE_OPS]


# ------------------------------------------------------------------ one run
@dataclass
class LayerRun:
    """The outcome of one layer run (all numbers from the engine's own counters)."""

    model: str
    layer: str
    sim: str
    compared: int
    mismatches: int
    cycles: int
    steps: int
    macs: int
    rows: int
    cols: int
    wall_s: float        # whole run: images, build, simulation, compare
    sim_s: float         # simulation only (reset release to done)
    message: str
    build_dir: Path
    waves: Path | None = None
    first: list = field(default_factory=list)  # [(index tuple, expected, got)] of the first mismatches

    @property
    def passed(self) -> bool:
        return self.mismatches == 0

    @property
    def utilization(self) -> float:
        """Achieved MACs per cycle over ROWS * COLS."""
        return self.macs / (self.cycles * self.rows * self.cols) if self.cycles else 0.0


def cycle_limit(layer, geo) -> int:
    """A generous bound on the run's cycles (engine + output readout), from the layer size."""
    from t2c.export import engine as E

    gap = max(geo.rows + 1, 3)
    row_tiles = -(-layer.pixels_computed // geo.rows)
    per_row_tile = sum(max(int(k), gap) + 2 for k in E.tile_plan(layer, geo)[:, 4])
    words = E.memory_words(layer, geo)[E.OUTPUT_NAME]
    return 2 * (row_tiles * (per_row_tile + geo.rows) + 64) + words + 100


def prepare(model: str, layer_name: str, sim: str, *, test_id: str | None = None,
            gdir: Path | None = None, geometry=None, pix_end: int | None = None,
            waves: bool = False):
    """Write the images of one layer run; returns (job for simutil.build_and_test, context)."""
    from t2c.export import engine as E
    from t2c.golden import read_golden

    geo = geometry or E.Geometry()
    gdir = Path(gdir) if gdir is not None else ensure_golden(model)
    g = read_golden(gdir)
    layer = E.with_pixels(E.EngineLayer.from_golden(g, layer_name), pix_end)
    params = E.hdl_parameters(layer, geo)
    test_id = test_id or f"{model}-{layer_name}" + (f"-px{pix_end}" if pix_end else "")
    build_key = {**params, **({"waves": 1} if waves else {}),
                 **({"rtl_dir": os.environ["T2C_RTL_DIR"]} if os.environ.get("T2C_RTL_DIR") else {})}
    bdir = su.build_dir_for(DUT, sim, test_id, build_key)
    x = g.tensor(layer_name, "input")
    r = g.tensor(layer_name, "residual") if layer.residual else None
    expected = g.tensor(layer_name, "output")
    out_lay = E.layouts(geo, layer)[E.OUTPUT_NAME]
    fits = out_lay.elem_min <= int(expected.min()) and int(expected.max()) <= out_lay.elem_max
    # output.hex: the expected output memory, for users comparing memory dumps (not when a
    # test corrupted the golden output beyond the output codes' range)
    images = E.write_images(layer, x, r, bdir / IMAGES, geo, expected=expected if fits else None)
    guards = {MEMORY_PATHS[n]: [images.words[n], hex(images.guards[n])]
              for n in images.paths if n in MEMORY_PATHS}
    (bdir / GUARDS_NAME).write_text(json.dumps(guards))
    su.save_inputs(bdir, max_cycles=cycle_limit(layer, geo))
    job = su.make_job(sim=sim, wrapper=WRAPPER, rtl=RTL, test_module="test_layer", build_dir=bdir,
                      parameters=params, files=images.hdl_files(), outputs={"Y_FILE": Y_NAME})
    job["sources"] = rtl_sources() + su.hdl_sources("tb_harness", WRAPPER)
    ctx = dict(model=model, layer=layer, geometry=geo, expected=expected, images=images, golden=gdir)
    return job, ctx


def find_waves(build_dir: Path) -> Path | None:
    """The waveform file cocotb's runner wrote (Icarus: <top>.fst, Verilator: dump.vcd)."""
    for pattern in ("*.fst", "*.vcd"):
        found = sorted(Path(build_dir).glob(pattern))
        if found:
            return found[0]
    return None


def run(model: str, layer_name: str, sim: str, *, test_id: str | None = None,
        gdir: Path | None = None, geometry=None, pix_end: int | None = None,
        waves: bool | None = None, quiet: bool = True, fast_build: bool = True) -> LayerRun:
    """Run one layer on ``sim`` and compare it with its golden output (see the module doc).

    Raises (under pytest: ``SystemExit`` from cocotb's runner; else ``RuntimeError``) when
    the cocotb test itself fails: timeout, engine error flag, an image not loaded.
    """
    from t2c.export import engine as E

    t0 = time.perf_counter()
    if waves is None:
        waves = _env_waves()
    job, ctx = prepare(model, layer_name, sim, test_id=test_id, gdir=gdir, geometry=geometry,
                       pix_end=pix_end, waves=waves)
    bdir = Path(job["build_dir"])
    (bdir / Y_NAME).unlink(missing_ok=True)
    report = su.build_and_test(**job, waves=waves, quiet=quiet, fast_build=fast_build)
    if report is None:
        raise RuntimeError(f"{model} {layer_name} on {sim}: the cocotb test wrote no report "
                           f"(see {bdir / 'sim.log'})")
    layer, geo = ctx["layer"], ctx["geometry"]
    n_words = E.memory_words(layer, geo)[E.OUTPUT_NAME]
    lay = E.layouts(geo, layer)[E.OUTPUT_NAME]
    words, valid = su.read_memh(bdir / Y_NAME, lay.word_bits, signed=False, count=n_words)
    got = E.decode_output([int(w) for w in words], layer, geo)
    # which output elements came from x/z words (Icarus) or missing words
    where = E.fmap_rows(np.arange(layer.out_c * layer.npix).reshape(layer.out_c, layer.npix), geo)
    bad_words = np.flatnonzero(~valid)
    bad_fmap = np.zeros(layer.out_c * layer.npix, dtype=bool)
    for w in bad_words:
        idx = where[w]
        lanes = np.arange(geo.cols) < min(geo.cols, layer.out_c - (w // layer.npix) * geo.cols)
        bad_fmap[idx[lanes]] = True
    invalid = layer.from_fmap(bad_fmap.reshape(layer.out_c, layer.npix))
    expected = ctx["expected"]
    mask = _computed_mask(layer)
    wv = find_waves(bdir) if waves else None
    count, message, first = compare_output(expected, got, invalid, mask, model=model,
                                           layer=layer_name, sim=sim, waves=wv,
                                           names=index_names(expected.shape, layer.kind))
    return LayerRun(model=model, layer=layer_name, sim=sim, compared=int(mask.sum()),
                    mismatches=count, cycles=int(report["cycles"]), steps=int(report["steps"]),
                    macs=layer.macs, rows=geo.rows, cols=geo.cols,
                    wall_s=time.perf_counter() - t0, sim_s=float(report["wall_s"]),
                    message=message, build_dir=bdir, waves=wv, first=first)


def _env_waves() -> bool:
    return os.environ.get("WAVES", "0") not in ("", "0")


def _computed_mask(layer) -> np.ndarray:
    """Output elements the run computes (all, or the first pix_end pixels)."""
    pix = np.arange(layer.npix) < layer.pixels_computed
    return layer.from_fmap(np.broadcast_to(pix, (layer.out_c, layer.npix)))


def index_names(shape, kind: str = "conv") -> tuple[str, ...]:
    """Names of a golden output's axes: (n, c, h, w) for convs, (n, c) / (n, t, c) for
    linear layers, (b0, .., row, col) for a matmul."""
    if kind == "matmul":
        return tuple(f"b{i}" for i in range(len(shape) - 2)) + ("row", "col")
    return {4: ("n", "c", "h", "w"), 2: ("n", "c"), 3: ("n", "t", "c")}.get(
        len(shape), tuple(f"d{i}" for i in range(len(shape))))


def compare_output(expected, got, invalid, mask, *, model: str, layer: str, sim: str,
                   waves: Path | None = None, names: tuple[str, ...] | None = None):
    """``==`` on every computed element; returns (mismatches, message, first mismatches).

    The message names model, layer, simulator, the number of differing elements, the
    first ``MAX_SHOW`` as ``(n, c, h, w)`` with expected and got ("x" for an unknown
    value), and the waveform file when waves were dumped.
    """
    expected = np.asarray(expected)
    got = np.asarray(got)
    bad = ((expected != got) | invalid) & mask
    count = int(bad.sum())
    names = names or index_names(expected.shape)
    total = int(mask.sum())
    if not count:
        return 0, f"{model} {layer} ({sim}): all {total} output elements equal", []
    first = []
    lines = [f"{model} {layer} ({sim}): {count} of {total} output elements differ",
             f"  first {min(count, MAX_SHOW)} as ({', '.join(names)}):"]
    for idx in np.argwhere(bad)[:MAX_SHOW]:
        t = tuple(int(i) for i in idx)
        g = "x" if invalid[t] else int(got[t])
        first.append((t, int(expected[t]), g))
        lines.append(f"    ({', '.join(map(str, t))}): expected {int(expected[t])}, got {g}")
    if waves is not None:
        lines.append(f"  waveform: {waves}")
    else:
        lines.append("  (WAVES=1 keeps a waveform)")
    return count, "\n".join(lines), first


def verdict(res: LayerRun) -> str:
    """The one-line verdict of ``make sim``."""
    status = "PASS" if res.passed else "FAIL"
    return (f"{res.layer} {res.model} {res.sim}: {status} {res.mismatches}/{res.compared} mismatches, "
            f"{res.cycles:,} cycles, MAC utilization {res.utilization:.1%}, {res.wall_s:.1f} s")


# ------------------------------------------------------------------ cocotb side
async def run_engine(dut) -> dict:
    """Inside cocotb: await the wrapper's done, check the engine and every image's guard.

    Writes ``report.json`` (engine cycles and K-steps, harness cycles, wall time) into
    the build directory; fails on a timeout, the engine's error flag or a guard word
    that is not where its image should have put it.
    """
    v = su.load_inputs()
    run_info = await su.wait_done(dut, max_cycles=int(v["max_cycles"]))
    assert int(dut.eng_err.value) == 0, ("the engine refused its descriptor (err_o): descriptor "
                                         "image not loaded or not made by t2c.export.engine")
    guards = json.loads((su.current_build_dir() / GUARDS_NAME).read_text())
    for path, (n, want) in guards.items():
        h = dut.u_dut
        for part in path.split("."):
            h = getattr(h, part)
        word = h[n].value
        got = word.to_unsigned() if word.is_resolvable else None
        assert got == int(want, 16), (f"{path}[{n}] = {word}, expected guard {want}: "
                                      f"memory image not (fully) loaded")
    report = dict(cycles=int(dut.eng_cycles.value), steps=int(dut.eng_steps.value),
                  harness_cycles=run_info["cycles"], wall_s=run_info["wall_s"],
                  cycles_per_s=run_info["cycles_per_s"])
    (su.current_build_dir() / su.REPORT_NAME).write_text(json.dumps(report, indent=1))
    dut._log.info("%s", report)
    return report


def copy_golden(src: Path, dst: Path) -> Path:
    """A private copy of a golden directory (for tests that corrupt it)."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst
