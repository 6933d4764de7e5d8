"""What t2c reads describes itself truthfully, or it is refused with one line and exit 2
before any work; and every way a run can end has its documented code and message.

* graph.json and a golden manifest checksum themselves: an edited value (``qmax``,
  ``wbits``) is caught like an edited array; a golden array must also agree with what its
  manifest says of it (shape, dtype, codes within the bit widths, weights within wbits).
* A ``[[layer]]`` rule that matches no layer, dataset labels that do not fit the samples or
  the model's classes, NaN or infinity in weights, calibration data or the input, a unit
  file that does not load, an input too large for the machine: one line, exit 2.
* Any interrupt is ``t2c: interrupted`` and 130, whatever the interrupted code raised
  instead and also after the work is done; an error never shares a line with a progress bar.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from t2c.cli import main
from t2c.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, guarded
from t2c.fileio import sealed
from t2c.golden import SEAL

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "golden" / "digits-cnn"


def one_error(argv, capsys, code: int = EXIT_BAD_INPUT) -> str:
    assert main(argv) == code
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("t2c") and "no --calib" not in ln]
    assert len(err) == 1, err
    return err[0]


# ------------------------------------------------------------------ self-descriptions
@pytest.fixture(scope="module")
def saved_graph(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("graph") / "net.t2c"
    assert main(["convert", "--out", str(out)]) == 0
    return out


def _edit_json(path: Path, edit, reseal: str | None = None) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(sealed(doc, reseal) if reseal else doc, indent=1, sort_keys=True) + "\n")


def _conv3(doc: dict) -> dict:
    return next(o for o in doc["ops"] if o["fields"]["name"] == "conv3")


def test_edited_graph_json_is_refused(saved_graph, tmp_path, capsys):
    net = tmp_path / "net.t2c"
    shutil.copytree(saved_graph, net)
    assert main(["layers", "--graph", str(net)]) == 0  # the untouched copy loads
    capsys.readouterr()
    _edit_json(net / "graph.json", lambda d: _conv3(d)["fields"].update(wbits=4))
    assert f"checksum mismatch in {net / 'graph.json'}" in one_error(["layers", "--graph", str(net)], capsys)


def test_graph_json_without_its_checksum_is_refused(saved_graph, tmp_path, capsys):
    net = tmp_path / "net.t2c"
    shutil.copytree(saved_graph, net)
    _edit_json(net / "graph.json", lambda d: d.pop("graph_sha256"))
    assert "carries no graph_sha256" in one_error(["golden", "--graph", str(net), "--out", str(tmp_path / "g")],
                                                 capsys)


def _golden_copy(tmp_path: Path) -> Path:
    g = tmp_path / "golden"
    shutil.copytree(GOLDEN, g)
    return g


def _layer(doc: dict, name: str) -> dict:
    return next(e for e in doc["layers"] if e["name"] == name)


def test_edited_golden_manifest_is_refused(tmp_path, capsys):
    """The report's case: conv3 ``wbits`` 8 -> 4 in the manifest, file checksums intact."""
    g = _golden_copy(tmp_path)
    _edit_json(g / "manifest.json", lambda d: _layer(d, "conv3")["attrs"].update(wbits=4))
    msg = one_error(["sim", "--golden", str(g), "--layer", "conv3"], capsys)
    assert f"checksum mismatch in {g / 'manifest.json'}" in msg


@pytest.mark.parametrize("edit, why", [
    (lambda d: _layer(d, "conv3")["attrs"].update(wbits=4),
     "conv3 weight ({g}/conv3/weight.npy): codes -127..127 do not fit the manifest's 4-bit signed range -8..7"),
    (lambda d: _layer(d, "conv3")["tensors"]["output"].update(shape=[1, 16, 4, 4]),
     "conv3 output ({g}/conv3/output.npy): the manifest says shape (1, 16, 4, 4) int16, the file holds "
     "(1, 32, 4, 4) int16"),
    (lambda d: _layer(d, "conv3")["tensors"]["output"].update(bits=4),
     "conv3 output ({g}/conv3/output.npy): codes 0..171 do not fit the manifest's 4-bit unsigned range 0..15"),
    (lambda d: d["input"].update(signed=True),
     "{g}/input.npy: codes 0..255 do not fit the manifest's 8-bit signed range -128..127"),
])
def test_a_resealed_manifest_must_still_agree_with_its_arrays(edit, why, tmp_path, capsys):
    """A manifest written by hand (or by a buggy writer) with a valid seal: each claim it
    makes about an array is checked against the array."""
    g = _golden_copy(tmp_path)
    _edit_json(g / "manifest.json", edit, reseal=SEAL)
    assert why.format(g=g) in one_error(["sim", "--golden", str(g), "--layer", "conv3"], capsys)


def test_the_committed_golden_arrays_span_their_ranges():
    """The range checks above are not vacuous: conv3's codes reach the ends the messages quote."""
    w = np.load(GOLDEN / "conv3" / "weight.npy")
    y = np.load(GOLDEN / "conv3" / "output.npy")
    x = np.load(GOLDEN / "input.npy")
    assert (w.min(), w.max()) == (-127, 127) and (y.min(), y.max()) == (0, 171) and x.max() == 255


def test_layer_rule_that_matches_nothing_is_refused(tmp_path, capsys):
    cfg = tmp_path / "q.toml"
    cfg.write_text('wbit = 8\nabit = 8\n[[layer]]\nmatch = "nosuchlayer"\nwbit = 4\n')
    msg = one_error(["layers", "--config", str(cfg)], capsys)
    assert "layer rule match = 'nosuchlayer' matches no quantized layer" in msg and "conv3" in msg
    cfg.write_text('wbit = 8\nabit = 8\n[[layer]]\nmatch = "conv*"\nwbit = 4\n')
    assert main(["layers", "--config", str(cfg)]) == 0  # a glob that matches is fine


