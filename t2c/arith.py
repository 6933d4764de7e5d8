"""The t2c arithmetic contract, version 2.

These functions *are* the contract: the integer reference (``t2c.ref``) calls them,
the RTL implements them, and the tests hold the three equal with ``==``.
``docs/arithmetic.md`` states the same formulas in prose for RTL designers.

Pure numpy, no torch.  Every function in the integer path works on integer arrays
only; float appears solely in the *convert-time* helpers that turn real scales into
integers (``quantize_multiplier``, the ``*_lut`` table builders), never at run time.
"""
from __future__ import annotations

import math

import numpy as np

CONTRACT_VERSION = 2  # 2: mul, per-channel affine, per-window average pooling, constant addends

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_SHIFT = 62  # acc * m < 2**62 for int32 acc and m < 2**31, so the rounding term fits int64


# Observers of the intermediate values (t2c.coverage.observing): each is called as
# observer(event, values) by the functions below while it is installed; none is by default.
_OBSERVERS: list = []


def _observe(event: str, **values) -> None:
    _OBSERVERS[-1](event, values)


def qrange(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest integer of a ``bits``-wide two's-complement or unsigned value."""
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def round_half_up(x):
    """floor(x + 1/2): the rounding of the whole contract (torch.round rounds ties to even)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5)


def quantize_multiplier(real, bits: int = 32):
    """Split a positive real scale into an integer multiplier and a right shift.

    Returns ``(m, s)`` (int64 arrays shaped like ``real``, or Python ints for a scalar)
    with ``m`` in ``[2**(bits-2), 2**(bits-1))`` and ``real ~= m * 2**-s`` to the
    nearest representable ``m`` (half up).  Where ``real`` is too small for ``s`` to stay
    within ``MAX_SHIFT`` the pair is ``(0, 1)``: the product is then exactly zero.
    ``real == 0`` also gives ``(0, 1)``.  Negative, non-finite or too-large reals raise.
    """
    if not 2 <= bits <= 32:
        raise ValueError(f"multiplier bits must be in 2..32, got {bits}")
    r = np.asarray(real, dtype=np.float64)
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(f"requantization scale must be finite and >= 0, got {real!r}")
    frac, exp = np.frexp(r)  # r = frac * 2**exp, frac in [0.5, 1)
    m = round_half_up(np.ldexp(frac, bits - 1)).astype(np.int64)
    carry = m == (1 << (bits - 1))  # frac rounded up to 1.0
    m = np.where(carry, m >> 1, m)
    exp = exp.astype(np.int64) + carry
    s = (bits - 1) - exp
    if np.any((s < 1) & (r > 0)):
        raise ValueError(
            f"requantization scale {float(np.max(r))!r} is too large for a right shift "
            f"(needs real < 2**{bits - 2})"
        )
    tiny = (r == 0) | (s > MAX_SHIFT)
    m = np.where(tiny, 0, m)
    s = np.where(tiny, 1, s)
    if m.ndim == 0:
        return int(m), int(s)
    return m, s


def quantize_multiplier_common(reals, bits: int = 32):
    """Multipliers for several reals that share one right shift (residual add).

    ``reals`` has a leading axis of inputs, e.g. ``[[r_a...], [r_b...]]`` per channel.
    The shift comes from the largest real, so that one is in the canonical range and
    the others are ``round_half_up(real * 2**s)`` (smaller, possibly 0).
    Returns ``(ms, s)`` with ``ms`` shaped like ``reals`` and ``s`` like ``reals[0]``.
    """
    r = np.asarray(reals, dtype=np.float64)
    _, s = quantize_multiplier(r.max(axis=0), bits)
    s = np.asarray(s, dtype=np.int64)
    ms = round_half_up(np.ldexp(r, s)).astype(np.int64)
    ms = np.minimum(ms, (1 << (bits - 1)) - 1)
    return ms, s


def rounding_shift(x, s):
    """``(x + 2**(s-1)) >> s`` in int64: divide by ``2**s``, ties rounded up (towards +inf)."""
    x = np.asarray(x, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    return (x + (np.int64(1) << (s - 1))) >> s


def requantize(acc, m, s, zero_point=0, qmin=-128, qmax=127):
    """``clip(((acc * m + (1 << (s - 1))) >> s) + zero_point, qmin, qmax)``, exact in int64.

    ``acc`` is int32-valued; ``m`` < 2**31 and 1 <= ``s`` <= 62 so ``acc * m`` and the
    rounding term stay below 2**63.  All arguments broadcast (per-channel ``m``, ``s``,
    ``zero_point``, bounds).  ReLU is ``qmin = zero_point``.  Returns int64.
    """
    prod = np.multiply(acc, np.asarray(m, dtype=np.int64), dtype=np.int64)  # int32 acc read once
    return _round_shift_clip(prod, s, zero_point, qmin, qmax)


def requantize_sum(terms, s, zero_point=0, qmin=-128, qmax=127):
    """Requantize a sum of already-multiplied terms with one shared shift.

    ``y = clip(((sum_i t_i) + 2**(s-1)) >> s) + zero_point, qmin, qmax)`` where each
    ``t_i = x_i * m_i`` (an int32 accumulator or a zero-point-removed activation times
    its own multiplier).  Residual adds use this: ``t_a = acc * m_a``,
    ``t_b = (r - z_r) * m_b``: one rounding for the whole sum.
    """
    terms = [np.asarray(t) for t in terms]
    total = np.array(terms[0], dtype=np.int64) if len(terms) == 1 else np.add(terms[0], terms[1], dtype=np.int64)
    for t in terms[2:]:
        total = np.add(total, t, dtype=np.int64)  # new arrays only: the caller's terms stay
    return _round_shift_clip(total, s, zero_point, qmin, qmax)


def _round_shift_clip(total, s, zero_point, qmin, qmax):
    """``clip(((total + 2**(s-1)) >> s) + zero_point, qmin, qmax)``, in place on ``total`` (a
    fresh int64 array; grown to the broadcast shape first) -- one pass per step, no temporaries."""
    s = np.asarray(s, dtype=np.int64)
    zero_point = np.asarray(zero_point, dtype=np.int64)
    shape = np.broadcast_shapes(np.shape(total), s.shape, zero_point.shape, np.shape(qmin), np.shape(qmax))
    total = np.asarray(total)
    if total.shape != shape:
        total = np.broadcast_to(total, shape).copy()
    if _OBSERVERS:
        _observe("requant", total=total.copy(), s=s, zero_point=zero_point, qmin=qmin, qmax=qmax)
    total += np.int64(1) << (s - 1)
    total >>= s
    total += zero_point
    return np.clip(total, qmin, qmax, out=total)


def accumulator_bound(k: int, x_bits: int, x_signed: bool, x_zero_point: int, w_bits: int,
                      bias_max: int = 0) -> int:
    """Largest |acc| that ``bias + sum_k (x - zx) * w`` can reach, from widths and K alone."""
    lo, hi = qrange(x_bits, x_signed)
    dx = max(hi - x_zero_point, x_zero_point - lo)
    dw = 1 << (w_bits - 1)  # |w| <= 2**(wbits-1) for signed weights
    return k * dx * dw + abs(int(bias_max))


def bias_limit(k: int, x_bits: int, x_signed: bool, x_zero_point: int, w_bits: int) -> int:
    """Largest |bias| (accumulator units) that keeps ``accumulator_bound`` within int32.

    A larger bias (activations that vanish, as in deep networks with random weights, make
    ``S_x S_w`` tiny) is saturated to this, by convert and by the fake-quant model alike."""
    return max(INT32_MAX - accumulator_bound(k, x_bits, x_signed, x_zero_point, w_bits), 0)


# ---------------------------------------------------------------- lookup tables
def lut_lookup(table, index):
    """``table[index]``: the LUT unit without interpolation (index is unsigned)."""
    if _OBSERVERS:
        _observe("lut", index=np.asarray(index, dtype=np.int64), size=np.size(table))
    return np.asarray(table, dtype=np.int64)[np.asarray(index, dtype=np.int64)]


def lut_interp(table, x, in_bits: int, frac_bits: int):
    """Linear interpolation in a ``2**in_bits`` table for ``in_bits + frac_bits``-bit inputs.

    ``x`` is an unsigned ``in_bits + frac_bits``-bit index.  With ``i = x >> F`` and
    ``f = x & (2**F - 1)`` (``F = frac_bits``) and ``j = min(i + 1, 2**in_bits - 1)``:
    ``y = T[i] + (((T[j] - T[i]) * f + 2**(F-1)) >> F)`` (``F = 0``: ``y = T[i]``).
    """
    t = np.asarray(table, dtype=np.int64)
    x = np.asarray(x, dtype=np.int64)
    if frac_bits == 0:
        return t[x]
    i = x >> frac_bits
    f = x & ((1 << frac_bits) - 1)
    j = np.minimum(i + 1, (1 << in_bits) - 1)
    return t[i] + rounding_shift((t[j] - t[i]) * f, frac_bits)


def build_lut(fn, in_bits: int, in_signed: bool, in_scale: float, in_zero_point: int,
              out_scale: float, out_zero_point: int, out_bits: int, out_signed: bool):
    """Tabulate ``fn`` (float -> float) over every ``in_bits`` input code (convert time only).

    Entry ``k`` holds the output code for input code ``x = k + qmin_in``:
    ``clip(round_half_up(fn((x - zin) * sin) / sout) + zout, qmin_out, qmax_out)``.
    So the table is indexed by ``x - qmin_in`` (for signed inputs: flip the sign bit).
    """
    lo, hi = qrange(in_bits, in_signed)
    x = np.arange(lo, hi + 1, dtype=np.int64)
    real = np.asarray(fn((x - in_zero_point).astype(np.float64) * in_scale), dtype=np.float64)
    olo, ohi = qrange(out_bits, out_signed)
    return np.clip(round_half_up(real / out_scale) + out_zero_point, olo, ohi).astype(np.int64)


def _gelu(v):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * v * (1.0 + erf(v / math.sqrt(2.0)))


def gelu_lut(in_bits, in_scale, in_zero_point, out_scale, out_zero_point, out_bits=8,
             in_signed=True, out_signed=True):
    """GELU (erf form, as torch.nn.GELU()) tabulated over every input code."""
    return build_lut(_gelu, in_bits, in_signed, in_scale, in_zero_point,
                     out_scale, out_zero_point, out_bits, out_signed)


def exp_lut(in_bits: int, in_scale: float, out_frac_bits: int = 15):
    """exp(-d * in_scale) for d = 0 .. 2**in_bits - 1, as unsigned Q0.``out_frac_bits``.

    Softmax indexes it with ``d = max - x`` (non-negative), so entry 0 is 1.0 =
    ``2**out_frac_bits`` and the table needs ``out_frac_bits + 1`` bits.
    """
    d = np.arange(0, 1 << in_bits, dtype=np.float64)
    return round_half_up(np.exp(-d * in_scale) * (1 << out_frac_bits)).astype(np.int64)


# ---------------------------------------------------------------- integer helpers
def div_round(a, b):
    """``a / b`` rounded half up, exactly, for ``b > 0``: ``floor((2a + b) / (2b))``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if _OBSERVERS:
        _observe("divide", a=a, b=b)
    return (2 * a + b) // (2 * b)


