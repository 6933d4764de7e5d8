"""Your own model from the command line: model specs, data files, config files, saved
integer models (no simulator needed; the co-simulation of the same flow is
sim/test_own_model_cosim.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from t2c.cli import main
from t2c.graph_io import GraphFileError, load_graph, save_graph
from t2c.pipeline import ModelSource, prepare
from t2c.qconfig import LayerRule, QConfig, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[1]

EXAMPLE = REPO / "examples" / "own_model"


def write_user_model(root: Path) -> dict[str, Path]:
    """The example model file, a state dict and calibration samples copied into ``root``
    (outside the repository), as a user would bring them."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE / "mynet.py", root / "mynet.py")
    subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), str(root)], check=True, capture_output=True,
                   timeout=300)
    return {"model": root / "mynet.py", "weights": root / "weights.pt", "calib": root / "calib.npy"}


def model_args(files: dict, *extra: str) -> list[str]:
    return ["--model", f"{files['model']}:MyNet", "--weights", str(files["weights"]), "--input-shape",
            "1x1x16x16", "--calib", str(files["calib"]), *extra]


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    return write_user_model(tmp_path_factory.mktemp("user") / "project")


# ------------------------------------------------------------------ specs and their errors
def test_layers_of_own_model_file(user_model, capsys):
    assert main(["layers", *model_args(user_model)]) == 0
    out = capsys.readouterr().out
    assert "conv_b" in out and "residual add+relu" in out and "batchnorm+relu" in out and "layer_engine" in out


@pytest.mark.parametrize("spec, extra", [("torchvision:mobilenet_v2", ["--input-shape", "1x3x96x96"]),
                                         ("timm:resnet18", [])])
def test_layers_of_zoo_models(spec, extra, capsys):
    assert main(["layers", "--model", spec, *extra]) == 0
    out = capsys.readouterr().out
    assert "layer_engine" in out and "conv" in out


def _one_line_error(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in err if ln.startswith("t2c") and "error" in ln]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def test_bad_model_specs_are_one_line_errors(user_model, tmp_path, capsys):
    assert "nosuch.py not found" in _one_line_error(["layers", "--model", "nosuch.py:f", "--input-shape", "1x1x4x4"],
                                                   capsys)
    msg = _one_line_error(["layers", "--model", f"{user_model['model']}:missing", "--input-shape", "1x1x16x16"],
                          capsys)
    assert "no callable 'missing'" in msg and "MyNet" in msg
    msg = _one_line_error(["layers", "--model", "torchvision:resnet1000"], capsys)
    assert "torchvision has no model 'resnet1000'" in msg
    msg = _one_line_error(["layers", "--model", f"{user_model['model']}:MyNet"], capsys)
    assert "--input-shape is required" in msg


def test_wrong_weights_name_the_keys(user_model, capsys):
    args = model_args(user_model)
    args[args.index("--weights") + 1] = str(REPO / "t2c" / "models" / "digits_cnn.pt")
    msg = _one_line_error(["layers", *args], capsys)
    assert "does not fit the model: missing keys bn_a.bias" in msg and "unexpected keys bn1.bias" in msg


def test_calibration_of_the_wrong_shape(user_model, tmp_path, capsys):
    np.save(tmp_path / "c.npy", np.zeros((3, 1, 8, 8), np.float32))
    args = model_args(user_model)
    args[args.index("--calib") + 1] = str(tmp_path / "c.npy")
    msg = _one_line_error(["layers", *args], capsys)
    assert "samples of shape (1, 8, 8), the model input is 1x16x16" in msg


def test_calibration_file_formats_give_the_same_model(user_model, tmp_path):
    """The same samples as .npy, .npz, .pt and a directory of PNGs (8-bit: quantized to
    /255) calibrate identically (the PNGs: to the same as their own .npy)."""
    import torch
    from PIL import Image

    x = np.load(user_model["calib"])
    np.savez(tmp_path / "c.npz", x=x)
    torch.save(torch.from_numpy(x), tmp_path / "c.pt")
    (tmp_path / "png").mkdir()
    codes = np.round(x * 255).astype(np.uint8)
    for i, img in enumerate(codes):
        Image.fromarray(img[0]).save(tmp_path / "png" / f"{i:02d}.png")
    np.save(tmp_path / "png.npy", codes.astype(np.float32) / 255.0)

    def graph(calib):
        src = ModelSource(spec=f"{user_model['model']}:MyNet", weights=str(user_model["weights"]),
                          input_shape=(1, 1, 16, 16), calib=str(calib))
        return prepare(src).graph

    ref = graph(user_model["calib"])
    for other in ("c.npz", "c.pt"):
        g = graph(tmp_path / other)
        assert all(np.array_equal(a.weight, b.weight) for a, b in zip(ref.ops, g.ops) if hasattr(a, "weight"))
    from_png, from_npy = graph(tmp_path / "png"), graph(tmp_path / "png.npy")
    for a, b in zip(from_png.ops, from_npy.ops):
        for k, v in a.params().items():
            assert np.array_equal(v, b.params()[k]), (a.name, k)


# ------------------------------------------------------------------ config files
CONFIG = (EXAMPLE / "w4a4_first_w8.toml").read_text()  # W4A4, stem.0 W8A8, head skipped


