"""``t2c mutate`` end to end on a small sample: the unmutated RTL passes its baseline, every
mutant gets a verdict, the table counts them exactly, a listed equivalent survivor is not
counted, and an RTL directory that fails its own baseline is refused with one line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from t2c.cli import main
from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden

OWN_RTL = Path(__file__).resolve().parents[1] / "examples" / "own_rtl"


def test_small_mutation_run(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("icarus")
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    golden = ensure_golden("digits-cnn")
    report = tmp_path / "report.json"
    argv = ["mutate", "--rtl-dir", str(OWN_RTL), "--golden", str(golden), "--layer", "fc", "--mutants", "6",
            "--report", str(report)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    mutants = json.loads(report.read_text())["mutants"]
    assert len(mutants) == 6 and all(m["status"] in ("killed", "survived", "timeout", "not_compiling")
                                     for m in mutants)
    counts = {s: sum(m["status"] == s for m in mutants) for s in ("killed", "survived", "timeout")}
    total = next(ln for ln in out.splitlines() if ln.startswith("total"))
    assert total.split()[1:6] == ["6", str(sum(m["status"] == "not_compiling" for m in mutants)),
                                  str(counts["killed"]), str(counts["survived"]), str(counts["timeout"])]
    assert counts["killed"] >= 1  # some one-token change of a requantizer breaks fc
    survivors = [m for m in mutants if m["status"] == "survived"]
    if survivors:  # listing one as equivalent moves it out of the score
        eq = tmp_path / "eq.json"
        s = survivors[0]
        eq.write_text(json.dumps([{"module": s["module"], "line": s["line_text"], "mutated": s["mutated_line"],
                                   "reason": "test"}]))
        assert main(argv + ["--equivalent", str(eq)]) == 0
        again = {m["id"]: m["status"] for m in json.loads(report.read_text())["mutants"]}
        assert again[s["id"]] == "equivalent"


def test_rtl_that_fails_its_baseline_is_refused(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("icarus")
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    d = tmp_path / "broken"
    shutil.copytree(OWN_RTL, d)
    text = (d / "requant.v").read_text()
    no_rounding = text.replace("rnd[sm1[RIXW-1:0]] = 1'b1;", "rnd[sm1[RIXW-1:0]] = 1'b0;")
    (d / "requant.v").write_text(no_rounding)
    assert main(["mutate", "--rtl-dir", str(d), "--golden", str(ensure_golden("digits-cnn")), "--layer", "fc",
                 "--mutants", "2"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("t2c: error")]
    assert len(err) == 1 and "does not pass these runs" in err[0]
