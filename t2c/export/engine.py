"""Memory images of the layer engine (``rtl/layer_engine.v``): its layout, defined once.

The engine computes one conv, linear or matmul layer on a ``ROWS x COLS`` MAC array (ROWS
output pixels x COLS output channels per tile) from on-chip memories that it loads
with ``$readmemh``.  This module is the only place that says what those memories hold;
``write_images`` writes them from a layer's integers (golden vectors, or any user
tensors) with :func:`t2c.export.write_memory`, and ``read_images`` / ``decode_output``
read them (and the engine's output memory) back into the same integers.

Memories (one ``<name>.hex`` each, one word per line, lanes LSB first: lane ``c`` of a
word is bits ``[c*E +: E]``; every image except ``output`` ends with one guard row,
every lane ``GUARD_PATTERN`` cut to the element width, so a testbench can prove the
whole file was loaded):

================  =====================  ===============================================
image             word (lanes x bits)    row ``i`` holds
================  =====================  ===============================================
``desc``          1 x 32, signed         descriptor word ``i`` (``DESC_FIELDS``)
``tiles``         4 x 32, signed         column tile ``i``: ``TILE_FIELDS``
``input``         COLS x ABITS           feature map: channels ``t*COLS ..`` of pixel ``p``
                                         at row ``t*H*W + p`` (``fmap_rows``)
``weight``        COLS x WBITS           column tile ``T``, K-step ``k``: ``w[T*COLS+c, k]``
                                         (``weight_rows``; ``k = (cin, kh, kw)``)
``bias``          COLS x ACCW, signed    column tile ``T``: bias of its COLS channels
``m``             COLS x MULT_BITS       requantization multipliers (per channel)
``s``             COLS x 8, unsigned     requantization shifts (the engine uses 6 bits)
``residual``      COLS x ABITS           residual feature map, laid out like ``output``
``residual_m``    COLS x MULT_BITS       residual multipliers (per channel)
``output``        COLS x OBITS           output feature map: row ``T*NPIX + p``
================  =====================  ===============================================

The feature-map layout is ``t2c.export.tile(x.reshape(C, H*W), COLS)``: the output
image of one layer is the input image of the next (same layout).  The weight layout
is ``tile(w, COLS)`` for ungrouped layers (the same rows ``t2c export`` writes); for
grouped and depthwise convs each column tile's K-steps run over the input channels of
the groups its channels belong to, with ``w_zp`` (0 for convs) as the other groups' weights.
A linear layer is a 1x1 conv: its leading dimensions (batch, tokens) are the pixels.

A matmul of two activations, ``(a - a_zp) @ (b - b_zp)`` over ``[..., M, K] x [..., K, N]``
(Q·Kᵀ, attention·V), is a grouped 1x1 conv with one group per leading index (batch x
heads): ``a`` is the input feature map (``G*K`` channels x ``M`` pixels), ``b`` fills the
weight memory (``w[g*N + n, k] = b[g, k, n]``, its codes as they are, signed or unsigned)
and the engine subtracts ``b_zp`` (descriptor ``w_zp``) from every weight lane.  Weights
between groups are stored as ``w_zp`` so that they contribute 0.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..fileio import OutputKind, check_output_target, output_dir
from .formats import read_memory, sidecar_files, write_memory, write_sidecar
from .layout import GUARD_PATTERN, Layout, as_limbs, from_banks, guard_row, guard_word, tile, untile  # noqa: F401

MAGIC = 0x74326502  # "t2" "e" version 2 (2: weight zero point and signedness): descriptor word 0
SHIFT_FIELD_BITS = 8  # the s image stores each shift in a byte; the engine uses 6 bits
SHIFT_BITS = 6
COORD_BITS = 24  # signed positions/addresses inside the engine (docs/engine.md)

# Descriptor words, in order (index = position).  All are 32-bit two's complement.
# The derived ones (in_hw, npix, dil_h_in_w, stride_h_in_w, base0) save the engine
# every multiplier outside the MAC array; the engine does not re-check them.
DESC_FIELDS = (
    "magic",          # MAGIC: proves the image was loaded (the engine refuses to start otherwise)
    "flags",          # bit 0 x signed, bit 1 residual add, bit 2 residual signed, bit 3 w signed
    "in_h", "in_w",
    "in_hw",          # in_h * in_w: input words per channel tile
    "out_w",
    "npix",           # out_h * out_w: output words per channel tile
    "pix_end",        # compute output pixels [0, pix_end) (npix for the whole layer)
    "kh", "kw",
    "stride_h", "stride_w",
    "pad_h", "pad_w",
    "dil_h", "dil_w",
    "dil_h_in_w",     # dil_h * in_w
    "stride_h_in_w",  # stride_h * in_w
    "base0",          # -pad_h * in_w - pad_w: input offset of output pixel 0's window origin
    "n_ctiles",       # column tiles (rows of the tiles image)
    "x_zp",           # input zero point (the padding value)
    "y_zp", "qmin", "qmax",
    "r_zp",           # residual zero point
    "w_zp",           # weight zero point (0 for conv/linear; b's zero point for a matmul)
)
DESC_WORDS = 32  # the descriptor memory's data words (fields above, then zeros)
FLAG_X_SIGNED, FLAG_RESIDUAL, FLAG_R_SIGNED, FLAG_W_SIGNED = 1, 2, 4, 8
ENGINE_OPS = ("conv", "linear", "matmul")  # golden ops the engine runs

# One row of the tiles image per column tile.
TILE_FIELDS = (
    "cin_word",   # (cin0 // COLS) * in_hw: input word offset of the tile's first input channel
    "cin_lane",   # cin0 % COLS: its lane
    "n_cin",      # input channels the tile's K-steps run over (K = n_cin * kh * kw)
    "n_cols",     # output channels in the tile (COLS but in the last one); others write 0
)
TILE_BITS = 32

IMAGE_NAMES = ("desc", "tiles", "input", "weight", "bias", "m", "s", "residual", "residual_m")
# image -> the file parameter of rtl/layer_engine.v that loads it
FILE_PARAMETERS = {"desc": "DESC_FILE", "tiles": "TILES_FILE", "input": "ACT_FILE", "weight": "W_FILE",
                   "bias": "BIAS_FILE", "m": "M_FILE", "s": "S_FILE", "residual": "RES_FILE",
                   "residual_m": "RM_FILE"}
OUTPUT_NAME = "output"


@dataclass(frozen=True)
class Geometry:
    """The engine's synthesis parameters the images depend on (HDL parameter names in caps)."""

    rows: int = 8        # ROWS: output pixels per tile
    cols: int = 8        # COLS: output channels per tile (and lanes per memory word)
    abits: int = 8       # ABITS: activation / residual code width in memory
    wbits: int = 8       # WBITS: weight code width in memory (the array sees WBITS+1 bits)
    accw: int = 32       # ACCW: accumulator and bias width
    mult_bits: int = 32  # MULT_BITS: requantization multiplier width
    obits: int = 8       # OBITS: output code width in memory

    def hdl_parameters(self) -> dict[str, int]:
        return {"ROWS": self.rows, "COLS": self.cols, "ABITS": self.abits, "WBITS": self.wbits,
                "ACCW": self.accw, "MULT_BITS": self.mult_bits, "OBITS": self.obits}


