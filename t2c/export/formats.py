"""Memory image formats: one writer and one reader per format, plus the JSON sidecar.

    hex  Verilog $readmemh text (IEEE 1364-2005 17.2.9): one word per line, fixed width
         zero-padded lowercase hex, optional ``@addr`` record
    bin  Verilog $readmemb text, same grammar with binary digits
    coe  Xilinx COE (Vivado Block Memory Generator): memory_initialization_radix=16;
         memory_initialization_vector= w0, w1, ... wN;
    mif  Intel/Altera MIF: WIDTH; DEPTH; ADDRESS_RADIX=HEX; DATA_RADIX=HEX; CONTENT BEGIN
         addr : word; [a..b] : word; END;
    raw  little- or big-endian binary, each word rounded up to whole bytes
    c    C header: ``const uint32_t name[DEPTH] = {...};`` (smallest uintN_t that holds a
         word; words wider than 64 bits become ``uint64_t name[DEPTH][LIMBS]``, limb 0 least
         significant)

Every text writer turns words into characters through the same two lookup tables
(``digits``) and the same row assembler (``_lines``): a ``[n_words, n_chars]`` uint8
matrix written with one ``tobytes()``; no per-word Python formatting.  Readers parse
the general grammar (comments, ``@addr``, underscores, ranges) and refuse anything
that does not fit the word width.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from t2c.fileio import atomic_write_bytes, atomic_write_text, sha256_bytes

from .layout import (Layout, as_int_array, as_limbs, check_word_width, from_banks, to_banks,
                     words_per_bank)

FORMATS = ("hex", "bin", "coe", "mif", "raw", "c")
EXTENSIONS = {"hex": ".hex", "bin": ".bin", "coe": ".coe", "mif": ".mif", "raw": ".raw", "c": ".h"}
_EXT_TO_FMT = {".hex": "hex", ".mem": "hex", ".vmem": "hex", ".bin": "bin", ".coe": "coe",
               ".mif": "mif", ".raw": "raw", ".h": "c"}
SIDECAR_NAME = "memories.json"
SIDECAR_SCHEMA = "t2c.memories/1"


class ChecksumError(ValueError):
    """A file's sha256 differs from the one its sidecar recorded."""


# =================================================================================
# words <-> characters (shared by every text format)
# =================================================================================

_HEX_PAIRS = np.frombuffer("".join(f"{i:02x}" for i in range(256)).encode(), np.uint8).reshape(256, 2)
_BIN_OCTETS = np.frombuffer("".join(f"{i:08b}" for i in range(256)).encode(), np.uint8).reshape(256, 8)
_DIGIT_VALUE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate("0123456789abcdef"):
    _DIGIT_VALUE[ord(_c)] = _i
    _DIGIT_VALUE[ord(_c.upper())] = _i


def _nbytes(word_bits: int) -> int:
    return (word_bits + 7) // 8


def _be_bytes(limbs: np.ndarray, word_bits: int) -> np.ndarray:
    """``[n, limbs]`` uint64 -> ``[n, ceil(word_bits/8)]`` uint8, most significant byte first."""
    le = np.ascontiguousarray(limbs, dtype="<u8").view(np.uint8).reshape(limbs.shape[0], -1)
    return le[:, : _nbytes(word_bits)][:, ::-1]


def _from_be_bytes(be: np.ndarray, word_bits: int) -> np.ndarray:
    """Inverse of ``_be_bytes``; raises if a word has a bit at or above ``word_bits``."""
    n = be.shape[0]
    nl = (word_bits + 63) // 64
    le = np.zeros((n, nl * 8), dtype=np.uint8)
    le[:, : be.shape[1]] = be[:, ::-1]
    limbs = le.view("<u8").astype(np.uint64)
    check_word_width(limbs, word_bits)
    return limbs


