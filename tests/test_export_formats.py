"""t2c.export formats: round trips, vendor grammar checks, sidecar, inspect, error paths.

The COE and MIF checkers below are written from the vendors' documentation (Vivado UG896
"COE File Syntax"; Intel Quartus "Memory Initialization File (.mif) Definition") and
share no code with t2c.export, so a writer bug cannot hide behind a matching reader bug.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from t2c.export import (EXTENSIONS, FORMATS, SIDECAR_NAME, ChecksumError, Layout, bank_paths,
                        decode_words, detect_format, encode_words, inspect_file, read_memory,
                        read_sidecar, read_words, tile, untile, write_memory,
                        write_sidecar, write_words)
from t2c.export.layout import ints_to_limbs, limbs_to_int
from test_export_layout import ELEM_BITS, arrays_for, layouts

# =================================================================================
# independent grammar checkers (from the vendor docs)
# =================================================================================


class GrammarError(Exception):
    pass


def check_coe(text: str, width: int, depth: int) -> list[int]:
    """Vivado COE for Block Memory Generator.

    UG896: ``Keyword = Value ; Optional Comment``; keywords not case sensitive; any text
    after a semicolon is a comment; the data keyword (memory_initialization_vector) is
    the last keyword; values separated by commas; memory_initialization_radix is 2, 10
    or 16.  The memory width/depth are set in the IP, so the caller passes them: every
    value must fit ``width`` bits and there must be exactly ``depth`` values.
    """
    statements, pending = [], ""
    for line in text.splitlines():
        if ";" in line:
            statements.append((pending + " " + line.split(";", 1)[0]).strip())
            pending = ""
        else:
            pending += " " + line
    if pending.strip():
        raise GrammarError(f"statement without closing ';': {pending.strip()[:30]!r}")
    statements = [s for s in statements if s]
    kv = []
    for s in statements:
        if "=" not in s:
            raise GrammarError(f"not keyword=value: {s[:30]!r}")
        k, v = s.split("=", 1)
        kv.append((k.strip().lower(), v.strip()))
    keys = [k for k, _ in kv]
    if keys.count("memory_initialization_radix") != 1 or keys.count("memory_initialization_vector") != 1:
        raise GrammarError("need one memory_initialization_radix and one memory_initialization_vector")
    if keys[-1] != "memory_initialization_vector":
        raise GrammarError("memory_initialization_vector must be the last keyword")
    radix = dict(kv)["memory_initialization_radix"]
    if radix not in ("2", "10", "16"):
        raise GrammarError(f"radix {radix!r} not in 2, 10, 16")
    digits = {"2": "01", "10": "0123456789", "16": "0123456789abcdefABCDEF"}[radix]
    values = [v.strip() for v in dict(kv)["memory_initialization_vector"].split(",")]
    out = []
    for v in values:
        if not v or any(c not in digits for c in v):
            raise GrammarError(f"value {v!r} is not base {radix}")
        x = int(v, int(radix))
        if x >= 1 << width:
            raise GrammarError(f"value {v} wider than {width} bits")
        out.append(x)
    if len(out) != depth:
        raise GrammarError(f"{len(out)} values for a depth of {depth}")
    return out


def _strip_mif_comments(text: str) -> str:
    """-- to end of line; % ... % possibly over several lines (a small state machine)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] == "%":
            j = text.find("%", i + 1)
            if j < 0:
                raise GrammarError("unterminated % comment")
            i = j + 1
            out.append(" ")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_MIF_DIGITS = {"BIN": (2, "01"), "OCT": (8, "01234567"), "HEX": (16, "0123456789ABCDEF"),
               "DEC": (10, "-0123456789"), "UNS": (10, "0123456789")}


