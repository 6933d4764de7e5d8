"""`t2c export`: every parameter of every layer comes back from every format unchanged."""
from __future__ import annotations


import numpy as np
import pytest

from t2c.cli import main
from t2c.export import FORMATS, read_memory, read_sidecar, untile
from t2c.export.model import export_model
from t2c.pipeline import prepare


@pytest.fixture(scope="module")
def digits():
    return prepare("digits-cnn")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", [None, "word=32,elem=8", "word=16,elem=8,banks=2,pow2"])
def test_every_tensor_round_trips(digits, tmp_path, fmt, layout):
    out = tmp_path / "mem"
    records = export_model(digits.graph, out, fmt, layout=layout)
    assert read_sidecar(out)  # checksums verified
    for rec in records:
        op = digits.graph.op(rec["layer"])
        want = np.asarray(op.params()[rec["tensor"]])
        got = read_memory(out / rec["file"])
        if rec["tensor"] == "weight":
            got = untile(got.reshape(-1, 8)[:rec["shape"][0]], want.shape, 8)
        assert np.array_equal(got.reshape(want.shape), want), (rec["layer"], rec["tensor"])


def test_bad_inputs_write_nothing(digits, tmp_path):
    out = tmp_path / "mem"
    with pytest.raises(KeyError, match="valid layers: conv1"):
        export_model(digits.graph, out, "hex", layers=["conv9"])
    with pytest.raises(ValueError, match="unknown layout key 'wrod'"):
        export_model(digits.graph, out, "hex", layout="wrod=3")
    with pytest.raises(ValueError, match="does not fit signed 4-bit"):
        export_model(digits.graph, out, "hex", layout="word=32,elem=4")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_export_and_inspect(tmp_path, capsys):
    out = tmp_path / "e"
    assert main(["export", "--model", "digits-cnn", "--layer", "conv3", "--format", "mif",
                 "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir())[:2] == ["conv3.bias.mif", "conv3.m.mif"]
    assert main(["inspect", str(out / "conv3.weight.mif")]) == 0
    text = capsys.readouterr().out
    assert "depth:" in text and "1152" in text
    assert main(["export", "--model", "digits-cnn", "--out", str(tmp_path / "x")]) == 2
    assert "--all" in capsys.readouterr().err
