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
