"""``t2c inspect FILE``: a short human summary of one memory image."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .formats import FORMATS, SIDECAR_NAME, decode_words, find_record, parse_header, sniff_format
from .layout import Layout, limbs_to_int, unpack

_FMT_NAME = {"hex": "$readmemh hex text", "bin": "$readmemb binary text", "coe": "Xilinx COE",
             "mif": "Intel MIF", "raw": "raw binary", "c": "C header"}
N_SHOW = 8


def inspect_file(path: str | os.PathLike, n_show: int = N_SHOW, fmt: str | None = None) -> str:
    """Format, width, depth, number of words and the first few words (and decoded values
    when the layout is known from the sidecar or the file's header comment).

    The format is ``fmt``, else the sidecar's, else recognised from the content (raw
    binary only when ``fmt`` or the sidecar says so).  A file that is none of the
    formats, or does not decode as its format, raises ValueError.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a memory image")
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"{path} is empty: not a memory image")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    record = find_record(path)
    fmt = fmt or (record.get("format") if record else None) or sniff_format(data)
    if fmt is None:
        raise ValueError(f"{path} is not a memory image t2c reads (hex, bin, coe, mif, c by their "
                         f"content; raw binary only with --format raw)")
    hdr = parse_header(data) if fmt != "raw" else {}
    layout = None
    if record:
        layout = Layout.coerce(record["layout"])
    elif "layout" in hdr:
        try:
            layout = Layout.parse(hdr["layout"])
        except ValueError:
            layout = None
    lines = [f"file:    {path.name} ({len(data)} bytes)", f"format:  {fmt} ({_FMT_NAME[fmt]})"]
    word_bits = layout.word_bits if layout else None
    endian = layout.endian if layout else "little"
    if fmt == "raw" and word_bits is None:
        word_bits = 8  # a raw file alone says nothing about its width: show bytes
    try:
        words, info = decode_words(data, fmt, word_bits, endian)
    except ValueError as exc:
        raise ValueError(f"{path} is not a valid {fmt} image: {exc}") from None
    width = int(info["width"])
    lines.append(f"width:   {width} bits")
    lines.append(f"depth:   {words.shape[0]} words" +
                 (f" (from @{info['base_addr']:x})" if info.get("base_addr") else ""))
    nz = int(np.flatnonzero(words.any(axis=1))[-1]) + 1 if words.any() else 0
    lines.append(f"words:   {words.shape[0]} ({nz} up to the last non-zero word)")
    ndig = (width + 3) // 4
    n_words = max(1, min(n_show, 72 // (ndig + 1)))  # keep the line readable for wide words
    first = " ".join(f"{limbs_to_int(w):0{ndig}x}" for w in words[:n_words])
    lines.append(f"first:   {first}{' ...' if words.shape[0] > n_words else ''}")
    if layout is not None:
        src = SIDECAR_NAME if record else "header"
        lines.append(f"layout:  {layout.spec()} (from {src})")
        shape = record["shape"] if record else (hdr["shape"].split("x") if "shape" in hdr else None)
        if shape is not None:
            bank = ""
            if record and record["banks"] > 1:
                b = next((f["bank"] for f in record["files"] if f["file"] == path.name), None)
                bank = f", this file is bank {b} of {record['banks']}"
            elif "bank" in hdr and hdr["bank"] != "0/1":
                bank = f", this file is bank {hdr['bank']}"
            lines.append(f"shape:   {'x'.join(str(s) for s in shape)}{bank}")
        if record:
            extra = {k: v for k, v in record.items() if k in ("layer", "tensor")}
            if extra:
                lines.append("record:  " + ", ".join(f"{k}={v}" for k, v in extra.items()))
        try:
            vals = unpack(words[:n_show], layout).reshape(-1)
            lines.append(f"values:  {vals[: n_show * 2].tolist()}{' ...' if vals.size > n_show * 2 or words.shape[0] > n_show else ''}")
        except ValueError as exc:
            raise ValueError(f"{path}: words do not decode with layout {layout.spec()}: {exc}") from None
    elif fmt == "raw":
        lines.append("layout:  unknown (no sidecar): words shown as 8-bit bytes")
    return "\n".join(lines)
