"""The README's tables are what the tools print (a table that drifts from its command is a bug)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from t2c.report import methods_report, report

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
METHODS_BEGIN, METHODS_END = "<!-- report --methods: begin -->", "<!-- report --methods: end -->"


def methods_block(text: str) -> str:
    """The README's `t2c report --methods` tables (between their markers)."""
    return text[text.index(METHODS_BEGIN) + len(METHODS_BEGIN):text.index(METHODS_END)]


def accuracy_rows(text: str) -> list[str]:
    """The `t2c report` rows: every table row starting with a config, outside the methods block."""
    if METHODS_BEGIN in text:
        text = text.replace(methods_block(text), "")
    return [ln for ln in text.splitlines() if re.match(r"\| W\d+A\d+ ", ln)]


def methods_rows(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if re.match(r"\| W\d+A\d+ \|", ln)]


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


# ---------------------------------------------------------------- t2c report --methods
FAST_METHOD_ROWS = {("minmax PTQ", 3, 3), ("AdaRound PTQ", 3, 3), ("minmax PTQ", 2, 4), ("AdaRound PTQ", 2, 4)}


def test_methods_rows_are_what_t2c_report_prints():
    """The AdaRound-vs-minmax rows of the README's methods table (digits-cnn W3A3, W2A4),
    recomputed (the full table: the slow test below)."""
    printed = methods_rows(methods_report("digits-cnn", progress=False, rows=FAST_METHOD_ROWS))
    assert len(printed) == 4
    readme = methods_rows(methods_block(README))
    assert all(row in readme for row in printed), "\n".join(r for r in printed if r not in readme)


@pytest.mark.slow
def test_methods_tables_are_what_t2c_report_prints():
    printed = [*methods_rows(methods_report("digits-cnn", progress=False)),
               *methods_rows(methods_report("digits-vit", progress=False))]
    assert printed == methods_rows(methods_block(README))


def test_a_changed_methods_figure_is_caught():
    rows = methods_rows(methods_block(README))
    assert rows
    doctored = README.replace(rows[0], rows[0].replace("%", "1%", 1))
    assert methods_rows(methods_block(doctored)) != rows


# ---------------------------------------------------------------- make synth figures
SYNTH = (Path(__file__).resolve().parents[1] / "docs" / "synth.md").read_text()


def synth_row(top: str, family: str) -> dict[str, str]:
    """One row of the resource table `make synth` writes into docs/synth.md."""
    head = next(ln for ln in SYNTH.splitlines() if ln.startswith("| configuration | family |"))
    names = [c.strip() for c in head.strip("|").split("|")]
    row = next(ln for ln in SYNTH.splitlines() if ln.startswith(f"| {top} | {family} |"))
    return dict(zip(names, (c.strip() for c in row.strip("|").split("|"))))


def readme_synth_figures(text: str) -> tuple[str, ...]:
    m = re.search(r"8x8 engine on ECP5: ([\d,]+) LUT, ([\d,]+) FF, (\d+)\s+MULT18X18D of which (\d+) are the MAC "
                  r"array, (\d+) DP16KD, \*\*([\d.]+) MHz\*\* routed", text)
    assert m, "the README's 8x8 engine synthesis sentence changed: update this test"
    return m.groups()


def test_readme_synthesis_figures_are_the_make_synth_table():
    row = synth_row("engine_8x8", "ecp5")
    want = tuple(row[k] for k in ("LUT", "FF", "DSP", "MAC mults", "BRAM", "Fmax MHz"))
    assert readme_synth_figures(README) == want, (readme_synth_figures(README), row)
    assert readme_synth_figures(README.replace("**55.5 MHz**", "**56.5 MHz**")) != want