def _i64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


def _per_channel(v, n: int) -> np.ndarray:
    v = _i64(v).reshape(-1)
    return np.broadcast_to(v, (n,)).copy() if v.size == 1 else v


@dataclass
class EngineLayer:
    """One conv, linear or matmul layer in the engine's terms: shapes, attributes, integer
    parameters.

    Feature maps are ``[C, pixels]``; a conv has ``pixels = H * W`` (batch 1); a linear
    layer is a 1x1 conv on an ``M x 1`` image where ``M`` is the product of its leading
    dimensions; a matmul ``[..., M, K] x [..., K, N]`` is a 1x1 conv on an ``M x 1`` image
    with one group per leading index (``G``): ``G*K`` input and ``G*N`` output channels,
    the second operand as weights with zero point ``w_zp``.  ``in_shape`` / ``out_shape``
    are the golden input's / output's shapes (what ``read_images`` / ``decode_output``
    return).
    """

    name: str
    kind: str  # "conv", "linear" or "matmul"
    in_c: int
    in_h: int
    in_w: int
    out_c: int
    out_h: int
    out_w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    x_zp: int
    x_bits: int
    x_signed: bool
    y_zp: int
    qmin: int
    qmax: int
    out_bits: int
    out_signed: bool
    weight: np.ndarray  # [out_c, in_c // groups, kh, kw]
    bias: np.ndarray    # [out_c]
    m: np.ndarray       # [out_c]
    s: np.ndarray       # [out_c]
    residual_m: np.ndarray | None = None  # [out_c] when the layer adds a residual
    r_zp: int = 0
    r_bits: int = 8
    r_signed: bool = False
    out_shape: tuple[int, ...] = ()
    in_shape: tuple[int, ...] = ()
    w_zp: int = 0            # weight zero point: the engine computes (x - x_zp) * (w - w_zp)
    w_signed: bool = True    # weight codes signed (conv, linear) or unsigned (a matmul's b)
    pix_end: int | None = None  # None: every output pixel
    meta: dict = field(default_factory=dict)

    # ---- derived -------------------------------------------------------------------
    @property
    def residual(self) -> bool:
        return self.residual_m is not None

    @property
    def npix(self) -> int:
        return self.out_h * self.out_w

    @property
    def k(self) -> int:
        """Reduction length of one output: (in_c / groups) * kh * kw."""
        return (self.in_c // self.groups) * self.kernel[0] * self.kernel[1]

    @property
    def macs(self) -> int:
        """Useful multiply-accumulates of the computed pixels."""
        return self.out_c * self.pixels_computed * self.k

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The golden input's shape (``in_shape``, else the conv / linear default)."""
        if self.in_shape:
            return self.in_shape
        return (1, self.in_c, self.in_h, self.in_w) if self.kind == "conv" else (-1, self.in_c)

    @property
    def pixels_computed(self) -> int:
        return self.npix if self.pix_end is None else min(self.pix_end, self.npix)

    # ---- construction --------------------------------------------------------------
    @classmethod
    def from_golden(cls, golden, name: str, shapes: Mapping[str, tuple] | None = None) -> "EngineLayer":
        """The layer ``name`` of a golden directory (``t2c.golden.read_golden``).

        ``shapes`` ({"input", "residual", "output"} -> shape) replace the golden tensors'
        shapes: the layer fed other data, e.g. a batch of another size.  A conv describes
        one image (``stack_batch`` runs a batch); a matmul fed another second operand gets
        it with ``with_weight``.
        """
        entry = golden.layer(name)
        kind = entry["op"]
        if kind not in ENGINE_OPS:
            raise ValueError(f"layer {name!r} is {kind!r}; the layer engine runs conv, linear and "
                             f"matmul layers: {', '.join(engine_layer_names(golden))}")
        a = entry["attrs"]
        t = {k: {**v, "shape": list((shapes or {}).get(k, v["shape"]))} for k, v in entry["tensors"].items()}
        x, y = t["input"], t["output"]
        if kind == "matmul":
            return cls._from_golden_matmul(golden, name, a, t)
        w = golden.tensor(name, "weight")
        if kind == "conv":
            _, cin, h, wd = x["shape"]
            _, cout, oh, ow = y["shape"]
            geo = dict(kernel=tuple(a["kernel"]), stride=tuple(a["stride"]),
                       padding=tuple(a["padding"]), dilation=tuple(a["dilation"]), groups=a["groups"])
        else:
            cin, cout = x["shape"][-1], y["shape"][-1]
            h = oh = int(math.prod(x["shape"][:-1]))
            wd = ow = 1
            w = w.reshape(cout, cin, 1, 1)
            geo = dict(kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1)
        layer = cls(name=name, kind=kind, in_c=cin, in_h=h, in_w=wd, out_c=cout, out_h=oh, out_w=ow,
                    **geo, x_zp=a["x_zero_point"], x_bits=x["bits"], x_signed=x["signed"],
                    y_zp=a["out_zero_point"], qmin=a["qmin"], qmax=a["qmax"],
                    out_bits=y["bits"], out_signed=y["signed"], weight=w,
                    bias=_per_channel(golden.tensor(name, "bias"), cout),
                    m=_per_channel(golden.tensor(name, "m"), cout),
                    s=_per_channel(golden.tensor(name, "s"), cout),
                    out_shape=tuple(y["shape"]), in_shape=tuple(x["shape"]),
                    meta={"model": golden.manifest.get("model")})
        if kind == "conv":
            layer.in_shape, layer.out_shape = (1, *layer.in_shape[1:]), (1, *layer.out_shape[1:])
        if "residual_m" in t:
            r = t["residual"]
            layer.residual_m = _per_channel(golden.tensor(name, "residual_m"), cout)
            layer.r_zp, layer.r_bits, layer.r_signed = a["residual_zero_point"], r["bits"], r["signed"]
        return layer

    @classmethod
    def _from_golden_matmul(cls, golden, name: str, a: dict, t: dict) -> "EngineLayer":
        """``(a - a_zp) @ (b - b_zp)``: a grouped 1x1 conv, ``b`` (golden ``residual``) as weights."""
        x, bt, y = t["input"], t["residual"], t["output"]
        *lead, rows, k = x["shape"]
        n = bt["shape"][-1]
        g = int(math.prod(lead))
        b = golden.tensor(name, "residual")
        if b.size != g * k * n:  # another batch: the caller gives b (with_weight)
            b = np.zeros((g, k, n), dtype=np.int64)
        weight = _i64(b).reshape(g, k, n).transpose(0, 2, 1).reshape(g * n, k, 1, 1)
        return cls(name=name, kind="matmul", in_c=g * k, in_h=rows, in_w=1, out_c=g * n,
                   out_h=rows, out_w=1, kernel=(1, 1), stride=(1, 1), padding=(0, 0),
                   dilation=(1, 1), groups=g, x_zp=a["a_zero_point"], x_bits=x["bits"],
                   x_signed=x["signed"], y_zp=a["out_zero_point"], qmin=a["qmin"], qmax=a["qmax"],
                   out_bits=y["bits"], out_signed=y["signed"], weight=weight,
                   bias=np.zeros(g * n, dtype=np.int64),
                   m=_per_channel(golden.tensor(name, "m"), g * n),
                   s=_per_channel(golden.tensor(name, "s"), g * n),
                   out_shape=tuple(y["shape"]), in_shape=tuple(x["shape"]),
                   w_zp=a["b_zero_point"], w_signed=bt["signed"],
                   meta={"model": golden.manifest.get("model")})

    # ---- feature maps --------------------------------------------------------------
    def to_fmap(self, t, channels: int) -> np.ndarray:
        """A golden tensor (input, residual or output) as a ``[C, pixels]`` feature map."""
        t = _i64(t)
        if self.kind == "conv":
            return t.reshape(channels, -1)
        if self.kind == "matmul":  # [G, M, C/G] -> channel g*C/G + c, pixel m
            g = self.groups
            return t.reshape(g, -1, channels // g).transpose(0, 2, 1).reshape(channels, -1)
        return t.reshape(-1, channels).T

    def from_fmap(self, f: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A ``[C, pixels]`` feature map back in a golden shape (default: the output's)."""
        shape = self.out_shape if shape is None else shape
        if self.kind == "conv":
            return f.reshape(shape)
        if self.kind == "matmul":
            g, c = self.groups, f.shape[0]
            return f.reshape(g, c // g, -1).transpose(0, 2, 1).reshape(shape)
        return f.T.reshape(shape)

    def check(self, geo: Geometry) -> None:
        """Raise ValueError if the layer does not fit an engine built with ``geo``."""
        problems = []
        if self.x_bits > geo.abits:
            problems.append(f"input codes have {self.x_bits} bits > ABITS={geo.abits}")
        if self.residual and self.r_bits > geo.abits:
            problems.append(f"residual codes have {self.r_bits} bits > ABITS={geo.abits}")
        if self.out_bits > geo.obits:
            problems.append(f"output codes have {self.out_bits} bits > OBITS={geo.obits}")
        wlo, whi = (-(1 << (geo.wbits - 1)), (1 << (geo.wbits - 1)) - 1) if self.w_signed \
            else (0, (1 << geo.wbits) - 1)
        w = _i64(self.weight)
        if w.size and (int(w.min()) < wlo or int(w.max()) > whi) or not wlo <= self.w_zp <= whi:
            kind = "signed" if self.w_signed else "unsigned"
            problems.append(f"weights or their zero point outside the {kind} WBITS={geo.wbits}-bit "
                            f"range [{wlo}, {whi}]")
        if int(self.s.max(initial=1)) >= 1 << SHIFT_BITS or int(self.s.min(initial=1)) < 1:
            problems.append(f"shifts outside 1..{(1 << SHIFT_BITS) - 1}")
        ms = [self.m] + ([self.residual_m] if self.residual else [])
        if any(int(v.max(initial=0)) >= 1 << (geo.mult_bits - 1) or int(v.min(initial=0)) < 0 for v in ms):
            problems.append(f"multipliers outside [0, 2^{geo.mult_bits - 1})")
        if self.in_c % self.groups or self.out_c % self.groups:
            problems.append(f"channels {self.in_c}->{self.out_c} not divisible by groups={self.groups}")
        lim = 1 << (COORD_BITS - 1)
        if n_ctiles(self, geo) * self.npix >= lim or -(-self.in_c // geo.cols) * self.in_h * self.in_w >= lim:
            problems.append(f"feature maps exceed the engine's {COORD_BITS}-bit addresses")
        if problems:
            raise ValueError(f"layer {self.name!r} does not fit the engine: " + "; ".join(problems))


def engine_layer_names(golden) -> list[str]:
    """Names of the layers of a golden directory that the engine runs (conv, linear, matmul)."""
    return [e["name"] for e in golden.manifest["layers"] if e["op"] in ENGINE_OPS]


# =====================================================================================
# layouts
# =====================================================================================

def layouts(geo: Geometry, layer: EngineLayer | None = None) -> dict[str, Layout]:
    """The Layout of every image (signedness of feature maps from ``layer``)."""
    xs = bool(layer.x_signed) if layer else True
    rs = bool(layer.r_signed) if layer else True
    ys = bool(layer.out_signed) if layer else True
    ws = bool(layer.w_signed) if layer else True
    c = geo.cols

    def lanes(bits, signed, n=c):
        return Layout(word_bits=n * bits, elem_bits=bits, signed=signed)

    return {
        "desc": lanes(32, True, 1),
        "tiles": lanes(TILE_BITS, True, len(TILE_FIELDS)),
        "input": lanes(geo.abits, xs),
        "weight": lanes(geo.wbits, ws),
        "bias": lanes(geo.accw, True),
        "m": lanes(geo.mult_bits, True),
        "s": lanes(SHIFT_FIELD_BITS, False),
        "residual": lanes(geo.abits, rs),
        "residual_m": lanes(geo.mult_bits, True),
        OUTPUT_NAME: lanes(geo.obits, ys),
    }


def n_ctiles(layer: EngineLayer, geo: Geometry) -> int:
    return -(-layer.out_c // geo.cols)


def tile_plan(layer: EngineLayer, geo: Geometry) -> np.ndarray:
    """``[n_ctiles, 5]``: per column tile (ch0, n_cols, cin0, n_cin, k) with k = n_cin*kh*kw."""
    cpo, cpi = layer.out_c // layer.groups, layer.in_c // layer.groups
    kk = layer.kernel[0] * layer.kernel[1]
    rows = []
    for t in range(n_ctiles(layer, geo)):
        ch0 = t * geo.cols
        ch1 = min(layer.out_c, ch0 + geo.cols)
        g0, g1 = ch0 // cpo, (ch1 - 1) // cpo
        n_cin = (g1 - g0 + 1) * cpi
        rows.append((ch0, ch1 - ch0, g0 * cpi, n_cin, n_cin * kk))
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def tile_table(layer: EngineLayer, geo: Geometry) -> np.ndarray:
    """Rows of the ``tiles`` image (``TILE_FIELDS``)."""
    p = tile_plan(layer, geo)
    hw = layer.in_h * layer.in_w
    return np.stack([(p[:, 2] // geo.cols) * hw, p[:, 2] % geo.cols, p[:, 3], p[:, 1]], axis=1)


def dense_weight(layer: EngineLayer) -> np.ndarray:
    """``[out_c, in_c, kh, kw]``: grouped weights spread block-diagonally, the weight zero
    point across groups (so that ``w - w_zp`` is 0 there)."""
    w = _i64(layer.weight)
    if layer.groups == 1:
        return w
    cpo, cpi = layer.out_c // layer.groups, layer.in_c // layer.groups
    d = np.full((layer.out_c, layer.in_c) + w.shape[2:], layer.w_zp, dtype=np.int64)
    for g in range(layer.groups):
        d[g * cpo:(g + 1) * cpo, g * cpi:(g + 1) * cpi] = w[g * cpo:(g + 1) * cpo]
    return d


def weight_rows(layer: EngineLayer, geo: Geometry) -> np.ndarray:
    """The weight image's data rows: each column tile's K-steps, tile after tile.

    ``tile(dense_weight, COLS)`` holds, per column tile, one row per (cin, kh, kw) over
    *all* input channels; a tile keeps the rows of the input channels its groups use
    (all of them when ``groups == 1``, so this is exactly ``tile(w, COLS)``).
    """
    d = dense_weight(layer)
    full = tile(d, geo.cols)
    kk = layer.kernel[0] * layer.kernel[1]
    k_all = layer.in_c * kk
    parts = [full[t * k_all + cin0 * kk: t * k_all + (cin0 + n_cin) * kk]
             for t, (_, _, cin0, n_cin, _) in enumerate(tile_plan(layer, geo))]
    return np.concatenate(parts, axis=0)


def weight_from_rows(rows: np.ndarray, layer: EngineLayer, geo: Geometry) -> np.ndarray:
    """Inverse of ``weight_rows``: ``[out_c, in_c // groups, kh, kw]``."""
    kh, kw = layer.kernel
    kk = kh * kw
    cpo, cpi = layer.out_c // layer.groups, layer.in_c // layer.groups
    out = np.zeros((layer.out_c, cpi, kh, kw), dtype=np.int64)
    r0 = 0
    for ch0, ncols, cin0, n_cin, k in tile_plan(layer, geo):
        block = rows[r0:r0 + k].reshape(n_cin, kh, kw, geo.cols)
        for c in range(ncols):
            ch = ch0 + c
            lo = (ch // cpo) * cpi - cin0
            out[ch] = block[lo:lo + cpi, :, :, c]
        r0 += k
    return out


def fmap_rows(fmap: np.ndarray, geo: Geometry) -> np.ndarray:
    """A ``[C, pixels]`` feature map as memory rows: ``tile(fmap, COLS)``."""
    return tile(_i64(fmap), geo.cols)


def fmap_from_rows(rows: np.ndarray, channels: int, pixels: int, geo: Geometry) -> np.ndarray:
    return untile(rows, (channels, pixels), geo.cols)


def channel_rows(v: np.ndarray, geo: Geometry) -> np.ndarray:
    """Per-channel values as one row per column tile: ``tile(v, COLS)``."""
    return tile(_i64(v).reshape(-1), geo.cols)


# =====================================================================================
# descriptor
# =====================================================================================

def descriptor(layer: EngineLayer, geo: Geometry) -> dict[str, int]:
    """The descriptor fields of ``layer`` (``DESC_FIELDS`` order)."""
    kh, kw = layer.kernel
    (sh, sw), (ph, pw), (dh, dw) = layer.stride, layer.padding, layer.dilation
    flags = ((FLAG_X_SIGNED if layer.x_signed else 0) | (FLAG_RESIDUAL if layer.residual else 0)
             | (FLAG_R_SIGNED if layer.residual and layer.r_signed else 0)
             | (FLAG_W_SIGNED if layer.w_signed else 0))
    pix_end = layer.npix if layer.pix_end is None else min(layer.pix_end, layer.npix)
    d = dict(magic=MAGIC, flags=flags, in_h=layer.in_h, in_w=layer.in_w, in_hw=layer.in_h * layer.in_w,
             out_w=layer.out_w, npix=layer.npix, pix_end=pix_end, kh=kh, kw=kw,
             stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dil_h=dh, dil_w=dw,
             dil_h_in_w=dh * layer.in_w, stride_h_in_w=sh * layer.in_w,
             base0=-ph * layer.in_w - pw, n_ctiles=n_ctiles(layer, geo), x_zp=layer.x_zp,
             y_zp=layer.y_zp, qmin=layer.qmin, qmax=layer.qmax, r_zp=layer.r_zp, w_zp=layer.w_zp)
    assert tuple(d) == DESC_FIELDS
    return d


def encode_descriptor(fields: Mapping[str, int]) -> np.ndarray:
    """``DESC_WORDS`` int64 words (unused words 0); every field must fit 32-bit signed."""
    unknown = set(fields) - set(DESC_FIELDS)
    if unknown:
        raise ValueError(f"unknown descriptor fields {sorted(unknown)}; fields: {', '.join(DESC_FIELDS)}")
    words = np.zeros(DESC_WORDS, dtype=np.int64)
    for i, name in enumerate(DESC_FIELDS):
        v = int(fields.get(name, 0))
        if name == "magic" and v >= 1 << 31:
            v -= 1 << 32
        if not -(1 << 31) <= v < 1 << 31:
            raise ValueError(f"descriptor field {name}={v} does not fit 32-bit signed")
        words[i] = v
    return words


def decode_descriptor(words) -> dict[str, int]:
    """Inverse of ``encode_descriptor`` (words as signed or unsigned 32-bit integers)."""
    w = [int(x) for x in np.asarray(words).reshape(-1)]
    if len(w) < len(DESC_FIELDS):
        raise ValueError(f"descriptor has {len(w)} words, needs {len(DESC_FIELDS)}")
    out = {}
    for i, name in enumerate(DESC_FIELDS):
        v = w[i] & 0xFFFFFFFF
        out[name] = v if name == "magic" or v < 1 << 31 else v - (1 << 32)
    if out["magic"] != MAGIC:
        raise ValueError(f"descriptor magic {out['magic']:#x} is not {MAGIC:#x}")
    return out


# =====================================================================================
# images
# =====================================================================================

@dataclass
class Images:
    """What ``write_images`` wrote: paths, memory depths, guards and HDL parameters."""

    directory: Path
    geometry: Geometry
    layer: EngineLayer
    paths: dict[str, Path]       # image name -> file (missing names: not used by the layer)
    words: dict[str, int]        # image name -> data words (the guard row follows)
    guards: dict[str, int]       # image name -> guard word (unsigned)
    records: list[dict]

    def hdl_parameters(self) -> dict[str, int]:
        """Geometry and memory sizes of ``rtl/layer_engine.v`` for these images."""
        return hdl_parameters(self.layer, self.geometry)

    def hdl_files(self) -> dict[str, Path]:
        """File parameters of ``rtl/layer_engine.v`` (the residual ones only with a residual)."""
        return {FILE_PARAMETERS[k]: p for k, p in self.paths.items() if k in FILE_PARAMETERS}


def memory_words(layer: EngineLayer, geo: Geometry = Geometry()) -> dict[str, int]:
    """Data words of every memory (the guard row not counted) for ``layer`` on ``geo``."""
    nct = n_ctiles(layer, geo)
    words = {"desc": DESC_WORDS, "tiles": nct,
             "input": -(-layer.in_c // geo.cols) * layer.in_h * layer.in_w,
             "weight": int(tile_plan(layer, geo)[:, 4].sum()),
             "bias": nct, "m": nct, "s": nct, OUTPUT_NAME: nct * layer.npix}
    if layer.residual:
        words.update(residual=nct * layer.npix, residual_m=nct)
    return words


def hdl_parameters(layer: EngineLayer, geo: Geometry = Geometry()) -> dict[str, int]:
    """Geometry and memory sizes: the non-file parameters of ``rtl/layer_engine.v``."""
    w = memory_words(layer, geo)
    return {**geo.hdl_parameters(), "ACT_WORDS": w["input"], "W_WORDS": w["weight"],
            "CT_WORDS": w["tiles"], "RES_WORDS": w.get("residual", 1), "OUT_WORDS": w[OUTPUT_NAME]}


def image_arrays(layer: EngineLayer, x, residual=None, geo: Geometry = Geometry()) -> dict[str, np.ndarray]:
    """Data rows of every image the layer needs (without guard rows); ``x``/``residual``
    are the golden tensors (any shape ``EngineLayer.to_fmap`` accepts)."""
    layer.check(geo)
    arrays = {
        "desc": encode_descriptor(descriptor(layer, geo)).reshape(-1, 1),
        "tiles": tile_table(layer, geo),
        "input": fmap_rows(layer.to_fmap(x, layer.in_c), geo),
        "weight": weight_rows(layer, geo),
        "bias": channel_rows(layer.bias, geo),
        "m": channel_rows(layer.m, geo),
        "s": channel_rows(layer.s, geo),
    }
    if layer.residual:
        if residual is None:
            raise ValueError(f"layer {layer.name!r} adds a residual: give its tensor")
        arrays["residual"] = fmap_rows(layer.to_fmap(residual, layer.out_c), geo)
        arrays["residual_m"] = channel_rows(layer.residual_m, geo)
    return arrays


def output_rows(layer: EngineLayer, y, geo: Geometry = Geometry()) -> np.ndarray:
    """The output memory's rows for output tensor ``y`` (padding lanes 0, as the engine writes)."""
    return fmap_rows(layer.to_fmap(y, layer.out_c), geo)


def write_images(layer: EngineLayer, x, residual=None, out_dir: str | Path = ".",
                 geo: Geometry = Geometry(), expected=None, fmt: str = "hex") -> Images:
    """Write every image the engine loads for ``layer`` (plus ``output.hex``, the expected
    output memory, when ``expected`` is given) and the ``memories.json`` sidecar."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lays = layouts(geo, layer)
    arrays = image_arrays(layer, x, residual, geo)
    paths, words, guards, records = {}, {}, {}, []
    for name, rows in arrays.items():
        lay = lays[name]
        data = np.concatenate([rows, guard_row(lay)], axis=0)
        path = out_dir / f"{name}.{fmt}"
        records.append(write_memory(path, data, lay, fmt, name=name,
                                    meta={"layer": layer.name, "tensor": name, "guard_rows": 1}))
        paths[name], words[name], guards[name] = path, rows.shape[0], guard_word(lay)
    words[OUTPUT_NAME] = n_ctiles(layer, geo) * layer.npix
    assert words == memory_words(layer, geo), (words, memory_words(layer, geo))
    if expected is not None:
        rows = output_rows(layer, expected, geo)
        path = out_dir / f"{OUTPUT_NAME}.{fmt}"
        records.append(write_memory(path, rows, lays[OUTPUT_NAME], fmt, name=OUTPUT_NAME,
                                    meta={"layer": layer.name, "tensor": OUTPUT_NAME, "guard_rows": 0}))
        paths[OUTPUT_NAME] = path
    write_sidecar(out_dir, records)
    return Images(out_dir, geo, layer, paths, words, guards, records)


def read_images(images: Images) -> dict[str, Any]:
    """Read every image back (through the sidecar) into the layer's integers.

    Returns ``desc`` (decoded dict), ``tiles`` rows, ``input`` / ``residual`` /
    ``output`` tensors in their golden shapes, ``weight`` ``[out_c, in_c/g, kh, kw]``,
    ``bias``, ``m``, ``s``, ``residual_m`` per output channel.
    """
    layer, geo = images.layer, images.geometry
    out: dict[str, Any] = {}
    for name, path in images.paths.items():
        rows = read_memory(path)
        n = images.words[name]
        if name != OUTPUT_NAME:
            if not np.array_equal(rows[n:], guard_row(layouts(geo, layer)[name])):
                raise ValueError(f"{path.name}: guard row missing or wrong")
            rows = rows[:n]
        if name == "desc":
            out[name] = decode_descriptor(rows)
        elif name == "tiles":
            out[name] = rows
        elif name == "weight":
            out[name] = weight_from_rows(rows, layer, geo)
        elif name in ("input", "residual", OUTPUT_NAME):
            c = layer.in_c if name == "input" else layer.out_c
            pixels = layer.in_h * layer.in_w if name == "input" else layer.npix
            f = fmap_from_rows(rows, c, pixels, geo)
            out[name] = layer.from_fmap(f, layer.input_shape if name == "input" else None)
        else:
            out[name] = rows.reshape(-1)[:layer.out_c]
    return out


def decode_output(words, layer: EngineLayer, geo: Geometry = Geometry()) -> np.ndarray:
    """The engine's output memory as the output tensor in the golden shape: ``words`` are
    the memory's unsigned words, as Python ints or as ``[n, limbs]`` uint64 (what
    :func:`t2c.export.read_dump` returns for a ``$writememh`` dump).  Pixels beyond
    ``pix_end`` come back as 0."""
    lay = layouts(geo, layer)[OUTPUT_NAME]
    n = n_ctiles(layer, geo) * layer.npix
    if isinstance(words, np.ndarray) and words.ndim == 2 and words.dtype == np.uint64:
        limbs = as_limbs(words[:n], lay.word_bits)
    else:
        limbs = as_limbs(np.asarray(list(words)[:n], dtype=object), lay.word_bits)
    if limbs.shape[0] < n:
        raise ValueError(f"output memory holds {limbs.shape[0]} words, the layer needs {n}")
    rows = from_banks([limbs], lay, shape=(n, geo.cols))
    return layer.from_fmap(fmap_from_rows(rows, layer.out_c, layer.npix, geo))


def with_pixels(layer: EngineLayer, pix_end: int | None) -> EngineLayer:
    """A copy that computes only output pixels ``[0, pix_end)`` (e.g. a quick run of a big layer)."""
    return replace(layer, pix_end=pix_end)


def with_weight(layer: EngineLayer, b) -> EngineLayer:
    """A matmul with its second operand ``b`` ([..., K, N], e.g. another unit's output) as
    the weight memory."""
    g, n = layer.groups, layer.out_c // layer.groups
    k = layer.in_c // g
    weight = _i64(b).reshape(g, k, n).transpose(0, 2, 1).reshape(g * n, k, 1, 1)
    return replace(layer, weight=weight)


@dataclass(frozen=True)
class StackedBatch:
    """A conv over N images as one conv over the images stacked along H.

    Image i starts at input row ``i * period``; the ``gap = period - H`` rows between two
    images hold the input zero point (real 0: the padding).  With ``gap >= pad_h`` no
    window of image i reaches another image, and with ``period % stride_h == 0`` image i's
    output rows start at row ``i * period / stride_h`` of the stacked output; the output
    rows between images are computed and dropped.  One engine run, one build, for the
    whole batch."""

    layer: EngineLayer   # the stacked conv (batch 1, height N * period - gap)
    images: int
    period: int          # input rows per image, gap included
    out_rows: int        # output rows per image (of the original layer)

    @property
    def out_period(self) -> int:
        return self.period // self.layer.stride[0]

    def stack_input(self, x) -> np.ndarray:
        x = _i64(x)
        n, c, h, w = x.shape
        out = np.full((1, c, self.layer.in_h, w), self.layer.x_zp, dtype=np.int64)
        for i in range(n):
            out[0, :, i * self.period:i * self.period + h] = x[i]
        return out

    def stack_output(self, y, fill: int) -> np.ndarray:
        """A tensor in output space (the residual) placed where the stacked conv writes it."""
        y = _i64(y)
        n, c, ho, wo = y.shape
        out = np.full((1, c, self.layer.out_h, wo), fill, dtype=np.int64)
        for i in range(n):
            out[0, :, i * self.out_period:i * self.out_period + ho] = y[i]
        return out

    def unstack(self, y) -> np.ndarray:
        y = np.asarray(y)
        return np.concatenate([y[:, :, i * self.out_period:i * self.out_period + self.out_rows]
                               for i in range(self.images)], axis=0)


def stack_batch(layer: EngineLayer, images: int) -> StackedBatch:
    """The stacked conv of ``images`` images of ``layer`` (see StackedBatch)."""
    (sh, _), (ph, _), (dh, _) = layer.stride, layer.padding, layer.dilation
    gap = ph
    while (layer.in_h + gap) % sh:
        gap += 1
    period = layer.in_h + gap
    in_h = images * period - gap
    out_h = (in_h + 2 * ph - dh * (layer.kernel[0] - 1) - 1) // sh + 1
    stacked = replace(layer, in_h=in_h, out_h=out_h, in_shape=(1, layer.in_c, in_h, layer.in_w),
                      out_shape=(1, layer.out_c, out_h, layer.out_w), pix_end=None)
    return StackedBatch(stacked, images, period, layer.out_h)


# =====================================================================================
# whole export (``t2c export --engine``)
# =====================================================================================

ENGINE_JSON = "engine.json"  # per layer: HDL parameters and which image goes to which parameter
ENGINE_INDEX = "layers.json"  # top level: the exported layers and the geometry
ENGINE_INDEX_SCHEMA = "t2c.engine-export/1"


def _engine_export_files(root: Path) -> set[str] | None:
    """Files a previous ``export_engine`` wrote under ``root`` (None: not such a directory)."""
    try:
        index = json.loads((root / ENGINE_INDEX).read_text())
        if index.get("schema") != ENGINE_INDEX_SCHEMA:
            return None
        owned = {ENGINE_INDEX}
        for name in index["layers"]:
            files = sidecar_files(root / name) or set()
            owned |= {f"{name}/{f}" for f in files | {ENGINE_JSON}}
        return owned
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


ENGINE_OUTPUT = OutputKind("layer-engine images", _engine_export_files)


def layer_images(golden, layer: EngineLayer, out_dir: str | Path, geo: Geometry = Geometry(),
                 fmt: str = "hex") -> Images:
    """The engine's images of ``layer`` (``EngineLayer.from_golden(golden, name)``) with its
    golden input, residual and expected output, in ``out_dir``."""
    name = layer.name
    residual = golden.tensor(name, "residual") if layer.residual else None
    return write_images(layer, golden.tensor(name, "input"), residual, out_dir, geo,
                        expected=golden.tensor(name, "output"), fmt=fmt)


def export_engine(golden, out: str | Path, layers: list[str] | None = None,
                  geo: Geometry = Geometry(), fmt: str = "hex", progress: bool = False,
                  force: bool = False) -> list[Images]:
    """Write the engine's images of ``layers`` (default: every layer it runs) under ``out``,
    one directory per layer with its ``memories.json`` and ``engine.json`` (the
    ``layer_engine`` parameters to build with, file parameters as names relative to that
    directory), and ``layers.json`` listing them.  ``out`` must be new, empty or a
    previous ``export_engine`` output (``force``: any directory); it is replaced whole,
    and only when every layer was written."""
    names = layers or engine_layer_names(golden)
    if not names:
        raise ValueError("the model has no conv, linear or matmul layer for the engine")
    engine_layers = [EngineLayer.from_golden(golden, name) for name in names]
    for layer in engine_layers:  # unknown or unsupported layers fail here, before anything is written
        layer.check(geo)
    check_output_target(out, ENGINE_OUTPUT, force)
    written = []
    with output_dir(out, ENGINE_OUTPUT, force) as tmp:
        it = engine_layers
        if progress:
            from tqdm import tqdm

            it = tqdm(engine_layers, desc="engine images", unit="layer")
        for layer in it:
            name = layer.name
            images = layer_images(golden, layer, tmp / name, geo, fmt)
            files = {k: p.name for k, p in images.hdl_files().items()}
            (tmp / name / ENGINE_JSON).write_text(json.dumps(
                {"layer": name, "kind": images.layer.kind, "parameters": images.hdl_parameters(),
                 "files": files, "expected_output": images.paths[OUTPUT_NAME].name,
                 "macs": images.layer.macs}, indent=1) + "\n")
            written.append(images)
        (tmp / ENGINE_INDEX).write_text(json.dumps(
            {"schema": ENGINE_INDEX_SCHEMA, "model": golden.manifest.get("model"),
             "geometry": geo.hdl_parameters(), "format": fmt, "layers": names}, indent=1) + "\n")
    for images in written:  # the images now live under out, not in the temporary directory
        images.directory = Path(out) / images.directory.name
        images.paths = {k: images.directory / p.name for k, p in images.paths.items()}
    return written
