"""Memory layouts: how an integer tensor becomes the words a memory holds.

Three steps, each a pure function on numpy arrays (no file I/O here):

1. ``tile``     N-D tensor -> 2-D ``[depth, lanes]`` array (which element sits in which
                lane of which row), with ``untile`` as its inverse.
2. ``pack``     ``[rows, lanes]`` elements -> words: ``values_per_word`` two's-complement
                fields of ``elem_bits`` each, lane order stated by ``lane_order``.
3. ``to_banks`` words -> one word array per memory bank, padded to the memory depth;
                ``from_banks`` is the inverse.

Words are held as ``uint64`` limbs, shape ``[n_words, ceil(word_bits / 64)]``, limb 0
least significant.  That one representation covers every width from 1 to 4096 bits with
the same vectorised code; for ``word_bits <= 64`` column 0 *is* the word.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

MAX_WORD_BITS = 4096
MAX_ELEM_BITS = 32

_LANE_ORDERS = ("lsb_first", "msb_first")
_BANK_BY = ("word", "lane")
_ENDIANS = ("little", "big")

# Short names accepted wherever a key is (dict or string spec).
_ALIASES = {
    "word": "word_bits",
    "elem": "elem_bits",
    "vpw": "values_per_word",
    "order": "lane_order",
    "pow2": "depth_pow2",
}
# Bare words accepted in a string spec: flag -> (key, value).
_FLAGS = {
    "signed": ("signed", True),
    "unsigned": ("signed", False),
    "lsb_first": ("lane_order", "lsb_first"),
    "msb_first": ("lane_order", "msb_first"),
    "pow2": ("depth_pow2", True),
    "depth_pow2": ("depth_pow2", True),
    "little": ("endian", "little"),
    "big": ("endian", "big"),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass(frozen=True)
class Layout:
    """How elements are packed into words and words into memories.

    ``values_per_word`` defaults to ``word_bits // elem_bits``.  Lane ``j`` of a word
    holds bits ``[(p+1)*elem_bits-1 : p*elem_bits]`` with ``p = j`` (``lsb_first``) or
    ``p = values_per_word-1-j`` (``msb_first``, Verilog ``{e0, e1, ...}`` order); bits
    above ``values_per_word*elem_bits`` are zero.  See docs/formats.md.
    """

    word_bits: int = 32
    elem_bits: int = 8
    signed: bool = True
    values_per_word: int | None = None
    lane_order: str = "lsb_first"
    banks: int = 1
    bank_by: str = "word"
    depth: int | None = None
    depth_pow2: bool = False
    endian: str = "little"

    def __post_init__(self) -> None:
        wb, eb = self.word_bits, self.elem_bits
        if not _is_int(wb) or not 1 <= wb <= MAX_WORD_BITS:
            raise ValueError(f"layout word_bits must be an integer in 1..{MAX_WORD_BITS}, got {wb!r}")
        if not _is_int(eb) or not 1 <= eb <= MAX_ELEM_BITS:
            raise ValueError(f"layout elem_bits must be an integer in 1..{MAX_ELEM_BITS}, got {eb!r}")
        if eb > wb:
            raise ValueError(f"layout elem_bits={eb} does not fit in word_bits={wb}")
        vpw = self.values_per_word
        if vpw is None:
            object.__setattr__(self, "values_per_word", wb // eb)
        elif not _is_int(vpw) or not 1 <= vpw <= wb // eb:
            raise ValueError(
                f"layout values_per_word must be in 1..{wb // eb} for word_bits={wb}, "
                f"elem_bits={eb}; got {vpw!r}")
        for key in ("word_bits", "elem_bits", "values_per_word", "banks", "depth"):
            v = getattr(self, key)
            if _is_int(v):
                object.__setattr__(self, key, int(v))
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ValueError(f"layout signed must be true or false, got {self.signed!r}")
        if not isinstance(self.depth_pow2, (bool, np.bool_)):
            raise ValueError(f"layout depth_pow2 must be true or false, got {self.depth_pow2!r}")
        if self.lane_order not in _LANE_ORDERS:
            raise ValueError(f"layout lane_order must be one of {', '.join(_LANE_ORDERS)}; got {self.lane_order!r}")
        if self.bank_by not in _BANK_BY:
            raise ValueError(f"layout bank_by must be one of {', '.join(_BANK_BY)}; got {self.bank_by!r}")
        if self.endian not in _ENDIANS:
            raise ValueError(f"layout endian must be one of {', '.join(_ENDIANS)}; got {self.endian!r}")
        if not _is_int(self.banks) or self.banks < 1:
            raise ValueError(f"layout banks must be an integer >= 1, got {self.banks!r}")
        if self.depth is not None and (not _is_int(self.depth) or self.depth < 1):
            raise ValueError(f"layout depth must be an integer >= 1 or none, got {self.depth!r}")

    # ---- derived numbers -------------------------------------------------------
    @property
    def limbs(self) -> int:
        """uint64 limbs per word."""
        return (self.word_bits + 63) // 64

    @property
    def word_bytes(self) -> int:
        """Bytes per word in raw binary (word_bits rounded up to whole bytes)."""
        return (self.word_bits + 7) // 8

    @property
    def elem_min(self) -> int:
        return -(1 << (self.elem_bits - 1)) if self.signed else 0

    @property
    def elem_max(self) -> int:
        return (1 << (self.elem_bits - 1)) - 1 if self.signed else (1 << self.elem_bits) - 1

    # ---- construction / serialisation -------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Layout":
        """Build from a dict; keys may be aliases, values may be strings (from a CLI)."""
        valid = cls.keys()
        kw: dict[str, Any] = {}
        for key, value in d.items():
            name = _ALIASES.get(key, key)
            if name not in valid:
                raise ValueError(
                    f"unknown layout key {key!r}; valid keys: {', '.join(valid)} "
                    f"(aliases: {', '.join(f'{a}={b}' for a, b in _ALIASES.items())})")
            if name in kw:
                raise ValueError(f"layout key {name!r} given twice")
            kw[name] = _coerce_value(name, value)
        return cls(**kw)

    @classmethod
    def parse(cls, spec: str) -> "Layout":
        """Parse ``"word=32,elem=4,signed,banks=2,pow2"`` (comma separated key=value or flags)."""
        d: dict[str, Any] = {}
        seen: set[str] = set()
        for item in spec.replace(";", ",").split(","):
            item = item.strip()
            if not item:
                continue
            if "=" in item:
                key, _, value = item.partition("=")
                key, value = key.strip(), value.strip()
            elif item in _FLAGS:
                key, value = _FLAGS[item]
            else:
                valid = cls.keys()
                raise ValueError(
                    f"unknown layout key {item!r}; valid keys: {', '.join(valid)} "
                    f"(as key=value) or flags: {', '.join(_FLAGS)}")
            if _ALIASES.get(key, key) in seen:
                raise ValueError(f"layout key {_ALIASES.get(key, key)!r} given twice in {spec!r}")
            seen.add(_ALIASES.get(key, key))
            d[key] = value
        return cls.from_dict(d)

    @classmethod
    def coerce(cls, x: "Layout | Mapping[str, Any] | str | None") -> "Layout":
        if x is None:
            return cls()
        if isinstance(x, Layout):
            return x
        if isinstance(x, str):
            return cls.parse(x)
        if isinstance(x, Mapping):
            return cls.from_dict(x)
        raise ValueError(f"layout must be a Layout, dict or string spec, got {type(x).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def spec(self) -> str:
        """Short canonical string; ``Layout.parse(l.spec()) == l``. Contains no spaces."""
        parts = [f"word={self.word_bits}", f"elem={self.elem_bits}",
                 "signed" if self.signed else "unsigned", f"vpw={self.values_per_word}",
                 self.lane_order, f"banks={self.banks}", f"bank_by={self.bank_by}"]
        if self.depth is not None:
            parts.append(f"depth={self.depth}")
        if self.depth_pow2:
            parts.append("pow2")
        parts.append(self.endian)
        return ",".join(parts)

    def replace(self, **kw: Any) -> "Layout":
        if "word_bits" in kw or "elem_bits" in kw:
            kw.setdefault("values_per_word", None)
        return dataclasses.replace(self, **kw)


def _coerce_value(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    v = value.strip().lower()
    if name in ("signed", "depth_pow2"):
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        raise ValueError(f"layout {name} must be true or false, got {value!r}")
    if name in ("word_bits", "elem_bits", "values_per_word", "banks", "depth"):
        if name in ("values_per_word", "depth") and v in ("none", "auto", ""):
            return None
        try:
            return int(v, 0)
        except ValueError:
            raise ValueError(f"layout {name} must be an integer, got {value!r}") from None
    return v


# ---------------------------------------------------------------------------------
# value checks
# ---------------------------------------------------------------------------------

def as_int_array(array: Any, what: str = "array") -> np.ndarray:
    """``np.asarray`` that refuses floats / objects (this is a bit-exact tool)."""
    a = np.asarray(array)
    if a.dtype == np.bool_:
        return a.astype(np.int64)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integers, got dtype {a.dtype}")
    return a


def check_fits(a: np.ndarray, lo: int, hi: int, what: str) -> None:
    """Raise a one-line ValueError naming the first element outside ``[lo, hi]``."""
    if a.size == 0:
        return
    if int(a.min()) >= lo and int(a.max()) <= hi:
        return
    bad = (a < lo) | (a > hi)
    flat = int(np.argmax(bad.reshape(-1)))
    idx = np.unravel_index(flat, a.shape)
    idx_s = ", ".join(str(int(i)) for i in idx)
    raise ValueError(
        f"value {int(a.reshape(-1)[flat])} at index ({idx_s}) does not fit {what} [{lo}, {hi}]")


def _elem_desc(layout: Layout) -> str:
    return f"{'signed' if layout.signed else 'unsigned'} {layout.elem_bits}-bit elem_bits"


# ---------------------------------------------------------------------------------
# packing: [n_words, values_per_word] elements <-> [n_words, limbs] uint64
# ---------------------------------------------------------------------------------

def _lane_slots(layout: Layout) -> Iterable[tuple[int, int, int]]:
    """(lane, limb, shift) for every lane, with ``shift`` inside the limb."""
    vpw, e = layout.values_per_word, layout.elem_bits
    for j in range(vpw):
        pos = j if layout.lane_order == "lsb_first" else vpw - 1 - j
        limb, sh = divmod(pos * e, 64)
        yield j, limb, sh


def pack(elems: np.ndarray, layout: Layout) -> np.ndarray:
    """Pack ``[n, values_per_word]`` integers (already range-checked) into ``[n, limbs]`` uint64."""
    e = layout.elem_bits
    elems = np.asarray(elems)
    n = elems.shape[0]
    if elems.ndim != 2 or elems.shape[1] != layout.values_per_word:
        raise ValueError(f"pack expects [n, {layout.values_per_word}] elements, got shape {elems.shape}")
    mask = np.uint64((1 << e) - 1)
    # int64 -> uint64 wraps modulo 2**64, so & mask is the e-bit two's complement field.
    u = elems.astype(np.int64, copy=False).astype(np.uint64) & mask
    out = np.zeros((n, layout.limbs), dtype=np.uint64)
    for j, limb, sh in _lane_slots(layout):
        col = u[:, j]
        out[:, limb] |= col << np.uint64(sh)
        if sh + e > 64:  # field straddles two limbs
            out[:, limb + 1] |= col >> np.uint64(64 - sh)
    return out


def used_bits_mask(layout: Layout) -> np.ndarray:
    """``[limbs]`` uint64 mask of the bits that lanes occupy."""
    m = (1 << (layout.values_per_word * layout.elem_bits)) - 1
    return np.array([(m >> (64 * k)) & ((1 << 64) - 1) for k in range(layout.limbs)], dtype=np.uint64)


def unpack(words: np.ndarray, layout: Layout) -> np.ndarray:
    """Inverse of ``pack``: ``[n, limbs]`` uint64 -> ``[n, values_per_word]`` int64.

    Refuses words with bits set outside the lanes (a sign the layout is not the one
    the file was written with).
    """
    words = np.asarray(words, dtype=np.uint64)
    if words.ndim != 2 or words.shape[1] != layout.limbs:
        raise ValueError(f"unpack expects [n, {layout.limbs}] uint64 limbs, got shape {words.shape}")
    stray = (words & ~used_bits_mask(layout)).any(axis=1)
    if stray.any():
        i = int(np.argmax(stray))
        raise ValueError(
            f"word {i} = {hex(limbs_to_int(words[i]))} has bits outside its "
            f"{layout.values_per_word} x {layout.elem_bits}-bit lanes (wrong layout?)")
    e = layout.elem_bits
    mask = np.uint64((1 << e) - 1)
    out = np.empty((words.shape[0], layout.values_per_word), dtype=np.int64)
    for j, limb, sh in _lane_slots(layout):
        col = words[:, limb] >> np.uint64(sh)
        if sh + e > 64:
            col = col | (words[:, limb + 1] << np.uint64(64 - sh))
        out[:, j] = (col & mask).astype(np.int64)
    if layout.signed:
        out -= (out >= (1 << (e - 1))).astype(np.int64) << e
    return out


# ---------------------------------------------------------------------------------
# guard words: proof that a simulator loaded a whole image
# ---------------------------------------------------------------------------------

GUARD_PATTERN = 0xA5A5A5A5  # repeated and cut to the element width; bit 0 set: never 0


def guard_value(bits: int) -> int:
    """``GUARD_PATTERN`` repeated and cut to ``bits`` (as an unsigned value)."""
    pattern = sum(GUARD_PATTERN << (32 * k) for k in range(-(-bits // 32)))
    return pattern & ((1 << bits) - 1)


def guard_row(layout: "Layout") -> np.ndarray:
    """The guard row appended to an image: every lane ``guard_value(elem_bits)``, signed
    like the layout's elements."""
    e = layout.elem_bits
    v = guard_value(e)
    if layout.signed and v >= 1 << (e - 1):
        v -= 1 << e
    return np.full((1, layout.values_per_word), v, dtype=np.int64)


