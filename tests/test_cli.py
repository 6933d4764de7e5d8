"""The command line: listings, one-line errors, exit codes."""
from __future__ import annotations

from t2c.cli import main


def test_layers_lists_conv3(capsys):
    assert main(["layers", "--model", "digits-cnn"]) == 0
    out = capsys.readouterr().out
    assert "conv3" in out and "fc" in out


def test_unknown_model_is_one_line_error(capsys):
    assert main(["layers", "--model", "resnet1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "known models: digits-cnn" in err and "Traceback" not in err


def test_bad_bit_width_is_one_line_error(capsys):
    assert main(["golden", "--wbit", "9"]) == 2
    assert "wbit must be in 2..8" in capsys.readouterr().err


def test_export_engine_images_are_those_of_the_golden_layer(tmp_path, capsys):
    """`t2c export --engine`: per layer the images rtl/layer_engine.v loads (the same bytes
    the co-simulation writes from the committed golden vectors), and its parameters."""
    import json

    from t2c.export import engine as E
    from t2c.golden import read_golden

    out = tmp_path / "eng"
    assert main(["export", "--engine", "--layer", "conv4", "--layer", "fc", "--rows", "4",
                 "--model", "digits-cnn", "--out", str(out)]) == 0
    assert "2 layers of digits-cnn (4x8 array)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["conv4", "fc"]
    golden, geo = read_golden("golden/digits-cnn"), E.Geometry(rows=4)
    for name in ("conv4", "fc"):
        want = E.layer_images(golden, E.EngineLayer.from_golden(golden, name), tmp_path / "want" / name, geo)
        for key, path in want.paths.items():
            assert (out / name / path.name).read_bytes() == path.read_bytes(), (name, key)
        meta = json.loads((out / name / E.ENGINE_JSON).read_text())
        assert meta["parameters"] == want.hdl_parameters()
        assert meta["files"] == {k: p.name for k, p in want.hdl_files().items()}


def test_export_engine_bad_layer_writes_nothing(tmp_path, capsys):
    out = tmp_path / "eng"
    assert main(["export", "--engine", "--layer", "avgpool", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'avgpool' is 'avgpool'; the layer engine runs conv, linear and matmul layers: conv1" in err
    assert main(["export", "--engine", "--layer", "conv9", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown layer 'conv9'; valid layers: conv1" in err and err.count("\n") == 1
    assert not out.exists() and not list(tmp_path.iterdir())