def isqrt(n):
    """Exact ``floor(sqrt(n))`` for int64 ``n >= 0`` (elementwise, any ``n < 2**63``).

    Integers only: the digit-by-digit (restoring) method, one result bit per step from
    the top (31 steps), the algorithm a hardware unit runs.  ``r*r <= n < (r+1)*(r+1)``
    holds for every input: tests/test_arith.py checks every ``n < 2**22`` and every
    perfect-square boundary ``k*k - 1, k*k`` up to ``2**46`` (a LayerNorm over ``n``
    codes of ``b`` bits needs at most ``n**3 * 2**(2b)``: ``2**46`` for 1024 8-bit
    channels), plus random values up to ``2**62`` against Python's ``math.isqrt``.
    """
    rem = np.array(n, dtype=np.int64)
    if np.any(rem < 0):
        raise ValueError("isqrt of a negative number")
    if _OBSERVERS:
        _observe("isqrt", n=rem.copy())
    r = np.zeros_like(rem)
    top = int(rem.max(initial=0)).bit_length()
    bit = 1 << (max(top - 1, 0) & ~1)  # the largest power of four <= max(n)
    trial = np.empty_like(rem)
    take = np.empty(rem.shape, dtype=bool)
    while bit:
        np.add(r, bit, out=trial)
        np.greater_equal(rem, trial, out=take)
        np.subtract(rem, trial, out=rem, where=take)
        r >>= 1
        np.add(r, bit, out=r, where=take)
        bit >>= 2
    return r