def guard_word(layout: "Layout") -> int:
    """The guard row as the unsigned integer a memory word holds."""
    e = layout.elem_bits
    return sum(guard_value(e) << (j * e) for j in range(layout.values_per_word))


def limbs_to_int(limbs: Sequence[int] | np.ndarray) -> int:
    """One word's limbs -> Python int."""
    return sum(int(x) << (64 * k) for k, x in enumerate(limbs))


def ints_to_limbs(values: Sequence[int], word_bits: int) -> np.ndarray:
    """Python ints (any width, non-negative, < 2**word_bits) -> ``[n, limbs]`` uint64."""
    nl = (word_bits + 63) // 64
    out = np.zeros((len(values), nl), dtype=np.uint64)
    top = 1 << word_bits
    for i, v in enumerate(values):
        v = int(v)
        if not 0 <= v < top:
            raise ValueError(f"word {i} = {v} does not fit {word_bits} bits")
        for k in range(nl):
            out[i, k] = (v >> (64 * k)) & 0xFFFFFFFFFFFFFFFF
    return out


def as_limbs(words: Any, word_bits: int) -> np.ndarray:
    """Accept ``[n]`` unsigned words (word_bits <= 64), ``[n, limbs]`` uint64, or a list of ints."""
    nl = (word_bits + 63) // 64
    if isinstance(words, (list, tuple)):
        return ints_to_limbs(words, word_bits)
    a = np.asarray(words)
    if a.dtype == object:
        return ints_to_limbs(a.reshape(-1).tolist(), word_bits)
    if a.dtype.kind not in "iu":
        raise ValueError(f"words must hold integers, got dtype {a.dtype}")
    if a.ndim == 1:
        if nl != 1:
            raise ValueError(f"1-D words only for word_bits <= 64; give [n, {nl}] uint64 limbs")
        if a.dtype.kind == "i" and a.size and int(a.min()) < 0:
            raise ValueError(f"word {int(np.argmax(a < 0))} is negative; words are unsigned")
        a = a.astype(np.uint64).reshape(-1, 1)
    elif a.ndim != 2 or a.shape[1] != nl:
        raise ValueError(f"words must be [n] or [n, {nl}] uint64 limbs, got shape {a.shape}")
    else:
        if a.dtype.kind == "i" and a.size and int(a.min()) < 0:
            raise ValueError("limbs must be unsigned")
        a = a.astype(np.uint64)
    check_word_width(a, word_bits)
    return np.ascontiguousarray(a)


