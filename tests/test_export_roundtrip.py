"""Memory images: property-based round trips and the vendors' COE / MIF grammars.

The COE and MIF checkers below are written from the vendors' documentation
(Xilinx PG058 "COE file syntax": ``memory_initialization_radix=R;`` then
``memory_initialization_vector=`` with comma-separated values ending in ``;``;
Intel "Memory Initialization File (.mif)": ``WIDTH=``, ``DEPTH=``, ``ADDRESS_RADIX=``,
``DATA_RADIX=``, ``CONTENT BEGIN`` ... ``END;`` with ``addr : value;`` and
``[a..b] : value;`` records and ``--`` comments), not from t2c's readers.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from t2c.export import FORMATS, Layout, read_memory, write_memory

RADIX = {"HEX": 16, "BIN": 2, "DEC": 10, "UNS": 10, "OCT": 8}


def _strip(text: str, comment: str) -> str:
    return "\n".join(line.split(comment, 1)[0] for line in text.splitlines())


def check_coe(text: str, width: int) -> list[int]:
    """Values of a Xilinx COE file; raises AssertionError on any grammar violation."""
    body = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith(";"))
    m = re.fullmatch(r"\s*memory_initialization_radix\s*=\s*(\d+)\s*;\s*"
                     r"memory_initialization_vector\s*=\s*([^;]*);\s*", body, flags=re.S | re.I)
    assert m, "COE: expected radix statement then vector statement ending in ';'"
    radix = int(m.group(1))
    assert radix in (2, 10, 16), f"COE: radix {radix} not in 2, 10, 16"
    tokens = [t for t in re.split(r"[\s,]+", m.group(2)) if t]
    assert tokens, "COE: empty vector"
    values = [int(t, radix) for t in tokens]
    assert all(0 <= v < (1 << width) for v in values), "COE: value wider than the memory"
    return values


def check_mif(text: str) -> tuple[int, int, dict[int, int]]:
    """(width, depth, {address: value}) of an Intel MIF; AssertionError on violations."""
    body = re.sub(r"%.*?%", " ", _strip(text, "--"), flags=re.S)
    head, sep, rest = body.partition("CONTENT")
    assert sep, "MIF: no CONTENT section"
    fields = dict(re.findall(r"(\w+)\s*=\s*(\w+)\s*;", head))
    width, depth = int(fields["WIDTH"]), int(fields["DEPTH"])
    ar, dr = RADIX[fields["ADDRESS_RADIX"]], RADIX[fields["DATA_RADIX"]]
    m = re.fullmatch(r"\s*BEGIN(.*)END\s*;\s*", rest, flags=re.S)
    assert m, "MIF: CONTENT must be BEGIN ... END;"
    mem: dict[int, int] = {}
    for rec in [r.strip() for r in m.group(1).split(";") if r.strip()]:
        addr, colon, value = rec.partition(":")
        assert colon, f"MIF: record {rec!r} has no ':'"
        rng = re.fullmatch(r"\[\s*(\w+)\s*\.\.\s*(\w+)\s*\]", addr.strip())
        lo, hi = (int(rng.group(1), ar), int(rng.group(2), ar)) if rng else (int(addr, ar),) * 2
        v = int(value.strip(), dr)
        assert 0 <= lo <= hi < depth, f"MIF: address {lo}..{hi} outside depth {depth}"
        assert 0 <= v < (1 << width), f"MIF: value {v} wider than {width} bits"
        for a in range(lo, hi + 1):
            mem[a] = v
    assert len(mem) == depth, f"MIF: {len(mem)} addresses written, DEPTH={depth}"
    return width, depth, mem


layouts = st.builds(
    lambda elem, signed, vpw, banks, pow2, order, endian: Layout(
        word_bits=elem * vpw, elem_bits=elem, signed=signed, values_per_word=vpw, banks=banks,
        depth_pow2=pow2, lane_order=order, endian=endian),
    st.sampled_from([2, 3, 4, 5, 6, 7, 8, 16, 32]), st.booleans(), st.sampled_from([1, 2, 3, 4, 8]),
    st.sampled_from([1, 2, 3]), st.booleans(), st.sampled_from(["lsb_first", "msb_first"]),
    st.sampled_from(["little", "big"]))


@settings(max_examples=60, deadline=None)
@given(layout=layouts, fmt=st.sampled_from(FORMATS), rows=st.integers(1, 40), lanes=st.integers(1, 9),
       seed=st.integers(0, 2**32 - 1))
def test_write_then_read_gives_the_same_integers(tmp_path_factory, layout, fmt, rows, lanes, seed):
    lo, hi = (layout.elem_min, layout.elem_max)
    a = np.random.default_rng(seed).integers(lo, hi, (rows, lanes), endpoint=True)
    a[0, 0] = lo  # both ends of the range every time
    a[-1, -1] = hi
    path = tmp_path_factory.mktemp("rt") / f"m.{'h' if fmt == 'c' else fmt}"
    write_memory(path, a, layout, fmt)
    assert np.array_equal(read_memory(path, fmt, layout, shape=a.shape), a)


@pytest.mark.parametrize("width", [2, 8, 13, 32])
def test_coe_and_mif_follow_the_vendor_grammar(tmp_path, width):
    layout = Layout(word_bits=width, elem_bits=width, signed=False, depth_pow2=True)
    values = np.random.default_rng(width).integers(0, 1 << min(width, 62), 37)
    values[10:20] = 1  # a run, written as an address range in MIF
    write_memory(tmp_path / "m.coe", values, layout, "coe")
    write_memory(tmp_path / "m.mif", values, layout, "mif")
    coe = check_coe((tmp_path / "m.coe").read_text(), width)
    assert coe[:37] == values.tolist() and len(coe) == 64 and not any(coe[37:])
    w, depth, mem = check_mif((tmp_path / "m.mif").read_text())
    assert (w, depth) == (width, 64)
    assert [mem[i] for i in range(37)] == values.tolist()


GOOD_COE = "memory_initialization_radix=16;\nmemory_initialization_vector=\n0a,\nff;\n"
GOOD_MIF = "WIDTH=8;\nDEPTH=2;\nADDRESS_RADIX=HEX;\nDATA_RADIX=HEX;\nCONTENT BEGIN\n0 : 0a;\n1 : ff;\nEND;\n"


@pytest.mark.parametrize("broken", [
    GOOD_COE.replace("radix=16", "radix=7"),
    GOOD_COE.replace("ff;", "1ff;"),
    GOOD_COE.replace("ff;", "ff"),
])
def test_coe_checker_rejects_broken_files(broken):
    check_coe(GOOD_COE, 8)
    with pytest.raises((AssertionError, ValueError)):
        check_coe(broken, 8)


@pytest.mark.parametrize("broken", [
    GOOD_MIF.replace("1 : ff;", "1 : 1ff;"),
    GOOD_MIF.replace("DEPTH=2", "DEPTH=3"),
    GOOD_MIF.replace("END;", ""),
    GOOD_MIF.replace("1 : ff;", "2 : ff;"),
    GOOD_MIF.replace("DATA_RADIX=HEX", "DATA_RADIX=BIN"),
])
def test_mif_checker_rejects_broken_files(broken):
    check_mif(GOOD_MIF)
    with pytest.raises((AssertionError, ValueError, KeyError)):
        check_mif(broken)


def test_too_narrow_layout_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="does not fit"):
        write_memory(tmp_path / "w.hex", np.array([[7, 8]]), "word=8,elem=4,signed", "hex")
    assert list(tmp_path.iterdir()) == []


@settings(max_examples=40, deadline=None)
@given(elem=st.sampled_from([2, 3, 4, 5, 7, 8, 13, 32]), vpw=st.integers(1, 9), signed=st.booleans(),
       order=st.sampled_from(["lsb_first", "msb_first"]), seed=st.integers(0, 2**32 - 1))
def test_packing_agrees_with_an_independent_bitstring_packer(elem, vpw, signed, order, seed):
    from bitstring import BitArray

    from t2c.export.layout import limbs_to_int, pack

    layout = Layout(word_bits=elem * vpw + 3, elem_bits=elem, signed=signed, values_per_word=vpw,
                    lane_order=order)
    rows = np.random.default_rng(seed).integers(layout.elem_min, layout.elem_max, (5, vpw), endpoint=True)
    words = pack(rows, layout)
    for row, limbs in zip(rows, words):
        fields = [BitArray(int=int(v), length=elem) if signed else BitArray(uint=int(v), length=elem)
                  for v in row]
        msb_to_lsb = fields if order == "msb_first" else fields[::-1]  # bitstring is MSB first
        want = BitArray(uint=0, length=3) + sum(msb_to_lsb, BitArray())
        assert limbs_to_int(limbs) == want.uint