# ---------------------------------------------------------------- softmax
SOFTMAX_EXP_FRAC = 15  # exp table entries are unsigned Q0.15: exp(0) = 2**15
SOFTMAX_RECIP_BITS = 40  # reciprocal 2**40 / sum


def softmax_int(x, exp_table, qmax: int, axis: int = -1):
    """Integer softmax along ``axis``; output codes in ``[0, qmax]`` with scale ``1 / qmax``.

    ``d = max(x) - x`` (0 .. 2**bits - 1), ``e = exp_table[d]`` (Q0.15, ``exp_lut``),
    ``total = sum(e)``, ``recip = div_round(2**40, total)``,
    ``y = clip((e * qmax * recip + 2**39) >> 40, 0, qmax)``.
    So 1.0 is the code ``qmax`` exactly (a row with a single non-zero ``e``).
    """
    x = np.asarray(x, dtype=np.int64)
    d = x.max(axis=axis, keepdims=True) - x
    e = np.asarray(exp_table, dtype=np.int64)[d]
    total = e.sum(axis=axis, keepdims=True)
    recip = div_round(np.int64(1) << SOFTMAX_RECIP_BITS, total)
    return np.clip(rounding_shift(e * qmax * recip, SOFTMAX_RECIP_BITS), 0, qmax)


