"""The command line: listings, one-line errors, exit codes."""
from __future__ import annotations

import json

from t2c.cli import main


def test_layers_lists_conv3(capsys):
    assert main(["layers", "--model", "digits-cnn"]) == 0
    out = capsys.readouterr().out
    assert "conv3" in out and "fc" in out


def test_unknown_model_is_one_line_error(capsys):
    assert main(["layers", "--model", "resnet1000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give a built-in name (digits-cnn" in err and "Traceback" not in err


def test_bad_bit_width_is_one_line_error(capsys):
    assert main(["golden", "--wbit", "9"]) == 2
    err = capsys.readouterr().err
    assert err == "t2c golden: error: argument --wbit: 9 is outside the allowed range 2..8\n"


def test_export_engine_images_are_those_of_the_golden_layer(tmp_path, capsys):
    """`t2c export --engine`: per layer the images rtl/layer_engine.v loads (the same bytes
    the co-simulation writes from the committed golden vectors), and its parameters."""

    from t2c.export import engine as E
    from t2c.golden import read_golden

    out = tmp_path / "eng"
    assert main(["export", "--engine", "--layer", "conv4", "--layer", "fc", "--rows", "4",
                 "--model", "digits-cnn", "--out", str(out)]) == 0
    assert "2 layers of digits-cnn (4x8 array)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["conv4", "fc", "layers.json"]
    assert json.loads((out / "layers.json").read_text())["layers"] == ["conv4", "fc"]
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


# ------------------------------------------------------------------ issue 10: what was seen
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _not_images(tmp_path):
    empty = tmp_path / "empty.hex"
    empty.write_text("")
    blank = tmp_path / "blank.hex"
    blank.write_text("\n\n  \n")
    prose = tmp_path / "words.hex"
    prose.write_text("deadbeef\nthis is not hex\n")
    return {"readme": REPO / "README.md", "binary": Path(sys.executable).resolve(),
            "checkpoint": REPO / "t2c" / "models" / "digits_cnn.pt", "empty": empty,
            "blank": blank, "prose-with-hex-extension": prose, "directory": REPO / "t2c"}


@pytest.mark.parametrize("what", ["readme", "binary", "checkpoint", "empty", "blank",
                                  "prose-with-hex-extension", "directory"])
def test_inspect_refuses_what_is_not_a_memory_image(what, tmp_path, capsys):
    assert main(["inspect", str(_not_images(tmp_path)[what])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("t2c: error: ") and err.count("\n") == 1, err


def test_inspect_reads_raw_when_asked(tmp_path, capsys):
    from t2c.export import write_memory

    path = tmp_path / "w.raw"
    write_memory(path, [[1, 2], [3, 4]], "word=16,elem=8", "raw")
    assert main(["inspect", str(path)]) == 2
    assert "--format raw" in capsys.readouterr().err
    assert main(["inspect", "--format", "raw", str(path)]) == 0
    assert "raw binary" in capsys.readouterr().out


def test_broken_pipe_is_silent(tmp_path):
    """`t2c inspect FILE | head`: the reader is gone before t2c writes; no traceback, exit 0."""
    proc = subprocess.Popen([sys.executable, "-m", "t2c.cli", "inspect", "golden/digits-cnn/input.npy",
                             "--format", "raw"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `head` exiting
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert err == b""


@pytest.mark.parametrize("argv, option", [
    (["export", "--engine", "--all", "--rows", "0"], "--rows"),
    (["export", "--engine", "--all", "--rows", "-2"], "--rows"),
    (["export", "--all", "--lanes", "0"], "--lanes"),
    (["export", "--all", "--lanes", "999"], "--lanes"),
    (["layers", "--abit", "1"], "--abit"),
    (["golden", "--wbit", "x"], "--wbit"),
])
def test_numeric_options_have_ranges(argv, option, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "o")] if argv[0] != "layers" else argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {option}: " in err and "allowed" in err, err
    assert not (tmp_path / "o").exists()


def test_internal_error_is_one_line_with_a_hint(monkeypatch, capsys):
    import t2c.cli as cli

    def boom(args):
        raise AttributeError("a bug")

    monkeypatch.setattr(cli, "cmd_models", boom)
    assert cli.main(["models"]) == 4
    err = capsys.readouterr().err
    assert err == "t2c: internal error: AttributeError: a bug; run with T2C_DEBUG=1 for the traceback\n"


def _verbs():
    import argparse

    from t2c.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_help_shows_every_option_with_its_range():
    """docs/cli.md promises `t2c <verb> --help` lists every option with its range."""
    missing, no_range = [], []
    for verb, parser in _verbs().items():
        for action in parser._actions:
            if not action.option_strings or action.dest == "help":
                continue
            if not action.help:
                missing.append(f"{verb} {action.option_strings[0]}")
            span = getattr(action.type, "span", None)
            if span and span not in (action.help or ""):
                no_range.append(f"{verb} {action.option_strings[0]}")
            if action.choices and not all(str(c) in (action.help or "") for c in action.choices):
                no_range.append(f"{verb} {action.option_strings[0]} (choices)")
    assert missing == [] and no_range == [], (missing, no_range)
    sim = _verbs()["sim"].format_help()
    assert "(>= 1)" in sim and "1..4096" in sim and "icarus" in sim


def test_help_check_can_fail():
    from t2c.cli import _show_ranges, build_parser, int_in

    ap = build_parser()
    sub = next(a for a in ap._actions if a.__class__.__name__ == "_SubParsersAction").choices["sim"]
    action = sub.add_argument("--extra", type=int_in(3, 9), help="an option")
    assert "(3..9)" not in action.help
    _show_ranges(ap)
    assert action.help == "an option (3..9)"
