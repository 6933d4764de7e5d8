"""The code in the docs runs (a doc example that rots is a bug)."""
from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_custom_quantizer_example_runs_end_to_end(capsys):
    block = _python_blocks(DOCS / "quantizers.md")[0]
    block = block.replace('name="pow2"', 'name="pow2-doc-test"').replace('"pow2"', '"pow2-doc-test"')
    exec(compile(block, "docs/quantizers.md", "exec"), {})
    assert "power-of-two scales:" in capsys.readouterr().out
    assert len(block.strip().splitlines()) <= 20


def test_readme_own_model_python_example_runs(tmp_path):
    """The Python block of the README's "Your own model" section."""
    readme = (DOCS.parent / "README.md").read_text()
    section = readme[readme.index("## Your own model"):readme.index("## Python API")]
    (block,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    exec(compile(block.replace("/tmp/t2c-api", str(tmp_path)), "README.md", "exec"), {})
    assert (tmp_path / "net.t2c" / "graph.json").is_file() and (tmp_path / "engine" / "conv3").is_dir()
