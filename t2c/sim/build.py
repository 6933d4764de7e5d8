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
parameters, the user RTL directories and the waves switch: ``pytest -n auto`` never
shares one.  A Verilator model is reused only when its content key (:func:`build_key`:
the sha256 of every HDL file on the search path, of every file the last build read, the
parameters, arguments and simulator) is unchanged; timestamps play no part, so a source
replaced by an older file rebuilds (images are re-read at time 0, so new contents need no
rebuild).  After every build the simulator's own dependency list says which files were
compiled (:attr:`SimRun.sources`: the verdict names the user's, report.json lists all).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..fileio import atomic_write_text, file_lock, sha256_file
from . import hdl, toolchain
from .images import Image

TIMESCALE = ("1ns", "1ps")
# Verilator -O0 builds in ~5 s and simulates ~4x slower than its optimised build (~10 s):
# runs that may take more cycles than this get the optimised build (fast_build=None)
OPTIMISE_ABOVE_CYCLES = 3_000_000
JOB_NAME, RUN_NAME = "job.json", "run.json"
TEST_MODULE = "t2c.sim.cocotb_side"


class UnusedRTLError(ValueError):
    """The user's RTL directories contribute no module to a build (bad input: exit 2)."""


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
    sources: tuple[hdl.Source, ...] = ()   # the HDL files compiled (the simulator's own list)


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
        args += [*toolchain.VERILATOR_ARGS, *toolchain.VERILATOR_TIMING_ARGS]  # finds M.sv and M.v itself
    else:
        args += [f"-Mall={job.build_dir / ICARUS_DEPS}"]
        if any(f.suffix == ".sv" for f in hdl.library_files(job.rtl_dirs)):
            args += ["-g2012", "-Y.v", "-Y.sv"]  # SystemVerilog on the path: find M.sv too, parse it as 2012
    return args


STAMP = "build.key"
ICARUS_DEPS = "iverilog.deps"          # iverilog -M: the files it compiled
VERILATOR_DEPS = "Vtop__ver.d"         # verilator: make dependencies of the model


def build_key(job: SimJob, params: dict, fast: bool) -> dict:
    """What a build is made of, by *content*: the top, the HDL parameters, the arguments,
    the simulator (its version line and executable) and the sha256 of every HDL file on the
    library search path (the user's directories, t2c's RTL, the wrappers).  Timestamps
    play no part: a file replaced by an older one (``cp -p``, ``tar x``, ``rsync -t``)
    changes the key, a touched but unchanged file does not."""
    exe = {"icarus": "iverilog", "verilator": "verilator"}[job.sim]
    return {"top": job.top, "parameters": params, "args": _build_args(job), "waves": job.waves,
            "fast_build": fast, "simulator": [toolchain.simulator_version(job.sim), shutil.which(exe)],
            "files": {str(f): sha256_file(f) for f in hdl.library_files(job.rtl_dirs)}}


def _dependencies(job: SimJob) -> list[str]:
    """The files the simulator read for the build in ``job.build_dir`` (its own list)."""
    bdir = job.build_dir
    try:
        if job.sim == "icarus":
            return (bdir / ICARUS_DEPS).read_text().split()
        return (bdir / VERILATOR_DEPS).read_text().split(":", 1)[1].replace("\\\n", " ").split()
    except (OSError, IndexError):
        return []


def _verilator_build_current(bdir: Path, top: str, key: dict) -> bool:
    """True when the Verilator model in ``bdir`` was built from exactly ``key`` and every
    file it read (its dependency list: includes outside the search path too) still has the
    content it had then: the build is skipped.  Content, not modification times, decides."""
    try:
        stamp = json.loads((bdir / STAMP).read_text())
        if stamp.get("key") != key or not (bdir / top).is_file():
            return False
        return all(Path(f).is_file() and sha256_file(f) == digest for f, digest in stamp["read"].items())
    except (OSError, ValueError, KeyError, AttributeError):
        return False


def _purge_verilator_outputs(bdir: Path, top: str) -> None:
    """Delete a previous Verilator model (generated C++, objects, binary, stamp): a build
    whose key changed starts from nothing, so neither Verilator's nor make's timestamp
    checks can keep a stale object."""
    for f in bdir.iterdir():
        if f.is_file() and (f.name.startswith("Vtop") or f.suffix in (".o", ".d", ".a")
                            or f.name in (top, STAMP, "verilator.d")):
            f.unlink(missing_ok=True)


def _last_lines(path: Path, n: int = 6) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in lines if re.search(r"error|%Error", ln, re.I)]
    return "\n".join((errors or lines)[-n:])