def check_mif(text: str, strict: bool = True) -> list[int]:
    """Intel MIF.  The file starts with DEPTH, WIDTH, ADDRESS_RADIX and DATA_RADIX
    (radix BIN, HEX, OCT, DEC, UNS); address : data pairs sit between CONTENT BEGIN and
    END; each ends with ';'; ``[a..b] : v`` is a range.  Every address must be in
    0..DEPTH-1 and every value fit WIDTH; with ``strict`` (what t2c writes) every address
    is given exactly once, so DEPTH matches the content."""
    toks = re.findall(r"\[[^\]]*\]|[^\s;:=]+|[;:=]", _strip_mif_comments(text))
    pos = 0

    def take(expect=None):
        nonlocal pos
        if pos >= len(toks):
            raise GrammarError(f"unexpected end of file (wanted {expect})")
        t = toks[pos]
        pos += 1
        if expect is not None and t.upper() != expect:
            raise GrammarError(f"expected {expect!r}, got {t!r}")
        return t

    head = {}
    while pos < len(toks) and toks[pos].upper() != "CONTENT":
        k = take().upper()
        take("=")
        head[k] = take().upper()
        take(";")
    if set(head) != {"DEPTH", "WIDTH", "ADDRESS_RADIX", "DATA_RADIX"}:
        raise GrammarError(f"header keys {sorted(head)}")
    depth, width = int(head["DEPTH"]), int(head["WIDTH"])
    for k in ("ADDRESS_RADIX", "DATA_RADIX"):
        if head[k] not in _MIF_DIGITS:
            raise GrammarError(f"{k} {head[k]!r} not one of {sorted(_MIF_DIGITS)}")
    take("CONTENT")
    take("BEGIN")

    def num(tok, radix_name, bits):
        base, ok = _MIF_DIGITS[radix_name]
        if not tok or any(c not in ok for c in tok.upper()):
            raise GrammarError(f"{tok!r} is not {radix_name}")
        x = int(tok, base)
        lo = -(1 << (bits - 1)) if radix_name == "DEC" else 0
        if not lo <= x < (1 << bits):
            raise GrammarError(f"value {tok} does not fit {bits} bits")
        return x % (1 << bits)

    mem: dict[int, int] = {}
    count = {}
    while True:
        t = take()
        if t.upper() == "END":
            take(";")
            break
        if t.startswith("["):
            m = re.fullmatch(r"\[\s*(\w+)\s*\.\.\s*(\w+)\s*\]", t)
            if not m:
                raise GrammarError(f"bad range {t!r}")
            lo, hi = (num(x, head["ADDRESS_RADIX"], 64) for x in m.groups())
        else:
            lo = hi = num(t, head["ADDRESS_RADIX"], 64)
        take(":")
        vals = []
        while toks[pos] != ";":
            vals.append(num(take(), head["DATA_RADIX"], width))
        take(";")
        if not vals:
            raise GrammarError("entry without data")
        addrs = range(lo, hi + 1) if len(vals) == 1 else range(lo, lo + len(vals))
        for i, a in enumerate(addrs):
            if not 0 <= a < depth:
                raise GrammarError(f"address {a} outside 0..{depth - 1}")
            mem[a] = vals[0] if len(vals) == 1 else vals[i]
            count[a] = count.get(a, 0) + 1
    if pos != len(toks):
        raise GrammarError("text after END;")
    if strict and (len(mem) != depth or max(count.values()) > 1):
        raise GrammarError(f"content covers {len(mem)} addresses, DEPTH is {depth}")
    return [mem.get(a, 0) for a in range(depth)]


def check_readmem(text: str, width: int, radix: int) -> list[int]:
    """What t2c writes: // comments, optional @hex address, then one fixed-width,
    zero-padded (lowercase hex) word per line."""
    nd = (width + 3) // 4 if radix == 16 else width
    pat = re.compile("[0-9a-f]{%d}" % nd if radix == 16 else "[01]{%d}" % nd)
    out = []
    for line in text.splitlines():
        if line.startswith("//") or re.fullmatch(r"@[0-9a-f]+", line):
            continue
        if not pat.fullmatch(line):
            raise GrammarError(f"line {line!r}")
        x = int(line, radix)
        if x >= 1 << width:
            raise GrammarError(f"{line} wider than {width} bits")
        out.append(x)
    return out