def digits(limbs: np.ndarray, word_bits: int, radix: int) -> np.ndarray:
    """Fixed-width digit characters ``[n, ceil(word_bits/4)]`` (hex, lowercase) or
    ``[n, word_bits]`` (binary) as ASCII codes."""
    be = _be_bytes(limbs, word_bits)
    n = be.shape[0]
    if radix == 16:
        d = _HEX_PAIRS[be].reshape(n, -1)
        return d[:, d.shape[1] - (word_bits + 3) // 4:]
    if radix == 2:
        d = _BIN_OCTETS[be].reshape(n, -1)
        return d[:, d.shape[1] - word_bits:]
    raise ValueError(f"radix must be 2 or 16, got {radix}")


def _lines(n: int, *cols: bytes | np.ndarray) -> bytes:
    """Assemble ``n`` text rows from constant byte strings and ``[n, k]`` char matrices."""
    parts = []
    for c in cols:
        if isinstance(c, (bytes, bytearray)):
            parts.append(np.broadcast_to(np.frombuffer(bytes(c), np.uint8), (n, len(c))))
        else:
            parts.append(c)
    return np.concatenate(parts, axis=1).tobytes() if n else b""


def _parse_chars(chars: np.ndarray, radix: int, word_bits: int, token: Callable[[int], str]) -> np.ndarray:
    """``[n, L]`` ASCII digit matrix (radix 2 or 16) -> ``[n, limbs]`` uint64.
    ``token(i)`` gives word i's text for error messages."""
    vals = _DIGIT_VALUE[chars]
    bad = vals >= radix
    if bad.any():
        i = int(np.argmax(bad.any(axis=1)))
        raise ValueError(f"invalid base-{radix} digit in word {i} {token(i)!r}")
    per_byte = 2 if radix == 16 else 8
    need = _nbytes(word_bits) * per_byte
    L = vals.shape[1]
    if L > need:
        over = vals[:, : L - need].any(axis=1)
        if over.any():
            i = int(np.argmax(over))
            raise ValueError(f"word {i} {token(i)!r} does not fit {word_bits} bits")
        vals = vals[:, L - need:]
    elif L < need:
        vals = np.pad(vals, ((0, 0), (need - L, 0)))
    if radix == 16:
        be = (vals[:, 0::2] << 4) | vals[:, 1::2]
    else:
        be = np.packbits(vals, axis=1)
    try:
        return _from_be_bytes(be, word_bits)
    except ValueError as exc:
        i = int(re.search(r"word (\d+)", str(exc)).group(1))
        raise ValueError(f"word {i} {token(i)!r} does not fit {word_bits} bits") from None


def parse_tokens(tokens: Sequence[str], radix: int, word_bits: int, signed_ok: bool = False) -> np.ndarray:
    """Number tokens -> ``[n, limbs]`` uint64; radix 2/16 vectorised, 8/10 via ``int``.

    Underscores are ignored (Verilog).  With ``signed_ok`` a negative decimal is stored
    as its ``word_bits``-bit two's complement (MIF ``DEC``).
    """
    nl = (word_bits + 63) // 64
    if len(tokens) == 0:
        return np.zeros((0, nl), dtype=np.uint64)
    if radix in (2, 16):
        tokens = [t.replace("_", "") for t in tokens]
        if any(not t for t in tokens):
            raise ValueError("empty number")
        try:
            raw = " ".join(tokens).encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("non-ASCII character in a number") from None
        buf = np.frombuffer(raw, np.uint8)
        s, e = _spans(buf, _sep_table(b""))
        if len(s) != len(tokens):
            raise ValueError(f"bad number among {tokens[:3]!r}...")
        return _parse_chars(_gather(buf, s, e), radix, word_bits, lambda i: tokens[i])
    if radix not in (8, 10):
        raise ValueError(f"unsupported radix {radix}")
    top = 1 << word_bits
    out = np.zeros((len(tokens), nl), dtype=np.uint64)
    for i, t in enumerate(tokens):
        try:
            v = int(t.replace("_", ""), radix)
        except ValueError:
            raise ValueError(f"invalid base-{radix} number in word {i} {t!r}") from None
        if v < 0 and signed_ok and v >= -(top >> 1):
            v += top
        if not 0 <= v < top:
            raise ValueError(f"word {i} {t!r} does not fit {word_bits} bits")
        for k in range(nl):
            out[i, k] = (v >> (64 * k)) & 0xFFFFFFFFFFFFFFFF
    return out


# ---- vectorised tokenizer: number tokens located as (start, end) spans in a byte buffer

_WS = b" \t\r\n\f\v"


def _sep_table(extra: bytes) -> np.ndarray:
    t = np.zeros(256, dtype=bool)
    t[list(_WS + extra)] = True
    return t


def _spans(buf: np.ndarray, sep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of the runs of non-separator bytes."""
    tok = (~sep[buf]).view(np.int8)
    edge = np.diff(tok, prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)


_GATHER_CHUNK = 1 << 16


def _gather(buf: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Tokens -> ``[n, L]`` char matrix, shorter tokens left-padded with '0'."""
    n = len(s)
    lens = e - s
    L = int(lens.max())
    if n > 1 and (lens == L).all():
        stride = int(s[1] - s[0])
        if stride >= L and (np.diff(s) == stride).all():  # evenly spaced: a strided view
            v = np.lib.stride_tricks.as_strided(buf[s[0]:], shape=(n, L), strides=(stride, 1))
            return np.array(v)
    out = np.empty((n, L), dtype=np.uint8)
    ar = np.arange(L)
    for c in range(0, n, _GATHER_CHUNK):
        idx = e[c:c + _GATHER_CHUNK, None] - L + ar
        pad = idx < s[c:c + _GATHER_CHUNK, None]
        out[c:c + _GATHER_CHUNK] = np.where(pad, np.uint8(48), buf[np.maximum(idx, 0)])
    return out


def _span_numbers(buf: np.ndarray, s: np.ndarray, e: np.ndarray, radix: int, word_bits: int | None,
                  signed_ok: bool = False, c_prefix: bool = False) -> tuple[np.ndarray, int]:
    """Parse the tokens at spans ``(s, e)``; ``word_bits`` None: inferred from the digits."""
    if len(s) == 0:
        raise ValueError("no words in file")

    def token(i: int) -> str:
        return buf[s[i]:e[i]].tobytes().decode("ascii", errors="replace")

    if c_prefix:
        if ((e - s) >= 3).all() and (buf[s] == ord("0")).all() and ((buf[s + 1] | 32) == ord("x")).all():
            s = s + 2
        else:  # decimal / octal / suffixed literals: the slow, general path
            toks = [str(int(token(i).rstrip("uUlL"), 0)) for i in range(len(s))]
            wb = word_bits or max(int(t).bit_length() for t in toks) or 1
            return parse_tokens(toks, 10, wb), wb
    if radix in (2, 16) and not (buf[s.min():e.max()] == ord("_")).any():
        wb = word_bits or int((e - s).max()) * (4 if radix == 16 else 1)
        return _parse_chars(_gather(buf, s, e), radix, wb, token), wb
    toks = [token(i) for i in range(len(s))]
    if word_bits:
        wb = word_bits
    elif radix in (2, 16):
        wb = max(len(t.replace("_", "")) for t in toks) * (4 if radix == 16 else 1)
    else:
        wb = max(abs(int(t.replace("_", ""), radix)).bit_length() + t.startswith("-") for t in toks) or 1
    return parse_tokens(toks, radix, wb, signed_ok), wb


def _numbers(data: bytes, extra_seps: bytes, radix: int, word_bits: int | None,
             signed_ok: bool = False, c_prefix: bool = False) -> tuple[np.ndarray, int]:
    buf = np.frombuffer(data, np.uint8)
    s, e = _spans(buf, _sep_table(extra_seps))
    return _span_numbers(buf, s, e, radix, word_bits, signed_ok, c_prefix)


# =================================================================================
# header comment: makes text images self-describing
# =================================================================================

_COMMENT = {"hex": ("// ", ""), "bin": ("// ", ""), "coe": ("; ", ""), "mif": ("-- ", ""),
            "c": ("/* ", " */")}
_HEADER_RE = re.compile(r"t2c fmt=(\w+)((?: [A-Za-z_]+=[^\s]+)*)")


def _header(fmt: str, word_bits: int, depth: int, info: Mapping[str, Any] | None) -> bytes:
    if info is None or fmt not in _COMMENT:
        return b""
    fields = {"width": word_bits, "depth": depth, **info}
    for k, v in fields.items():
        if not re.fullmatch(r"[A-Za-z_]+", str(k)) or (v is not None and re.search(r"\s|\*/", str(v))):
            raise ValueError(f"header field {k}={v!r}: keys are letters/_, values have no spaces")
    body = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    pre, post = _COMMENT[fmt]
    return f"{pre}t2c fmt={fmt} {body}{post}\n".encode()


def parse_header(data: bytes) -> dict[str, str]:
    """The ``t2c fmt=... k=v ...`` comment a writer put on the first line, or {}."""
    m = _HEADER_RE.search(data[:4096].decode("ascii", errors="replace"))
    if not m:
        return {}
    out = {"fmt": m.group(1)}
    for item in m.group(2).split():
        k, _, v = item.partition("=")
        out[k] = v
    return out


# =================================================================================
# encoders: [n, limbs] uint64 -> bytes
# =================================================================================

def _enc_readmem(limbs, wb, radix, base_addr, head):
    n = limbs.shape[0]
    addr = f"@{base_addr:x}\n".encode() if base_addr is not None else b""
    return head + addr + _lines(n, digits(limbs, wb, radix), b"\n")


def _enc_coe(limbs, wb, head):
    n = limbs.shape[0]
    sep = np.full((n, 1), ord(","), dtype=np.uint8)
    sep[-1, 0] = ord(";")
    return (head + b"memory_initialization_radix=16;\nmemory_initialization_vector=\n"
            + _lines(n, digits(limbs, wb, 16), sep, b"\n"))


MIF_MIN_RUN = 4  # runs of >= this many equal words become one "[a..b] : w;" line


def _enc_mif(limbs, wb, head):
    n = limbs.shape[0]
    abits = max(1, (n - 1).bit_length())
    addrs = np.arange(n, dtype=np.uint64).reshape(-1, 1)
    a_dig = digits(addrs, abits, 16)
    d_dig = digits(limbs, wb, 16)
    # one fixed-width "\taddr : word;\n" row per word, then long runs of equal words
    # (typically the depth padding) are spliced in as single range lines
    rows = _lines(n, b"\t", a_dig, b" : ", d_dig, b";\n")
    width = len(rows) // n
    same = (limbs[1:] == limbs[:-1]).all(axis=1)
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], n] - 1
    long = (ends - starts + 1) >= MIF_MIN_RUN
    pieces, prev = [], 0
    for a, b in zip(starts[long].tolist(), ends[long].tolist()):
        pieces.append(rows[prev * width: a * width])
        pieces.append(b"\t[" + a_dig[a].tobytes() + b".." + a_dig[b].tobytes() + b"] : "
                      + d_dig[a].tobytes() + b";\n")
        prev = b + 1
    pieces.append(rows[prev * width:])
    return (head + f"WIDTH={wb};\nDEPTH={n};\nADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\n\nCONTENT BEGIN\n".encode()
            + b"".join(pieces) + b"END;\n")


