"""Every layer of the default models on its RTL unit, ``==`` against the golden vectors.

Through the unit registry (``t2c.sim.layers.run_layer``, what ``t2c sim`` runs):

* digits-cnn: conv1..conv4 (conv4 with the fused residual) and fc on the layer engine;
* digits-vit: patch embedding, QKV, Q·Kᵀ, attention·V, projection (+ residual), MLP and
  head on the layer engine, both softmax layers on the softmax unit, both GELU layers on
  the LUT unit, all five LayerNorm layers on the LayerNorm unit.

Both simulators, except digits-vit's conv/linear layers (the same engine datapath as
digits-cnn's), which run on Icarus only to keep CI short.  Each run's cycle count is the
unit's own counter and is pinned (``CYCLES``): a change in the RTL's timing fails here.
For layer-engine layers the K-steps are checked exactly, ``row tiles x sum of the column
tiles' K``, and the cycle count against the documented formula.  A flipped bit in a
golden output (checksum fixed) must make the run fail and name the element.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from t2c.export import engine as E
from t2c.fileio import sealed
from t2c.golden import SEAL
from t2c.sim import toolchain
from t2c.sim.build import test_seed
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.layers import run_layer, runnable_layers
from t2c.sim.units import SimOptions
from t2c.sim.units.layer_engine import timing

CNN, VIT = "digits-cnn", "digits-vit"
# the unit's own cycle count of every layer (8x8 array for the engine)
CYCLES = {
    (CNN, "conv1"): 172, (CNN, "conv2"): 1180, (CNN, "conv3"): 2332, (CNN, "conv4"): 2332,
    (CNN, "fc"): 92, (CNN, "avgpool"): 519,
    (VIT, "patch_embed.proj"): 131, (VIT, "head"): 124,
    (VIT, "blocks.0.attn.qkv"): 2620, (VIT, "blocks.0.attn.qk"): 460, (VIT, "blocks.0.attn.av"): 334,
    (VIT, "blocks.0.attn.proj"): 892, (VIT, "blocks.0.mlp.fc1"): 1756, (VIT, "blocks.0.mlp.fc2"): 1756,
    (VIT, "blocks.1.attn.qkv"): 2620, (VIT, "blocks.1.attn.qk"): 460, (VIT, "blocks.1.attn.av"): 334,
    (VIT, "blocks.1.attn.proj"): 892, (VIT, "blocks.1.mlp.fc1"): 1756, (VIT, "blocks.1.mlp.fc2"): 1756,
    (VIT, "blocks.0.attn.softmax"): 4134, (VIT, "blocks.1.attn.softmax"): 4134,
    (VIT, "blocks.0.mlp.act"): 1634, (VIT, "blocks.1.mlp.act"): 1634,
    (VIT, "blocks.0.norm1"): 9403, (VIT, "blocks.0.norm2"): 9403,
    (VIT, "blocks.1.norm1"): 9403, (VIT, "blocks.1.norm2"): 9403, (VIT, "norm"): 9403,
    (VIT, "add"): 822, (VIT, "cat"): 822,
}


def _on_both(model: str, layer: str, unit: str) -> bool:
    return model == CNN or unit != "layer_engine" or layer.endswith((".attn.qk", ".attn.av"))


def _cases():
    for model in (CNN, VIT):
        golden = open_golden(ensure_golden(model))
        for layer, _, unit in runnable_layers(golden):
            for sim in toolchain.SIMULATORS:
                if sim == "icarus" or _on_both(model, layer, unit):
                    yield pytest.param(sim, model, layer, id=f"{sim}-{model}-{layer}")


@pytest.mark.parametrize("sim, model, layer", list(_cases()))
def test_layer(sim, model, layer, request):
    toolchain.require_simulator(sim)
    golden = open_golden(ensure_golden(model))
    res = run_layer(golden, layer, SimOptions(sim=sim, tag=request.node.name, quiet=False))
    print(res.verdict())
    assert res.passed, res.message
    assert res.cycles == CYCLES[(model, layer)], f"{layer}: {res.cycles} cycles, pinned {CYCLES[(model, layer)]}"
    if res.unit == "layer_engine":
        want = timing(E.EngineLayer.from_golden(golden, layer), E.Geometry())
        assert (res.stats["eng_steps"], res.cycles) == want


def test_every_unit_layer_is_pinned():
    """The pinned table lists exactly the layers of both models that some unit runs."""
    have = {(m, n) for m in (CNN, VIT) for n, _, _ in runnable_layers(open_golden(ensure_golden(m)))}
    assert have == set(CYCLES)


# ------------------------------------------------------------------ the check can fail
def flip_bit(gdir, layer: str, element: int, bit: int) -> tuple[tuple, int, int]:
    """Flip one bit of element ``element`` of ``layer``'s golden output in place and fix its
    checksums in the manifest (the file's and the manifest's own); returns (index, old value,
    new value).  ``bit`` stays below the code's width less one, so the flipped code is still
    within the tensor's range and only the RTL comparison can catch it."""
    manifest_path = gdir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    rel = f"{layer}/output.npy"
    path = gdir / rel
    arr = np.load(path)
    raw = bytearray(path.read_bytes())
    offset = len(raw) - arr.nbytes + element * arr.itemsize + bit // 8
    raw[offset] ^= 1 << (bit % 8)
    path.write_bytes(bytes(raw))
    manifest["sha256"][rel] = hashlib.sha256(bytes(raw)).hexdigest()
    manifest_path.write_text(json.dumps(sealed(manifest, SEAL), indent=1, sort_keys=True) + "\n")
    new = np.load(path)
    idx = tuple(int(i) for i in np.unravel_index(element, arr.shape))
    return idx, int(arr[idx]), int(new[idx])