def _first_error(path: Path | None) -> str:
    """The first compiler error line of a build log ('' when none)."""
    try:
        lines = path.read_text(errors="replace").splitlines() if path else []
    except OSError:
        return ""
    pattern = re.compile(r"%Error|\berror\b|syntax error|Unknown module type|I give up", re.I)
    found = next((ln.strip() for ln in lines if pattern.search(ln)), "")
    return found[:300]


class BuildError(SimulationError):
    """The HDL did not compile: the message is the first compiler error and the log's path."""


def _build_failed(job: SimJob, log: Path | None, e: BaseException) -> Exception:
    """What to raise for a failed build: OSError naming the build directory when its disk is
    full or not writable (bad input), else BuildError with one line: the first compiler
    error and where the whole log is."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
        return OSError(e.errno, f"cannot build in {job.build_dir}: {e.strerror}")
    first = _first_error(log)
    if not first and log is not None and log.is_file() and _disk_full(job.build_dir):
        return OSError(errno.ENOSPC, f"cannot build in {job.build_dir}: {os.strerror(errno.ENOSPC)}")
    where = f"full log: {log}" if log is not None and log.is_file() else f"build directory {job.build_dir}"
    return BuildError(f"{job.unit} on {job.sim}: the HDL did not build: "
                      f"{first or f'{type(e).__name__}: {e}'} ({where})", job.build_dir)


def _disk_full(path: Path) -> bool:
    """True when the filesystem holding ``path`` has (almost) no space left."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20)


def _check_user_rtl_used(job: SimJob, sources) -> None:
    users = hdl.user_rtl_dirs(job.rtl_dirs)
    if not users or any(s.user for s in sources):
        return
    needed = sorted({s.module for s in sources if s.path.suffix in hdl.HDL_SUFFIXES})
    raise UnusedRTLError(f"{', '.join(map(str, users))} contributes no module to the {job.unit} build "
                         f"(modules it needs: {', '.join(needed)}); library search finds module M only in "
                         f"M.v or M.sv")


def run_job(job: SimJob, require_user_rtl: bool = False) -> SimRun:
    """Build and run ``job``; raise :class:`SimulationError` unless it ran to ``done`` with
    every image loaded and the error flag low (then compare its dumps).

    ``require_user_rtl``: a build that compiled no file of the user's RTL directories is
    refused (:class:`UnusedRTLError`) before it simulates, naming the modules it needs."""
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
    key = build_key(job, params, fast)
    try:
        current = job.sim == "verilator" and _verilator_build_current(bdir, job.top, key)
        if job.sim == "verilator" and not current:
            _purge_verilator_outputs(bdir, job.top)
        (bdir / ICARUS_DEPS).unlink(missing_ok=True)
        runner.skip_build_commands = current  # the runner still records the design for test()
        runner.build(sources=[str(top)], hdl_toplevel=job.top, parameters=params,
                     build_args=_build_args(job), build_dir=bdir, timescale=TIMESCALE,
                     waves=job.waves, always=(job.sim == "icarus"), log_file=logs.get("build"))
    except (SystemExit, Exception) as e:  # a build error (cocotb raises or exits)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise _build_failed(job, logs.get("build"), e) from None
    sources = hdl.used_sources(_dependencies(job), job.rtl_dirs)
    if job.sim == "verilator" and not current:
        atomic_write_text(bdir / STAMP, json.dumps(
            {"key": key, "read": {str(s.path): s.sha256 for s in sources}}, indent=1, sort_keys=True))
    if require_user_rtl:
        _check_user_rtl_used(job, sources)
    try:
        runner.test(test_module=job.test_module, hdl_toplevel=job.top, build_dir=bdir, test_dir=bdir,
                    extra_env={"T2C_JOB": str(bdir / JOB_NAME)}, timescale=TIMESCALE,
                    waves=job.waves, log_file=logs.get("sim"))
    except (SystemExit, Exception) as e:  # a simulator crash (cocotb exits)
        if isinstance(e, KeyboardInterrupt):
            raise
        if _disk_full(bdir):
            raise OSError(errno.ENOSPC, f"cannot simulate in {bdir}: {os.strerror(errno.ENOSPC)}") from None
        detail = next((_last_lines(p) for p in (logs.get("sim"),) if p and p.is_file() and _last_lines(p)), "")
        raise SimulationError(f"{job.unit} on {job.sim}: simulation failed "
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
                  time.perf_counter() - t0, find_waves(bdir) if job.waves else None, rep.get("extra", {}),
                  sources)

