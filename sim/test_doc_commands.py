"""Every command in the README and docs/ runs and succeeds (a doc example that rots is a bug).

The shell blocks (```sh) of README.md and docs/*.md are collected; every `t2c ...`
(`.venv/bin/t2c ...`), `make sim ...` and `python -m t2c...` command runs from the
repository root, with its environment prefix (`T2C_RTL_DIR=...`), and must exit 0.
Commands this test does not run are listed in ``NOT_RUN`` with the reason (the test
suite itself, benchmarks, environment setup), and a command that is neither run nor
listed fails the test.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from t2c.sim import toolchain

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
# commands documented but not run here, by prefix, and why
NOT_RUN = {
    "make test": "is the test suite itself",
    "make bench": "benchmarks (minutes; `make bench` prints figures, asserts nothing)",
    "make venv": "builds the environment these tests run in",
    "make mutate": "the mutation checks, RTL and Python (tens of minutes; make mutate-py too)",
    "python tools/mutate_py.py": "the Python mutation check (tests/test_mutate_py.py checks its tables)",
    "t2c mutate": "mutation runs (minutes; sim/test_mutate_cli.py runs a small one)",
    "make golden": "rewrites golden/ (tests/test_golden.py regenerates it byte for byte)",
    "pytest": "test selections: run by this suite itself (sim/test_own_rtl.py runs the one with T2C_RTL_DIR)",
    ".venv/bin/python -m pytest": "test selections: run by this suite itself",
    "python bench/": "benchmarks",
    "python -m t2c.models.train_digits": "retrains the committed checkpoints",
    "T2C_SIMS=": "test selections",
    "T2C_SEED=": "test selections",
    "T2C_RTL_DIR=examples/own_rtl pytest": "run by sim/test_own_rtl.py",
    "pip install": "installs packages",
    "make synth": "FPGA synthesis and place and route (minutes; sim/test_synth.py synthesizes the same tops)",
    "fusesoc": "FuseSoC runs: tests/test_fusesoc.py runs them in a fresh workspace",
    "python tools/engine_regs.py": "rewrites committed files (sim/test_engine_axi.py runs its --check)",
}


def doc_commands() -> list[tuple[str, str]]:
    """(document, command) of every command line in a ```sh block (continuations joined)."""
    out = []
    for doc in DOCS:
        for block in re.findall(r"```sh\n(.*?)```", doc.read_text(), flags=re.S):
            text = block.replace("\\\n", " ")
            for line in text.splitlines():
                cmd = line.split("  #")[0].split(" # ")[0].strip()
                if cmd and not cmd.startswith("#"):
                    out.append((doc.name, cmd))
    return out


def _runnable(cmd: str) -> bool:
    words = [w for w in shlex.split(cmd) if "=" not in w or w.startswith("-")]
    head = words[0] if words else ""
    return head in ("t2c", ".venv/bin/t2c") or cmd.startswith("make sim") or \
        (words[:3] == ["python", "-m", "t2c.cli"]) or cmd.startswith("python examples/")


def _not_run(cmd: str) -> str | None:
    return next((why for prefix, why in NOT_RUN.items() if cmd.startswith(prefix)), None)


def test_every_documented_command_is_run_or_excused():
    unknown = [(d, c) for d, c in doc_commands() if not _runnable(c) and _not_run(c) is None]
    assert not unknown, f"commands neither run by this test nor listed in NOT_RUN: {unknown}"


def _argv(cmd: str) -> tuple[dict, list[str]]:
    words = shlex.split(cmd)
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        k, v = words.pop(0).split("=", 1)
        env[k] = v
    if words[0] in ("t2c", ".venv/bin/t2c"):
        words = [sys.executable, "-m", "t2c.cli"] + words[1:]
    elif words[0] == "python":
        words[0] = sys.executable
    return env, words


def _require_tools(cmd: str) -> None:
    if " sim" in cmd or cmd.startswith("make sim"):
        toolchain.require_simulator("verilator" if "verilator" in cmd else "icarus")
    if cmd.startswith("make") and not shutil.which("make"):
        pytest.skip("make not installed")


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d.name for d in DOCS if any(_runnable(c) for n, c in doc_commands()
                                                             if n == d.name)])
def test_documented_commands_succeed(doc):
    """A document's commands, in their order (later ones may read what earlier ones wrote)."""
    Path("/tmp/t2c-doc").mkdir(exist_ok=True)
    for _, cmd in [(n, c) for n, c in doc_commands() if n == doc and _runnable(c)]:
        _require_tools(cmd)
        env_extra, argv = _argv(cmd)
        out = subprocess.run(argv, cwd=REPO, env=dict(os.environ, **env_extra), capture_output=True,
                             text=True, timeout=1800)
        assert out.returncode == 0, f"{doc}: {cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
