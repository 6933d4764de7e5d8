"""``t2c mutate``: mutation testing of any RTL against any golden set.

Which bugs would a golden set let through in *your* design?  Every Verilog file of an RTL
directory that library search can load (``<module>.v`` / ``.sv``) gets one-token mutants
(:mod:`t2c.mutation`, the engine ``make mutate`` uses on t2c's own RTL), a seeded sample of
them or all; each mutant is copied with the rest of the directory into a fresh directory
and run through ``t2c sim`` on the given layers (with ``--stimulus corners``: each layer's
model case and every corner variant), in its own process and build root:

  killed          t2c sim exits 1 (a mismatch, or the simulation did not finish)
  timed out       no verdict within the time limit (counted as killed)
  survived        every case passes: a bug the golden set lets through
  not compiling   the HDL does not build (not counted)
  equivalent      a survivor listed in the ``--equivalent`` file (module, line, mutated
                  line, reason; the format of tools/mutate_equivalent.json): not counted

Before the mutants the unmutated directory must pass the same runs (the baseline).
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..mutation import Mutant, equivalence, generate, quotas, sample
from .hdl import HDL_SUFFIXES, loadable_modules

BUILD_FAILED = "the HDL did not build"


@dataclass
class MutationRun:
    """What ``t2c mutate`` asks for."""

    rtl_dir: Path
    golden: Path
    layers: list[str]
    stimulus: bool = False
    sim: str = "icarus"
    units: tuple[str, ...] = ()
    jobs: int = 2
    total: int = 60            # mutants over all files (proportional), unless every_mutant
    every_mutant: bool = False
    seed: int = 1
    timeout: float | None = None
    equivalents: tuple[dict, ...] = ()


def rtl_files(rtl_dir: Path) -> dict[str, Path]:
    """module -> file of every file library search can load from ``rtl_dir``."""
    rtl_dir = Path(rtl_dir)
    if not rtl_dir.is_dir():
        raise ValueError(f"RTL directory {rtl_dir} does not exist")
    found = loadable_modules(rtl_dir)
    if not found:
        raise ValueError(f"{rtl_dir} holds no Verilog module to mutate ({'/'.join(HDL_SUFFIXES)} files named "
                         f"after the module they declare)")
    return found


def mutants_of(run: MutationRun) -> list[Mutant]:
    """The sample (or all) of the candidate mutants of every file, in file order."""
    cands = {}
    for module, path in rtl_files(run.rtl_dir).items():
        ms = generate(path.read_text(), module)
        for m in ms:
            m.path = str(path)
        cands[module] = ms
    if run.every_mutant:
        return [m for ms in cands.values() for m in ms]
    quota = quotas({m: len(c) for m, c in cands.items()}, run.total, 1, None)
    return [x for m, c in cands.items() for x in sample(c, quota[m], run.seed, m)]


def _sim_commands(run: MutationRun, rtl_dir: Path) -> list[list[str]]:
    base = [sys.executable, "-m", "t2c.cli", "sim", "--golden", str(run.golden), "--sim", run.sim,
            "--rtl-dir", str(rtl_dir), *[a for u in run.units for a in ("--unit", u)]]
    return [base + ["--layer", layer] + (["--stimulus", "corners"] if run.stimulus else []) for layer in run.layers]


def _simulate(run: MutationRun, rtl_dir: Path, build_root: Path, timeout: float | None) -> tuple[int | None, str]:
    """(exit code of the first failing layer or 0, its output); None: timed out."""
    env = dict(os.environ, T2C_BUILD_ROOT=str(build_root))
    for cmd in _sim_commands(run, rtl_dir):
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                               start_new_session=True)
        except subprocess.TimeoutExpired:
            return None, ""
        if p.returncode != 0:
            return p.returncode, p.stdout + p.stderr
    return 0, ""


def baseline(run: MutationRun) -> float:
    """Run the unmutated directory (it must pass); returns its wall time."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="t2c-mutate-base-") as tmp:
        code, out = _simulate(run, Path(run.rtl_dir).resolve(), Path(tmp), None)
    if code != 0:
        last = [ln for ln in out.splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise ValueError(f"the unmutated RTL in {run.rtl_dir} does not pass these runs (exit {code}): {last[0]}")
    return time.perf_counter() - t0


def run_mutant(run: MutationRun, m: Mutant, timeout: float) -> Mutant:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="t2c-mutant-") as tmp:
        rtl = Path(tmp) / "rtl"
        shutil.copytree(run.rtl_dir, rtl, ignore=shutil.ignore_patterns("__pycache__"))
        target = rtl / Path(m.path).name
        target.write_text(m.apply(Path(m.path).read_text()))
        code, out = _simulate(run, rtl, Path(tmp) / "build", timeout)
    if code is None:
        m.status, m.detail = "timeout", f"no verdict within {timeout:.0f} s"
    elif code == 0:
        m.status = "survived"
        if (e := equivalence(m, list(run.equivalents))):
            m.status, m.detail = "equivalent", e["reason"]
    elif BUILD_FAILED in out:
        m.status, m.detail = "not_compiling", next((ln for ln in out.splitlines() if BUILD_FAILED in ln), "")
    elif code == 1:
        m.status, m.detail = "killed", next((ln for ln in out.splitlines() if "FAIL" in ln), "").strip()[:160]
    else:
        m.status, m.detail = "error", f"t2c sim exit {code}: {out.strip().splitlines()[-1] if out.strip() else ''}"
    m.seconds = round(time.perf_counter() - t0, 1)
    return m


def mutate(run: MutationRun, progress: bool = False, log=print) -> list[Mutant]:
    """Every mutant of ``run`` with its verdict (baseline first)."""
    mutants = mutants_of(run)
    log(f"{len(mutants)} mutants of {len(rtl_files(run.rtl_dir))} files in {run.rtl_dir}; "
        f"baseline: {len(run.layers)} layer(s){' with corner stimulus' if run.stimulus else ''} on {run.sim}")
    base = baseline(run)
    timeout = run.timeout or 3 * base + 60
    pool = concurrent.futures.ThreadPoolExecutor(max(1, run.jobs))
    it = pool.map(lambda m: run_mutant(run, m, timeout), mutants)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(mutants), desc="mutants", unit="mutant")
    try:
        done = list(it)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return done


def load_equivalents(path) -> tuple[dict, ...]:
    doc = json.loads(Path(path).read_text())
    entries = doc["equivalent"] if isinstance(doc, dict) else doc
    for e in entries:
        if not {"module", "line", "mutated", "reason"} <= set(e):
            raise ValueError(f"{path}: an equivalent mutant needs module, line, mutated and reason: {e}")
    return tuple(entries)


def write_report(mutants: list[Mutant], path) -> None:
    from ..fileio import atomic_write_text

    atomic_write_text(path, json.dumps({"mutants": [{k: v for k, v in asdict(m).items() if k not in ("start", "end")}
                                                    for m in mutants]}, indent=1) + "\n")
