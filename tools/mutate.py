"""Mutation check of the RTL: which one-token bugs in rtl/*.v does the test suite miss?

For every module of rtl/ (the files present at run time) the mutation engine
(t2c.mutation, shared with `t2c mutate`) lists the places where one small change gives
another valid design, in six classes (operator, comparison, constant, index, condition,
reset; the engine's docstring and docs/mutation.md give each change and what is never
mutated).

A sample is taken per module, deterministic for a seed: every class in turn, each class's
candidates in a seeded order.  Each mutant is written as <module>.v into a fresh directory,
compiled with `iverilog -g2005` (the module itself and every rtl/ module that instantiates
it: a mutant that does not build is discarded and counted), and the module's tests (TESTS
below) run in a pytest subprocess with T2C_RTL_DIR=<that directory> (library search puts
the mutant first), on Icarus, `-x`, fastest tests first (durations from a baseline run of
the unmutated RTL, which must pass).  Exit code 1: killed; 0: survived; the wall-clock
limit or the testbench's cycle limit ("done did not rise"): timed out (counted as killed,
listed separately).  Survivors that tools/mutate_equivalent.json lists (module, line text
and mutated line text, so line numbers may change) are equivalent mutants and do not count;
docs/mutation.md gives the reason of each.

  make mutate                                    # the default sample, 2 jobs
  make mutate ARGS="--modules requant,lut --max-per-module 10 --jobs 1"
  make mutate ARGS="--list --all"                # every candidate, nothing run

Score per module: (killed + timed out) / (generated - not compiling - equivalent).
The report is printed and written to sim_build/mutate/report.json.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's t2c, also without an install
from t2c.mutation import (CLASSES, Mutant, _squash, describe, equivalence, generate, quotas,  # noqa: E402,F401
                          rows, sample, table, tokenize)

REPO = Path(__file__).resolve().parents[1]
RTL = REPO / "rtl"
EQUIVALENT_FILE = REPO / "tools" / "mutate_equivalent.json"
REPORT = REPO / "sim_build" / "mutate" / "report.json"

# module -> (its own test files, units whose golden layers in sim/test_layers.py also run).
# A module not listed gets sim/test_<module>.py and the layers of a unit named <module>;
# rtl/pool.v and rtl/eltwise.v are listed so that they are covered once they exist.
ENGINE = (["sim/test_layer_engine.py"], ["layer_engine"])
# the modules behind the host write port and the busy flag: engine_axi's tests drive them
ENGINE_HOST = (["sim/test_layer_engine.py", "sim/test_engine_axi.py"], ["layer_engine"])
ROWS = (["sim/test_softmax.py", "sim/test_layernorm.py"], ["softmax", "layernorm"])
TESTS = {
    "requant": (["sim/test_requant.py"], ["layer_engine"]),
    "mac_pe": (["sim/test_mac_array.py"], ["layer_engine"]),
    "mac_array": (["sim/test_mac_array.py"], ["layer_engine"]),
    "lut": (["sim/test_lut.py", "sim/test_lut_layer.py", "sim/test_softmax.py"], ["lut_layer", "softmax"]),
    "lut_layer": (["sim/test_lut_layer.py"], ["lut_layer"]),
    "layer_engine": ENGINE_HOST, "engine_ctrl": ENGINE_HOST, "engine_mem": ENGINE, "engine_pixwalk": ENGINE,
    "engine_post": ENGINE,
    "softmax": (["sim/test_softmax.py"], ["softmax"]),
    "layernorm": (["sim/test_layernorm.py"], ["layernorm"]),
    "divider": (["sim/test_divider.py", *ROWS[0]], ROWS[1]),
    "row_counter": ROWS, "row_buffer": ROWS,
    "pool": (["sim/test_pool.py"], ["pool"]),
    "eltwise": (["sim/test_eltwise.py"], ["eltwise"]),
}
# tests never run for a mutant: Verilator-only coverage of something Icarus also runs
EXCLUDED_TESTS = ("resnet18",)
# extra parameter sets a mutant must also build with (generate branches the defaults and
# the instantiating modules do not elaborate)
EXTRA_BUILDS = {"lut": [{"FRAC_BITS": 4}], "requant": [{"ADD_BITS": 41}]}

def modules() -> list[str]:
    return sorted(p.stem for p in RTL.glob("*.v"))


def candidates(module: str) -> list[Mutant]:
    return generate((RTL / f"{module}.v").read_text(), module)


# ====================================================================== equivalents
def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[dict]:
    return json.loads(path.read_text())["equivalent"] if path.is_file() else []


# ====================================================================== building
def instantiations() -> dict[str, set[str]]:
    """module -> the rtl/ modules it instantiates."""
    mods = set(modules())
    out = {}
    for m in mods:
        toks = tokenize((RTL / f"{m}.v").read_text())
        out[m] = {t.text for k, t in enumerate(toks[:-1]) if t.text in mods and t.text != m
                  and (toks[k + 1].text == "#" or toks[k + 1].kind == "ident")}
    return out


def users(module: str) -> list[str]:
    """Every rtl/ module that instantiates ``module``, directly or not."""
    inst = instantiations()
    out, todo = set(), [module]
    while todo:
        x = todo.pop()
        for parent, kids in inst.items():
            if x in kids and parent not in out:
                out.add(parent)
                todo.append(parent)
    return sorted(out)


def compiles(module: str, rtl_dir: Path) -> str | None:
    """None if the mutated module builds (alone, in every module using it, with the extra
    parameter sets), else iverilog's message."""
    tops = [(module, {})] + [(module, p) for p in EXTRA_BUILDS.get(module, [])] + \
           [(u, {}) for u in users(module)]
    for top, params in tops:
        files = [rtl_dir / f"{module}.v"] + ([RTL / f"{top}.v"] if top != module else [])
        cmd = ["iverilog", "-g2005", "-o", os.devnull, "-s", top, "-y", str(rtl_dir), "-y", str(RTL),
               *[f"-P{top}.{k}={v}" for k, v in params.items()], *map(str, files)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return f"{top}: iverilog did not finish in 60 s"
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            return f"{top}{params or ''}: {msg[0] if msg else 'iverilog failed'}"
    return None


# ====================================================================== tests
def _env(rtl_dir: Path, build_root: Path, test_seed: str) -> dict:
    """The tests' environment: the mutant's directory first on the search path (none for the
    baseline: t2c refuses an RTL directory it can load nothing from)."""
    env = dict(os.environ, T2C_SIMS="icarus", T2C_RTL_DIR=str(rtl_dir), T2C_BUILD_ROOT=str(build_root))
    if not any(rtl_dir.iterdir()):
        env.pop("T2C_RTL_DIR")
    env.pop("PYTEST_XDIST_WORKER", None)
    if test_seed == "random":
        env.pop("T2C_SEED", None)
    else:
        env["T2C_SEED"] = test_seed
    return env


def _workdir(root: Path) -> tuple[Path, Path]:
    """A fresh RTL directory and build root (its golden/ shared with sim_build/golden:
    generated golden vectors are reused)."""
    rtl_dir, build = root / "rtl", root / "build"
    rtl_dir.mkdir(parents=True)
    build.mkdir()
    shared = REPO / "sim_build" / "golden"
    shared.mkdir(parents=True, exist_ok=True)
    (build / "golden").symlink_to(shared, target_is_directory=True)
    return rtl_dir, build


def test_files(module: str) -> tuple[list[str], list[str]]:
    files, units = TESTS.get(module, ([f"sim/test_{module}.py"], [module]))
    return [f for f in files if (REPO / f).is_file()], units


def collect(files: list[str]) -> list[str]:
    """Node ids of ``files`` that run on Icarus (Verilator cases and EXCLUDED_TESTS dropped)."""
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                        *files], cwd=REPO, capture_output=True, text=True, env=dict(os.environ, T2C_SIMS="icarus"))
    if r.returncode != 0:
        raise SystemExit(f"collecting {' '.join(files)} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
    ids = [x for x in r.stdout.splitlines() if "::" in x]
    return [x for x in ids if "verilator" not in x.split("[", 1)[-1] and not any(e in x for e in EXCLUDED_TESTS)]


def layer_units() -> dict[str, str]:
    """Node id of every icarus test_layer case of sim/test_layers.py -> its unit ("" if unknown)."""
    from t2c.sim.golden_dirs import COMMITTED, open_golden
    from t2c.sim.layers import runnable_layers

    units = {}
    for root in COMMITTED:
        for manifest in sorted(root.glob("*/manifest.json")):
            units[manifest.parent.name] = dict((n, u) for n, _, u in runnable_layers(open_golden(manifest.parent)))
    out = {}
    for nid in collect(["sim/test_layers.py"]):
        m = re.fullmatch(r"sim/test_layers\.py::test_layer\[icarus-(.*)\]", nid)
        if m:
            model = next((k for k in units if m.group(1).startswith(k + "-")), None)
            out[nid] = units[model].get(m.group(1)[len(model) + 1:], "") if model else ""
    return out


def selections(mods: list[str]) -> dict[str, list[str]]:
    """module -> the node ids its mutants run (unit tests, then the layers of its units)."""
    layers = layer_units() if (REPO / "sim/test_layers.py").is_file() else {}
    cache, out = {}, {}
    for m in mods:
        files, units = test_files(m)
        ids = []
        for f in files:
            if f not in cache:
                cache[f] = collect([f])
            ids += cache[f]
        ids += [nid for nid, u in layers.items() if u in units or u == ""]
        if not ids:
            raise SystemExit(f"no tests for rtl/{m}.v: add it to TESTS in tools/mutate.py")
        out[m] = ids
    return out


def pytest_cmd(ids: list[str], basetemp: Path, extra=()) -> list[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}",
            "-o", "console_output_style=classic", *extra, *ids]