def test_config_file_rules(tmp_path):
    (tmp_path / "q.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "q.toml")
    assert cfg.for_layer("conv_a").wbit == 4 and cfg.for_layer("conv_a").abit == 4
    assert cfg.for_layer("stem.0").wbit == 8 and cfg.for_layer("head").abit == 8
    later = QConfig(layers=(LayerRule("conv*", wbit=3), LayerRule("conv_b", wbit=5)))
    assert later.for_layer("conv_a").wbit == 3 and later.for_layer("conv_b").wbit == 5  # later rules win
    assert QConfig(abit=4).for_layer("input", io=True).abit == 8  # io_bits
    assert QConfig(abit=4, layers=(LayerRule("input", abit=6),)).for_layer("input", io=True).abit == 6
    for bad, msg in [({"wbits": 4}, "unknown key 'wbits'"), ({"layer": [{"wbit": 4}]}, "match"),
                     ({"layer": [{"match": "x", "bits": 3}]}, "unknown key 'bits'"),
                     ({"wbit": 9}, "wbit must be an integer in 2..8"),
                     ({"layer": [{"match": "x", "abit": 1}]}, "abit must be an integer")]:
        with pytest.raises((ValueError, TypeError), match=msg):
            config_from_dict(bad)
    (tmp_path / "bad.toml").write_text("wbit = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_config_override_reaches_the_graph_and_the_manifest(user_model, tmp_path, capsys):
    (tmp_path / "q.toml").write_text(CONFIG)
    out = tmp_path / "golden"
    assert main(["golden", *model_args(user_model, "--config", str(tmp_path / "q.toml")), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    layers = manifest["meta"]["quantization"]["layers"]
    assert layers["stem.0"]["wbit"] == 8 and layers["conv_a"]["wbit"] == 4 and layers["head"]["wbit"] == 8
    assert manifest["meta"]["quantization"]["config"]["layers"][1] == {"match": "head", "skip": True}
    entry = {e["name"]: e for e in manifest["layers"]}
    assert entry["conv_a"]["attrs"]["wbits"] == 4 and entry["stem.0"]["attrs"]["wbits"] == 8
    assert entry["conv_a"]["tensors"]["output"]["bits"] == 4
    assert main(["layers", *model_args(user_model, "--config", str(tmp_path / "q.toml"))]) == 0
    printed = capsys.readouterr().out
    assert "4/4/4" in printed and "2 layer rule(s)" in printed


# ------------------------------------------------------------------ saved integer models
def test_saved_graph_round_trips(tmp_path):
    for model in ("digits-cnn", "digits-vit"):
        p = prepare(model)
        save_graph(p.graph, p.x_int, tmp_path / f"{model}.t2c")
        graph, x = load_graph(tmp_path / f"{model}.t2c")
        assert np.array_equal(x, p.x_int) and graph.meta == json.loads(json.dumps(p.graph.meta))
        want, got = p.graph.run(p.x_int, record=True), graph.run(x, record=True)
        for name, rec in want.layers.items():
            assert np.array_equal(got.layers[name].output, rec.output), (model, name)


def test_golden_from_saved_graph_without_torch_is_byte_identical(user_model, tmp_path):
    """`t2c golden --graph net.t2c` with torch unimportable writes the same bytes as
    `t2c golden --model ...` with the same options."""
    assert main(["convert", *model_args(user_model), "--out", str(tmp_path / "net.t2c")]) == 0
    assert main(["golden", *model_args(user_model), "--out", str(tmp_path / "from_model")]) == 0
    stub = tmp_path / "no_torch" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('torch is blocked')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub.parent), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "t2c.cli", "golden", "--graph", str(tmp_path / "net.t2c"),
                          "--out", str(tmp_path / "from_graph")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    a, b = tmp_path / "from_model", tmp_path / "from_graph"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_corrupted_saved_graph_is_refused(tmp_path, capsys):
    p = prepare("digits-cnn")
    net = save_graph(p.graph, p.x_int, tmp_path / "net.t2c")
    victim = sorted((net / "arrays").rglob("*.npy"))[3]
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 1
    victim.write_bytes(bytes(raw))
    with pytest.raises(GraphFileError, match="checksum mismatch"):
        load_graph(net)
    assert main(["golden", "--graph", str(net), "--out", str(tmp_path / "g")]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    net2 = save_graph(p.graph, p.x_int, tmp_path / "net2.t2c")
    doc = json.loads((net2 / "graph.json").read_text())
    doc["contract_version"] = 99
    (net2 / "graph.json").write_text(json.dumps(doc))
    with pytest.raises(GraphFileError, match="arithmetic contract 99"):
        load_graph(net2)
    with pytest.raises(GraphFileError, match="not a saved integer model"):
        load_graph(tmp_path)


def test_graph_options_that_do_not_apply_are_refused(tmp_path, capsys):
    p = prepare("digits-cnn")
    net = save_graph(p.graph, p.x_int, tmp_path / "net.t2c")
    msg = _one_line_error(["golden", "--graph", str(net), "--wbit", "4", "--out", str(tmp_path / "g")], capsys)
    assert "--wbit does not apply" in msg