# ---------------------------------------------------------------- layer norm
LAYERNORM_GAIN_BITS = 15  # |g| < 2**15


def layernorm_int(x, x_zero_point: int, gain, offset, gain_shift: int, eps_int: int,
                  zero_point: int, qmin: int, qmax: int):
    """Integer LayerNorm over the last axis (``n`` elements).

    ``xc = x - zx``, ``d = n * xc - sum(xc)`` (``n`` times the centred value, exact),
    ``r = isqrt(sum(d * d) + eps_int)`` (``max(r, 1)``), and with per-channel integer
    ``gain = round(gamma * sqrt(n) / S_y * 2**G)``, ``offset = round(beta / S_y * 2**G)``:
    ``y = clip(div_round(d * gain + offset * r, r * 2**G) + zy, qmin, qmax)``.
    ``eps_int = round(n**3 * eps / S_x**2)``: LayerNorm's epsilon in these units.
    """
    x = np.asarray(x, dtype=np.int64)
    n = x.shape[-1]
    xc = x - x_zero_point
    d = n * xc - xc.sum(axis=-1, keepdims=True)
    r = np.maximum(isqrt((d * d).sum(axis=-1, keepdims=True) + eps_int), 1)
    num = d * np.asarray(gain, dtype=np.int64) + np.asarray(offset, dtype=np.int64) * r
    return np.clip(div_round(num, r << gain_shift) + zero_point, qmin, qmax)


# ---------------------------------------------------------------- version 2 ops
def multiply(a, a_zero_point, b, b_zero_point, m, s, zero_point=0, qmin=-128, qmax=127):
    """Element-wise product of two quantized tensors, one requantization.

    ``p = (a - za) * (b - zb)`` (exact: ``|p| <= 2**16`` for 8-bit codes; numpy broadcasting),
    ``y = clip(((p * m + 2**(s-1)) >> s) + zy, qmin, qmax)`` with ``(m, s)`` from
    ``real = S_a * S_b / S_y``.  Squeeze-excite gates, gating and layer scale
    (a Constant times an activation) are this op.
    """
    a = np.asarray(a, dtype=np.int64) - np.int64(a_zero_point)
    b = np.asarray(b, dtype=np.int64) - np.int64(b_zero_point)
    return requantize(a * b, m, s, zero_point, qmin, qmax)