def check_word_width(limbs: np.ndarray, word_bits: int) -> None:
    """Raise if any word has a bit at or above ``word_bits``."""
    top_bits = word_bits - 64 * (limbs.shape[1] - 1)
    if top_bits == 64 or limbs.shape[0] == 0:
        return
    over = limbs[:, -1] >> np.uint64(top_bits)
    if over.any():
        i = int(np.argmax(over != 0))
        raise ValueError(f"word {i} = {hex(limbs_to_int(limbs[i]))} does not fit {word_bits} bits")


# ---------------------------------------------------------------------------------
# banks: element array <-> one padded word array per bank
# ---------------------------------------------------------------------------------

def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _pad_to(a: np.ndarray, axis: int, n: int) -> np.ndarray:
    if a.shape[axis] == n:
        return a
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, n - a.shape[axis])
    return np.pad(a, pad)


def _pack_rows(rows: np.ndarray, layout: Layout) -> np.ndarray:
    """``[R, L]`` -> ``[R * ceil(L/vpw), limbs]``: each row fills whole words, low lanes first."""
    vpw = layout.values_per_word
    r, lanes = rows.shape
    wpr = _ceil_div(lanes, vpw)
    return pack(_pad_to(rows, 1, wpr * vpw).reshape(r * wpr, vpw), layout)


