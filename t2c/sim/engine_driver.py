"""Host driver of ``rtl/engine_axi.v``: load a layer's images over the bus, start, wait, read.

What firmware must do, in Python (``host/engine_driver.c`` is the same in C)::

    await check_engine(bus)                  # ID, version, geometry of the build
    await load_layer(bus, "export/digits-cnn-engine/conv3")   # or an Images object
    await start(bus)
    status = await wait_done(bus)            # polls STATUS until DONE (raises on ERR)
    words = await read_output(bus, n_words, word_bits)
    cycles = await bus.read32(regs.CYCLES)

``bus`` is anything with ``async write32(addr, value) -> resp`` and ``async read32(addr)
-> int`` (byte addresses, 32-bit values); :class:`AxiLiteBus` wraps cocotbext-axi's
``AxiLiteMaster``.  The register offsets, fields and windows are
:mod:`t2c.sim.engine_regs`, generated from ``rtl/engine_regs.rdl``.

The images are exactly the files ``t2c export --engine`` (or
:func:`t2c.export.engine.write_images`) writes, guard rows included: every row of every
image becomes one memory word, written as 32-bit lanes highest first, lane 0 last (its
write commits the word).  :func:`layer_writes` lists those bus writes without a bus (for
counting them, or for a firmware that replays them).  No torch: numpy and t2c.export only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from . import engine_regs as regs

# image -> its write window (the descriptor goes to the DESC registers)
WINDOW_OF = {"tiles": "WIN_TILES", "input": "WIN_INPUT", "weight": "WIN_WEIGHT", "bias": "WIN_BIAS",
             "m": "WIN_M", "s": "WIN_S", "residual": "WIN_RESIDUAL", "residual_m": "WIN_RESIDUAL_M"}
OKAY, SLVERR = 0, 2
MASK32 = 0xFFFFFFFF


class EngineError(RuntimeError):
    """The engine or the bus reported an error (bad ID, refused write, ERR, timeout)."""


def field(value: int, reg: str, name: str) -> int:
    lsb, width = regs.FIELDS[reg][name]
    return (value >> lsb) & ((1 << width) - 1)


def lane_shift(word_bits: Iterable[int]) -> int:
    """LANE_SHIFT of a build whose widest window word has max(word_bits) bits."""
    lanes = -(-max(word_bits) // 32)
    return (lanes - 1).bit_length()


# ------------------------------------------------------------------ images -> words
def image_words(source) -> dict[str, tuple[list[int], int]]:
    """{image: (unsigned words, word bits)} of a layer's images, in file order (guard row
    included): ``source`` is an :class:`t2c.export.engine.Images` or a directory written by
    ``t2c export --engine`` (its ``memories.json``)."""
    from ..export.formats import read_sidecar, read_words

    if isinstance(source, (str, Path)):
        directory = Path(source)
        records = {r["name"]: r for r in read_sidecar(directory)}
    else:
        directory = Path(source.directory)
        records = {r["name"]: r for r in source.records}
    out = {}
    for name in ("desc",) + tuple(WINDOW_OF):
        r = records.get(name)
        if r is None:
            continue
        bits = int(r["layout"]["word_bits"])
        limbs = read_words(directory / r["file"], word_bits=bits)
        words = [sum(int(v) << (64 * k) for k, v in enumerate(row)) for row in limbs]
        out[name] = (words, bits)
    return out


def output_shape(source) -> tuple[int, int]:
    """(output words, word bits) of a layer: from ``engine.json`` of an export directory or
    from an Images object."""
    if isinstance(source, (str, Path)):
        p = json.loads((Path(source) / "engine.json").read_text())["parameters"]
        return int(p["OUT_WORDS"]), int(p["COLS"]) * int(p["OBITS"])
    from ..export.engine import OUTPUT_NAME, layouts

    return source.words[OUTPUT_NAME], layouts(source.geometry, source.layer)[OUTPUT_NAME].word_bits


def word_writes(window: str, index: int, value: int, bits: int, shift: int) -> list[tuple[int, int]]:
    """The bus writes of one memory word: lanes highest first, lane 0 (the commit) last."""
    base = regs.WINDOWS[window][0] + (index << (shift + 2))
    lanes = -(-bits // 32)
    if lanes > 1 << shift:
        raise ValueError(f"a {bits}-bit word needs {lanes} lanes, the build has {1 << shift}")
    return [(base + 4 * j, (value >> (32 * j)) & MASK32) for j in reversed(range(lanes))]


def layer_writes(source, shift: int) -> list[tuple[int, int]]:
    """Every (address, value) write that loads a layer into a build with LANE_SHIFT ``shift``:
    the 32 descriptor words, then each memory's words (guard rows included)."""
    words = image_words(source)
    desc, _ = words["desc"]
    writes = [(regs.DESC + 4 * i, w & MASK32) for i, w in enumerate(desc[:32])]
    for name, window in WINDOW_OF.items():
        if name in words:
            data, bits = words[name]
            for i, w in enumerate(data):
                writes += word_writes(window, i, w, bits, shift)
    return writes


