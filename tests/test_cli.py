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
