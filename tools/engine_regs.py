"""Generate the register-map artefacts of rtl/engine_axi.v from rtl/engine_regs.rdl.

    python tools/engine_regs.py            # rewrite host/t2c_engine_regs.h, docs/engine_regs.md,
                                           # t2c/sim/engine_regs.py
    python tools/engine_regs.py --check    # exit 1 if any of them is not what the RDL gives

The RDL is compiled with systemrdl-compiler; the C header is PeakRDL-cheader's
(``peakrdl c-header``), the markdown PeakRDL-markdown's, and the Python constants module
(imported by t2c.sim.engine_driver) is written here from the same compiled tree.
Needs ``pip install 't2c[fpga]'``.  sim/test_engine_axi.py runs ``--check`` and compares the
Verilog's localparams with the compiled RDL.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RDL = ROOT / "rtl" / "engine_regs.rdl"
HEADER = ROOT / "host" / "t2c_engine_regs.h"
MARKDOWN = ROOT / "docs" / "engine_regs.md"
PYMOD = ROOT / "t2c" / "sim" / "engine_regs.py"


def compile_rdl(path: Path = RDL):
    """The elaborated root node of the register map."""
    from systemrdl import RDLCompiler

    rdlc = RDLCompiler()
    rdlc.compile_file(str(path))
    return rdlc.elaborate()


def register_map(root) -> dict:
    """{"regs": {name: (offset, {field: (lsb, width)}, count)}, "windows": {name: (base, bytes)}}
    from a compiled tree (arrays: the offset of element 0 and the element count)."""
    from systemrdl.node import MemNode, RegNode

    top = root.top
    regs, wins = {}, {}
    for node in top.children(unroll=False):
        if isinstance(node, RegNode):
            fields = {f.inst_name: (f.lsb, f.width) for f in node.fields()}
            count = node.array_dimensions[0] if node.is_array else 1
            regs[node.inst_name] = (node.raw_address_offset, fields, count)
        elif isinstance(node, MemNode):
            wins[node.inst_name] = (node.raw_address_offset, node.size)
    return {"regs": regs, "windows": wins}


def python_module(root) -> str:
    m = register_map(root)
    top = root.top
    resets = {}
    for node in top.registers(unroll=False):
        for f in node.fields():
            r = f.get_property("reset")
            if r is not None and f.get_property("hw").name == "na":
                resets[f"{node.inst_name}_{f.inst_name}"] = r
    lines = ['"""Register map of rtl/engine_axi.v: generated from rtl/engine_regs.rdl by',
             'tools/engine_regs.py; do not edit (sim/test_engine_axi.py checks it is current)."""', "",
             "# register -> byte offset (arrays: element 0, then 4 bytes apart)"]
    for name, (off, _, count) in m["regs"].items():
        lines.append(f"{name} = 0x{off:03X}" + (f"  # {count} words" if count > 1 else ""))
    lines += ["", "# register -> {field: (lsb, width)}", "FIELDS = {"]
    for name, (_, fields, _) in m["regs"].items():
        lines.append(f"    {name!r}: {fields!r},")
    lines += ["}", "", "# constant fields (reset values of fields hardware does not drive)"]
    for k, v in resets.items():
        lines.append(f"{k} = 0x{v:X}")
    lines += ["", "# window -> (base address, bytes)", "WINDOWS = {"]
    for name, (base, size) in m["windows"].items():
        lines.append(f"    {name!r}: (0x{base:08X}, 0x{size:X}),")
    lines += ["}", ""]
    return "\n".join(lines)


def generate(out_header: Path, out_md: Path, out_py: Path) -> None:
    from peakrdl_cheader.exporter import CHeaderExporter
    from peakrdl_markdown import MarkdownExporter

    root = compile_rdl()
    out_header.parent.mkdir(parents=True, exist_ok=True)
    CHeaderExporter().export(root.top, str(out_header))
    MarkdownExporter().export(root.top, str(out_md))
    out_py.write_text(python_module(root))


def stale() -> list[str]:
    """The generated files that differ from what the RDL gives now."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        generate(t / HEADER.name, t / MARKDOWN.name, t / PYMOD.name)
        return [str(p.relative_to(ROOT)) for p in (HEADER, MARKDOWN, PYMOD)
                if not p.is_file() or p.read_text() != (t / p.name).read_text()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check the generated files are current")
    args = ap.parse_args(argv)
    if args.check:
        bad = stale()
        if bad:
            print("out of date with rtl/engine_regs.rdl: " + ", ".join(bad) + " (python tools/engine_regs.py)")
            return 1
        return 0
    generate(HEADER, MARKDOWN, PYMOD)
    print(f"wrote {HEADER.relative_to(ROOT)}, {MARKDOWN.relative_to(ROOT)}, {PYMOD.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