def _enc_raw(limbs, wb, endian):
    be = _be_bytes(limbs, wb)
    return np.ascontiguousarray(be if endian == "big" else be[:, ::-1]).tobytes()


def c_type(word_bits: int) -> str:
    """Smallest ``uintN_t`` holding a word (``uint64_t`` limbs above 64 bits)."""
    for bits in (8, 16, 32, 64):
        if word_bits <= bits:
            return f"uint{bits}_t"
    return "uint64_t"


def _enc_c(limbs, wb, name, head):
    n, nl = limbs.shape
    guard = name.upper()
    ctype = c_type(wb)
    out = [head, f"#ifndef {guard}_H\n#define {guard}_H\n\n#include <stdint.h>\n\n".encode(),
           f"#define {guard}_DEPTH {n}u\n#define {guard}_WIDTH {wb}u\n".encode()]
    if wb <= 64:
        out.append(f"\nconst {ctype} {name}[{n}] = {{\n".encode())
        out.append(_lines(n, b"    0x", digits(limbs, wb, 16), b",\n"))
    else:
        out.append(f"#define {guard}_LIMBS {nl}u  /* uint64_t limbs per word, limb 0 least significant */\n"
                   f"\nconst uint64_t {name}[{n}][{nl}] = {{\n".encode())
        cols: list[Any] = [b"    {"]
        for k in range(nl):
            cols += [b"0x", digits(limbs[:, k:k + 1], 64, 16), b", " if k < nl - 1 else b"},\n"]
        out.append(_lines(n, *cols))
    out.append(f"}};\n\n#endif /* {guard}_H */\n".encode())
    return b"".join(out)


_C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def c_name(text: str) -> str:
    """A C identifier made from a file stem."""
    s = re.sub(r"\W", "_", text)
    return s if _C_IDENT.match(s) else "_" + s


