"""Exact accumulators of conv, linear and matmul layers, by three interchangeable paths.

Every path computes ``bias + sum((x - zx) * w)`` (or ``sum((a - za) * (b - zb))``) exactly,
so they give identical integers; the tests run whole models through each and require
every layer's accumulator equal.  They differ in speed and in what they need:

``int8``
    ``torch._int_mm`` (int8 x int8 -> int32, VNNI on x86) on codes shifted into int8.
    An 8-bit tensor whose codes are not already in [-128, 127] (unsigned, or a zero point
    away from 0) is shifted by a constant ``c`` and corrected exactly:
    ``sum((x - zx) w) = sum((x - c) w) + (c - zx) sum(w)``.  Padding of a convolution is
    the zero point, i.e. ``zx - c`` after the shift.  K is cut into chunks whose
    worst-case partial sums stay within int32 (``128 * sum|w| < 2**31``).  Needs weights
    in [-128, 127] and an input code range of at most 256 values (every activation of 8
    bits or fewer).
``float32``
    im2col + float32 GEMMs on K-chunks small enough that, for the actual input,
    ``sum over the chunk of |x - zx| * |w| <= 2**24`` for every output channel: every
    partial sum (in any order, with or without FMA) is then an integer float32 holds
    exactly; chunk results add in float64.  For operands wider than 8 bits.
``int64``
    int64 numpy only (no torch, no float): the reference of the references, and what
    runs where torch is not installed.

``choose`` picks a path per layer from the graph alone (weight codes and the input
tensor's code range), so the choice is fixed when the graph is converted; ``t2c.ref.run``
records it per layer.  Where a layer's input at run time leaves the declared code range
the int8 path is not used for that call (recorded as ``float32``).  Measured speeds per
shape are in docs/reference.md (``python bench/bench_reference.py --shapes``).
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PATHS = ("int8", "float32", "int64")
FLOAT32_EXACT = 1 << 24  # every integer of magnitude <= 2**24 is a float32
INT32_MAX = (1 << 31) - 1
TAP_LOOP_MAX_K = 32  # grouped convs with at most this many taps per group sum taps (depthwise)


def torch_available() -> bool:
    """True if torch imports here (the int8 and float32 paths need it; hardware CI has none)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def int8_shift(lo: int, hi: int) -> int | None:
    """The constant ``c`` with ``[lo - c, hi - c]`` inside int8 (0 when already inside), or None."""
    if hi - lo > 255:
        return None
    return 0 if lo >= -128 and hi <= 127 else lo + 128


