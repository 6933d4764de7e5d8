"""The ops the model zoo needs, one small model each: every layer equals the independent
recomputation (tests/independent.py), the graph round-trips through t2c.graph_io, the
executor's GEMM paths (int8, float32, int64) give the same integers, a tampered layer is
caught."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import t2c
from independent import assert_graph_matches, check_layer
from t2c import arith
from t2c.gemm import PATHS
from t2c.graph_io import load_graph, save_graph
from t2c.ir import Affine, AvgPool2d, AvgPoolWindows, ConstAdd, Lut, MaxPool2d, Movement, Mul


def _convert(model, shape, config=None, n=6, seed=0):
    torch.manual_seed(seed)
    model = model.eval()
    x = torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed + 1))
    q = t2c.quantize(model, config or t2c.QConfig(), example_input=x[:1]).double()
    q.calibrate([x.double()])
    graph = t2c.convert(q, x[:1].double())
    return q, graph, x


# the float fake-quant forward may flip one of the six inputs' argmax against the integer
# model (it rounds differently); measured: 6 of 6 for every model below
MIN_AGREE = 5 / 6


def _check(model, shape, config=None, kinds=(), n=6, *, min_agree: float):
    """Convert, check every layer and every GEMM path; the float fake-quant forward must agree
    with the integer output's argmax on at least ``min_agree`` of the ``n`` inputs."""
    q, graph, x = _convert(model, shape, config, n)
    x_int = graph.quantize_input(x.numpy())
    result = assert_graph_matches(graph, x_int)
    got = {op.kind for op in graph.ops}
    assert set(kinds) <= got, (kinds, got)
    for path in PATHS:  # every GEMM path of the executor gives the same integers
        other = graph.run(x_int, record=True, gemm_path=path)
        for name, rec in result.layers.items():
            assert np.array_equal(other.layers[name].output, rec.output), (path, name)
    with torch.no_grad(), q.forward_mode(exact=False):  # the float fake-quant forward
        fq = q(x.double()).numpy()
    agree = np.mean(np.argmax(fq.reshape(len(x), -1), 1) == np.argmax(result.output.reshape(len(x), -1), 1))
    print(f"{type(model).__name__}: argmax agreement {agree:.3f}")
    assert agree >= min_agree, f"{type(model).__name__}: argmax agreement {agree:.3f} < {min_agree}"
    return graph, x_int, result, agree


class SqueezeExcite(nn.Module):
    """Hard-sigmoid as a function, a module and timm's formula; SE gate; layer scale."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc1 = nn.Conv2d(8, 4, 1)
        self.fc2 = nn.Conv2d(4, 8, 1)
        self.gamma = nn.Parameter(torch.rand(8, 1, 1) + 0.5)
        self.gate = nn.Hardsigmoid()
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = F.hardswish(self.bn(self.stem(x)))
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(self.fc1(s))
        s = self.fc2(s)
        x = x * self.gate(s)                        # squeeze-excite
        x = x * (F.relu6(x + 3.0) / 6.0)            # timm's hard_swish, one table
        x = x * torch.sigmoid(x)                    # SiLU written out, one table
        x = self.gamma * x                          # layer scale: a constant times an activation
        return self.head(x.mean((2, 3)))


def test_mul_tables_and_layer_scale():
    graph, x_int, _, _ = _check(SqueezeExcite(), (3, 12, 12), kinds=("mul", "lut", "const"), min_agree=MIN_AGREE)
    luts = [op for op in graph.ops if isinstance(op, Lut)]
    assert {op.fn for op in luts} >= {"hardswish", "hardsigmoid"}
    # hardswish, hardsigmoid, and x*relu6(x+3)/6 followed by x*sigmoid(x): one table for the chain
    assert len(luts) == 3 and "sigmoid(mul(x, div(relu6(add(x, 3.0)), 6.0)))" in luts[-1].fn
    assert sum(isinstance(op, Mul) for op in graph.ops) == 2


class DenseLike(nn.Module):
    """BatchNorm after a concat (+ReLU), F.batch_norm after a conv (folded), BN on the input."""

    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm2d(3)
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.norm = nn.BatchNorm2d(8)
        self.c = nn.Conv2d(8, 6, 3, padding=1, bias=False)
        self.register_buffer("mean", torch.randn(6) * 0.1)
        self.register_buffer("var", torch.rand(6) + 0.5)
        self.w = nn.Parameter(torch.randn(6))  # negative gains too
        self.bias = nn.Parameter(torch.randn(6) * 0.1)
        self.fc = nn.Linear(6, 3)
        for bn in (self.bn_in, self.norm):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.data.uniform_(-1.5, 1.5)

    def forward(self, x):
        x = self.bn_in(x)
        x = torch.cat([self.a(x), self.b(x)], 1)
        x = F.relu(self.norm(x))
        x = F.batch_norm(self.c(x), self.mean, self.var, self.w, self.bias, False, 0.1, 1e-5)
        return self.fc(F.relu(x).mean((2, 3)))


def test_standalone_batchnorm_is_a_per_channel_affine():
    graph, _, _, _ = _check(DenseLike(), (3, 10, 10), kinds=("affine", "concat"), min_agree=MIN_AGREE)
    affines = [op for op in graph.ops if isinstance(op, Affine)]
    assert [op.name for op in affines] == ["bn_in", "norm"]  # F.batch_norm folded into conv c
    assert "batchnorm" in graph.meta["fused"]["c"]
    norm = graph.op("norm")
    assert norm.requant.qmin == graph.tensors["norm"].zero_point  # the ReLU fused
    assert (np.asarray(graph.op("bn_in").requant.m) < 0).any()  # negative gains are signed multipliers


class Pools(nn.Module):
    """ceil_mode max/avg pools, count_include_pad=False, divisor_override, adaptive pools with
    unequal windows (avg and max)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3)
        self.mp = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.ap = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)
        self.fc = nn.Linear(6 * 5 * 5 * 3 + 6 * 7 * 7, 4)

    def forward(self, x):
        x = self.conv(x)                                 # 12 x 12
        a = self.mp(x)                                   # 6 x 6 (ceil; floor would be 5)
        b = self.ap(x)                                   # 7 x 7 (ceil, real taps only)
        c = F.avg_pool2d(x, 2, 2, ceil_mode=True, divisor_override=3)  # 6 x 6
        d = F.adaptive_avg_pool2d(a, 5)                  # 6 -> 5: unequal windows
        e = F.adaptive_max_pool2d(b, 5)                  # 7 -> 5
        f = F.adaptive_avg_pool2d(c, 5)
        return self.fc(torch.cat([d.flatten(1), e.flatten(1), f.flatten(1), b.flatten(1)], 1))


