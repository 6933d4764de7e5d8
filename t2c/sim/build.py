"""One simulation: a :class:`SimJob` (what to build and what to check) and :func:`run_job`.

A job names an HDL top (a thin wrapper in ``sim/hdl/``), its non-file HDL parameters, the
input images it loads (file parameters, passed as absolute-path string literals) and the
dumps it writes.  :func:`run_job` builds the top with cocotb's runner in the job's build
directory, finding every module by library search (:mod:`t2c.sim.hdl`: the user's RTL
first), runs the one generic cocotb test (:mod:`t2c.sim.cocotb_side`) and returns a
:class:`SimRun` (cycles, counters, wall times, dump paths), or raises
:class:`SimulationError` naming what went wrong (build error, timeout, image not loaded,
error flag).

Build directories are ``<build root>/<unit>/<sim>/<tag>-<hash>``, the hash over the HDL
parameters, the user RTL directories and the waves switch: a parameter change never
reuses a stale build, ``pytest -n auto`` never shares one, and an unchanged layer reuses
its Verilator model (images are re-read at time 0, so new contents need no rebuild).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import file_lock
from . import hdl, toolchain
from .images import Image

TIMESCALE = ("1ns", "1ps")
# Verilator -O0 builds in ~5 s and simulates ~4x slower than its optimised build (~10 s):
# runs that may take more cycles than this get the optimised build (fast_build=None)
OPTIMISE_ABOVE_CYCLES = 3_000_000
JOB_NAME, RUN_NAME = "job.json", "run.json"
TEST_MODULE = "t2c.sim.cocotb_side"


class SimulationError(RuntimeError):
    """The simulation did not produce results to compare (the RTL or the build failed)."""

    def __init__(self, message: str, build_dir: Path | None = None):
        super().__init__(message)
        self.build_dir = build_dir


@dataclass(frozen=True)
class Dump:
    """An output the wrapper writes with ``$writememh``: its file parameter and file name."""

    parameter: str
    file: str


@dataclass
class SimJob:
    """Everything one simulation needs (build it, run it, check the loads)."""

    unit: str                      # e.g. "layer_engine" (build directory, messages)
    top: str                       # HDL top module, e.g. "tb_layer_engine"
    sim: str                       # "icarus" or "verilator"
    build_dir: Path
    parameters: dict[str, int]     # non-file HDL parameters of the top
    images: list[Image]
    dumps: list[Dump]
    max_cycles: int
    counters: tuple[str, ...] = ()     # top-level signals read after done
    error_flag: str | None = None      # a top-level signal that must be 0 after done
    error_hint: str = ""
    rtl_dirs: tuple[Path, ...] | None = None  # the user's RTL, searched first (None: $T2C_RTL_DIR)
    waves: bool = False
    fast_build: bool | None = None     # Verilator -O0 (True), optimised (False); None: by max_cycles
    quiet: bool = True                 # build and simulator output to build.log / sim.log
    test_module: str = TEST_MODULE     # the cocotb test (e.g. t2c.sim.cocotb_engine_axi)
    config: dict = field(default_factory=dict)  # more settings for that test (job.json "config")

    def dump_path(self, parameter: str) -> Path:
        return self.build_dir / next(d.file for d in self.dumps if d.parameter == parameter)


@dataclass
class SimRun:
    """What a simulation reported (from the wrapper's counters, not from Python)."""

    job: SimJob
    cycles: int
    counters: dict[str, int | None]
    sim_s: float                   # simulation only: reset release to done
    wall_s: float                  # build + simulation
    waves: Path | None = None
    extra: dict = field(default_factory=dict)


# ------------------------------------------------------------------ directories and seeds
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "run"


def param_hash(key: dict) -> str:
    return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]


def build_dir_for(unit: str, sim: str, tag: str, parameters: dict, rtl_dirs=None,
                  waves: bool = False, root: Path | None = None, fast_build: bool | None = None) -> Path:
    """``<root>/<unit>/<sim>/<tag>-<hash>``, created, absolute; the hash covers what a build
    depends on besides the sources: the HDL parameters, the user's RTL directories
    (``rtl_dirs``, default ``$T2C_RTL_DIR``), the waves switch and the Verilator
    optimisation (``fast_build``)."""
    dirs = [str(d) for d in hdl.user_rtl_dirs(rtl_dirs)]
    key = {**parameters, **({"rtl_dirs": dirs} if dirs else {}), **({"waves": 1} if waves else {}),
           **({"optimised": 1} if fast_build is False else {})}
    root = root or toolchain.build_root()
    d = Path(root) / _safe(unit) / sim / f"{_safe(tag)}-{param_hash(key)}"
    d.mkdir(parents=True, exist_ok=True)
    return d.resolve()


def test_seed(log=print) -> int:
    """A test's seed: ``T2C_SEED`` if set, else a fresh random one; always logged."""
    env = os.environ.get("T2C_SEED")
    seed = int(env, 0) if env else secrets.randbits(32)
    log(f"seed {seed}: reproduce with T2C_SEED={seed}")
    return seed


test_seed.__test__ = False  # not a pytest test despite its name


def exclusive(build_dir: Path):
    """Hold ``build_dir`` while writing its images and running: one run at a time per build
    directory (images, build and dumps share it)."""
    return file_lock(Path(build_dir) / ".lock")


def hdl_string(path: Path) -> str:
    """An absolute path as a Verilog string literal (a file parameter)."""
    p = str(Path(path).resolve())
    if '"' in p or "\\" in p:
        raise ValueError(f"unsupported character in path {p!r}")
    return f'"{p}"'