def words_of(path: Path, lay: Layout) -> list[int]:
    return [limbs_to_int(w) for w in read_words(path, None, lay.word_bits, lay.endian)]


def check_grammar(fmt: str, path: Path, lay: Layout) -> None:
    """Every written file passes the checker of its format and agrees with our reader."""
    text = path.read_bytes().decode("ascii") if fmt != "raw" else None
    expect = words_of(path, lay)
    if fmt == "coe":
        assert check_coe(text, lay.word_bits, len(expect)) == expect
    elif fmt == "mif":
        assert check_mif(text) == expect
    elif fmt in ("hex", "bin"):
        assert check_readmem(text, lay.word_bits, 16 if fmt == "hex" else 2) == expect


# =================================================================================
# round trips
# =================================================================================

@settings(max_examples=60, deadline=None)
@given(st.data())
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_property(fmt, data):
    lay = data.draw(layouts())
    a = data.draw(arrays_for(lay))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"m{EXTENSIONS[fmt]}"
        rec = write_memory(path, a, lay, fmt)
        assert [f["file"] for f in rec["files"]] == [p.name for p in bank_paths(path, lay.banks)]
        got = read_memory(path, fmt, lay, a.shape)
        assert np.array_equal(got, a)
        for p in bank_paths(path, lay.banks):
            check_grammar(fmt, p, lay)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("elem_bits", ELEM_BITS)
@pytest.mark.parametrize("signed", [True, False])
def test_round_trip_grid(tmp_path, fmt, elem_bits, signed):
    """Every format x bit width 2..8 (+16, 32) x signedness, over a spread of layouts."""
    rng = np.random.default_rng(elem_bits * 2 + signed)
    specs = [dict(word_bits=32 if elem_bits <= 32 else 64),
             dict(word_bits=elem_bits),
             dict(word_bits=8 * elem_bits + 3, lane_order="msb_first", banks=3, depth_pow2=True, endian="big"),
             dict(word_bits=max(elem_bits, 64), banks=2, bank_by="lane", values_per_word=1),
             dict(word_bits=512, banks=4, depth=8)]
    for i, spec in enumerate(specs):
        lay = Layout(elem_bits=elem_bits, signed=signed, **spec)
        for shape in [(37,), (5, 16), (3, 70)]:
            a = rng.integers(lay.elem_min, lay.elem_max, size=shape, endpoint=True)
            path = tmp_path / f"m{i}_{len(shape)}{EXTENSIONS[fmt]}"
            write_memory(path, a, lay, fmt)
            assert np.array_equal(read_memory(path, fmt, lay, shape), a), (spec, shape)
            if fmt != "raw":  # self-describing: the header comment carries layout + shape
                assert np.array_equal(read_memory(path), a), (spec, shape)
            for p in bank_paths(path, lay.banks):
                check_grammar(fmt, p, lay)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sidecar_makes_read_memory_need_only_the_path(tmp_path, fmt):
    lay = Layout(word_bits=24, elem_bits=4, banks=2, endian="big")
    a = np.arange(-8, 8).repeat(5).reshape(10, 8)
    rec = write_memory(tmp_path / f"w{EXTENSIONS[fmt]}", a, lay, fmt, header=False)
    write_sidecar(tmp_path, [rec])
    assert np.array_equal(read_memory(tmp_path / f"w{EXTENSIONS[fmt]}"), a)
    # a bank file's name leads to the same record
    assert np.array_equal(read_memory(tmp_path / f"w_b1{EXTENSIONS[fmt]}"), a)


def test_resnet_like_conv_weights_tiled_for_a_16_column_array(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, size=(64, 3, 7, 7))
    rows = tile(w, 16)
    lay = Layout.parse("word=128,elem=8,signed,banks=2,pow2")
    for fmt in FORMATS:
        path = tmp_path / f"conv1{EXTENSIONS[fmt]}"
        write_memory(path, rows, lay, fmt)
        back = read_memory(path, fmt, lay, rows.shape)
        assert np.array_equal(untile(back, w.shape, 16), w)


