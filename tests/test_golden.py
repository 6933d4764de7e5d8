"""Golden vectors: reproducible byte for byte, checksummed, atomic."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from t2c import golden as golden_mod
from t2c.golden import GoldenError, read_golden, write_golden
from t2c.pipeline import prepare

COMMITTED = Path(__file__).resolve().parents[1] / "golden" / "digits-cnn"


@pytest.fixture(scope="module")
def digits():
    return prepare("digits-cnn")


@pytest.fixture(scope="module")
def regenerated(digits, tmp_path_factory):
    return write_golden(digits.graph, digits.x_int, tmp_path_factory.mktemp("g") / "digits-cnn")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_committed_golden_is_what_t2c_golden_regenerates(regenerated):
    assert _files(regenerated) == _files(COMMITTED)
    for rel in _files(COMMITTED):
        assert (regenerated / rel).read_bytes() == (COMMITTED / rel).read_bytes(), rel


def test_committed_vit_golden_is_what_t2c_golden_regenerates(tmp_path):
    """golden/digits-vit (committed so that co-simulating the ViT needs no torch)."""
    committed = COMMITTED.parent / "digits-vit"
    p = prepare("digits-vit")
    out = write_golden(p.graph, p.x_int, tmp_path / "digits-vit")
    assert _files(out) == _files(committed)
    for rel in _files(committed):
        assert (out / rel).read_bytes() == (committed / rel).read_bytes(), rel


def test_golden_tensors_equal_the_reference_run(digits, regenerated):
    g = read_golden(regenerated)
    rec = digits.graph.run(digits.x_int, record=True)
    assert g.layer_names == digits.graph.layer_names
    for name, layer in rec.layers.items():
        assert np.array_equal(g.tensor(name, "output"), layer.output)
        if layer.acc is not None:
            assert np.array_equal(g.tensor(name, "acc"), layer.acc)
    assert g.manifest["contract_version"] == 2
    conv4 = g.layer("conv4")
    assert set(conv4["tensors"]) >= {"input", "residual", "weight", "bias", "m", "s", "residual_m",
                                     "acc", "output"}


def test_golden_input_is_the_model_input_the_reference_ran(digits, regenerated):
    """Golden.input(): the codes the graph ran on (int64, batch first), which are also the
    first layer's input; what the whole-network runner feeds the RTL."""
    g = read_golden(regenerated)
    x = g.input()
    assert x.dtype == np.int64 and x.shape == digits.x_int.shape == (1, 1, 8, 8)
    assert np.array_equal(x, digits.x_int)
    assert np.array_equal(x, g.tensor(g.layer_names[0], "input"))
    assert x.min() == 0 and x.max() == 255  # the whole unsigned 8-bit range: a narrowing would show


def test_flipped_bit_is_reported_with_the_file_name(regenerated, tmp_path):
    copy = tmp_path / "g"
    shutil.copytree(regenerated, copy)
    target = copy / "conv3" / "output.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(GoldenError, match=r"checksum mismatch .*conv3/output\.npy"):
        read_golden(copy)
    assert read_golden(copy, verify=False)  # explicit opt-out still opens it


def test_missing_file_and_manifest_are_reported(regenerated, tmp_path):
    with pytest.raises(GoldenError, match="holds no manifest.json"):
        read_golden(tmp_path)
    copy = tmp_path / "g"
    shutil.copytree(regenerated, copy)
    (copy / "fc" / "weight.npy").unlink()
    with pytest.raises(GoldenError, match=r"fc/weight\.npy is missing"):
        read_golden(copy)


def test_unknown_layer_and_tensor_list_valid_names(regenerated):
    g = read_golden(regenerated)
    with pytest.raises(KeyError, match="valid layers: conv1, conv2, conv3"):
        g.layer("conv9")
    with pytest.raises(KeyError, match="it has: .*input"):
        g.tensor("conv1", "nope")


def test_failed_write_leaves_previous_directory_untouched(digits, regenerated, tmp_path, monkeypatch):
    out = tmp_path / "g"
    shutil.copytree(regenerated, out)
    before = {rel: (out / rel).read_bytes() for rel in _files(out)}

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(golden_mod, "_npy_bytes", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_golden(digits.graph, digits.x_int, out)
    assert {rel: (out / rel).read_bytes() for rel in _files(out)} == before
    assert [p.name for p in tmp_path.iterdir()] == ["g"]  # no temporary left behind