AFFINE_MAX_SHIFT = 40  # the affine's addend a = offset * 2**s stays below 2**51


def quantize_affine(real, offset, dx: int, zero_point: int, qmin: int, qmax: int, bits: int = 32):
    """Convert-time: per-channel ``y = real * (x - zx) + offset + zy`` (codes) -> ``(m, a, s)``.

    ``real`` may be negative or zero (a BatchNorm's ``gamma / sqrt(var + eps)``): ``m`` is
    ``sign(real) * m_abs`` with ``(m_abs, s) = quantize_multiplier(|real|)``; where that
    shift exceeds ``AFFINE_MAX_SHIFT`` (or ``real == 0``) ``s = AFFINE_MAX_SHIFT`` and
    ``m = round_half_up(|real| * 2**s)``.  ``offset`` is clipped to
    ``+-(|real| * dx + (qmax - qmin) + |zero_point| + 1)``, beyond which every output
    saturates the same way (``dx = max |x - zx|``), then ``a = round_half_up(offset * 2**s)``.
    So ``|(x - zx) * m| < 2**40`` and ``|a| < 2**51``: the sum fits int64.
    """
    r = np.atleast_1d(np.asarray(real, dtype=np.float64))
    off = np.broadcast_to(np.asarray(offset, dtype=np.float64), r.shape)
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(off))):
        raise ValueError("affine scale and offset must be finite")
    m_abs, s = quantize_multiplier(np.abs(r), bits)
    m_abs, s = np.asarray(m_abs, np.int64), np.asarray(s, np.int64)
    wide = (s > AFFINE_MAX_SHIFT) | (r == 0)
    s = np.where(wide, AFFINE_MAX_SHIFT, s)
    m_abs = np.where(wide, round_half_up(np.ldexp(np.abs(r), AFFINE_MAX_SHIFT)).astype(np.int64), m_abs)
    m = np.where(r < 0, -m_abs, m_abs)
    bound = np.abs(r) * dx + (qmax - qmin) + abs(zero_point) + 1
    a = round_half_up(np.ldexp(np.clip(off, -bound, bound), s)).astype(np.int64)
    return m, a, s


def affine(x, x_zero_point, m, a, s, zero_point=0, qmin=-128, qmax=127):
    """Per-channel affine (a BatchNorm that follows no conv), one rounding:
    ``y = clip((((x - zx) * m + a + 2**(s-1)) >> s) + zy, qmin, qmax)``; ``m`` signed,
    ``a`` the addend, both per channel (``quantize_affine``)."""
    xc = np.asarray(x, dtype=np.int64) - np.int64(x_zero_point)
    return requantize_sum([xc * np.asarray(m, np.int64), np.asarray(a, np.int64)], s, zero_point, qmin, qmax)


def pool_windows(n: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False):
    """PyTorch's pooling windows along one axis: ``(start, end)`` per output, clipped to
    the padded input ``[-padding, n + padding)`` (ceil mode: a last window that starts
    inside the input or the left padding), as ``avg_pool2d`` counts them."""
    span = n + 2 * padding - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    starts = np.arange(out) * stride - padding
    return starts, np.minimum(starts + kernel, n + padding)


def adaptive_windows(n: int, out: int):
    """Adaptive pooling windows along one axis: ``[floor(i n / out), ceil((i + 1) n / out))``."""
    i = np.arange(out)
    return (i * n) // out, -((-(i + 1) * n) // out)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _gelu_tanh(v):
    return 0.5 * v * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (v + 0.044715 * v ** 3)))


# float functions a lookup table may tabulate (convert time only)
LUT_FUNCTIONS = {
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "sigmoid": _sigmoid,
    "silu": lambda v: v * _sigmoid(v),
    "tanh": np.tanh,
    "hardswish": lambda v: v * np.clip(v + 3.0, 0.0, 6.0) / 6.0,
    "hardsigmoid": lambda v: np.clip(v + 3.0, 0.0, 6.0) / 6.0,
    "softplus": lambda v: np.logaddexp(0.0, v),
    "mish": lambda v: v * np.tanh(np.logaddexp(0.0, v)),
}