def test_hex_example_file(tmp_path):
    a = np.array([[1, -2, 3, -4], [5, 6, 7, -8]])
    write_memory(tmp_path / "w.hex", a, "word=16,elem=4", header=False)
    assert (tmp_path / "w.hex").read_text() == "c3e1\n8765\n"
    write_memory(tmp_path / "w.bin", a, "word=16,elem=4", header=False)
    assert (tmp_path / "w.bin").read_text() == "1100001111100001\n1000011101100101\n"


def test_hex_base_address_record(tmp_path):
    rec = write_memory(tmp_path / "w.hex", np.arange(4), "word=8,elem=8", base_addr=0x40)
    assert "\n@40\n" in (tmp_path / "w.hex").read_text()
    assert rec["base_addr"] == 0x40
    assert np.array_equal(read_memory(tmp_path / "w.hex"), np.arange(4))
    with pytest.raises(ValueError, match="hex and bin"):
        write_memory(tmp_path / "w.mif", np.arange(4), "word=8,elem=8", base_addr=0x40)


def test_raw_endianness(tmp_path):
    a = np.array([0x1234, 0x0056])
    write_memory(tmp_path / "le.raw", a, "word=16,elem=16,unsigned,little")
    write_memory(tmp_path / "be.raw", a, "word=16,elem=16,unsigned,big")
    assert (tmp_path / "le.raw").read_bytes() == b"\x34\x12\x56\x00"
    assert (tmp_path / "be.raw").read_bytes() == b"\x12\x34\x00\x56"
    write_memory(tmp_path / "odd.raw", np.array([1, 2]), "word=12,elem=12,unsigned")  # 2 bytes per word
    assert (tmp_path / "odd.raw").read_bytes() == b"\x01\x00\x02\x00"


def test_c_header_shape_and_type(tmp_path):
    write_memory(tmp_path / "layer_conv3_weight.h", np.arange(6), "word=16,elem=8,unsigned")
    text = (tmp_path / "layer_conv3_weight.h").read_text()
    assert "#include <stdint.h>" in text
    assert "const uint16_t layer_conv3_weight[3] = {" in text
    assert "0x0100," in text
    write_memory(tmp_path / "w.h", np.arange(6), "word=12,elem=4,unsigned")
    assert "const uint16_t w[2]" in (tmp_path / "w.h").read_text()
    write_memory(tmp_path / "w.h", np.arange(6), "word=33,elem=8,unsigned")
    assert "const uint64_t w[2]" in (tmp_path / "w.h").read_text()
    write_memory(tmp_path / "w.h", np.arange(40), "word=160,elem=8,unsigned")
    assert "const uint64_t w[2][3]" in (tmp_path / "w.h").read_text()


# ---- real consumers, when installed -------------------------------------------------