def baseline(ids: list[str], jobs: int, test_seed: str) -> dict[str, float]:
    """Run every selected test on the unmutated RTL (they must pass): node id -> seconds
    (skipped tests are left out)."""
    chunks = [ids[k::jobs] for k in range(jobs) if ids[k::jobs]]

    def run(chunk, k):
        with tempfile.TemporaryDirectory(prefix="t2c-mutate-base-") as tmp:
            rtl_dir, build = _workdir(Path(tmp))
            xml = Path(tmp) / "junit.xml"
            r = subprocess.run(pytest_cmd(chunk, Path(tmp) / "pt", [f"--junitxml={xml}"]), cwd=REPO,
                               env=_env(rtl_dir, build, test_seed), capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"the unmutated RTL fails its tests (fix that first):\n{r.stdout[-4000:]}")
            times = {}
            for case in ET.parse(xml).getroot().iter("testcase"):
                if case.find("skipped") is not None:
                    continue
                path = case.get("classname").replace(".", "/") + ".py"
                times[f"{path}::{case.get('name')}"] = float(case.get("time"))
            return times

    with concurrent.futures.ThreadPoolExecutor(len(chunks)) as pool:
        parts = list(pool.map(run, chunks, range(len(chunks))))
    out = {}
    for p in parts:
        out.update(p)
    missing = [i for i in ids if i not in out]
    if len(missing) == len(ids):
        raise SystemExit("the baseline ran no test (all skipped?): is iverilog installed?")
    return out


