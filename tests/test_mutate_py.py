"""tools/mutate_py.py (no mutmut run here): every module and test file it names exists,
each equivalent-mutant entry still names a line of the current source and is explained in
docs/mutation.md, and the docs block is what the tool writes."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("t2c_mutate_py", REPO / "tools" / "mutate_py.py")
mutate_py = importlib.util.module_from_spec(_spec)
sys.modules["t2c_mutate_py"] = mutate_py
_spec.loader.exec_module(mutate_py)


def test_modules_and_tests_exist():
    for module, (files, tests) in mutate_py.MODULES.items():
        assert files and tests, module
        for f in [*files, *tests]:
            assert (REPO / f).is_file(), f"{module}: {f}"
    named = {"arith", "gemm", "ref", "movement", "golden", "graph_io", "fileio", "sim.compare"}
    assert named <= set(mutate_py.MODULES)
    assert any(m.startswith("convert.") for m in mutate_py.MODULES)
    assert any(m.startswith("export.") for m in mutate_py.MODULES)


def _norm(text: str) -> str:
    return "\n".join(" ".join(ln.split()) for ln in text.splitlines())


@pytest.mark.parametrize("entry", mutate_py.load_equivalents(), ids=lambda e: f"{e['module']}:{e['after'][:40]}")
def test_equivalence_entries_name_current_lines(entry):
    assert set(entry) == {"module", "function", "before", "after", "reason"} and entry["reason"].strip()
    files, _ = mutate_py.MODULES[entry["module"]]
    source = _norm("\n".join((REPO / f).read_text() for f in files))
    assert entry["before"] in source, f"stale entry: {entry['before']!r} is not in {files}"
    assert entry["before"] != entry["after"]
    assert entry["after"] in (REPO / "docs" / "mutation.md").read_text(), "not explained in docs/mutation.md"


def test_docs_list_is_generated_from_the_json():
    text = (REPO / "docs" / "mutation.md").read_text()
    block = text[text.index(mutate_py.EQUIV_BEGIN) + len(mutate_py.EQUIV_BEGIN):text.index(mutate_py.EQUIV_END)]
    assert block.strip() == mutate_py.equivalents_markdown(mutate_py.load_equivalents()).strip()


def test_function_names_and_changed_lines():
    assert mutate_py._function("t2c.arith.x_requantize__mutmut_3") == "requantize"
    assert mutate_py._function("t2c.sim.compare.xǁComparisonǁmessage__mutmut_2") == "Comparison.message"
    diff = "--- a\n+++ b\n@@ -1 +1 @@\n-    a = b  +  1\n+    a = b - 1\n"
    assert mutate_py._changed_line(diff) == ("a = b + 1", "a = b - 1")


def test_score_and_table_count_every_verdict():
    run = mutate_py.ModuleRun("m", 60.0, [mutate_py.Mutant(str(i), s) for i, s in enumerate(
        ["killed", "killed", "timeout", "survived", "no tests", "equivalent", "other"])])
    assert run.score == 3 / 5
    line = mutate_py.table([run]).splitlines()[2].split()
    assert line == ["m", "7", "2", "1", "1", "1", "1", "1", "60.0%", "1.0"]


def test_config_mutates_one_module_with_its_tests():
    cfg = mutate_py._config("sim.compare")
    assert 'only_mutate = ["t2c/sim/compare.py"]' in cfg and '"tests/test_compare.py"' in cfg
    assert "do_not_mutate_patterns" in cfg and "raise" in cfg
