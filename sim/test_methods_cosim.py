"""Every quantization / compression method co-simulates: a layer of a model quantized with
it, on its RTL unit, ``==`` against the golden vectors.

The golden vectors are written by the command line (``t2c golden`` with the method's
options: what a user runs), then one layer of each runs through the registry
(``t2c.sim.layers.run_layer``, what ``t2c sim`` runs) on both simulators:

* AdaRound (W3A3) conv3, QDrop (W4A4) conv2, AdaRound + QDrop (W2A4) fc, and mixed
  precision (conv3 at 2 bits in a W4A4 model) on the layer engine;
* 2:4 and 50 % element-wise pruning (W4A4): conv3 on the layer engine, whose zero
  weights are part of the weight image;
* SmoothQuant (digits-vit W8A8, alpha 0.5): the smoothed ``blocks.0.norm1`` on the
  LayerNorm unit and the ``blocks.0.attn.qkv`` that absorbed the factors on the engine.
"""
from __future__ import annotations

import pytest

from t2c.cli import main
from t2c.sim import toolchain
from t2c.sim.golden_dirs import open_golden
from t2c.sim.layers import run_layer
from t2c.sim.units import SimOptions

# fewer reconstruction steps than the defaults (1000 AdaRound, 500 QDrop) keep CI short
W_FAST, A_FAST = "[weight_kwargs]\niters = 300\n", "[act_kwargs]\niters = 200\n"
MIXED = "wbit = 4\nabit = 4\n[[layer]]\nmatch = \"conv3\"\nwbit = 2\n"
METHODS = {
    "adaround": (["--wbit", "3", "--abit", "3", "--weight-quantizer", "adaround", "--config", W_FAST], ["conv3"]),
    "qdrop": (["--wbit", "4", "--abit", "4", "--act-quantizer", "qdrop", "--config", A_FAST], ["conv2"]),
    "adaround-qdrop": (["--wbit", "2", "--abit", "4", "--weight-quantizer", "adaround", "--act-quantizer",
                        "qdrop", "--config", W_FAST + A_FAST], ["fc"]),
    "mixed": (["--config", MIXED], ["conv3"]),
    "prune-2:4": (["--wbit", "4", "--abit", "4", "--prune", "2:4"], ["conv3"]),
    "prune-0.5": (["--wbit", "4", "--abit", "4", "--prune", "0.5"], ["conv3"]),
    "smoothquant": (["--model", "digits-vit", "--smoothquant", "0.5"], ["blocks.0.norm1", "blocks.0.attn.qkv"]),
}


@pytest.fixture(scope="module")
def goldens(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    cache = {}

    def get(method: str):
        if method not in cache:
            out = root / method
            args = list(METHODS[method][0])
            if "--config" in args:  # the config text goes into a file, as a user writes it
                i = args.index("--config") + 1
                path = root / f"{method}.toml"
                path.write_text(args[i])
                args[i] = str(path)
            assert main(["golden", *args, "--out", str(out)]) == 0
            cache[method] = open_golden(out)
        return cache[method]
    return get


def _cases():
    for method, (_, layers) in METHODS.items():
        for layer in layers:
            for sim in toolchain.SIMULATORS:
                yield pytest.param(method, layer, sim, id=f"{sim}-{method}-{layer}")


@pytest.mark.parametrize("method, layer, sim", list(_cases()))
def test_method_layer_cosimulates(method, layer, sim, goldens, request):
    toolchain.require_simulator(sim)
    golden = goldens(method)
    if method.startswith("prune"):
        w = golden.tensor(layer, "weight")
        assert 0.45 <= float((w == 0).mean()) <= 0.6, "the pruned layer's golden weight is not sparse"
    res = run_layer(golden, layer, SimOptions(sim=sim, tag=request.node.name, quiet=False))
    print(res.verdict())
    assert res.passed, res.message
    assert res.mismatches == 0 and res.compared == golden.tensor(layer, "output").size
