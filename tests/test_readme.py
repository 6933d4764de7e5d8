"""The README's tables are what the tools print (a table that drifts from its command is a bug)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from t2c.report import report

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def accuracy_rows(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if re.match(r"\| W\d+A\d+ ", ln)]


def table_differences(readme: str, printed: list[str]) -> list[str]:
    """Rows where the README and the printed report differ (empty: they agree, in order)."""
    rows = accuracy_rows(readme)
    diff = [f"printed: {p}\nREADME:  {r}" for p, r in zip(printed, rows) if p != r]
    if len(rows) != len(printed):
        diff.append(f"{len(rows)} README rows, {len(printed)} printed")
    return diff


@pytest.fixture(scope="module")
def printed():
    return accuracy_rows(report("digits-cnn")) + accuracy_rows(report("digits-vit"))


def test_accuracy_tables_are_what_t2c_report_prints(printed):
    """Every accuracy row of the README, in order, is a row `t2c report` prints for the
    default model then for digits-vit, and nothing else (QAT rows included: QAT is
    deterministic, see t2c.report.deterministic_training)."""
    assert printed
    assert table_differences(README, printed) == []


def test_a_changed_figure_is_caught(printed):
    doctored = README.replace(printed[2], printed[2].replace("%", "1%", 1))
    assert doctored != README
    assert len(table_differences(doctored, printed)) == 1
    assert table_differences(README.replace(printed[-1] + "\n", ""), printed)