@pytest.mark.parametrize("model, layer", [(CNN, "conv2"), (CNN, "fc"), (VIT, "blocks.0.attn.softmax"),
                                          (VIT, "blocks.1.mlp.act"), (VIT, "blocks.0.norm2")])
def test_flipped_expected_bit_fails(model, layer, tmp_path, request):
    """One bit of the expected output flipped (checksum fixed): the run fails, counts one
    mismatch and names its index, expected (the flipped value) and got (the true one)."""
    sim = toolchain.first_simulator()
    gdir = tmp_path / model
    shutil.copytree(ensure_golden(model), gdir)
    arr = np.load(gdir / layer / "output.npy")
    rng = np.random.default_rng(test_seed())
    bits = open_golden(gdir).layer(layer)["tensors"]["output"]["bits"]
    idx, old, new = flip_bit(gdir, layer, int(rng.integers(arr.size)), int(rng.integers(bits - 1)))
    res = run_layer(open_golden(gdir), layer, SimOptions(sim=sim, tag=request.node.name, quiet=False))
    print(res.message)
    assert res.mismatches == 1 and [(m.index, m.expected, m.got) for m in res.first] == [(idx, new, old)]
    assert f"({', '.join(map(str, idx))}): expected {new}, got {old}" in res.message
    assert f"{model} {layer} ({sim}): 1 of {res.compared} elements differ" in res.message


README = Path(__file__).resolve().parents[1] / "README.md"
VERDICT = re.compile(r"^(\S+) (digits-\w+) icarus: PASS 0/([\d,]+) mismatches, ([\d,]+) cycles, ", re.M)


def readme_verdicts(text: str) -> list[tuple[str, str, int, int]]:
    return [(m[2], m[1], int(m[3].replace(",", "")), int(m[4].replace(",", ""))) for m in VERDICT.finditer(text)]


def test_readme_verdict_lines_are_the_pinned_figures():
    """The verdict lines the README shows carry the cycles this file pins (and the tests
    above measure) and the element counts of the golden outputs."""
    shown = readme_verdicts(README.read_text())
    assert len(shown) >= 4
    for model, layer, compared, cycles in shown:
        out = open_golden(ensure_golden(model)).tensor(layer, "output")
        assert (compared, cycles) == (out.size, CYCLES[(model, layer)]), (model, layer)
    doctored = README.read_text().replace("PASS 0/512 mismatches, 2,332 cycles", "PASS 0/512 mismatches, 2,328 cycles")
    assert readme_verdicts(doctored) != shown


# ------------------------------------------------------------------ corner variants (t2c.stimulus)
# one layer of every unit and op: each with every corner variant (ties of both signs,
# saturation, outputs on qmin/qmax, zero points at every end, extreme accumulators, every
# LUT address, softmax and LayerNorm rows), on Icarus
CORNER_LAYERS = [(CNN, "conv1"), (CNN, "conv4"), (CNN, "avgpool"), (CNN, "fc"), (VIT, "blocks.0.attn.qk"),
                 (VIT, "blocks.0.attn.softmax"), (VIT, "blocks.0.norm1"), (VIT, "blocks.0.mlp.act"),
                 (VIT, "add"), (VIT, "cat")]


@pytest.mark.parametrize("model, layer", CORNER_LAYERS, ids=[f"{m}-{n}" for m, n in CORNER_LAYERS])
def test_corner_variants(model, layer, request):
    from t2c.coverage import golden_coverage
    from t2c.sim.golden_dirs import ensure_corners

    toolchain.require_simulator("icarus")
    golden = open_golden(ensure_corners(model))
    variants = golden.variant_names(layer)
    assert variants
    for case in variants:
        res = run_layer(golden, case, SimOptions(sim="icarus", tag=f"{request.node.name}-{case}"))
        assert res.passed, res.message
        assert res.cycles == CYCLES[(model, layer)], case  # same geometry, same timing
    cov = golden_coverage(golden, [layer])[0]
    assert cov.missed == [] and cov.hit == cov.reachable