@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.parametrize("word_bits", [8, 12, 32, 64, 130])
def test_c_header_compiles_and_holds_the_words(tmp_path, word_bits):
    rng = np.random.default_rng(word_bits)
    lay = Layout(word_bits=word_bits, elem_bits=4)
    a = rng.integers(-8, 8, size=(9, lay.values_per_word))
    write_memory(tmp_path / "mem.h", a, lay)
    nl = lay.limbs
    if nl == 1:
        body = 'for (unsigned i = 0; i < MEM_DEPTH; i++) printf("%llx\\n", (unsigned long long)mem[i]);'
    else:
        body = ('for (unsigned i = 0; i < MEM_DEPTH; i++) { for (int k = MEM_LIMBS - 1; k >= 0; k--) '
                'printf("%016llx", (unsigned long long)mem[i][k]); printf("\\n"); }')
    (tmp_path / "main.c").write_text(
        f'#include <stdio.h>\n#include "mem.h"\n#include "mem.h"\nint main(void) {{ {body} return 0; }}\n')
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-o", str(tmp_path / "m"), str(tmp_path / "main.c")],
                   check=True, capture_output=True)
    out = subprocess.run([str(tmp_path / "m")], check=True, capture_output=True, text=True).stdout.split()
    assert [int(x, 16) for x in out] == words_of(tmp_path / "mem.h", lay)


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
@pytest.mark.parametrize("fmt,word_bits,base", [("hex", 36, None), ("bin", 13, None), ("hex", 128, 4)])
def test_icarus_readmem_loads_the_same_words(tmp_path, fmt, word_bits, base):
    lay = Layout(word_bits=word_bits, elem_bits=4)
    a = np.random.default_rng(1).integers(-8, 8, size=(6, lay.values_per_word))
    path = tmp_path / f"mem{EXTENSIONS[fmt]}"
    write_memory(path, a, lay, base_addr=base)
    lo = base or 0
    task = "$readmemh" if fmt == "hex" else "$readmemb"
    (tmp_path / "t.v").write_text(f"""module t;
  reg [{word_bits - 1}:0] mem [0:{lo + 5}];
  integer i;
  initial begin
    {task}("{path}", mem);
    for (i = {lo}; i <= {lo + 5}; i = i + 1) $display("%h", mem[i]);
    $finish;
  end
endmodule
""")
    subprocess.run(["iverilog", "-o", str(tmp_path / "t.vvp"), str(tmp_path / "t.v")], check=True,
                   capture_output=True)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "t.vvp")], check=True, capture_output=True,
                         text=True).stdout.split()
    assert [int(x, 16) for x in out] == words_of(path, lay)


# =================================================================================
# the checkers can fail, and so can our readers
# =================================================================================

@pytest.fixture
def coe_text(tmp_path):
    write_memory(tmp_path / "w.coe", np.arange(-4, 4).reshape(2, 4), "word=16,elem=4")
    return (tmp_path / "w.coe").read_text()


@pytest.fixture
def mif_text(tmp_path):
    write_memory(tmp_path / "w.mif", np.arange(-4, 4).reshape(2, 4), "word=16,elem=4,depth=8")
    return (tmp_path / "w.mif").read_text()


def test_written_coe_and_mif_pass(coe_text, mif_text):
    assert check_coe(coe_text, 16, 2) == [0xFEDC, 0x3210]  # [-4..-1], [0..3]: lane 0 lowest
    assert [limbs_to_int(w) for w in decode_words(coe_text.encode(), "coe", 16)[0]] == [0xFEDC, 0x3210]
    assert check_mif(mif_text) == [0xFEDC, 0x3210] + [0] * 6
    assert [limbs_to_int(w) for w in decode_words(mif_text.encode(), "mif")[0]] == [0xFEDC, 0x3210] + [0] * 6
    assert "[2..7] : 0000;" in mif_text  # depth padding as one range line


COE_BREAKS = {
    "wrong radix": lambda t: t.replace("memory_initialization_radix=16;", "memory_initialization_radix=8;"),
    "value too wide": lambda t: re.sub(r"\n([0-9a-f]{4}),", r"\n1\1,", t, count=1),
    "not a hex digit": lambda t: re.sub(r"\n([0-9a-f]{4}),", r"\ng\1,", t, count=1),
    "missing final semicolon": lambda t: t.rstrip().rstrip(";") + "\n",
    "vector not last": lambda t: t + "memory_initialization_radix=16;\n",
    "no radix": lambda t: t.replace("memory_initialization_radix=16;", ""),
}


@pytest.mark.parametrize("breakage", COE_BREAKS)
def test_broken_coe_is_rejected(coe_text, breakage):
    bad = COE_BREAKS[breakage](coe_text)
    assert bad != coe_text
    with pytest.raises(GrammarError):
        check_coe(bad, 16, 2)
    with pytest.raises(ValueError):
        decode_words(bad.encode(), "coe", 16)


