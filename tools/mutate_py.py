"""Mutation check of the Python reference: which small bugs in t2c's core would its tests miss?

The RTL side has tools/mutate.py; this is the same question for the code every RTL result
is compared against (the arithmetic contract, the executor, the converter, the golden and
graph files, the comparison, the memory images).  It runs **mutmut** (3.x, a well-kept
mutation tester: it mutates operators, comparisons, numbers, strings, keyword arguments
and more with libcst, compiles every mutant of a file into one copy behind a trampoline,
and runs per mutant only the tests whose recorded coverage reaches the mutated function),
one module at a time so that a module's run stays short and its tests are the ones that
cover it (MODULES below).

Per module the check builds a work directory ``sim_build/mutate-py/<module>/`` holding a
copy of the package and the tests and a ``[tool.mutmut]`` configuration for that module,
runs ``mutmut run`` there, and reads every mutant's verdict back:

  killed      a test failed (or mutmut's per-mutant time limit ended it: timeout)
  survived    every covering test passed: a blind spot, unless the mutant is equivalent
  no tests    no selected test reaches the mutated function: also a blind spot

Error messages and progress output are not mutated (``do_not_mutate_patterns``: lines
that raise, warn, print or log; a wrong word in a message is not a wrong result).
Survivors listed in tools/mutate_py_equivalent.json (module, function, the changed line
before and after, and the reason) are equivalent and do not count; docs/mutation.md
explains each.  Score per module: killed / (mutants - equivalent).

  make mutate-py                                   # every module, one after the other
  make mutate-py ARGS="--modules arith,ref"        # some modules
  python tools/mutate_py.py --list                 # the modules and their tests

The table is printed, written to sim_build/mutate-py/report.json and, with --write-docs
(the default of `make mutate-py`), into docs/mutation.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "sim_build" / "mutate-py"
REPORT = WORK / "report.json"
EQUIVALENT_FILE = REPO / "tools" / "mutate_py_equivalent.json"
DOCS = REPO / "docs" / "mutation.md"
RESULTS_BEGIN = "<!-- python results: written by tools/mutate_py.py --write-docs -->"
RESULTS_END = "<!-- end of python results -->"

# module -> (the files it mutates, the test files whose coverage chooses each mutant's tests)
CORE = ["tests/test_arith.py", "tests/test_reference.py", "tests/test_gemm.py", "tests/test_pooling.py"]
CONVERT = ["tests/test_convert.py", "tests/test_zoo_ops.py", "tests/test_vit.py", "tests/test_pooling.py",
           "tests/test_own_model.py", "tests/test_exact_forward.py", "tests/test_quant.py"]
EXPORT = ["tests/test_export_formats.py", "tests/test_export_layout.py", "tests/test_engine_layout.py",
          "tests/test_export_roundtrip.py", "tests/test_export_model.py", "tests/test_sparse_images.py"]
MODULES: dict[str, tuple[list[str], list[str]]] = {
    "arith": (["t2c/arith.py"], CORE + ["tests/test_vit.py", "tests/test_zoo_ops.py"]),
    "gemm": (["t2c/gemm.py"], ["tests/test_gemm.py", "tests/test_reference.py", "tests/test_zoo_ops.py"]),
    "ref": (["t2c/ref.py"], CORE + ["tests/test_zoo_ops.py", "tests/test_vit.py", "tests/test_convert.py"]),
    "movement": (["t2c/movement.py"], ["tests/test_zoo_ops.py", "tests/test_vit.py", "tests/test_convert.py"]),
    "convert.lower": (["t2c/convert/lower.py"], CONVERT),
    "convert.capture": (["t2c/convert/capture.py"], CONVERT),
    "convert.qmodel": (["t2c/convert/qmodel.py"], CONVERT),
    "golden": (["t2c/golden.py"], ["tests/test_golden.py", "tests/test_trusted_inputs.py",
                                   "tests/test_sim_cli_errors.py", "tests/test_output_policy.py"]),
    "graph_io": (["t2c/graph_io.py"], ["tests/test_own_model.py", "tests/test_trusted_inputs.py",
                                       "tests/test_zoo_ops.py", "tests/test_output_policy.py"]),
    "fileio": (["t2c/fileio.py"], ["tests/test_output_policy.py", "tests/test_golden.py",
                                   "tests/test_trusted_inputs.py", "tests/test_export_model.py"]),
    "sim.compare": (["t2c/sim/compare.py"], ["tests/test_compare.py"]),
    "export.formats": (["t2c/export/formats.py"], EXPORT),
    "export.layout": (["t2c/export/layout.py"], EXPORT),
    "export.engine": (["t2c/export/engine.py"], EXPORT),
}
# statements never mutated: what they change is a message, not a result
DO_NOT_MUTATE = [r"^\s*raise\b", r"\bwarnings\.warn\(", r"^\s*print\(", r"^\s*_note\(", r"^\s*log\(",
                 r"\btqdm\(", r"^\s*assert\b"]
COPY = ["t2c", "tests", "conftest.py", "rtl", "sim/hdl", "golden", "examples", "pyproject.toml"]
VERDICTS = ("killed", "timeout", "survived", "no tests", "equivalent", "other")


@dataclass
class Mutant:
    name: str              # mutmut's name: t2c.arith.x_requantize__mutmut_3
    status: str            # killed, timeout, survived, no tests, equivalent, other
    raw: str = ""          # mutmut's own word for it
    function: str = ""
    before: str = ""       # the changed line, before and after (whitespace collapsed)
    after: str = ""
    diff: str = ""
    reason: str = ""


@dataclass
class ModuleRun:
    module: str
    seconds: float
    mutants: list[Mutant] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(m.status == status for m in self.mutants)

    @property
    def score(self) -> float | None:
        live = len(self.mutants) - self.count("equivalent") - self.count("other")
        return (self.count("killed") + self.count("timeout")) / live if live > 0 else None


# ====================================================================== the work directory
def _config(module: str) -> str:
    files, tests = MODULES[module]
    q = lambda items: "[" + ", ".join(json.dumps(i) for i in items) + "]"  # noqa: E731
    return (f"\n[tool.mutmut]\nsource_paths = [\"t2c/\"]\nonly_mutate = {q(files)}\n"
            f"pytest_add_cli_args_test_selection = {q(tests)}\n"
            f"pytest_add_cli_args = [\"-q\", \"-p\", \"no:cacheprovider\", \"-m\", \"not slow\"]\n"
            f"also_copy = {q([c for c in COPY if c not in ('t2c', 'tests', 'pyproject.toml')])}\n"
            f"do_not_mutate_patterns = {q(DO_NOT_MUTATE)}\n"
            f"process_isolation = \"forkserver\"\n")


def workdir(module: str) -> Path:
    """A fresh copy of what the module's tests need, with the module's mutmut config."""
    d = WORK / module
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "sim_build", "mutants")
    for rel in COPY:
        src = REPO / rel
        if src.is_dir():
            shutil.copytree(src, d / rel, ignore=ignore)
        elif src.is_file():
            (d / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, d / rel)
    pyproject = (d / "pyproject.toml").read_text()
    (d / "pyproject.toml").write_text(re.sub(r"\n\[tool\.mutmut\].*?(?=\n\[|\Z)", "", pyproject, flags=re.S)
                                      + _config(module))
    return d


# ====================================================================== running and reading
def _mutmut(args: list[str], cwd: Path, log=None, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", T2C_BUILD_ROOT=str(cwd / "build"))
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=cwd, env=env, text=True,
                          stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


def _changed_line(diff: str) -> tuple[str, str]:
    """The first removed and added line of a mutant's diff, whitespace collapsed."""
    norm = lambda s: " ".join(s[1:].split())  # noqa: E731
    removed = next((norm(ln) for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")), "")
    added = next((norm(ln) for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")), "")
    return removed, added


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[dict]:
    return json.loads(path.read_text())["equivalent"] if path.is_file() else []


def equivalents_markdown(entries: list[dict]) -> str:
    """docs/mutation.md's list of the Python equivalent mutants, from the JSON file."""
    return "\n".join(f"* `t2c/{e['module'].replace('.', '/')}.py` `{e['function']}`: `{e['before']}`  \n"
                     f"  -> `{e['after']}`  \n  {e['reason']}" for e in entries)


def equivalence(module: str, m: Mutant, entries: list[dict]) -> dict | None:
    for e in entries:
        if (e["module"], e["function"], e["before"], e["after"]) == (module, m.function, m.before, m.after):
            return e
    return None


def _function(name: str) -> str:
    """``t2c.arith.x_requantize__mutmut_3`` -> ``requantize`` (a method: ``Class.method``)."""
    tail = name.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
    tail = re.sub(r"^x[ǁ_]", "", tail)
    return tail.replace("ǁ", ".")


def run_module(module: str, jobs: int, log_dir: Path) -> ModuleRun:
    d = workdir(module)
    t0 = time.perf_counter()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{module}.log", "w") as log:
        _mutmut(["run", "--max-children", str(jobs)], d, log)
    seconds = time.perf_counter() - t0
    out = _mutmut(["results", "--all", "true"], d).stdout
    entries = load_equivalents()
    run = ModuleRun(module, round(seconds, 1))
    for line in out.splitlines():
        mo = re.match(r"\s+(\S+): (.+)$", line)
        if not mo:
            continue
        name, raw = mo.group(1), mo.group(2).strip()
        status = {"killed": "killed", "timeout": "timeout", "survived": "survived",
                  "no tests": "no tests"}.get(raw, "other")
        m = Mutant(name, status, raw, _function(name))
        if status in ("survived", "no tests"):
            m.diff = _mutmut(["show", name], d).stdout
            m.before, m.after = _changed_line(m.diff)
            if (e := equivalence(module, m, entries)):
                m.status, m.reason = "equivalent", e["reason"]
        run.mutants.append(m)
    return run


# ====================================================================== report
def table(runs: list[ModuleRun]) -> str:
    head = f"{'module':<17}{'mutants':>8}{'killed':>8}{'timeout':>8}{'survived':>9}{'no tests':>9}" \
           f"{'equiv.':>7}{'other':>6}{'score':>8}{'min':>6}"
    lines = [head, "-" * len(head)]
    total = ModuleRun("total", sum(r.seconds for r in runs), [m for r in runs for m in r.mutants])
    for r in [*runs, total]:
        if r is total:
            lines.append("-" * len(head))
        score = "-" if r.score is None else f"{100 * r.score:.1f}%"
        lines.append(f"{r.module:<17}{len(r.mutants):>8}{r.count('killed'):>8}{r.count('timeout'):>8}"
                     f"{r.count('survived'):>9}{r.count('no tests'):>9}{r.count('equivalent'):>7}"
                     f"{r.count('other'):>6}{score:>8}{r.seconds / 60:>6.1f}")
    return "\n".join(lines)


def survivors(runs: list[ModuleRun]) -> str:
    out = []
    for r in runs:
        for m in r.mutants:
            if m.status in ("survived", "no tests"):
                out.append(f"{r.module} {m.function} [{m.status}] {m.name}\n  - {m.before}\n  + {m.after}")
    return "\n".join(out)


def write_report(runs: list[ModuleRun], path: Path = REPORT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"modules": [{"module": r.module, "seconds": r.seconds, "score": r.score,
                                             "mutants": [asdict(m) for m in r.mutants]} for r in runs]},
                               indent=1) + "\n")


def results_block(runs: list[ModuleRun], command: str) -> str:
    total = ModuleRun("total", 0, [m for r in runs for m in r.mutants])
    live = len(total.mutants) - total.count("equivalent") - total.count("other")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    blind = total.count("survived") + total.count("no tests")
    return "\n".join([
        f"`{command}` (mutmut {_mutmut_version()}, {os.cpu_count()} cores, "
        f"{sum(r.seconds for r in runs) / 60:.1f} minutes, code of commit {commit}):", "", "```", table(runs),
        "```", "",
        f"**{100 * (total.score or 0):.1f}% of the {live} non-equivalent mutants are killed**"
        + (f"; {blind} are not (listed in sim_build/mutate-py/report.json)" if blind else "") + "."])


def _mutmut_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("mutmut")
    except metadata.PackageNotFoundError:
        return "not installed"


EQUIV_BEGIN = "<!-- python equivalents: generated from tools/mutate_py_equivalent.json -->"
EQUIV_END = "<!-- end of python equivalents -->"


def _replace_block(text: str, begin: str, end: str, body: str) -> str:
    i, j = text.index(begin) + len(begin), text.index(end)
    return text[:i] + "\n" + body + "\n" + text[j:]


def write_docs(runs: list[ModuleRun] | None, command: str, path: Path = DOCS) -> None:
    """The results block (when ``runs``) and the equivalents list of docs/mutation.md."""
    text = _replace_block(path.read_text(), EQUIV_BEGIN, EQUIV_END, equivalents_markdown(load_equivalents()))
    if runs is not None:
        text = _replace_block(text, RESULTS_BEGIN, RESULTS_END, results_block(runs, command))
    path.write_text(text)


# ====================================================================== main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", help=f"comma-separated, of: {', '.join(MODULES)} (default: all)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    ap.add_argument("--list", action="store_true", help="the modules, their files and tests; nothing run")
    ap.add_argument("--write-docs", action="store_true", help=f"put the table into {DOCS.relative_to(REPO)}")
    args = ap.parse_args(argv)
    mods = list(MODULES) if not args.modules else [m.strip() for m in args.modules.split(",") if m.strip()]
    unknown = [m for m in mods if m not in MODULES]
    if unknown:
        ap.error(f"unknown module {', '.join(unknown)} (modules: {', '.join(MODULES)})")
    if args.list:
        for m in mods:
            files, tests = MODULES[m]
            print(f"{m:<17} {', '.join(files)}\n{'':17} tests: {', '.join(tests)}")
        return 0
    try:
        import mutmut  # noqa: F401
    except ImportError:
        print("mutmut is not installed: pip install 'mutmut>=3.8' (or make venv)", file=sys.stderr)
        return 3
    runs = []
    for i, module in enumerate(mods, 1):
        print(f"[{i}/{len(mods)}] {module}: {', '.join(MODULES[module][0])}", flush=True)
        r = run_module(module, args.jobs, WORK / "logs")
        runs.append(r)
        print(f"    {len(r.mutants)} mutants, {r.count('killed') + r.count('timeout')} killed, "
              f"{r.count('survived') + r.count('no tests')} not, {r.count('equivalent')} equivalent, "
              f"{r.seconds / 60:.1f} min", flush=True)
    print()
    print(table(runs))
    left = survivors(runs)
    if left:
        print(f"\nnot killed:\n{left}")
    write_report(runs)
    if args.write_docs:
        write_docs(runs, " ".join(["tools/mutate_py.py", *(argv if argv is not None else sys.argv[1:])]))
        print(f"wrote the results into {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