def _unpack_rows(words: np.ndarray, layout: Layout, rows: int, lanes: int) -> np.ndarray:
    vpw = layout.values_per_word
    wpr = _ceil_div(lanes, vpw)
    need = rows * wpr
    if words.shape[0] < need:
        raise ValueError(f"memory holds {words.shape[0]} words, shape needs {need}")
    return unpack(words[:need], layout).reshape(rows, wpr * vpw)[:, :lanes]


def words_per_bank(shape: Sequence[int], layout: Layout | Mapping[str, Any] | str) -> int:
    """Data words (before depth padding) each bank holds for an array of ``shape``."""
    layout = Layout.coerce(layout)
    nb, vpw = layout.banks, layout.values_per_word
    if len(shape) == 1:
        n = int(shape[0])
        if layout.bank_by == "lane":
            return _ceil_div(n, vpw * nb)
        return _ceil_div(_ceil_div(n, vpw), nb)
    rows, lanes = (int(s) for s in shape)
    if layout.bank_by == "lane":
        return rows * _ceil_div(_ceil_div(lanes, nb), vpw)
    return _ceil_div(rows * _ceil_div(lanes, vpw), nb)


def memory_depth(n_words: int, layout: Layout) -> int:
    """Depth of each bank's memory for ``n_words`` data words per bank."""
    depth = n_words
    if layout.depth is not None:
        if n_words > layout.depth:
            raise ValueError(f"data needs {n_words} words per bank, layout depth is {layout.depth}")
        depth = layout.depth
    if layout.depth_pow2:
        depth = 1 << max(0, (depth - 1).bit_length())
    return max(depth, 1)


