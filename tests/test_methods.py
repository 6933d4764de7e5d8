"""Quantization and compression methods: AdaRound, QDrop, SmoothQuant, pruning.

For each method: its integer graph equals the independent per-layer recomputation, the
QModel's exact forward equals the IntGraph on every element of every layer, the new
quantizers' two paths give the same codes, and each check is shown to fail on a wrong
input.  Accuracy claims of the issue (AdaRound beats minmax at W3A3 / W2A4 on
digits-cnn) are measured here on the 360 held-out digits.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from independent import assert_graph_matches

from t2c import QConfig
from t2c.convert import convert, quantize
from t2c.convert.smooth import smooth, smoothable
from t2c.drift import compare
from t2c.models import get_model
from t2c.models.digits import digits_split
from t2c.models.train_digits import train
from t2c.quant import AdaRoundQuantizer, QDropQuantizer
from t2c.sparsity import GradualPruning, magnitude_mask, nm_mask, parse_prune

XTR, YTR, XTE, YTE = digits_split()
CALIB = XTR[:256]

METHODS = {
    "adaround": ("digits-cnn", QConfig(wbit=4, abit=4, weight_quantizer="adaround",
                                       weight_kwargs={"iters": 200})),
    "qdrop": ("digits-cnn", QConfig(wbit=4, abit=4, act_quantizer="qdrop", act_kwargs={"iters": 200})),
    "adaround+qdrop": ("digits-cnn", QConfig(wbit=4, abit=4, weight_quantizer="adaround", act_quantizer="qdrop",
                                             weight_kwargs={"iters": 200})),
    "smoothquant": ("digits-vit", QConfig(smoothquant=0.5)),
    "prune-2:4": ("digits-cnn", QConfig(wbit=4, abit=4, prune="2:4")),
    "prune-0.5": ("digits-cnn", QConfig(prune="0.5")),
    "mixed": ("digits-cnn", QConfig(wbit=3, abit=4, layers=({"match": "conv1", "wbit": 8, "abit": 8},
                                                            {"match": "conv3", "wbit": 2}))),
}


def _calibrated(model: str, config: QConfig):
    torch.manual_seed(0)
    q = quantize(get_model(model).build(), config).double()
    q.calibrate([CALIB.double()])
    return q


@pytest.fixture(scope="module", params=sorted(METHODS))
def method(request):
    model, config = METHODS[request.param]
    q = _calibrated(model, config)
    return request.param, q, convert(q, XTE[:1].double())


def test_integer_graph_equals_independent_recomputation(method):
    _, _, graph = method
    assert_graph_matches(graph, graph.quantize_input(XTE[:16].double().numpy()))


def test_exact_forward_equals_integer_graph_on_every_layer(method):
    name, q, graph = method
    d = compare(q, graph, XTE[:32].double())
    assert d.layers and d.all_equal, f"{name}: first differing layer {d.first_differing}"
    assert d.output.equal == d.output.elements


def test_compare_fails_on_a_flipped_weight_code(method):
    """The check above can fail: one weight code changed in the IntGraph is found."""
    name, q, graph = method
    op = next(op for op in graph.ops if op.kind in ("conv", "linear"))
    w = np.array(op.weight)
    w.reshape(-1)[np.argmax(np.abs(w))] -= 1
    op.weight = w
    try:
        assert not compare(q, graph, XTE[:32].double()).all_equal
    finally:
        op.weight = w + 0  # restored below
        w.reshape(-1)[np.argmax(np.abs(w))] += 1


# ---------------------------------------------------------------- the quantizers' two paths

def test_adaround_codes_equal_on_both_paths_and_rounding_is_learned():
    q = _calibrated("digits-cnn", METHODS["adaround"][1])
    changed = 0
    for name in ("conv1", "conv2", "conv3", "conv4", "fc"):
        wq = q.weight_quantizer(name)
        assert isinstance(wq, AdaRoundQuantizer) and wq.rounding.shape == q.weight(name).shape
        w = q.weight(name).detach()
        codes = wq.quantize(w).q
        scale = wq._channel_view(wq.export_scale(), w)
        fq = wq(w).detach() / scale
        assert torch.equal(torch.round(fq).to(torch.int64), codes)  # the fake-quant values are s * codes
        assert torch.equal(fq, codes.to(fq.dtype))
        nearest = torch.clamp(torch.floor(w / scale + 0.5), wq.qmin, wq.qmax).to(torch.int64)
        assert int((codes - nearest).abs().max()) <= 1  # up or down, never further
        changed += int((codes != nearest).sum())
    assert changed > 0  # AdaRound chose some roundings other than nearest


def test_adaround_state_survives_a_state_dict_round_trip():
    q = _calibrated("digits-cnn", METHODS["adaround"][1])
    fresh = quantize(get_model("digits-cnn").build(), METHODS["adaround"][1]).double()
    fresh.load_state_dict(q.state_dict())
    for name in ("conv1", "fc"):
        assert torch.equal(fresh.weight_quantizer(name).quantize(fresh.weight(name)).q,
                           q.weight_quantizer(name).quantize(q.weight(name)).q)


def test_adaround_rounding_of_the_wrong_shape_is_refused():
    wq = AdaRoundQuantizer(4, signed=True, symmetric=True)
    wq.observe(torch.randn(4, 3))
    wq.compute_qparams()
    wq.rounding = torch.ones(3, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="learned rounding has shape"):
        wq.quantize(torch.randn(4, 3))


def test_qdrop_codes_equal_on_both_paths_and_it_drops_only_while_reconstructing():
    aq = QDropQuantizer(4, signed=None)
    x = torch.randn(2000, dtype=torch.float64) * 3
    aq.observe(x)
    aq.compute_qparams()
    y = aq(x).detach()
    qt = aq.quantize(x)
    assert torch.equal(y / aq.export_scale() + qt.zero_point, qt.q.to(y.dtype))
    aq.dropping = True
    torch.manual_seed(0)
    dropped = aq(x).detach()
    passed = dropped == x
    assert 0.4 < float(passed.double().mean()) < 0.6  # drop_prob 0.5
    assert torch.equal(dropped[~passed], y[~passed])


@pytest.mark.parametrize("name,why", [("minmax_token", "per-token activation scales"),
                                      ("minmax_channel", "use --smoothquant ALPHA")])
def test_token_and_channel_activation_scales_are_refused_with_the_reason(name, why):
    with pytest.raises(ValueError, match=f"quantizer '{name}' is not offered: .*{why}.*registered: adaround"):
        quantize(get_model("digits-vit").build(), QConfig(act_quantizer=name))


def test_unknown_quantizer_lists_the_registered_ones():
    with pytest.raises(ValueError, match="registered: adaround, lsq, minmax, mse, percentile, qdrop"):
        quantize(get_model("digits-cnn").build(), QConfig(weight_quantizer="ada-round"))


# ---------------------------------------------------------------- accuracy: AdaRound vs minmax

def _int_accuracy(q) -> float:
    g = convert(q, XTE[:1].double())
    pred = np.asarray(g.run(g.quantize_input(XTE.double().numpy())).output).argmax(1)
    return 100.0 * float((torch.as_tensor(pred) == YTE).double().mean())


@pytest.mark.parametrize("wbit,abit", [(3, 3), (2, 4)])
def test_adaround_beats_minmax_ptq_at_low_bits(wbit, abit):
    base = QConfig(wbit=wbit, abit=abit)
    minmax = _int_accuracy(_calibrated("digits-cnn", base))
    ada = _int_accuracy(_calibrated("digits-cnn", base.with_overrides(weight_quantizer="adaround")))
    assert ada > minmax + 3.0, (minmax, ada)


# ---------------------------------------------------------------- SmoothQuant

def test_smoothquant_finds_the_layernorm_linear_pairs_and_keeps_the_float_model():
    q = quantize(get_model("digits-vit").build(), QConfig()).double()
    groups = smoothable(q)
    assert groups == {f"blocks.{i}.{n}": [f"blocks.{i}.{lin}"] for i in range(2)
                      for n, lin in (("norm1", "attn.qkv"), ("norm2", "mlp.fc1"))}
    with torch.no_grad(), q.float_mode():
        before = q(XTE[:64].double())
    gain = q.weight("blocks.0.norm1").detach().clone()
    factors = smooth(q, [CALIB.double()], 0.5)
    assert set(factors) == set(groups)
    assert not torch.equal(gain, q.weight("blocks.0.norm1").detach())  # the fold changed the parameters
    with torch.no_grad(), q.float_mode():
        after = q(XTE[:64].double())
    # float model, float comparison: equal up to the float32 rounding of the changed parameters
    assert float((after - before).abs().max()) < 1e-4
    assert torch.equal(after.argmax(1), before.argmax(1))


def test_smoothquant_on_a_model_without_layernorm_is_refused():
    with pytest.raises(ValueError, match="no LayerNorm feeding only linear layers"):
        _calibrated("digits-cnn", QConfig(smoothquant=0.5))


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "0.5"])
def test_smoothquant_alpha_out_of_range_is_refused(alpha):
    with pytest.raises(ValueError, match="smoothquant"):
        QConfig(smoothquant=alpha)


# ---------------------------------------------------------------- pruning

@pytest.mark.parametrize("text,n,m", [("2:4", 2, 4), ("1:4", 1, 4), ("4:8", 4, 8), ("1:2", 1, 2)])
def test_nm_mask_keeps_the_n_largest_of_every_group(text, n, m):
    spec = parse_prune(text)
    w = np.random.default_rng(0).normal(size=(6, 3, 3, 3))  # K = 27: a short last group
    mask = nm_mask(w, spec.n, spec.m)
    rows, mrows = np.abs(w.reshape(6, -1)), mask.reshape(6, -1)
    for r in range(6):
        for g in range(0, 27, m):
            grp, kept = rows[r, g:g + m], mrows[r, g:g + m].astype(bool)
            assert kept.sum() == min(n, grp.size)
            if (~kept).any():
                assert grp[kept].min() >= grp[~kept].max()


def test_magnitude_mask_prunes_exactly_the_fraction_and_breaks_ties_by_position():
    w = np.array([[3.0, -1.0, 1.0, 0.5], [1.0, 2.0, -0.25, 4.0]])
    mask = magnitude_mask(w, 0.5)
    assert mask.tolist() == [[1, 1, 0, 0], [0, 1, 0, 1]]  # of the three tied 1.0s the first is kept


@pytest.mark.parametrize("text", ["3:3", "0:4", "2:6", "2:32", "1.0", "-0.1", "half", "a:b"])
def test_bad_prune_patterns_are_refused(text):
    with pytest.raises(ValueError, match="prune"):
        QConfig(prune=text)


@pytest.mark.parametrize("prune", ["2:4", "1:4", "0.5"])
def test_pruned_integer_weights_are_exactly_zero_where_masked(prune):
    q = _calibrated("digits-cnn", QConfig(wbit=4, abit=4, prune=prune))
    g = convert(q, XTE[:1].double())
    spec = parse_prune(prune)
    assert g.meta["sparsity"] == {n: spec.pattern for n in ("conv1", "conv2", "conv3", "conv4", "fc")}
    for name in g.meta["sparsity"]:
        mask = getattr(q.masks, name).numpy()
        w = np.asarray(g.op(name).weight)
        assert (w[mask == 0] == 0).all()
        if not spec.structured:
            assert abs((w == 0).mean() - 0.5) < 0.1  # rounding to 4 bits may zero a few more


def test_dense_rule_exempts_a_layer():
    q = quantize(get_model("digits-cnn").build(), QConfig(prune="2:4", layers=({"match": "conv1",
                                                                                "prune": "dense"},)))
    assert "conv1" not in q.masked_layers() and "conv2" in q.masked_layers()


def test_masks_are_kept_through_fine_tuning_and_gradual_pruning_reaches_the_target():
    q = _calibrated("digits-cnn", QConfig(wbit=4, abit=4, weight_quantizer="lsq", act_quantizer="lsq",
                                          prune="0.5"))
    schedule = GradualPruning(q, epochs=3)
    seen = []

    def on_epoch(epoch):
        schedule(epoch)
        seen.append({n: s for n, (_, s) in q.sparsity().items()})

    train(q, XTR[:256].double(), YTR[:256], 3, lr=1e-3, log=None, on_epoch=on_epoch)
    fc = [s["fc"] for s in seen]
    assert fc[0] == 0.0 and fc[0] < fc[1] < fc[2] == 0.5  # cubic ramp over 2 of 3 epochs
    g = convert(q, XTE[:1].double())
    for name in g.meta["sparsity"]:
        mask = getattr(q.masks, name).numpy()
        assert (np.asarray(g.op(name).weight)[mask == 0] == 0).all()
    assert compare(q, g, XTE[:32].double()).all_equal


def test_gradual_pruning_needs_a_pruned_layer():
    q = quantize(get_model("digits-cnn").build(), QConfig())
    with pytest.raises(ValueError, match="no layer of this QModel is pruned"):
        GradualPruning(q, epochs=3)


# ---------------------------------------------------------------- the command line

def test_cli_prune_prints_the_achieved_sparsity_and_exports_compressed_images(tmp_path, capsys):
    from t2c.cli import main
    from t2c.export.sparse import read_sparse_weight

    assert main(["layers", "--prune", "2:4", "--wbit", "4", "--abit", "4"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("sparsity (zero weights): conv1 2:4 ")
    got = {p.split()[0]: float(p.split()[2].rstrip("%")) for p in line.split(": ", 1)[1].split(", ")}
    # at least the pattern's zeros (conv1: K = 9, groups 4+4+1 keep 5 of 9); 4-bit rounding adds some
    assert got["conv1"] >= 44.4 and all(got[n] >= 50.0 for n in ("conv2", "conv3", "conv4", "fc"))
    assert max(got.values()) < 55.0
    out_dir = tmp_path / "mem"
    assert main(["export", "--all", "--prune", "1:4", "--out", str(out_dir)]) == 0
    from t2c.export.formats import read_memory

    for layer in ("conv1", "conv3", "fc"):
        assert (out_dir / f"{layer}.weight_nm_index.hex").is_file()
        dense = read_memory(out_dir / f"{layer}.weight.hex")
        sparse = read_sparse_weight(out_dir, layer)
        assert (sparse != 0).sum() == (dense != 0).sum() and sparse.reshape(len(sparse), -1).shape[0] > 0


@pytest.mark.parametrize("args,message", [
    (["--prune", "3:3"], "prune 3:3: N must be smaller than M"),
    (["--prune", "0.5x"], "prune 0.5x: expected N:M"),
    (["--smoothquant", "2"], "smoothquant (the migration strength alpha) must be in [0, 1], got 2.0"),
    (["--weight-quantizer", "adarond"], "unknown quantizer 'adarond'; registered: adaround, lsq, minmax, mse, "
                                        "percentile, qdrop"),
    (["--smoothquant", "0.5"], "smoothquant: the model has no LayerNorm feeding only linear layers"),
])
def test_cli_bad_method_options_are_one_line_errors(args, message, capsys):
    from t2c.cli import main

    assert main(["layers", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_quantizer_kwargs_a_quantizer_does_not_take_are_one_line_errors(tmp_path, capsys):
    from t2c.cli import main

    cfg = tmp_path / "q.toml"
    cfg.write_text("[act_kwargs]\niters = 10\n")
    assert main(["layers", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "act_kwargs ['iters'] do not apply to quantizer 'minmax'" in err and err.count("\n") == 1