_children: set[subprocess.Popen] = set()
_lock = threading.Lock()


def run_mutant(m: Mutant, text: str, ids: list[str], timeout: float, test_seed: str, keep: bool) -> Mutant:
    t0 = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix=f"t2c-mutate-{m.id}-"))
    try:
        rtl_dir, build = _workdir(root)
        (rtl_dir / f"{m.module}.v").write_text(m.apply(text))
        why = compiles(m.module, rtl_dir)
        if why is not None:
            m.status, m.detail = "not_compiling", why
            return m
        proc = subprocess.Popen(pytest_cmd(["-x", *ids], root / "pt"), cwd=REPO,
                                env=_env(rtl_dir, build, test_seed), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        with _lock:
            _children.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            m.status, m.detail = "timeout", f"no verdict within {timeout:.0f} s"
            return m
        finally:
            with _lock:
                _children.discard(proc)
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
        if proc.returncode == 0:
            m.status = "survived"
        elif proc.returncode == 1:
            hang = "done did not rise within" in out
            m.status = "timeout" if hang else "killed"
            m.detail = (failed[0] if failed else "") + (" (the testbench's cycle limit)" if hang else "")
        else:
            m.status, m.detail = "error", f"pytest exit code {proc.returncode}: {out[-1500:]}"
        return m
    finally:
        m.seconds = round(time.perf_counter() - t0, 1)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


# ====================================================================== report
def write_report(mutants: list[Mutant], args, wall: float, path: Path = REPORT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "command": " ".join(sys.argv),
        "seed": args.seed, "test_seed": args.test_seed, "jobs": args.jobs, "wall_s": round(wall, 1),
        "machine": f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().machine}",
        "modules": [{**asdict(r), "score": r.score} for r in rows(mutants)],
        "mutants": [{k: v for k, v in asdict(m).items() if k not in ("start", "end")} for m in mutants],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")


# ====================================================================== main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", help="comma-separated rtl/ modules (default: every rtl/*.v)")
    ap.add_argument("--total", type=int, default=150, help="mutants over all modules, proportional (150)")
    ap.add_argument("--min-per-module", type=int, default=6, help="at least this many per module (6)")
    ap.add_argument("--max-per-module", type=int, help="at most this many per module")
    ap.add_argument("--all", action="store_true", help="every candidate, no sampling")
    ap.add_argument("--jobs", type=int, default=2, help="mutants tested at once (2: at most 2 simulations)")
    ap.add_argument("--seed", type=int, default=1, help="sample seed (1)")
    ap.add_argument("--test-seed", default="1", help="T2C_SEED of the tests (1), or 'random'")
    ap.add_argument("--timeout", type=float, help="seconds per mutant (default: 3x its baseline + 60)")
    ap.add_argument("--list", action="store_true", help="only list the mutants")
    ap.add_argument("--keep", action="store_true", help="keep each mutant's directory")
    ap.add_argument("--report", type=Path, default=REPORT, help=f"JSON report ({REPORT.relative_to(REPO)})")
    ap.add_argument("--write-docs", action="store_true",
                    help=f"put the printed table into {DOCS.relative_to(REPO)}'s results block")
    args = ap.parse_args(argv)

    mods = modules() if not args.modules else [m.strip() for m in args.modules.split(",") if m.strip()]
    unknown = [m for m in mods if not (RTL / f"{m}.v").is_file()]
    if unknown:
        ap.error(f"no rtl/<module>.v for {', '.join(unknown)} (modules: {', '.join(modules())})")
    cands = {m: candidates(m) for m in mods}
    quota = quotas({m: len(c) for m, c in cands.items()}, args.total, args.min_per_module, args.max_per_module)
    picked = [x for m in mods for x in (cands[m] if args.all else sample(cands[m], quota[m], args.seed, m))]
    if args.list:
        for m in picked:
            print(f"{m.id}  {describe(m)}")
        print(f"{len(picked)} mutants of {sum(map(len, cands.values()))} candidates in {len(mods)} modules")
        return 0
    if shutil.which("iverilog") is None:
        print("iverilog not found (make iverilog)", file=sys.stderr)
        return 3

    t0 = time.perf_counter()
    sel = selections(sorted({m.module for m in picked}))
    union = sorted({i for ids in sel.values() for i in ids})
    print(f"baseline: {len(union)} tests on the unmutated RTL ({args.jobs} jobs)", flush=True)
    times = baseline(union, args.jobs, args.test_seed)
    print(f"baseline passed in {time.perf_counter() - t0:.0f} s", flush=True)
    order = {m: sorted((i for i in ids if i in times), key=lambda i: times[i]) for m, ids in sel.items()}
    texts = {m: (RTL / f"{m}.v").read_text() for m in mods}
    entries = load_equivalents()

    def one(m: Mutant) -> Mutant:
        limit = args.timeout or 3 * sum(times[i] for i in order[m.module]) + 60
        run_mutant(m, texts[m.module], order[m.module], limit, args.test_seed, args.keep)
        if m.status == "survived" and (e := equivalence(m, entries)):
            m.status, m.detail = "equivalent", e["reason"]
        elif m.status != "survived" and equivalence(m, entries):
            m.detail += " (listed as equivalent: it is not)"
        return m

    done = 0
    pool = concurrent.futures.ThreadPoolExecutor(args.jobs)
    try:
        for m in pool.map(one, picked):
            done += 1
            print(f"[{done}/{len(picked)}] {m.where():<26} {m.cls:<10} {m.original!r} -> {m.replacement!r}: "
                  f"{m.status} {m.detail[:100]} ({m.seconds:.0f} s)", flush=True)
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        with _lock:
            for p in _children:
                os.killpg(p.pid, signal.SIGKILL)
        return 130
    pool.shutdown()
    wall = time.perf_counter() - t0

    print()
    print(table(picked))
    for title, status in (("survivors", "survived"), ("errors", "error"), ("equivalent", "equivalent")):
        ms = [m for m in picked if m.status == status]
        if ms:
            print(f"\n{title} ({len(ms)}):")
            for m in ms:
                print(f"  {describe(m)}" + (f"\n      reason: {m.detail}" if status != "survived" else ""))
    wrong = [m for m in picked if "listed as equivalent" in m.detail]
    if wrong:
        print("\nlisted as equivalent but killed: fix tools/mutate_equivalent.json:")
        for m in wrong:
            print(f"  {describe(m)}")
    write_report(picked, args, wall, args.report)
    summary = f"{len(picked)} mutants, wall {wall / 60:.1f} min, {args.jobs} jobs; report {args.report}"
    print(f"\n{summary}")
    if args.write_docs:
        write_docs(picked, " ".join(["tools/mutate.py", *(argv if argv is not None else sys.argv[1:])]), wall, args)
        print(f"wrote the results into {DOCS}")
    return 0


DOCS = REPO / "docs" / "mutation.md"
RESULTS_BEGIN, RESULTS_END = "<!-- results: written by tools/mutate.py --write-docs -->", "<!-- end of results -->"


def results_block(mutants: list[Mutant], command: str, wall: float, args) -> str:
    """The docs block of a run: what ran, the printed table, the score in words."""
    total = rows(mutants)[-1]
    live = total.generated - total.not_compiling - total.equivalent - total.errors
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    lines = [f"`{command}` (seed {args.seed}, test seed {args.test_seed}, {args.jobs} jobs, "
             f"{os.cpu_count()} cores, {wall / 60:.1f} minutes wall, RTL of commit {commit}):", "", "```",
             table(mutants), "```", "",
             f"**{100 * total.score:.1f}% of the {live} non-equivalent mutants are killed** "
             f"({total.killed} by a failing comparison or check, {total.timeout} by the testbench's cycle limit "
             f"or the time limit), over {total.generated} mutants in {len(rows(mutants)) - 1} `rtl/` modules; "
             f"{total.not_compiling} did not compile and {total.equivalent} are equivalent (listed above)"
             + (f"; {total.survived} survived" if total.survived else "")
             + (f"; {total.errors} ended in an error" if total.errors else "") + "."]
    return "\n".join(lines)


EQUIV_BEGIN = "<!-- equivalents: generated from tools/mutate_equivalent.json -->"
EQUIV_END = "<!-- end of equivalents -->"


def equivalents_markdown(entries: list[dict]) -> str:
    """docs/mutation.md's list of the equivalent mutants, from tools/mutate_equivalent.json."""
    return "\n".join(f"* `rtl/{e['module']}.v` `{e['line']}`  \n  -> `{e['mutated']}`  \n  {e['reason']}"
                     for e in sorted(entries, key=lambda e: (e["module"], e["line"], e["mutated"])))


def _replace_block(text: str, begin: str, end: str, body: str) -> str:
    i, j = text.index(begin) + len(begin), text.index(end)
    return text[:i] + "\n" + body + "\n" + text[j:]


def write_docs(mutants: list[Mutant] | None, command: str, wall: float, args, path: Path = DOCS) -> None:
    """The equivalents list and (with ``mutants``) the results block of docs/mutation.md."""
    text = _replace_block(path.read_text(), EQUIV_BEGIN, EQUIV_END, equivalents_markdown(load_equivalents()))
    if mutants is not None:
        text = _replace_block(text, RESULTS_BEGIN, RESULTS_END, results_block(mutants, command, wall, args))
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