MIF_BREAKS = {
    "wrong data radix": lambda t: t.replace("DATA_RADIX=HEX;", "DATA_RADIX=HEXA;"),
    "value too wide": lambda t: t.replace("\t0 : ", "\t0 : 1", 1),
    "missing entry semicolon": lambda t: re.sub(r"(\t0 : [0-9a-f]+);", r"\1", t, count=1),
    "missing END": lambda t: t.replace("END;", ""),
    "address out of range": lambda t: t.replace("DEPTH=8;", "DEPTH=6;"),
    "missing WIDTH": lambda t: t.replace("WIDTH=16;", ""),
}


@pytest.mark.parametrize("breakage", MIF_BREAKS)
def test_broken_mif_is_rejected(mif_text, breakage):
    bad = MIF_BREAKS[breakage](mif_text)
    assert bad != mif_text
    with pytest.raises(GrammarError):
        check_mif(bad)
    with pytest.raises(ValueError):
        decode_words(bad.encode(), "mif")


def test_mif_depth_must_match_content(mif_text):
    with pytest.raises(GrammarError, match="DEPTH"):
        check_mif(mif_text.replace("DEPTH=8;", "DEPTH=9;"))


@pytest.mark.parametrize("fmt,bad", [("hex", "1ffff\n"), ("hex", "xx\n"), ("bin", "102\n"),
                                     ("hex", "@zz\n00\n"), ("c", "const uint8_t m[2] = {0x01};\n")])
def test_broken_readmem_and_c_are_rejected(fmt, bad):
    with pytest.raises(ValueError):
        decode_words(bad.encode(), fmt, 16 if fmt != "c" else None)


# =================================================================================
# readers accept the general grammar (not only what t2c writes)
# =================================================================================

def test_readmemh_general_grammar():
    text = b"// comment\n@2\nDEAD_beef /* block\ncomment */ 1\n@0 7 // tail\n"
    words, info = decode_words(text, "hex", 32)
    assert words[:, 0].tolist() == [7, 0, 0xDEADBEEF, 1] and info["base_addr"] == 0
    words, info = decode_words(b"@10\n1 2\n", "hex", 8)
    assert words[:, 0].tolist() == [1, 2] and info["base_addr"] == 16
    assert decode_words(b"1_0 01 \t 1\n", "bin", 2)[0][:, 0].tolist() == [2, 1, 1]


def test_mif_general_grammar_intel_example():
    text = b"""% multiple-line
    comment %
    -- single-line comment
    DEPTH = 32;  -- words
    WIDTH = 14;
    ADDRESS_RADIX = HEX;
    DATA_RADIX = HEX;
    CONTENT
    BEGIN
    [0..F] : 3FFF;
    6 : F;
    8 : F E 5;
    END;
    """
    assert check_mif(text.decode(), strict=False) == \
        decode_words(text, "mif")[0][:, 0].tolist()
    got = decode_words(text, "mif")[0][:, 0].tolist()
    assert got[:12] == [0x3FFF] * 6 + [0xF, 0x3FFF, 0xF, 0xE, 0x5, 0x3FFF] and got[16:] == [0] * 16


def test_mif_signed_decimal_and_binary():
    text = b"WIDTH=8; DEPTH=3; ADDRESS_RADIX=UNS; DATA_RADIX=DEC; CONTENT BEGIN 0 : -1; 1 : 127; 2 : -128; END;"
    assert decode_words(text, "mif")[0][:, 0].tolist() == [255, 127, 128]
    with pytest.raises(ValueError):
        decode_words(text.replace(b"-128", b"-129"), "mif")
    text = b"WIDTH=4; DEPTH=2; ADDRESS_RADIX=BIN; DATA_RADIX=BIN; CONTENT BEGIN 1 : 1010; END;"
    assert decode_words(text, "mif")[0][:, 0].tolist() == [0, 10]


def test_coe_general_grammar():
    text = (b"; a comment line\nMEMORY_INITIALIZATION_RADIX = 2 ; why\n"
            b"memory_initialization_vector =\n1111, 0101 0011,\n0;\n")
    assert decode_words(text, "coe", 4)[0][:, 0].tolist() == [15, 5, 3, 0]
    text = b"memory_initialization_radix=10;\nmemory_initialization_vector=1,4,8,99;"
    assert decode_words(text, "coe", 8)[0][:, 0].tolist() == [1, 4, 8, 99]