# ------------------------------------------------------------------ bus
class AxiLiteBus:
    """``write32`` / ``read32`` over cocotbext-axi's ``AxiLiteMaster`` (little-endian lanes)."""

    def __init__(self, master):
        self.master = master

    async def write32(self, addr: int, value: int) -> int:
        resp = await self.master.write(addr, int(value & MASK32).to_bytes(4, "little"))
        return int(resp.resp)

    async def read32(self, addr: int) -> int:
        resp = await self.master.read(addr, 4)
        return int.from_bytes(bytes(resp.data), "little")


async def read_info(bus) -> dict[str, int]:
    """ID, version, geometry and memory depths of the build, from its registers."""
    g, g2 = await bus.read32(regs.GEOMETRY), await bus.read32(regs.GEOMETRY2)
    v = await bus.read32(regs.VERSION)
    info = {"id": await bus.read32(regs.ID), "major": field(v, "VERSION", "MAJOR"),
            "minor": field(v, "VERSION", "MINOR")}
    info.update({k.lower(): field(g, "GEOMETRY", k) for k in regs.FIELDS["GEOMETRY"]})
    info.update({k.lower(): field(g2, "GEOMETRY2", k) for k in regs.FIELDS["GEOMETRY2"]})
    for k in ("ACT_WORDS", "W_WORDS", "CT_WORDS", "RES_WORDS", "OUT_WORDS"):
        info[k.lower()] = await bus.read32(getattr(regs, k))
    return info


async def check_engine(bus) -> dict[str, int]:
    """:func:`read_info`, raising :class:`EngineError` unless ID and major version are ours."""
    info = await read_info(bus)
    if info["id"] != regs.ID_ID or info["major"] != regs.VERSION_MAJOR:
        raise EngineError(f"not a t2c engine_axi of register map {regs.VERSION_MAJOR}.x: "
                          f"ID {info['id']:#010x}, version {info['major']}.{info['minor']}")
    return info


def check_fits(source, info: dict[str, int]) -> None:
    """Raise ValueError unless the layer's images fit the build (geometry and depths)."""
    words = image_words(source)
    depth = {"input": info["act_words"], "weight": info["w_words"], "residual": info["res_words"]}
    for name, (data, _) in words.items():
        have = depth.get(name, 32 if name == "desc" else info["ct_words"]) + 1  # + the guard word
        if len(data) > have:
            raise ValueError(f"{name}: the layer needs {len(data)} words, the build holds {have}")
    n_out, _ = output_shape(source)
    if n_out > info["out_words"]:
        raise ValueError(f"output: the layer needs {n_out} words, the build holds {info['out_words']}")


async def load_layer(bus, source, info: dict[str, int] | None = None) -> int:
    """Write a layer's images (an Images object or an export directory) over the bus;
    returns the number of 32-bit writes.  Raises EngineError on a refused write."""
    info = info or await check_engine(bus)
    check_fits(source, info)
    writes = layer_writes(source, info["lane_shift"])
    for addr, value in writes:
        resp = await bus.write32(addr, value)
        if resp != OKAY:
            raise EngineError(f"write of {value:#010x} to {addr:#010x} answered {resp} "
                              f"(SLVERR: the engine is busy)")
    return len(writes)


async def write_word(bus, image: str, index: int, value: int, bits: int, shift: int) -> None:
    """Overwrite one word of one memory (or one descriptor word)."""
    if image == "desc":
        await bus.write32(regs.DESC + 4 * index, value & MASK32)
        return
    for addr, v in word_writes(WINDOW_OF[image], index, value, bits, shift):
        await bus.write32(addr, v)


async def start(bus) -> None:
    await bus.write32(regs.CTRL, 1 << regs.FIELDS["CTRL"]["START"][0])


async def wait_done(bus, max_polls: int = 1_000_000) -> int:
    """Poll STATUS until DONE; returns STATUS.  EngineError on ERR or after ``max_polls``."""
    for _ in range(max_polls):
        status = await bus.read32(regs.STATUS)
        if field(status, "STATUS", "DONE"):
            if field(status, "STATUS", "ERR"):
                raise EngineError("the engine raised ERR: descriptor word 0 is not the magic number")
            return status
    raise EngineError(f"DONE not set after {max_polls} polls of STATUS")


async def read_output(bus, n_words: int, word_bits: int, shift: int) -> list[int]:
    """The first ``n_words`` words of the output memory (unsigned ints of ``word_bits``)."""
    base = regs.WINDOWS["WIN_OUTPUT"][0]
    lanes = -(-word_bits // 32)
    out = []
    for w in range(n_words):
        v = 0
        for j in range(lanes):
            v |= await bus.read32(base + (w << (shift + 2)) + 4 * j) << (32 * j)
        out.append(v & ((1 << word_bits) - 1))
    return out