def test_pooling_ceil_mode_padding_and_unequal_windows():
    graph, x_int, result, _ = _check(Pools(), (3, 14, 14), kinds=("maxpool", "avgpool_window"), min_agree=MIN_AGREE)
    pools = {op.name: op for op in graph.ops if isinstance(op, (MaxPool2d, AvgPool2d, AvgPoolWindows))}
    assert isinstance(pools["mp"], MaxPool2d) and "mp.pad" in graph.layer_names  # ceil: pad + floor pool
    assert isinstance(pools["ap"], AvgPoolWindows)
    m = np.asarray(pools["ap"].requant.m)
    assert m.size == 7 * 7 and len(set(m.tolist())) > 1  # one (m, s) per output window
    assert graph.tensors["ap"].shape[2:] == (7, 7) and graph.tensors["mp"].shape[2:] == (6, 6)


class Shuffle(nn.Module):
    """Channel shuffle with shapes read at run time (floordiv), chunk, cat."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = self.c1(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, F.relu(self.c2(b))), dim=1)
        n, c, h, w = x.size()
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, -1, h, w)
        return self.fc(x.mean([2, 3]))


def test_channel_shuffle_is_data_movement_with_symbolic_sizes():
    graph, x_int, _, _ = _check(Shuffle(), (3, 8, 8), min_agree=MIN_AGREE)
    moves = [op for op in graph.ops if isinstance(op, Movement)]
    assert any("floordiv" in str(op.args) for op in moves)
    # batch size stays free: the graph runs 3 images although it was converted on 1
    assert graph.run(x_int[:3]).output.shape == (3, 2)


class ConvNeXtLike(nn.Module):
    """Channels-first LayerNorm (permute, F.layer_norm, permute), LayerNorm over two last
    dims, GELU, layer scale."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(4, eps=1e-6)
        self.fc1 = nn.Linear(4, 8)
        self.fc2 = nn.Linear(8, 4)
        self.scale = nn.Parameter(torch.rand(4, 1, 1))
        self.ln2 = nn.LayerNorm([6, 4])
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        x = x + self.scale * y
        x = self.ln2(x.permute(0, 2, 3, 1))  # over (W, C)
        return self.head(x.permute(0, 3, 1, 2).mean((2, 3)))