def test_words_wider_than_64_bits_from_python_ints(tmp_path):
    ws = [(1 << 200) - 1, 0x1234 << 130, 7]
    for fmt in FORMATS:
        p = tmp_path / f"wide{EXTENSIONS[fmt]}"
        write_words(p, ws, 201, fmt)
        assert [limbs_to_int(w) for w in read_words(p, fmt, 201)] == ws
    with pytest.raises(ValueError, match="does not fit 201 bits"):
        encode_words([1 << 201], 201, "hex")
    assert ints_to_limbs(ws, 201).shape == (3, 4)


# =================================================================================
# error paths: one line, nothing written
# =================================================================================

def _listing(d: Path) -> list[str]:
    return sorted(os.listdir(d)) if d.exists() else []


@pytest.mark.parametrize("fmt", FORMATS)
def test_value_too_wide_writes_nothing(tmp_path, fmt):
    a = np.zeros((4, 4), dtype=np.int64)
    a[2, 3] = 8
    with pytest.raises(ValueError) as ei:
        write_memory(tmp_path / "out" / f"w{EXTENSIONS[fmt]}", a, "word=16,elem=4,banks=2", fmt)
    msg = str(ei.value)
    assert "\n" not in msg and "value 8 at index (2, 3)" in msg
    assert _listing(tmp_path / "out") == [] and _listing(tmp_path) in ([], ["out"])


def test_unknown_layout_key_writes_nothing(tmp_path):
    with pytest.raises(ValueError) as ei:
        write_memory(tmp_path / "w.hex", np.arange(4), {"word_bits": 32, "lanes": 4})
    assert "'lanes'" in str(ei.value) and "word_bits" in str(ei.value) and "\n" not in str(ei.value)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("kwargs,match", [
    (dict(fmt="vhdl"), "unknown format"),
    (dict(name="3bad"), "C identifier"),
    (dict(meta={"shape": 1}), "clash"),
])
def test_bad_arguments_write_nothing(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_memory(tmp_path / "w.hex", np.arange(4), "word=8,elem=8", **kwargs)
    assert _listing(tmp_path) == []


def test_bad_arrays_write_nothing(tmp_path):
    for bad in (np.zeros(4, dtype=np.float32), np.zeros((2, 2, 2), dtype=np.int8), [1.5, 2]):
        with pytest.raises(ValueError):
            write_memory(tmp_path / "w.hex", bad, "word=8,elem=8")
    with pytest.raises(ValueError, match="extension"):
        write_memory(tmp_path / "w.txt", np.arange(3), "word=8,elem=8")
    assert _listing(tmp_path) == []


def test_reader_refuses_a_layout_that_does_not_match(tmp_path):
    write_memory(tmp_path / "w.hex", np.full(8, -1), "word=32,elem=8")
    with pytest.raises(ValueError, match="does not fit 16 bits"):
        read_memory(tmp_path / "w.hex", "hex", "word=16,elem=8", (8,))
    with pytest.raises(ValueError, match="outside"):
        read_memory(tmp_path / "w.hex", "hex", "word=32,elem=7", (8,))
    write_memory(tmp_path / "w.mif", np.full(8, -1), "word=32,elem=8")
    with pytest.raises(ValueError, match="WIDTH=32"):
        read_memory(tmp_path / "w.mif", "mif", "word=64,elem=8", (8,))


# =================================================================================
# sidecar
# =================================================================================

def test_sidecar_round_trip_and_bit_flip(tmp_path):
    recs = [write_memory(tmp_path / "a.hex", np.arange(16), "word=32,elem=8,banks=2", meta={"layer": "conv1"}),
            write_memory(tmp_path / "b.raw", np.arange(-3, 3), "word=8,elem=4")]
    write_sidecar(tmp_path, recs)
    back = read_sidecar(tmp_path)
    assert back == recs
    r = back[0]
    assert r["layer"] == "conv1" and r["format"] == "hex" and r["shape"] == [16] and r["width"] == 32
    assert r["banks"] == 2 and [f["file"] for f in r["files"]] == ["a_b0.hex", "a_b1.hex"]
    assert Layout.from_dict(r["layout"]) == Layout.parse("word=32,elem=8,banks=2")
    # flip one bit of one bank file
    victim = tmp_path / "a_b1.hex"
    data = bytearray(victim.read_bytes())
    i = data.rindex(b"0")
    data[i] ^= 0x01  # '0' -> '1': still a valid hex file
    victim.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="a_b1.hex"):
        read_sidecar(tmp_path)
    with pytest.raises(ChecksumError, match="a_b1.hex"):
        read_memory(tmp_path / "a.hex")
    read_memory(tmp_path / "a.hex", verify=False)  # explicit opt-out still reads
    data[i] ^= 0x01
    victim.write_bytes(bytes(data))
    assert np.array_equal(read_memory(tmp_path / "a.hex"), np.arange(16))
    assert np.array_equal(read_memory(tmp_path / "b.raw"), np.arange(-3, 3))
    os.unlink(tmp_path / "b.raw")
    with pytest.raises(FileNotFoundError, match="b.raw"):
        read_sidecar(tmp_path, verify=True)


