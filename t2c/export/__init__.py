"""Memory images for FPGA bring-up: layouts (packing, tiling, banks) and file formats.

See docs/formats.md.  Typical use::

    from t2c.export import Layout, tile, write_memory, write_sidecar
    rows = tile(w_int8, lanes=16)                       # [Cout, Cin, kh, kw] -> [depth, 16]
    rec = write_memory("out/conv1_w.hex", rows, "word=128,elem=8,signed")
    write_sidecar("out", [rec])
"""
from .formats import (EXTENSIONS, FORMATS, SIDECAR_NAME, ChecksumError, bank_paths, c_type,
                      decode_words, detect_format, encode_words, find_record, parse_header, sniff_format,
                      read_memory, read_sidecar, read_words, write_memory, write_sidecar,
                      write_words)
from . import engine  # the layer engine's memory images (docs/engine.md)
from .inspect import inspect_file
from .layout import (Layout, as_limbs, from_banks, ints_to_limbs, limbs_to_int, memory_depth,
                     pack, tile, tiled_shape, to_banks, unpack, untile, words_per_bank)

__all__ = [
    "Layout", "tile", "untile", "tiled_shape", "pack", "unpack", "to_banks", "from_banks",
    "words_per_bank", "memory_depth", "as_limbs", "ints_to_limbs", "limbs_to_int",
    "FORMATS", "EXTENSIONS", "SIDECAR_NAME", "ChecksumError",
    "write_memory", "read_memory", "write_words", "read_words", "encode_words", "decode_words",
    "write_sidecar", "read_sidecar", "find_record", "detect_format", "sniff_format", "bank_paths", "parse_header",
    "c_type", "inspect_file", "engine",
]
