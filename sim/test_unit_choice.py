"""Units choose their layers: a unit that declines some layers of its op (raising in
``check``, as unit files written for the first API do, or by an ``accepts`` predicate)
leaves them to the next unit registered for the op, t2c's own last; ``t2c sim --all`` checks
every layer before simulating anything and names a layer no unit takes (exit 2); the table
and report.json name the unit that ran each layer."""
from __future__ import annotations

import json
from pathlib import Path

from t2c.cli import main
from t2c.sim import toolchain

STREAM = Path(__file__).resolve().parents[1] / "tests" / "stream_dense"


def test_a_unit_that_declines_the_residual_linears_falls_back(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("icarus")
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    report = tmp_path / "report"
    code = main(["sim", "--model", "digits-vit", "--all", "--unit", str(STREAM / "stream_dense_unit.py"),
                 "--rtl-dir", str(STREAM), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    rows = {r["layer"]: r for r in json.loads((report / "report.json").read_text())["layers"]}
    linear = [n for n, r in rows.items() if r["op"] == "linear"]
    residual = {"blocks.0.attn.proj", "blocks.1.attn.proj", "blocks.0.mlp.fc2", "blocks.1.mlp.fc2"} & set(linear)
    assert residual, linear
    for name in linear:  # the fused residual linears fall back to t2c's layer engine
        assert rows[name]["unit"] == ("layer_engine" if name in residual else "stream_dense"), name
    table = out.splitlines()
    assert any(ln.startswith("head ") and "stream_dense" in ln for ln in table)


def test_a_layer_no_unit_takes_stops_before_any_simulation(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("icarus")
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    unit = tmp_path / "narrow_norm.py"
    unit.write_text(
        "from t2c.sim.units import register, units\n"
        "own = units()['layernorm']\n"
        "class Narrow:\n"
        "    name = 'layernorm'\n"  # replaces t2c's LayerNorm unit
        "    ops = ('layernorm',)\n"
        "    def accepts(self, layer, options):\n"
        "        return layer.spec('input')['shape'][-1] <= 32\n"
        "    def check(self, layer, options):\n"
        "        own.check(layer, options)\n"
        "    def job(self, *args):\n"
        "        return own.job(*args)\n"
        "register(Narrow())\n")
    code = main(["sim", "--model", "digits-vit", "--all", "--unit", str(unit)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("t2c: error")]
    assert code == 2 and len(err) == 1, err
    assert "no unit takes layer 'blocks.0.norm1' (layernorm): layernorm: its accepts() declined" in err[0]
    assert not list((tmp_path / "build").rglob("run.json"))  # nothing simulated