def find_waves(build_dir: Path) -> Path | None:
    """The waveform cocotb's runner wrote (Icarus: <top>.fst, Verilator: dump.vcd/.fst)."""
    for pattern in ("*.fst", "*.vcd"):
        found = sorted(Path(build_dir).glob(pattern))
        if found:
            return found[0]
    return None


# ------------------------------------------------------------------ run
def _build_args(job: SimJob) -> list[str]:
    args = []
    for d in hdl.library_dirs(job.rtl_dirs):
        args += ["-y", str(d)]
    if job.sim == "verilator":
        args += [*toolchain.VERILATOR_ARGS, *toolchain.VERILATOR_TIMING_ARGS]
    return args


STAMP = "build.key"


def _verilator_build_current(bdir: Path, top: str, key: str) -> bool:
    """True when the Verilator model in ``bdir`` was built with ``key`` (sources, parameters,
    arguments) and no file it depends on (Vtop__ver.d) changed since: the build is skipped
    (cocotb's runner would run verilator and make again, ~0.3 s, to find nothing to do)."""
    binary, deps, stamp = bdir / top, bdir / "Vtop__ver.d", bdir / STAMP
    try:
        if stamp.read_text() != key:
            return False
        built = binary.stat().st_mtime
        files = deps.read_text().split(":", 1)[1].split()
        return all(Path(f).stat().st_mtime <= built for f in files if f != "\\")
    except (OSError, IndexError):
        return False


def _last_lines(path: Path, n: int = 6) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if re.search(r"error|%Error", ln, re.I)]
    return "\n".join((errors or lines)[-n:])


def run_job(job: SimJob) -> SimRun:
    """Build and run ``job``; raise :class:`SimulationError` unless it ran to ``done`` with
    every image loaded and the error flag low (then compare its dumps)."""
    t0 = time.perf_counter()
    fast = job.fast_build if job.fast_build is not None else job.max_cycles < OPTIMISE_ABOVE_CYCLES
    runner = toolchain.runner(job.sim, fast_build=fast)
    bdir = job.build_dir
    params = dict(job.parameters)
    for img in job.images:
        if not img.path.is_file():
            raise FileNotFoundError(f"memory image for {img.parameter} not found: {img.path}")
        params[img.parameter] = hdl_string(img.path)
    for d in job.dumps:
        params[d.parameter] = hdl_string(bdir / d.file)
        (bdir / d.file).unlink(missing_ok=True)
    checks = {img.memory: [list(c) for c in img.checks] for img in job.images if img.memory and img.checks}
    (bdir / RUN_NAME).unlink(missing_ok=True)
    (bdir / JOB_NAME).write_text(json.dumps(
        {"unit": job.unit, "max_cycles": job.max_cycles, "checks": checks,
         "counters": list(job.counters), "error_flag": job.error_flag,
         "error_hint": job.error_hint, "config": job.config}, indent=1))
    top = hdl.module_file(job.top, job.rtl_dirs)
    logs = {"build": bdir / "build.log", "sim": bdir / "sim.log"} if job.quiet else {}
    user_files = sorted(str(f) for d in hdl.user_rtl_dirs(job.rtl_dirs) for f in d.glob("*.v"))
    key = json.dumps({"top": str(top), "parameters": params, "args": _build_args(job), "waves": job.waves,
                      "fast_build": fast, "user_files": user_files}, sort_keys=True)
    try:
        current = job.sim == "verilator" and _verilator_build_current(bdir, job.top, key)
        if not current:
            (bdir / STAMP).unlink(missing_ok=True)
        runner.skip_build_commands = current  # the runner still records the design for test()
        runner.build(sources=[str(top)], hdl_toplevel=job.top, parameters=params,
                     build_args=_build_args(job), build_dir=bdir, timescale=TIMESCALE,
                     waves=job.waves, always=(job.sim == "icarus"), log_file=logs.get("build"))
        if job.sim == "verilator" and not current:
            (bdir / STAMP).write_text(key)
        runner.test(test_module=job.test_module, hdl_toplevel=job.top, build_dir=bdir, test_dir=bdir,
                    extra_env={"T2C_JOB": str(bdir / JOB_NAME)}, timescale=TIMESCALE,
                    waves=job.waves, log_file=logs.get("sim"))
    except (SystemExit, Exception) as e:  # a build error, a simulator crash (cocotb exits)
        if isinstance(e, KeyboardInterrupt):
            raise
        detail = next((_last_lines(p) for p in (logs.get("sim"), logs.get("build")) if p and p.is_file()
                       and _last_lines(p)), "")
        raise SimulationError(f"{job.unit} on {job.sim}: build or simulation failed "
                              f"({type(e).__name__}: {e})" + (f"\n{detail}" if detail else "")
                              + f"\n  logs in {bdir}", bdir) from None
    if not (bdir / RUN_NAME).is_file():
        raise SimulationError(f"{job.unit} on {job.sim}: the simulation wrote no {RUN_NAME} "
                              f"(see {bdir / 'sim.log'})", bdir)
    rep = json.loads((bdir / RUN_NAME).read_text())
    if rep["status"] != "ok":
        raise SimulationError(f"{job.unit} on {job.sim}: {rep['message']} (build directory {bdir})", bdir)
    missing = [d.file for d in job.dumps if not (bdir / d.file).is_file()]
    if missing:
        raise SimulationError(f"{job.unit} on {job.sim}: the wrapper wrote no {', '.join(missing)}", bdir)
    return SimRun(job, int(rep["cycles"]), rep.get("counters", {}), float(rep["sim_s"]),
                  time.perf_counter() - t0, find_waves(bdir) if job.waves else None, rep.get("extra", {}))