def cut_k(abs_rows: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """Cut [0, K) into chunks where every row's ``sum |w|`` over the chunk is at most ``limit``."""
    k = abs_rows.shape[1]
    sums = np.concatenate([np.zeros((abs_rows.shape[0], 1), np.int64), np.cumsum(abs_rows, axis=1)], 1)
    out, k0 = [], 0
    while k0 < k:
        grow = (sums[:, k0 + 1:] - sums[:, k0:k0 + 1]).max(axis=0)  # non-decreasing in the chunk end
        k1 = k0 + max(1, int(np.searchsorted(grow, limit, side="right")))
        out.append((k0, k1))
        k0 = k1
    return out


def choose(weight, x_lo: int, x_hi: int, x_zero_point: int) -> str:
    """The fastest exact path for a layer with integer ``weight`` and input codes in [x_lo, x_hi]."""
    if not torch_available():
        return "int64"
    w = np.asarray(weight)
    fits = w.size == 0 or (w.min() >= -128 and w.max() <= 127)
    if fits and int8_shift(min(x_lo, x_zero_point), max(x_hi, x_zero_point)) is not None:
        return "int8"
    return "float32"


def pad_hw(x: np.ndarray, ph: int, pw: int, value) -> np.ndarray:
    """``[N, C, H, W]`` padded by ``ph`` rows and ``pw`` columns of ``value`` (np.pad, faster)."""
    n, c, h, w = x.shape
    out = np.full((n, c, h + 2 * ph, w + 2 * pw), value, x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def im2col(x: np.ndarray, kernel, stride, padding, dilation, groups: int, pad_value=0):
    """``[N, C, H, W] -> [G, C/G*kh*kw, N*Ho*Wo]`` in x's dtype (columns ordered like
    ``weight.reshape(O, -1)``), and ``(Ho, Wo)``."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    n = x.shape[0]
    xp = pad_hw(x, ph, pw, pad_value) if ph or pw else x
    win = sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # [N, C, Ho, Wo, kh, kw]
    ho, wo = win.shape[2:4]
    cols = np.require(win.transpose(1, 4, 5, 0, 2, 3), requirements=("C", "W"))  # [C, kh, kw, N, Ho, Wo]
    return cols.reshape(groups, -1, n * ho * wo), (ho, wo)


class WeightGemm:
    """``w @ cols`` for one layer's integer weight ``[O, ...]`` in ``groups`` groups, by ``path``.

    Built once per weight tensor (cached on the op by ``t2c.ref``): the weights in the
    path's dtype, the int8 shift and its correction, the K chunks.
    """

    def __init__(self, weight: np.ndarray, groups: int, path: str, x_zero_point: int,
                 x_range: tuple[int, int] | None = None):
        if path not in PATHS:
            raise ValueError(f"unknown GEMM path {path!r}; choose from {', '.join(PATHS)}")
        w = np.asarray(weight, dtype=np.int64).reshape(weight.shape[0], -1)  # [O, Kg]
        self.path, self.groups, self.zx = path, groups, int(x_zero_point)
        self.out_channels, self.kg = w.shape
        self.w = w
        self.abs_w = np.abs(w)
        self._float_chunks: dict[int, list[tuple[int, int]]] = {}
        if path == "int8":
            import torch

            lo, hi = x_range
            self.lo, self.hi = min(lo, self.zx), max(hi, self.zx)
            self.shift = int8_shift(self.lo, self.hi)
            if self.shift is None or (w.size and (w.min() < -128 or w.max() > 127)):
                raise ValueError("operands do not fit the int8 path")
            self.correction = (self.shift - self.zx) * w.sum(axis=1)  # [O], int64
            self.chunks = cut_k(self.abs_w, INT32_MAX // 128)
            w8 = w.astype(np.int8).reshape(groups, -1, self.kg)  # [G, Og, Kg]
            self.w8 = torch.from_numpy(w8)
            self.w8_t = torch.from_numpy(np.ascontiguousarray(w8[0].T)) if groups == 1 else None  # [K, O]

    @functools.cached_property
    def w32(self):
        """The weights as float32 ``[G, Og, Kg]`` (the float32 path, and int8's fallback)."""
        import torch

        return torch.from_numpy(self.w.reshape(self.groups, -1, self.kg).astype(np.float32))

    # ---- float32 ---------------------------------------------------------------------
    def float_chunks(self, dx: int) -> list[tuple[int, int]]:
        """K chunks whose ``|x| * |w|`` sums stay within float32's exact range for ``|x| <= dx``."""
        if dx not in self._float_chunks:
            k = self.kg
            self._float_chunks[dx] = [(0, k)] if dx == 0 else cut_k(self.abs_w, FLOAT32_EXACT // dx)
        return self._float_chunks[dx]

    def _float_gemm(self, cols, dx: int) -> np.ndarray:
        """``[N, G, K, L]`` float32 torch cols -> ``[N, G, Og, L]`` int64."""
        import torch

        chunks = self.float_chunks(dx)
        plain = self.groups == 1 and cols.shape[0] == 1  # one 2-D GEMM per chunk (the common case)
        w = self.w32[0] if plain else self.w32
        c = cols[0, 0] if plain else cols
        acc = None
        for k0, k1 in chunks:
            part = torch.matmul(w[..., k0:k1], c[..., k0:k1, :])
            if len(chunks) == 1:  # one exact float32 GEMM: its integers fit int64 directly
                acc = part
                break
            part = part.double()
            acc = part if acc is None else acc.add_(part)
        out = acc.numpy().astype(np.int64)
        return out.reshape(1, 1, *out.shape) if plain else out

    # ---- int8 ------------------------------------------------------------------------
    def fits(self, x: np.ndarray) -> bool:
        """True if ``x``'s codes lie in the range the int8 plan was built for."""
        return x.size == 0 or (int(x.min()) >= self.lo and int(x.max()) <= self.hi)

    def _int8_cols_gemm(self, cols: np.ndarray) -> np.ndarray:
        """``[G, Kg, L]`` int8 cols -> ``[G, Og, L]`` int32 or int64 (no correction)."""
        import torch

        g, og = self.groups, self.out_channels // self.groups
        if g > 1 and self.kg <= TAP_LOOP_MAX_K:  # depthwise-like: a multiply-add per tap
            acc = torch.zeros((g, og, cols.shape[-1]), dtype=torch.int32)
            c = torch.from_numpy(cols)
            w = self.w8.to(torch.int32)
            for k in range(self.kg):
                acc.add_(w[:, :, k, None] * c[:, None, k, :])
            return acc.numpy()
        return np.stack([self._int8_mm(self.w8[gi], torch.from_numpy(cols[gi])) for gi in range(g)])

    def _int8_mm(self, a, b) -> np.ndarray:
        """``a [M, K] @ b [K, N]`` (int8 torch tensors) over this layer's K chunks."""
        import torch

        if len(self.chunks) == 1:
            return torch._int_mm(a, b).numpy()  # int32: within range by the chunk bound
        acc = None
        for k0, k1 in self.chunks:
            part = torch._int_mm(a[:, k0:k1], b[k0:k1]).to(torch.int64)
            acc = part if acc is None else acc.add_(part)
        return acc.numpy()

    def _shifted(self, x: np.ndarray) -> np.ndarray:
        """``x - shift`` as int8 (``fits`` checked).  Computed in int8 wrapping arithmetic, one
        pass: subtraction modulo 2**8 is exact when the true result lies in [-128, 127]."""
        return np.subtract(x, np.int8((self.shift + 128) % 256 - 128), dtype=np.int8,
                           casting="unsafe")

    # ---- the layer kinds ---------------------------------------------------------------
    def _offset(self, bias, path: str) -> np.ndarray:
        """Per output channel: the bias, plus the int8 path's zero-point correction."""
        b = np.zeros(self.out_channels, np.int64) if bias is None else np.asarray(bias, np.int64)
        return b + self.correction if path == "int8" else b

    def conv(self, x, kernel, stride, padding, dilation, bias=None) -> tuple[np.ndarray, str]:
        """``bias + sum((x - zx) * w)`` of a grouped 2-D conv as int64 ``[N, O, Ho, Wo]``, and the path used."""
        x = np.asarray(x)
        n = x.shape[0]
        path = "float32" if self.path == "int8" and not self.fits(x) else self.path
        if path == "int8":
            cols, (ho, wo) = im2col(self._shifted(x), kernel, stride, padding, dilation, self.groups,
                                    self.zx - self.shift)
            acc = self._int8_cols_gemm(cols)
        elif path == "float32":
            acc, (ho, wo) = self._float_conv(x, kernel, stride, padding, dilation)
        else:
            cols, (ho, wo) = im2col(np.asarray(x, np.int64) - self.zx, kernel, stride, padding, dilation,
                                    self.groups)
            acc = np.matmul(self.w.reshape(self.groups, -1, self.kg), cols)
        acc = np.add(acc.reshape(self.out_channels, n, ho * wo), self._offset(bias, path)[:, None, None],
                     dtype=np.int64)
        return acc.reshape(self.out_channels, n, ho, wo).transpose(1, 0, 2, 3), path

    def _float_conv(self, x, kernel, stride, padding, dilation):
        import torch.nn.functional as F

        xt, dx = centered_float32(x, self.zx)
        cols = F.unfold(xt, kernel, dilation=dilation, padding=padding, stride=stride)  # [N, C*kh*kw, L]
        n = xt.shape[0]
        cols = cols.view(n, self.groups, -1, cols.shape[-1])
        acc = self._float_gemm(cols, dx).reshape(n, self.out_channels, -1).transpose(1, 0, 2)  # [O, N, L]
        h, w = xt.shape[2:]
        ho = (h + 2 * padding[0] - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
        wo = (w + 2 * padding[1] - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
        return acc, (ho, wo)

    def linear(self, x, bias=None) -> tuple[np.ndarray, str]:
        """``bias + (x - zx) @ w.T`` over the last axis as int64, and the path used."""
        x = np.asarray(x)
        lead = x.shape[:-1]
        rows = x.reshape(-1, x.shape[-1])
        path = "float32" if self.path == "int8" and not self.fits(x) else self.path
        if path == "int8":
            import torch

            acc = self._int8_mm(torch.from_numpy(self._shifted(rows)), self.w8_t)
        elif path == "float32":
            xt, dx = centered_float32(rows, self.zx)
            acc = self._float_gemm(xt.T.reshape(1, 1, xt.shape[1], -1), dx)[0, 0].T
        else:
            acc = (np.asarray(rows, np.int64) - self.zx) @ self.w.T
        return np.add(acc, self._offset(bias, path), dtype=np.int64).reshape(*lead, -1), path


def centered_float32(x, zero_point):
    """``x - zero_point`` as a float32 torch tensor (exact for |values| < 2**24) and its
    largest magnitude."""
    import torch

    xc = np.asarray(x, dtype=np.int64) - zero_point
    dx = int(np.abs(xc).max(initial=0))
    if dx >= FLOAT32_EXACT:
        raise ValueError(f"input magnitude {dx} too large for the exact float32 GEMM")
    return torch.from_numpy(xc.astype(np.float32)), dx


SMALL_MATMUL = 1 << 16  # MACs per matrix up to which one batched float call beats a _int_mm per matrix


def matmul(a, b, a_zero_point: int, b_zero_point: int, path: str) -> tuple[np.ndarray, str]:
    """``(a - za) @ (b - zb)`` of two activation tensors ``[..., M, K] @ [..., K, N]``, exact, int64.

    Both operands are first shifted by constants ``ca``, ``cb`` (into int8 where their code
    ranges allow, else by their zero points) and the product corrected exactly,
    ``(a' + da)(b' + db) = a'b' + db * rowsum(a') + da * colsum(b') + K da db``.
    ``int8``: one ``torch._int_mm`` per leading index (matrices over ``SMALL_MATMUL`` MACs;
    smaller ones, e.g. the heads of a small ViT, go to one batched float call, which is
    ~10x faster there: docs/reference.md); ``float32``: one batched torch matmul in
    float32 when ``K * max|a'| * max|b'| <= 2**24`` (every partial sum an exact float32
    integer), else float64 (exact below 2**53), else int64; ``int64``: numpy int64.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
    if path == "int64":
        return np.matmul(a - a_zero_point, b - b_zero_point), path
    (a_lo, a_hi), (b_lo, b_hi) = ((int(t.min()), int(t.max())) if t.size else (0, 0) for t in (a, b))
    ca = int8_shift(min(a_lo, a_zero_point, 0), max(a_hi, a_zero_point, 0))
    cb = int8_shift(min(b_lo, b_zero_point, 0), max(b_hi, b_zero_point, 0))
    if path == "int8" and (ca is None or cb is None or k * 128 * 128 > INT32_MAX or m * k * n <= SMALL_MATMUL):
        path = "float32"
    ca = a_zero_point if ca is None else ca
    cb = b_zero_point if cb is None else cb
    a, b = a - ca, b - cb
    bound = k * max(abs(a_lo - ca), abs(a_hi - ca), 0) * max(abs(b_lo - cb), abs(b_hi - cb), 0)  # k max|a'| max|b'|
    if path == "float32" and bound >= 1 << 53:
        return np.matmul(a + (ca - a_zero_point), b + (cb - b_zero_point)), "int64"
    import torch

    if path == "float32":
        dtype = torch.float32 if bound <= FLOAT32_EXACT else torch.float64
        acc = torch.matmul(torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)).numpy().astype(np.int64)
    else:
        lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a8 = np.broadcast_to(a.astype(np.int8), (*lead, m, k)).reshape(-1, m, k)
        b8 = np.broadcast_to(b.astype(np.int8), (*lead, k, n)).reshape(-1, k, n)
        acc = np.empty((a8.shape[0], m, n), np.int64)
        for i in range(a8.shape[0]):
            acc[i] = torch._int_mm(torch.from_numpy(np.require(a8[i], requirements=("C", "W"))),
                                   torch.from_numpy(np.require(b8[i], requirements=("C", "W")))).numpy()
        acc = acc.reshape(*lead, m, n)
    da, db = ca - a_zero_point, cb - b_zero_point
    if db:
        acc += db * a.sum(axis=-1, keepdims=True)
    if da:
        acc += da * b.sum(axis=-2, keepdims=True)
    acc += k * da * db
    return acc, path


def observed_range(x) -> tuple[int, int]:
    x = np.asarray(x)
    return int(x.min(initial=0)), int(x.max(initial=0))


def conv_accumulate(x, weight, bias, x_zero_point, stride, padding, dilation, groups,
                    path: str = "int64") -> np.ndarray:
    """``bias + sum((x - zx) * w)`` of one grouped 2-D conv, exact, int64 ``[N, Cout, Ho, Wo]``."""
    weight = np.asarray(weight)
    plan = WeightGemm(weight, groups, path, x_zero_point, observed_range(x) if path == "int8" else None)
    return plan.conv(x, weight.shape[2:], stride, padding, dilation, bias)[0]


def linear_accumulate(x, weight, bias, x_zero_point, path: str = "int64") -> np.ndarray:
    """``bias + (x - zx) @ w.T`` over the last axis, exact, int64."""
    plan = WeightGemm(np.asarray(weight), 1, path, x_zero_point, observed_range(x) if path == "int8" else None)
    return plan.linear(x, bias)[0]