def encode_words(words: Any, word_bits: int, fmt: str, *, name: str = "mem", endian: str = "little",
                 base_addr: int | None = None, info: Mapping[str, Any] | None = None) -> bytes:
    """Words -> file content.  ``words``: ``[n]`` unsigned (word_bits <= 64), ``[n, limbs]``
    uint64, or a list of Python ints.  ``info`` adds ``k=v`` fields to the header comment
    (no header when None; raw never has one)."""
    fmt = _check_fmt(fmt)
    if not 1 <= int(word_bits) <= 4096:
        raise ValueError(f"word_bits must be in 1..4096, got {word_bits}")
    limbs = as_limbs(words, word_bits)
    if limbs.shape[0] == 0:
        raise ValueError("no words to write")
    if base_addr is not None and (fmt not in ("hex", "bin") or int(base_addr) < 0):
        raise ValueError("base_addr (an @addr record) exists only for hex and bin, and must be >= 0")
    if endian not in ("little", "big"):
        raise ValueError(f"endian must be little or big, got {endian!r}")
    if fmt == "c" and not _C_IDENT.match(name):
        raise ValueError(f"C array name {name!r} is not a C identifier")
    head = _header(fmt, word_bits, limbs.shape[0], info)
    if fmt == "hex":
        return _enc_readmem(limbs, word_bits, 16, base_addr, head)
    if fmt == "bin":
        return _enc_readmem(limbs, word_bits, 2, base_addr, head)
    if fmt == "coe":
        return _enc_coe(limbs, word_bits, head)
    if fmt == "mif":
        return _enc_mif(limbs, word_bits, head)
    if fmt == "raw":
        return _enc_raw(limbs, word_bits, endian)
    return _enc_c(limbs, word_bits, name, head)


# =================================================================================
# decoders: bytes -> [n, limbs] uint64
# =================================================================================

def _ascii(data: bytes, fmt: str) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise ValueError(f"{fmt} file is not ASCII text") from None


_CXX_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_CXX_COMMENT_B = re.compile(rb"//[^\n]*|/\*.*?\*/", re.S)