def test_write_sidecar_checks_files(tmp_path):
    rec = write_memory(tmp_path / "a.hex", np.arange(4), "word=8,elem=8")
    with pytest.raises(ValueError, match="twice"):
        write_sidecar(tmp_path, [rec, rec])
    os.unlink(tmp_path / "a.hex")
    with pytest.raises(FileNotFoundError, match="a.hex"):
        write_sidecar(tmp_path, [rec])
    assert not (tmp_path / SIDECAR_NAME).exists()


# =================================================================================
# inspect and format detection
# =================================================================================

@pytest.mark.parametrize("fmt", FORMATS)
def test_inspect_summary(tmp_path, fmt):
    a = np.arange(-20, 20).reshape(5, 8)
    path = tmp_path / f"w{EXTENSIONS[fmt]}"
    rec = write_memory(path, a, "word=32,elem=8,pow2", meta={"layer": "fc", "tensor": "weight"})
    assert detect_format(path) == fmt
    if fmt == "raw":  # raw binary has no grammar: without a sidecar it must be named
        with pytest.raises(ValueError, match="raw binary only with --format raw"):
            inspect_file(path)
    s = inspect_file(path, fmt="raw" if fmt == "raw" else None)
    assert f"format:  {fmt}" in s
    if fmt != "raw":
        assert "width:   32 bits" in s and "depth:   16 words" in s
        assert "values:  [-20, -19, -18, -17, -16" in s and "shape:   5x8" in s
    write_sidecar(tmp_path, [rec])
    s = inspect_file(path)
    assert "width:   32 bits" in s and "depth:   16 words" in s and "shape:   5x8" in s
    assert "values:  [-20, -19" in s and "layer=fc" in s and f"from {SIDECAR_NAME}" in s


def test_detect_format_bin_text_vs_raw(tmp_path):
    write_memory(tmp_path / "t.bin", np.arange(4), "word=8,elem=8", "bin")
    write_memory(tmp_path / "r.bin", np.arange(4), "word=8,elem=8", "raw")
    assert detect_format(tmp_path / "t.bin") == "bin"
    assert detect_format(tmp_path / "r.bin") == "raw"
    (tmp_path / "noext").write_text("memory_initialization_radix=16;\nmemory_initialization_vector=00;\n")
    assert detect_format(tmp_path / "noext") == "coe"


def test_docs_example_runs(capsys):
    """The example at the top of docs/formats.md runs and prints what the docs show."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "formats.md").read_text()
    block = re.findall(r"```python\n(.*?)```", doc, flags=re.S)[0]
    exec(compile(block, "docs/formats.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip()
    for line in printed.splitlines():
        assert line in doc, line