def to_banks(array: Any, layout: Layout | Mapping[str, Any] | str) -> list[np.ndarray]:
    """Elements -> one ``[depth, limbs]`` uint64 word array per bank (all the same depth).

    ``array`` is 2-D ``[rows, lanes]`` (each row starts a new word; a row longer than
    ``values_per_word`` spans consecutive words) or 1-D (a dense element stream).
    ``bank_by="word"``: word ``i`` of the stream goes to bank ``i % banks``.
    ``bank_by="lane"``: lanes are split into ``banks`` contiguous groups, one per bank.
    Values outside the element range raise a one-line ValueError (never wrap).
    """
    layout = Layout.coerce(layout)
    a = as_int_array(array)
    if a.ndim not in (1, 2):
        raise ValueError(f"array must be 1-D or 2-D [depth, lanes], got shape {a.shape}; use tile() first")
    if a.size == 0:
        raise ValueError(f"array is empty (shape {a.shape})")
    check_fits(a, layout.elem_min, layout.elem_max, _elem_desc(layout))
    shape0 = a.shape
    a = a.astype(np.int64)
    nb, vpw = layout.banks, layout.values_per_word
    if a.ndim == 1:
        row_len = vpw * (nb if layout.bank_by == "lane" else 1)
        a = _pad_to(a, 0, _ceil_div(a.size, row_len) * row_len).reshape(-1, row_len)
    if layout.bank_by == "lane":
        lpb = _ceil_div(a.shape[1], nb)
        a = _pad_to(a, 1, lpb * nb)
        banks = [_pack_rows(a[:, b * lpb:(b + 1) * lpb], layout) for b in range(nb)]
    else:
        stream = _pack_rows(a, layout)
        per_bank = _ceil_div(stream.shape[0], nb)
        stream = _pad_to(stream, 0, per_bank * nb).reshape(per_bank, nb, layout.limbs)
        banks = [stream[:, b, :] for b in range(nb)]
    assert banks[0].shape[0] == words_per_bank(shape0, layout)
    depth = memory_depth(banks[0].shape[0], layout)
    return [np.ascontiguousarray(_pad_to(w, 0, depth)) for w in banks]