def test_channels_first_and_multi_dim_layernorm():
    graph, _, _, _ = _check(ConvNeXtLike(), (4, 6, 6), kinds=("layernorm", "mul", "lut"), min_agree=MIN_AGREE)
    assert "ln2.norm" in graph.layer_names and graph.op("ln2").kind == "move"  # flatten, LN, reshape


class WindowAttention(nn.Module):
    """Swin's pieces: pad to windows, roll, window partition/merge with sizes from shapes,
    relative position bias and a shifted-window mask added to the logits, Python control
    flow on shapes (resolved at the example input)."""

    def __init__(self, dim=8, heads=2, ws=3):
        super().__init__()
        self.ws, self.heads = ws, heads
        self.embed = nn.Conv2d(3, dim, 2, 2)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.table = nn.Parameter(torch.randn((2 * ws - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + ws - 1
        self.register_buffer("index", rel[..., 0] * (2 * ws - 1) + rel[..., 1])
        self.head = nn.Linear(dim, 2)

    def forward(self, x):
        x = self.embed(x).permute(0, 2, 3, 1)            # B, H, W, C
        b, h, w, c = x.shape
        ws = self.ws
        pad_r, pad_b = (ws - w % ws) % ws, (ws - h % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        _, ph, pw, _ = x.shape
        shift = ws // 2 if ph > ws else 0                # control flow on a shape
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
        nw = (ph // ws) * (pw // ws)
        t = x.view(b, ph // ws, ws, pw // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nw, ws * ws, c)
        qkv = self.qkv(t).reshape(t.size(0), t.size(1), 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (c // self.heads) ** -0.5).matmul(k.transpose(-2, -1))
        bias = self.table[self.index.view(-1)].view(ws * ws, ws * ws, -1).permute(2, 0, 1).unsqueeze(0)
        attn = attn + bias
        if shift:
            mask = x.new_zeros((ph, pw))
            count = 0
            for hs in ((0, -ws), (-ws, -shift), (-shift, None)):
                for wsl in ((0, -ws), (-ws, -shift), (-shift, None)):
                    mask[hs[0]:hs[1], wsl[0]:wsl[1]] = count
                    count += 1
            mask = mask.view(ph // ws, ws, pw // ws, ws).permute(0, 2, 1, 3).reshape(nw, ws * ws)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = attn.view(t.size(0) // nw, nw, self.heads, t.size(1), t.size(1))
            attn = (attn + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.heads, t.size(1), t.size(1))
        attn = F.softmax(attn, dim=-1)
        t = attn.matmul(v).transpose(1, 2).reshape(t.size(0), t.size(1), c)
        t = self.proj(t).view(b, ph // ws, pw // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, ph, pw, c)
        if shift:
            t = torch.roll(t, shifts=(shift, shift), dims=(1, 2))
        t = t[:, :h, :w, :].contiguous()
        return self.head(t.permute(0, 3, 1, 2).mean((2, 3)))


@pytest.mark.parametrize("size", [16, 12])  # 8x8 tokens: padded to 9, shifted; 6x6: shifted, no pad
def test_window_attention_with_bias_and_mask(size):
    graph, x_int, result, _ = _check(WindowAttention(), (3, size, size), kinds=("add_const", "softmax"),
                                         min_agree=MIN_AGREE)
    adds = [op for op in graph.ops if isinstance(op, ConstAdd)]
    assert len(adds) == 2  # relative position bias, shifted-window mask
    mask = adds[1]
    assert mask.addend.min() < -100 and graph.tensors[mask.output].bits > 8  # wide codes, same scale
    fns = {op.fn for op in graph.ops if isinstance(op, Movement)}
    assert {"roll", "getitem", "pad"} <= fns
    # masked logits get exactly 0 after the softmax
    sm = next(op for op in graph.ops if op.kind == "softmax")
    rec = result.layers[sm.name]
    a = np.asarray(mask.addend)  # [1, windows, 1, N, N], on the logits viewed [B, windows, heads, N, N]
    full = np.broadcast_to(a, (len(x_int), a.shape[1], 2, *a.shape[3:])).reshape(rec.output.shape)
    masked = full == full.min()  # -100, clipped where exp is 0 anyway
    assert full.min() < -100
    assert masked.any() and (rec.output[masked] == 0).all()


class MHA(nn.Module):
    def __init__(self, batch_first):
        super().__init__()
        self.batch_first = batch_first
        self.embed = nn.Linear(4, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        self.head = nn.Linear(8, 3)

    def forward(self, x):  # x: [B, L, 4]
        t = self.embed(x)
        if not self.batch_first:
            t = t.transpose(0, 1)
        y, _ = self.attn(t, t, t, need_weights=False)
        if not self.batch_first:
            y = y.transpose(0, 1)
        return self.head(y[:, 0])


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention(batch_first):
    graph, _, _, _ = _check(MHA(batch_first), (5, 4), kinds=("matmul", "softmax", "linear"), min_agree=MIN_AGREE)
    assert {"attn.qk", "attn.softmax", "attn.av", "attn.out_proj"} <= set(graph.layer_names)


def test_new_ops_round_trip_through_a_saved_graph(tmp_path):
    """Every new op kind saves and loads (t2c.graph_io) and runs to the same integers."""
    graphs = [_convert(m, s)[1:] for m, s in ((SqueezeExcite(), (3, 12, 12)), (DenseLike(), (3, 10, 10)),
                                              (Pools(), (3, 14, 14)), (WindowAttention(), (3, 16, 16)))]
    kinds = set()
    for i, (graph, x) in enumerate(graphs):
        x_int = graph.quantize_input(x[:2].numpy())
        out = save_graph(graph, x_int, tmp_path / f"g{i}.t2c")
        loaded, x_back = load_graph(out)
        assert np.array_equal(x_back, x_int)
        assert [type(op) for op in loaded.ops] == [type(op) for op in graph.ops]
        want, got = graph.run(x_int, record=True), loaded.run(x_int, record=True)
        for name, rec in want.layers.items():
            assert np.array_equal(got.layers[name].output, rec.output), name
        kinds |= {op.kind for op in loaded.ops}
    assert {"mul", "affine", "avgpool_window", "add_const", "lut", "move"} <= kinds


@pytest.mark.parametrize("kind", ["mul", "affine", "avgpool_window", "add_const"])
def test_a_tampered_new_layer_fails_the_independent_check(kind):
    model, shape = {"mul": (SqueezeExcite(), (3, 12, 12)), "affine": (DenseLike(), (3, 10, 10)),
                    "avgpool_window": (Pools(), (3, 14, 14)), "add_const": (WindowAttention(), (3, 16, 16))}[kind]
    _, graph, x = _convert(model, shape)
    rec = graph.run(graph.quantize_input(x[:1].numpy()), record=True)
    op = next(op for op in graph.ops if op.kind == kind)
    layer = rec.layers[op.name]
    check_layer(op, layer)  # untouched: passes
    out = layer.output.copy()
    out.flat[out.size // 2] += 1
    layer.output = out
    with pytest.raises(AssertionError, match=op.name.replace(".", r"\.")):
        check_layer(op, layer)


def test_affine_arithmetic_fits_int64_and_saturates_exactly():
    """quantize_affine: negative and zero scales, a huge offset clipped where every output
    saturates anyway (the clip cannot change an output)."""
    real = np.array([0.7, -0.3, 0.0, 1e-15, 3.0])
    off = np.array([2.5, -1e12, 1e12, 0.25, -4.0])
    m, a, s = arith.quantize_affine(real, off, dx=255, zero_point=-3, qmin=-128, qmax=127)
    x = np.arange(-128, 128)[:, None]
    y = arith.affine(x, 5, m, a, s, -3, -128, 127)
    exact = np.clip(np.floor(real * (x - 5) + off + 0.5) - 3, -128, 127)
    assert (np.abs(y - exact) <= 1).all()  # one rounding of a multiplier-accurate real
    assert (y[:, 1] == -128).all() and (y[:, 2] == 127).all()
    assert np.abs(a).max() < 2 ** 51 and np.abs(m).max() < 2 ** 31


def test_window_tables_match_pytorch_divisors():
    """pool_windows / adaptive_windows are PyTorch's windows: their sizes are the divisors."""
    x = torch.ones(1, 1, 13, 11, dtype=torch.float64)
    got = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True, divisor_override=1)
    div = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    (rs, re_), (cs, ce) = arith.pool_windows(13, 3, 2, 1, True), arith.pool_windows(11, 3, 2, 1, True)
    assert got.shape[2:] == (len(rs), len(cs))
    np.testing.assert_array_equal(np.outer(re_ - rs, ce - cs), np.round(got[0, 0].numpy() / div[0, 0].numpy()))
    for n, o in ((7, 3), (2, 7), (5, 5), (10, 4)):
        s, e = arith.adaptive_windows(n, o)
        ref = F.adaptive_avg_pool1d(torch.arange(n, dtype=torch.float64)[None, None] ** 2, o)[0, 0]
        want = [sum(i * i for i in range(a, b)) / (b - a) for a, b in zip(s, e)]
        np.testing.assert_allclose(ref.numpy(), want)