def _dec_readmem(data: bytes, radix: int, word_bits: int | None) -> tuple[np.ndarray, int, int]:
    """$readmemh/$readmemb grammar: whitespace-separated numbers, // and /* */ comments,
    ``@hex`` address records.  Returns (words from the lowest address, that address, word_bits)."""
    if b"/" in data:
        data = _CXX_COMMENT_B.sub(b" ", data)
    if b"@" not in data:
        words, wb = _numbers(data, b"", radix, word_bits)
        return words, 0, wb
    toks = _ascii(data, "readmem").split()
    at = [i for i, t in enumerate(toks) if t.startswith("@")]
    bounds = at + [len(toks)]
    segs: list[tuple[int, list[str]]] = [(0, toks[: at[0]])] if at[0] > 0 else []
    for j, i in enumerate(at):
        try:
            addr = int(toks[i][1:].replace("_", ""), 16)
        except ValueError:
            raise ValueError(f"bad address record {toks[i]!r}") from None
        segs.append((addr, toks[i + 1: bounds[j + 1]]))
    values = [t for _, seg in segs for t in seg]
    if not values:
        raise ValueError("no words in file")
    wb = word_bits or max(len(t.replace("_", "")) for t in values) * (4 if radix == 16 else 1)
    nonempty = [(a, parse_tokens(s, radix, wb)) for a, s in segs if s]
    base = min(a for a, _ in nonempty)
    end = max(a + w.shape[0] for a, w in nonempty)
    out = np.zeros((end - base, (wb + 63) // 64), dtype=np.uint64)
    for a, w in nonempty:  # later records win, as in a simulator
        out[a - base: a - base + w.shape[0]] = w
    return out, base, wb


def _dec_coe(text: str, word_bits: int | None) -> tuple[np.ndarray, int]:
    """COE (UG896): ``keyword = value ;`` statements, anything after a ';' on its line is a
    comment, keywords case-insensitive, memory_initialization_vector last."""
    stmts: list[tuple[str, str]] = []
    pos = 0
    while True:
        j = text.find(";", pos)
        if j < 0:
            if text[pos:].strip():
                raise ValueError(f"COE statement not terminated by ';': {text[pos:].strip()[:40]!r}")
            break
        stmt = text[pos:j].strip()
        nl = text.find("\n", j)
        pos = len(text) if nl < 0 else nl + 1
        if not stmt:
            continue
        key, eq, value = stmt.partition("=")
        if not eq:
            raise ValueError(f"COE: expected keyword=value, got {stmt[:40]!r}")
        stmts.append((key.strip().lower(), value))
    keys = [k for k, _ in stmts]
    if "memory_initialization_radix" not in keys or "memory_initialization_vector" not in keys:
        raise ValueError("COE needs memory_initialization_radix and memory_initialization_vector")
    if keys[-1] != "memory_initialization_vector":
        raise ValueError("COE: memory_initialization_vector must be the last keyword")
    d = dict(stmts)
    radix_s = d["memory_initialization_radix"].strip()
    if radix_s not in ("2", "10", "16"):
        raise ValueError(f"COE memory_initialization_radix must be 2, 10 or 16, got {radix_s!r}")
    return _numbers(d["memory_initialization_vector"].encode(), b",", int(radix_s), word_bits,
                    signed_ok=True)


_MIF_COMMENT = re.compile(rb"--[^\n]*|%[^%]*%")
_MIF_RADIX = {"BIN": 2, "OCT": 8, "HEX": 16, "DEC": 10, "UNS": 10}
_MIF_SEP = _sep_table(b":;")
_MIF_CLASS = np.ones(256, dtype=np.uint8)  # 0 space, 1 token character, 2 ':', 3 ';'
_MIF_CLASS[list(_WS)] = 0
_MIF_CLASS[ord(":")] = 2
_MIF_CLASS[ord(";")] = 3


def _strip_mif_comments(data: bytes) -> bytes:
    # comments sit in the header in practice: only the prefix up to the last one is scanned
    last = max(data.rfind(b"--"), data.rfind(b"%"))
    if last < 0:
        return data
    nl = data.find(b"\n", last)
    cut = len(data) if nl < 0 else nl
    return _MIF_COMMENT.sub(b" ", data[:cut]) + data[cut:]


def _dec_mif(data: bytes, word_bits: int | None) -> tuple[np.ndarray, int]:
    """Intel MIF: WIDTH, DEPTH, ADDRESS_RADIX, DATA_RADIX; CONTENT BEGIN ... END;
    entries ``addr : v [v ...];`` (consecutive addresses) or ``[a..b] : v;``; comments
    ``-- to end of line`` and ``% ... %``.  Unlisted addresses read as 0; entries
    apply in order (a later one overrides)."""
    data = _strip_mif_comments(data)
    if b"%" in data:
        raise ValueError("MIF: unterminated % comment")
    m = re.search(rb"\bCONTENT\s+BEGIN\b", data, re.I)
    if not m:
        raise ValueError("MIF: no CONTENT BEGIN")
    head: dict[str, str] = {}
    for stmt in _ascii(data[: m.start()], "mif").split(";"):
        if not stmt.strip():
            continue
        k, eq, v = stmt.partition("=")
        if not eq:
            raise ValueError(f"MIF: expected KEY = VALUE; got {stmt.strip()[:40]!r}")
        head[k.strip().upper()] = v.strip().upper()
    for key in ("WIDTH", "DEPTH", "ADDRESS_RADIX", "DATA_RADIX"):
        if key not in head:
            raise ValueError(f"MIF: missing {key}")
    try:
        width, depth = int(head["WIDTH"]), int(head["DEPTH"])
    except ValueError:
        raise ValueError("MIF: WIDTH and DEPTH must be decimal integers") from None
    if width < 1 or depth < 1:
        raise ValueError("MIF: WIDTH and DEPTH must be >= 1")
    if word_bits is not None and word_bits != width:
        raise ValueError(f"MIF WIDTH={width} but the layout has word_bits={word_bits}")
    for key in ("ADDRESS_RADIX", "DATA_RADIX"):
        if head[key] not in _MIF_RADIX:
            raise ValueError(f"MIF {key} must be one of {', '.join(_MIF_RADIX)}, got {head[key]!r}")
    arad, drad = _MIF_RADIX[head["ADDRESS_RADIX"]], _MIF_RADIX[head["DATA_RADIX"]]
    dsigned = head["DATA_RADIX"] == "DEC"
    end = len(data.rstrip())
    e = re.search(rb"\bEND\s*;\Z", data[max(m.end(), end - 64): end], re.I)
    if not e:
        raise ValueError("MIF: content not closed by END;")
    buf = np.frombuffer(data, np.uint8)[m.end(): max(m.end(), end - 64) + e.start()]
    out = np.zeros((depth, (width + 63) // 64), dtype=np.uint64)
    semi = np.flatnonzero(buf == ord(";"))
    n_ent = len(semi)

    def text(a: int, b: int) -> str:
        return buf[a:b].tobytes().decode("ascii", errors="replace").strip()

    def entry(k: int) -> str:
        return text(semi[k - 1] + 1 if k else 0, semi[k])

    tail = text(semi[-1] + 1 if n_ent else 0, len(buf))
    if tail:
        raise ValueError(f"MIF: entry not terminated by ';': {tail[:40]!r}")
    if n_ent == 0:
        return out, width
    s, t_end = _spans(buf, _MIF_SEP)
    # the common file is "addr : value;" repeated: check that shape in one O(n) pass
    cls = _MIF_CLASS[buf]
    cls = cls[cls != 0]
    seq = cls[np.r_[True, ~((cls[1:] == 1) & (cls[:-1] == 1))]]
    if len(seq) == 4 * n_ent and not (buf == ord("[")).any() and (seq.reshape(-1, 4) == (1, 2, 1, 3)).all():
        hard = np.zeros(0, dtype=np.int64)
        sa, ea, sv, ev = s[0::2], t_end[0::2], s[1::2], t_end[1::2]
    else:  # general: give each token its entry and side of the ':'
        colon = np.flatnonzero(buf == ord(":"))
        n_colon = np.bincount(np.searchsorted(semi, colon), minlength=n_ent)
        if (n_colon != 1).any():
            raise ValueError(f"MIF: expected 'address : data;', got {entry(int(np.argmax(n_colon != 1)))!r}")
        ent = np.searchsorted(semi, s)
        right = s > colon[ent]
        n_a = np.bincount(ent[~right], minlength=n_ent)
        n_v = np.bincount(ent[right], minlength=n_ent)
        is_hard = (n_a != 1) | (n_v != 1)
        is_hard[np.searchsorted(semi, np.flatnonzero(buf == ord("[")))] = True
        easy = ~is_hard[ent]
        sa, ea, sv, ev = s[easy & ~right], t_end[easy & ~right], s[easy & right], t_end[easy & right]
        hard = np.flatnonzero(is_hard)
    if len(sa):
        ai = _span_numbers(buf, sa, ea, arad, 64)[0][:, 0]
        if int(ai.max()) >= depth:
            raise ValueError(f"MIF: address {int(ai.max())} out of range for DEPTH={depth}")
        vi = _span_numbers(buf, sv, ev, drad, width, signed_ok=dsigned)[0]
        easy_ent = np.searchsorted(semi, sa)
    else:
        ai = vi = easy_ent = np.zeros(0, dtype=np.int64)
    # entries apply in file order, a later one overriding an earlier one (Intel's own
    # example puts "6 : F;" after "[0..F] : 3FFF;"); easy entries go in vectorised chunks
    done = 0
    for k in hard.tolist() + [n_ent]:
        upto = int(np.searchsorted(easy_ent, k))
        if upto > done:
            a_chunk, v_chunk = ai[done:upto], vi[done:upto]
            uniq, last = np.unique(a_chunk[::-1], return_index=True)
            if len(uniq) < len(a_chunk):  # repeated addresses: keep the last one
                keep = len(a_chunk) - 1 - last
                a_chunk, v_chunk = a_chunk[keep], v_chunk[keep]
            out[a_chunk] = v_chunk
            done = upto
        if k == n_ent:
            break
        a, _, v = entry(k).partition(":")
        a, vs = a.strip(), v.split()
        if not vs:
            raise ValueError(f"MIF: entry {a!r} without a value")
        w = parse_tokens(vs, drad, width, signed_ok=dsigned)
        rm = re.fullmatch(r"\[\s*(\S+?)\s*\.\.\s*(\S+?)\s*\]", a)
        if rm:
            lo, hi = (int(parse_tokens([x], arad, 64)[0, 0]) for x in rm.groups())
            if lo > hi or hi >= depth or len(vs) != 1:
                raise ValueError(f"MIF: bad range entry {entry(k)!r}")
        else:
            lo = int(parse_tokens([a], arad, 64)[0, 0])
            hi = lo + len(vs) - 1
            if hi >= depth:
                raise ValueError(f"MIF: address {hi} out of range for DEPTH={depth}")
        out[lo: hi + 1] = w
    return out, width


_C_DECL = re.compile(
    r"const\s+(uint(?:8|16|32|64)_t)\s+([A-Za-z_]\w*)\s*\[\s*(\d+)u?\s*\]\s*(?:\[\s*(\d+)u?\s*\])?\s*=\s*\{")


def _dec_c(text: str, word_bits: int | None) -> tuple[np.ndarray, int]:
    if "/" in text:
        text = _CXX_COMMENT.sub(" ", text)
    m = _C_DECL.search(text)
    end = re.compile(r"\}\s*;").search(text, m.end()) if m else None
    if not m or not end:
        raise ValueError("C header: no 'const uintN_t name[DEPTH] = {...};' array found")
    ctype, _, depth_s, limbs_s, = m.groups()
    depth, cbits = int(depth_s), int(ctype[4:-2])
    nl = int(limbs_s) if limbs_s else 1
    vals, _ = _numbers(text[m.end(): end.start()].encode(), b",{}", 16, cbits, c_prefix=True)
    if vals.shape[0] != depth * nl:
        raise ValueError(f"C header: {vals.shape[0]} values for [{depth}]" + (f"[{nl}]" if limbs_s else ""))
    if limbs_s:
        wb = word_bits or 64 * nl
        words = np.ascontiguousarray(vals.reshape(depth, nl))
    else:
        wb = word_bits or cbits
        if wb > 64:
            raise ValueError(f"C header holds 1 value per word but word_bits={wb}")
        words = vals
    if words.shape[1] != (wb + 63) // 64:
        raise ValueError(f"C header has {words.shape[1]} limbs per word, word_bits={wb} needs {(wb + 63) // 64}")
    check_word_width(words, wb)
    return words, wb


def _dec_raw(data: bytes, word_bits: int | None, endian: str) -> np.ndarray:
    if not word_bits:
        raise ValueError("raw images carry no width: give word_bits (or a layout)")
    nb = _nbytes(word_bits)
    if len(data) % nb:
        raise ValueError(f"raw image of {len(data)} bytes is not a whole number of {nb}-byte words")
    be = np.frombuffer(data, np.uint8).reshape(-1, nb)
    return _from_be_bytes(be if endian == "big" else be[:, ::-1], word_bits)


def decode_words(data: bytes, fmt: str, word_bits: int | None = None,
                 endian: str = "little") -> tuple[np.ndarray, dict[str, Any]]:
    """File content -> (``[n, limbs]`` uint64 words, info).  ``word_bits`` None: taken from
    the t2c header comment, else from the file (MIF WIDTH, C type, digit count)."""
    fmt = _check_fmt(fmt)
    info: dict[str, Any] = dict(parse_header(data)) if fmt != "raw" else {}
    if word_bits is None and "width" in info:
        word_bits = int(info["width"])
    if fmt == "raw":
        words, wb = _dec_raw(data, word_bits, endian), word_bits
    elif fmt in ("hex", "bin"):
        words, base, wb = _dec_readmem(data, 16 if fmt == "hex" else 2, word_bits)
        info["base_addr"] = base
    elif fmt == "coe":
        words, wb = _dec_coe(_ascii(data, fmt), word_bits)
    elif fmt == "mif":
        words, wb = _dec_mif(data, word_bits)
    else:
        words, wb = _dec_c(_ascii(data, fmt), word_bits)
    info["width"] = wb
    info["words"] = words.shape[0]
    return words, info


# =================================================================================
# format names and paths
# =================================================================================

def _check_fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    return fmt


def _is_text(head: bytes) -> bool:
    b = np.frombuffer(head, np.uint8)
    return bool(b.size) and bool((((b >= 32) & (b <= 126)) | ((b >= 9) & (b <= 13))).all())


def _looks_like_readmem(head: bytes, truncated: bool, digits: str) -> bool:
    if not _is_text(head):
        return False
    toks = _CXX_COMMENT.sub(" ", head.decode("ascii")).split()
    if truncated:
        toks = toks[:-1]  # may be cut in the middle
    ok = set(digits + "_xXzZ")
    return bool(toks) and all(t.startswith("@") or set(t) <= ok for t in toks)


def sniff_format(data: bytes) -> str | None:
    """The text format ``data`` is written in, judged by content alone (the t2c header
    comment, COE / MIF keywords, a C array declaration, or $readmem digits), or None.

    Raw binary has no grammar to recognise: it is never guessed (None).
    """
    head = data[:4096]
    truncated = len(data) > 4096
    if not head.strip():
        return None
    hdr = parse_header(head)
    if hdr.get("fmt") in FORMATS and hdr["fmt"] != "raw":
        return hdr["fmt"]
    if not _is_text(head):
        return None
    text = head.decode("ascii")
    if re.search(r"memory_initialization_(radix|vector)", text, re.I):
        return "coe"
    if re.search(r"\bCONTENT\s+BEGIN\b", text, re.I):
        return "mif"
    if _C_DECL.search(_CXX_COMMENT.sub(" ", text)):
        return "c"
    if _looks_like_readmem(head, truncated, "01"):
        return "bin"
    if _looks_like_readmem(head, truncated, "0123456789abcdefABCDEF"):
        return "hex"
    return None


def detect_format(path: str | os.PathLike) -> str:
    """Format from the extension; ``.bin`` is $readmemb text if it reads as 0/1 digits,
    else raw binary; an unknown extension is sniffed from the content (raw if nothing fits)."""
    path = Path(path)
    fmt = _EXT_TO_FMT.get(path.suffix.lower())
    if fmt not in (None, "bin"):
        return fmt
    with open(path, "rb") as f:
        data = f.read(4097)
    sniffed = sniff_format(data)
    if fmt == "bin":
        return "bin" if sniffed == "bin" else "raw"
    return sniffed or "raw"


def bank_paths(path: str | os.PathLike, banks: int) -> list[Path]:
    """``w.hex`` -> [``w.hex``] for one bank, [``w_b0.hex``, ``w_b1.hex``, ...] otherwise."""
    path = Path(path)
    if banks == 1:
        return [path]
    return [path.with_name(f"{path.stem}_b{b}{path.suffix}") for b in range(banks)]


def _resolve_fmt(fmt: str | None, path: Path) -> str:
    if fmt is not None:
        return _check_fmt(fmt)
    ext = path.suffix.lower()
    if ext in _EXT_TO_FMT:
        return _EXT_TO_FMT[ext]
    raise ValueError(f"cannot tell the format of {path.name!r} from its extension; give fmt= one of {', '.join(FORMATS)}")


# =================================================================================
# words: one file
# =================================================================================

def write_words(path: str | os.PathLike, words: Any, word_bits: int, fmt: str | None = None, *,
                name: str | None = None, endian: str = "little", base_addr: int | None = None,
                info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write already-packed words to one file (atomically).  Returns {file, sha256, bytes}."""
    path = Path(path)
    fmt = _resolve_fmt(fmt, path)
    data = encode_words(words, word_bits, fmt, name=name or c_name(path.stem), endian=endian,
                        base_addr=base_addr, info=info)
    atomic_write_bytes(path, data)
    return {"file": path.name, "sha256": sha256_bytes(data), "bytes": len(data)}


def read_words(path: str | os.PathLike, fmt: str | None = None, word_bits: int | None = None,
               endian: str = "little") -> np.ndarray:
    """Read one file's words as ``[n, limbs]`` uint64 (column 0 is the word when <= 64 bits)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    return decode_words(path.read_bytes(), fmt, word_bits, endian)[0]


def read_dump(path: str | os.PathLike, word_bits: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A memory a simulator wrote with ``$writememh``: ``([count, limbs] uint64, valid[count])``.

    ``valid`` is False for a word with an x or z digit (Icarus writes those for memory
    never written) and for words missing at the end of a short file; such words read 0.
    Comments and ``@address`` lines are skipped (the testbenches dump whole memories from
    address 0).
    """
    data = Path(path).read_bytes()
    if b"/" in data:
        data = _CXX_COMMENT_B.sub(b" ", data)
    toks = [t for t in _ascii(data, "hex").split() if not t.startswith("@")][:count]
    if re.search(rb"[xXzZ]", data):
        unknown = np.array([any(c in "xXzZ" for c in t) for t in toks], dtype=bool)
    else:  # the common case (Verilator never writes x): no per-word check
        unknown = np.zeros(len(toks), dtype=bool)
    nl = (word_bits + 63) // 64
    words = np.zeros((count, nl), dtype=np.uint64)
    known = [t for t, u in zip(toks, unknown) if not u]
    idx = np.flatnonzero(~unknown)
    if known:
        words[idx] = parse_tokens(known, 16, word_bits)
    valid = np.zeros(count, dtype=bool)
    valid[idx] = True
    return words, valid


# =================================================================================
# memories: array + layout <-> one file per bank, plus a sidecar record
# =================================================================================

_RECORD_KEYS = ("file", "name", "format", "layout", "shape", "width", "depth", "words", "banks",
                "base_addr", "files")


def _shape_str(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape)


def write_memory(path: str | os.PathLike, array: Any, layout: Layout | Mapping[str, Any] | str,
                 fmt: str | None = None, name: str | None = None, *, base_addr: int | None = None,
                 header: bool = True, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write a 1-D or 2-D ``[depth, lanes]`` integer array as a memory image.

    One file per bank (``w_b0.hex``, ``w_b1.hex``, ... when ``layout.banks > 1``).  Every
    check runs before the first byte is written, and each file is written atomically.
    Returns the sidecar record (see docs/formats.md); ``meta`` adds keys to it.
    """
    path = Path(path)
    fmt = _resolve_fmt(fmt, path)
    layout = Layout.coerce(layout)
    a = as_int_array(array)
    name = name or c_name(path.stem)
    if not _C_IDENT.match(name):
        raise ValueError(f"name {name!r} is not a C identifier")
    if meta and set(meta) & set(_RECORD_KEYS):
        raise ValueError(f"meta keys {sorted(set(meta) & set(_RECORD_KEYS))} clash with record keys")
    banks = to_banks(a, layout)
    paths = bank_paths(path, layout.banks)
    nb = layout.banks
    blobs = []
    for b, (p, w) in enumerate(zip(paths, banks)):
        bname = name if nb == 1 else f"{name}_b{b}"
        info = {"name": bname, "layout": layout.spec(), "shape": _shape_str(a.shape),
                "bank": f"{b}/{nb}"} if header else None
        blobs.append(encode_words(w, layout.word_bits, fmt, name=bname, endian=layout.endian,
                                  base_addr=base_addr, info=info))
    files = []
    for b, (p, data) in enumerate(zip(paths, blobs)):
        atomic_write_bytes(p, data)
        files.append({"file": p.name, "bank": b, "sha256": sha256_bytes(data), "bytes": len(data)})
    record = {"file": path.name, "name": name, "format": fmt, "layout": layout.to_dict(),
              "shape": [int(s) for s in a.shape], "width": layout.word_bits,
              "depth": int(banks[0].shape[0]), "words": words_per_bank(a.shape, layout),
              "banks": nb, "base_addr": base_addr, "files": files}
    if meta:
        record.update(meta)
    return record


def read_memory(path: str | os.PathLike, fmt: str | None = None,
                layout: Layout | Mapping[str, Any] | str | None = None,
                shape: Sequence[int] | None = None, *, verify: bool = True) -> np.ndarray:
    """Read back what ``write_memory`` wrote: the same integers (int64).

    ``path`` is the path given to ``write_memory`` (bank files are found from it).  Any
    of ``fmt``, ``layout``, ``shape`` left None is taken from the sidecar next to the file,
    else from the file's t2c header comment; without a shape, every stored word
    (padding included) is returned as ``[rows, lanes]``.  With ``verify`` the sha256 of
    each file is checked against the sidecar when one lists it.
    """
    path = Path(path)
    record = find_record(path)
    if record and record.get("file") != path.name:  # a bank file was named: use the base path
        path = path.with_name(record["file"])
    if fmt is None:
        fmt = record["format"] if record else None
    if layout is None and record:
        layout = record["layout"]
    if shape is None and record:
        shape = record["shape"]
    first = path if path.exists() else bank_paths(path, 2)[0]
    hdr: dict[str, str] = {}
    if layout is None or shape is None or fmt is None:
        if not first.exists():
            raise FileNotFoundError(f"{path}: no such memory image (nor {first.name})")
        hdr = parse_header(first.read_bytes()[:4096])
    if fmt is None:
        fmt = hdr.get("fmt") or detect_format(first)
    if layout is None:
        if "layout" not in hdr:
            raise ValueError(f"{path.name}: no layout given and none recorded in a sidecar or header")
        layout = hdr["layout"]
    layout = Layout.coerce(layout)
    if shape is None and "shape" in hdr:
        shape = [int(s) for s in hdr["shape"].split("x")]
    sums = {f["file"]: f["sha256"] for f in record["files"]} if (record and verify) else {}
    banks = []
    for p in bank_paths(path, layout.banks):
        data = p.read_bytes()
        if p.name in sums and sha256_bytes(data) != sums[p.name]:
            raise ChecksumError(f"{p.name}: sha256 {sha256_bytes(data)[:16]}... differs from "
                                f"{sums[p.name][:16]}... recorded in {SIDECAR_NAME}")
        banks.append(decode_words(data, fmt, layout.word_bits, layout.endian)[0])
    return from_banks(banks, layout, shape)


# =================================================================================
# sidecar
# =================================================================================

def write_sidecar(directory: str | os.PathLike, records: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``<directory>/memories.json`` (replacing it) describing ``records``.

    File names in the records are relative to ``directory``; each must exist there.
    """
    directory = Path(directory)
    seen: set[str] = set()
    for r in records:
        if "files" not in r or not r["files"]:
            raise ValueError(f"sidecar record {r.get('file', '?')!r} has no files")
        for f in r["files"]:
            if f["file"] in seen:
                raise ValueError(f"file {f['file']!r} appears twice in the sidecar records")
            seen.add(f["file"])
            if not (directory / f["file"]).is_file():
                raise FileNotFoundError(f"{f['file']}: listed in the sidecar but not in {directory}")
    doc = {"schema": SIDECAR_SCHEMA, "records": [dict(r) for r in records]}
    out = directory / SIDECAR_NAME
    atomic_write_text(out, json.dumps(doc, indent=1) + "\n")
    return out


def read_sidecar(directory: str | os.PathLike, verify: bool = True) -> list[dict[str, Any]]:
    """Load the sidecar; with ``verify`` every listed file's sha256 is checked
    (ChecksumError / FileNotFoundError naming the file)."""
    directory = Path(directory)
    p = directory / SIDECAR_NAME
    doc = json.loads(p.read_text())
    if doc.get("schema") != SIDECAR_SCHEMA:
        raise ValueError(f"{p}: schema {doc.get('schema')!r} is not {SIDECAR_SCHEMA!r}")
    records = doc["records"]
    if verify:
        for r in records:
            for f in r["files"]:
                fp = directory / f["file"]
                if not fp.is_file():
                    raise FileNotFoundError(f"{f['file']}: listed in {SIDECAR_NAME} but missing")
                got = sha256_bytes(fp.read_bytes())
                if got != f["sha256"]:
                    raise ChecksumError(f"{f['file']}: sha256 {got[:16]}... differs from "
                                        f"{f['sha256'][:16]}... recorded in {SIDECAR_NAME}")
    return records


def sidecar_files(directory: str | os.PathLike) -> set[str] | None:
    """The files a ``memories.json`` in ``directory`` lists (itself included); None when
    there is no readable sidecar (how ``t2c export`` recognises its previous output)."""
    try:
        records = read_sidecar(directory, verify=False)
        return {f["file"] for r in records for f in r["files"]} | {SIDECAR_NAME}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar record (next to ``path``) for ``path`` or one of its bank files."""
    path = Path(path)
    sc = path.parent / SIDECAR_NAME
    if not sc.is_file():
        return None
    try:
        records = read_sidecar(path.parent, verify=False)
    except (ValueError, KeyError):
        return None
    for r in records:
        if r.get("file") == path.name or any(f.get("file") == path.name for f in r.get("files", ())):
            return r
    return None