def from_banks(banks: Sequence[np.ndarray], layout: Layout | Mapping[str, Any] | str,
               shape: Sequence[int] | None = None) -> np.ndarray:
    """Inverse of ``to_banks``.  With ``shape`` the original array is returned exactly;
    without it, every stored word (padding included) as ``[rows, lanes]`` with one word
    per row per bank."""
    layout = Layout.coerce(layout)
    nb, vpw = layout.banks, layout.values_per_word
    if len(banks) != nb:
        raise ValueError(f"layout has {nb} banks, got {len(banks)} word arrays")
    banks = [np.asarray(w, dtype=np.uint64).reshape(-1, layout.limbs) for w in banks]
    depth = min(w.shape[0] for w in banks)
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (1, 2):
            raise ValueError(f"shape must be 1-D or 2-D, got {shape}")
    if layout.bank_by == "lane":
        if shape is None:
            rows, lpb, lanes = depth, vpw, nb * vpw
        elif len(shape) == 1:
            lpb, lanes = vpw, nb * vpw
            rows = _ceil_div(shape[0], lanes)
        else:
            rows, lanes = shape
            lpb = _ceil_div(lanes, nb)
        out = np.concatenate([_unpack_rows(w, layout, rows, lpb) for w in banks], axis=1)
    else:
        stream = np.stack([w[:depth] for w in banks], axis=1).reshape(-1, layout.limbs)
        if shape is None:
            rows, lanes = stream.shape[0], vpw
        elif len(shape) == 1:
            rows, lanes = _ceil_div(shape[0], vpw), vpw
        else:
            rows, lanes = shape
        out = _unpack_rows(stream, layout, rows, lanes)
    if shape is None:
        return out
    if len(shape) == 1:
        return out.reshape(-1)[: shape[0]]
    return out[:, : shape[1]]


# ---------------------------------------------------------------------------------
# tiling: N-D tensor <-> [depth, lanes]
# ---------------------------------------------------------------------------------