# ------------------------------------------------------------------ data
@pytest.mark.parametrize("y, why", [
    (np.arange(5) % 10, "y holds 5 labels for 6 samples in x"),
    (np.array([0, 1, 2, 10, 3, 4]), "label y[3] = 10 is outside the model's 10 classes (0..9)"),
    (np.array([0, 1, -1, 3, 3, 4]), "label y[2] = -1 is outside the model's 10 classes (0..9)"),
    (np.linspace(0, 1, 6), "labels y are float64, not class indices"),
])
def test_dataset_labels_are_checked_before_any_simulation(y, why, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    f = tmp_path / "d.npz"
    np.savez(f, x=np.zeros((6, 1, 8, 8), np.float32), y=y)
    assert why in one_error(["sim", "--all", "--dataset", str(f)], capsys)
    assert not (tmp_path / "build").exists() or not list((tmp_path / "build").rglob("run.json"))


def _digits_file(tmp_path: Path, name: str, bad: float, at: tuple) -> Path:
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    x[at] = bad
    f = tmp_path / name
    np.save(f, x)
    return f


@pytest.mark.parametrize("option", ["--calib", "--input"])
@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "an infinity"), (-np.inf, "an infinity")])
def test_nan_or_inf_in_data_is_named(option, bad, kind, tmp_path, capsys):
    f = _digits_file(tmp_path, "x.npy", bad, (2, 0, 3, 5))
    argv = ["layers", "--model", "digits-cnn", "--input-shape", "1x1x8x8", option, str(f)]
    if option == "--input":
        argv += ["--calib", str(_digits_file(tmp_path, "ok.npy", 0.5, (0, 0, 0, 0)))]
    assert f"{f} contains {kind} (at index (2, 0, 3, 5))" in one_error(argv, capsys)


def test_nan_in_weights_is_named(tmp_path, capsys):
    from t2c.models.spec import build_model, parse_model_spec

    sd = build_model(parse_model_spec("digits-cnn")).state_dict()
    sd["conv3.weight"][4, 2, 1, 0] = float("nan")
    f = tmp_path / "w.pt"
    torch.save(sd, f)
    msg = one_error(["layers", "--weights", str(f)], capsys)
    assert "the weights of digits-cnn: conv3.weight contains NaN (at index (4, 2, 1, 0))" in msg


def test_input_too_large_for_the_machine_is_bad_input(capsys):
    msg = one_error(["layers", "--model", "torchvision:resnet18", "--input-shape", "1x1x100000x100000"], capsys)
    assert "out of memory" in msg


# ------------------------------------------------------------------ unit files
@pytest.mark.parametrize("text, why", [
    ("def broken(:\n    pass\n", "u.py:1: syntax error"),
    ("import no_such_module_here\n", "u.py failed to load: ModuleNotFoundError"),
    ("raise RuntimeError('my unit is not ready')\n", "u.py failed to load: RuntimeError: my unit is not ready"),
])
def test_unit_file_that_does_not_load_is_bad_input(text, why, tmp_path, capsys):  # registries: conftest.py
    f = tmp_path / "u.py"
    f.write_text(text)
    assert why in one_error(["sim", "--layer", "conv3", "--unit", str(f)], capsys)


# ------------------------------------------------------------------ interrupts and messages
def test_an_error_raised_because_of_an_interrupt_is_an_interrupt(capsys):
    """A library that turns a KeyboardInterrupt mid-import into an error of its own (the
    report saw "module 'triton.language' has no attribute 'core'") is not believed."""
    def traced():
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        raise AttributeError("module 'triton.language' has no attribute 'core'")

    assert guarded(traced) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines() == ["t2c: interrupted"]
    assert guarded(lambda: (_ for _ in ()).throw(AttributeError("x"))) == 4  # no interrupt: a bug
    capsys.readouterr()


def test_a_swallowed_interrupt_still_ends_in_130(capsys):
    def swallowed():
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            pass
        print("wrote everything")
        return 0

    assert guarded(swallowed) == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip() == "t2c: interrupted"


def test_a_signal_after_the_work_is_done_is_reported(tmp_path):
    code = ("import os, signal, sys\n"
            "from t2c.errors import guarded\n"
            "code = guarded(lambda: print('wrote x', flush=True), process=True)\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "sys.exit(code)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == EXIT_INTERRUPTED and out.stdout == "wrote x\n"
    assert out.stderr.strip() == "t2c: interrupted"


def test_handlers_are_restored_after_main(capsys):
    before = signal.getsignal(signal.SIGINT)
    assert main(["models"]) == 0
    assert signal.getsignal(signal.SIGINT) is before


def test_error_after_an_unfinished_progress_bar_has_its_own_line(capsys):
    from tqdm import tqdm

    def work():
        bar = tqdm(range(10), desc="golden")
        next(iter(bar))
        raise ValueError("the disk is gone")

    assert guarded(work) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "\nt2c: error: the disk is gone" in err and err.count("t2c:") == 1


@pytest.mark.parametrize("argv, line", [
    (["export", "--engine", "--layer", "fc"], "wrote layer-engine images of 1 layer of digits-cnn"),
    (["export", "--layer", "fc"], "wrote 4 hex memory images (4 tensors) of digits-cnn"),
])
def test_counts_are_spelled_right(argv, line, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "o")]) == 0
    assert line in capsys.readouterr().out


def test_plural():
    from t2c.cli import plural

    assert [plural(1, "layer"), plural(2, "layer"), plural(1, "mismatch", "mismatches"),
            plural(1024, "tensor")] == ["1 layer", "2 layers", "1 mismatch", "1,024 tensors"]