def _tile_axes(ndim: int, lane_axis: int, k_axes: Sequence[int] | None) -> tuple[int, list[int]]:
    if ndim < 1:
        raise ValueError("tile needs an array with at least one dimension")
    la = lane_axis + ndim if lane_axis < 0 else lane_axis
    if not 0 <= la < ndim:
        raise ValueError(f"lane_axis {lane_axis} out of range for {ndim}-D array")
    rest = [i for i in range(ndim) if i != la]
    if k_axes is None:
        return la, rest
    ks = [k + ndim if k < 0 else k for k in k_axes]
    if sorted(ks) != rest:
        raise ValueError(f"k_axes {tuple(k_axes)} must be a permutation of the non-lane axes {tuple(rest)}")
    return la, ks


def tiled_shape(shape: Sequence[int], lanes: int, lane_axis: int = 0,
                k_axes: Sequence[int] | None = None, k_multiple: int = 1) -> tuple[int, int]:
    """``(depth, lanes)`` that ``tile`` produces for an array of ``shape``."""
    if lanes < 1 or k_multiple < 1:
        raise ValueError("lanes and k_multiple must be >= 1")
    la, ks = _tile_axes(len(shape), lane_axis, k_axes)
    k = math.prod(shape[i] for i in ks)
    return _ceil_div(shape[la], lanes) * _ceil_div(k, k_multiple) * k_multiple, lanes


def tile(array: Any, lanes: int, lane_axis: int = 0, k_axes: Sequence[int] | None = None,
         k_multiple: int = 1) -> np.ndarray:
    """Reorder an N-D integer tensor into the ``[depth, lanes]`` rows a memory holds.

    The ``lane_axis`` is cut into tiles of ``lanes`` (zero padded at the end).  For each
    tile ``t`` (outer loop) and each ``k`` of the flattened remaining axes (inner loop,
    in ``k_axes`` order, first axis outermost; default: their natural order), one row
    holds ``array[t*lanes + c, k]`` in lane ``c``.  ``k_multiple`` zero-pads K per tile
    to a multiple (e.g. ROWS, so row k of every tile lands in bank ``k % ROWS``).

    Example: weights ``[Cout, Cin, kh, kw]`` on a ROWS x COLS array:
    ``tile(w, COLS)`` -> ``[ceil(Cout/COLS) * Cin*kh*kw, COLS]``.
    """
    a = as_int_array(array)
    depth, _ = tiled_shape(a.shape, lanes, lane_axis, k_axes, k_multiple)
    la, ks = _tile_axes(a.ndim, lane_axis, k_axes)
    a = np.transpose(a, [la] + ks)
    n_lane = a.shape[0]
    k = math.prod(a.shape[1:])
    a = a.reshape(n_lane, k)
    t = _ceil_div(n_lane, lanes)
    kp = _ceil_div(k, k_multiple) * k_multiple
    out = np.zeros((t * lanes, kp), dtype=a.dtype)
    out[:n_lane, :k] = a
    out = out.reshape(t, lanes, kp).transpose(0, 2, 1).reshape(t * kp, lanes)
    assert out.shape[0] == depth
    return np.ascontiguousarray(out)


def untile(tiled: Any, shape: Sequence[int], lanes: int, lane_axis: int = 0,
           k_axes: Sequence[int] | None = None, k_multiple: int = 1) -> np.ndarray:
    """Inverse of ``tile``: ``[depth, lanes]`` rows back to an array of ``shape``."""
    shape = tuple(int(s) for s in shape)
    tiled = np.asarray(tiled)
    depth, _ = tiled_shape(shape, lanes, lane_axis, k_axes, k_multiple)
    if tiled.shape != (depth, lanes):
        raise ValueError(f"tiled array has shape {tiled.shape}, expected {(depth, lanes)} for {shape}")
    la, ks = _tile_axes(len(shape), lane_axis, k_axes)
    n_lane = shape[la]
    k = math.prod(shape[i] for i in ks)
    t = _ceil_div(n_lane, lanes)
    kp = depth // t
    a = tiled.reshape(t, kp, lanes).transpose(0, 2, 1).reshape(t * lanes, kp)[:n_lane, :k]
    a = a.reshape([n_lane] + [shape[i] for i in ks])
    perm = [la] + ks
    return np.ascontiguousarray(np.transpose(a, np.argsort(perm)))
