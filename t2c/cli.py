"""``t2c`` command line.

Every failure is one line on stderr (``t2c: error: ...``) and a documented exit code
(:mod:`t2c.errors`: 0 ok, 1 mismatch, 2 bad input, 3 tool missing, 4 internal error,
130 interrupted); ``T2C_DEBUG=1`` adds the traceback.  Numeric options are checked
against their ranges before any work starts.  Commands that write a directory refuse
to replace one holding files t2c did not write unless ``--force`` is given
(:func:`t2c.fileio.output_dir`).
"""
from __future__ import annotations

import argparse
import sys
import time

from .errors import guarded

MAX_ARRAY = 128  # ROWS / COLS: memory words are COLS * 32 bits, at most 4096 (t2c.export.layout)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage block) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def int_in(lo: int, hi: int | None = None):
    """An argparse type: an integer in ``lo .. hi`` (``hi`` None: no upper bound)."""
    span = f"{lo}..{hi}" if hi is not None else f">= {lo}"

    def parse(text: str) -> int:
        try:
            v = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer (allowed: {span})") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside the allowed range {span}")
        return v

    parse.__name__ = f"integer {span}"
    return parse


def _config(args):
    from .convert import QConfig

    return QConfig(wbit=args.wbit, abit=args.abit, weight_quantizer=args.weight_quantizer,
                   act_quantizer=args.act_quantizer, per_channel=not args.per_tensor)


def _add_quant_args(p):
    p.add_argument("--model", default="digits-cnn", help="model name (see `t2c models`)")
    p.add_argument("--wbit", type=int_in(2, 8), default=8, help="weight bits (2..8)")
    p.add_argument("--abit", type=int_in(2, 8), default=8, help="activation bits (2..8)")
    p.add_argument("--weight-quantizer", default="minmax")
    p.add_argument("--act-quantizer", default="minmax")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")


def _add_out_args(p, default: str):
    p.add_argument("--out", help=f"output directory (default {default}); must be new, empty or a "
                                 "previous output of the same command")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it holds files t2c did not write")


def cmd_models(args):
    from .models import MODELS

    for name, entry in MODELS.items():
        print(f"{name:16s} {entry.description}")


def cmd_layers(args):
    from .pipeline import prepare

    graph = prepare(args.model, _config(args)).graph
    for op in graph.ops:
        shape = "x".join(map(str, graph.tensors[op.output].shape))
        print(f"{op.name:28s} {op.kind:8s} -> {shape}")


def cmd_golden(args):
    from .fileio import check_output_target
    from .golden import GOLDEN_OUTPUT, write_golden
    from .pipeline import prepare

    t0 = time.time()
    out = args.out or f"golden/{args.model}"
    check_output_target(out, GOLDEN_OUTPUT, args.force)  # before the (long) model preparation
    p = prepare(args.model, _config(args))
    out = write_golden(p.graph, p.x_int, out, progress=True, force=args.force)
    print(f"wrote golden vectors of {args.model} ({len(p.graph.ops)} layers) to {out} "
          f"in {time.time() - t0:.1f} s")


def cmd_export(args):
    from .export.model import MEMORIES_OUTPUT, export_model
    from .fileio import check_output_target
    from .pipeline import prepare

    if not args.all and not args.layer:
        raise ValueError("say which layers: --layer NAME (repeatable) or --all")
    if args.engine:
        return _export_engine(args)
    t0 = time.time()
    out = args.out or f"export/{args.model}-{args.format}"
    check_output_target(out, MEMORIES_OUTPUT, args.force)
    graph = prepare(args.model, _config(args)).graph
    records = export_model(graph, out, args.format, layers=None if args.all else args.layer,
                           lanes=args.lanes, layout=args.layout, progress=True, force=args.force)
    files = sum(len(r["files"]) for r in records)
    print(f"wrote {files} {args.format} memory images ({len(records)} tensors) of {args.model} "
          f"to {out} in {time.time() - t0:.1f} s")


def _export_engine(args):
    """``export --engine``: the layer engine's images, from golden vectors made on the fly."""
    import tempfile

    from .export.engine import ENGINE_OUTPUT, Geometry, export_engine
    from .fileio import check_output_target
    from .golden import read_golden, write_golden
    from .pipeline import prepare

    t0 = time.time()
    out = args.out or f"export/{args.model}-engine"
    check_output_target(out, ENGINE_OUTPUT, args.force)
    p = prepare(args.model, _config(args))
    for name in args.layer or []:
        p.graph.op(name)  # an unknown name fails here, listing the valid ones
    with tempfile.TemporaryDirectory(prefix="t2c-golden-") as tmp:
        golden = read_golden(write_golden(p.graph, p.x_int, f"{tmp}/golden"))
        written = export_engine(golden, out, None if args.all else args.layer,
                                Geometry(rows=args.rows, cols=args.lanes), args.format,
                                progress=True, force=args.force)
    print(f"wrote layer-engine images of {len(written)} layers of {args.model} "
          f"({args.rows}x{args.lanes} array) to {out} in {time.time() - t0:.1f} s")


def cmd_inspect(args):
    from .export import inspect_file

    print(inspect_file(args.file, fmt=args.format))


def cmd_sim(args):
    """One layer of a golden directory on its RTL unit: a one-line verdict, exit 1 on a mismatch."""
    from .errors import MismatchError
    from .sim.build import SimulationError
    from .sim.golden_dirs import ensure_golden, open_golden
    from .sim.hdl import user_rtl_dirs
    from .sim.layers import run_layer
    from .sim.units import SimOptions, load_unit_file

    for path in args.unit or []:
        load_unit_file(path)
    if args.golden:
        golden = open_golden(args.golden)
    else:
        golden = open_golden(ensure_golden(args.model, log=lambda m: print(m, file=sys.stderr)))
    model = golden.manifest.get("model") or args.model
    options = SimOptions(sim=args.sim, rows=args.rows, cols=args.cols,
                         rtl_dirs=user_rtl_dirs(args.rtl_dir) if args.rtl_dir else None,
                         waves=args.waves, pix_end=args.pixels)
    if args.pixels is not None and golden.layer(args.layer)["op"] not in ("conv", "linear", "matmul"):
        raise ValueError("--pixels applies to layer-engine layers (conv, linear, matmul) only")
    try:
        res = run_layer(golden, args.layer, options)
    except SimulationError as e:
        raise MismatchError(f"{args.layer} {model} {args.sim}: FAIL ({e})") from None
    print(res.verdict())
    if not res.passed:
        print("\n".join(res.message.splitlines()[1:]))
        print(f"  build directory: {res.build_dir}")
        raise MismatchError(f"{res.mismatches} mismatches in {args.layer}")
    if res.waves is not None:
        print(f"  waveform: {res.waves}")


def cmd_report(args):
    from .report import report

    print(report(args.model))


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="t2c", description="PyTorch -> bit-exact integer reference, "
                 "golden vectors, memory images, RTL co-simulation")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    sub.add_parser("models", help="list the built-in models").set_defaults(fn=cmd_models)
    p = sub.add_parser("layers", help="list the layer names of a model's integer graph")
    _add_quant_args(p)
    p.set_defaults(fn=cmd_layers)
    p = sub.add_parser("golden", help="write per-layer golden vectors + checksummed manifest")
    _add_quant_args(p)
    _add_out_args(p, "golden/<model>")
    p.set_defaults(fn=cmd_golden)
    p = sub.add_parser("export", help="memory images (hex/bin/coe/mif/raw/c) of layer parameters")
    _add_quant_args(p)
    p.add_argument("--layer", action="append", help="layer name (repeatable)")
    p.add_argument("--all", action="store_true", help="every layer with parameters")
    p.add_argument("--format", default="hex", choices=["hex", "bin", "coe", "mif", "raw", "c"])
    p.add_argument("--layout", help="weight layout keys, e.g. 'word=32,elem=4,banks=2' (docs/formats.md)")
    p.add_argument("--lanes", type=int_in(1, MAX_ARRAY), default=8,
                   help=f"output channels per weight row (array COLS), 1..{MAX_ARRAY}")
    _add_out_args(p, "export/<model>-<format>, export/<model>-engine with --engine")
    p.add_argument("--engine", action="store_true",
                   help="instead: rtl/layer_engine.v's memory images of each conv/linear/matmul layer "
                        "(docs/engine.md), one directory per layer")
    p.add_argument("--rows", type=int_in(1, MAX_ARRAY), default=8,
                   help=f"with --engine: MAC array rows (ROWS), 1..{MAX_ARRAY}")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("inspect", help="summarize a memory image (format, width, depth, values); "
                                       "exit 2 if the file is none of the formats")
    p.add_argument("file")
    p.add_argument("--format", choices=["hex", "bin", "coe", "mif", "raw", "c"],
                   help="the file's format (default: from its sidecar or its content; "
                        "raw binary only when given here or by the sidecar)")
    p.set_defaults(fn=cmd_inspect)
    p = sub.add_parser("sim", help="co-simulate one layer on its RTL unit against golden vectors "
                                   "(exit 0 pass, 1 mismatch)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default="digits-cnn",
                     help="built-in model: its committed golden vectors, or generated once")
    src.add_argument("--golden", help="a golden directory written by `t2c golden`")
    p.add_argument("--layer", required=True, help="layer name (see `t2c layers`)")
    p.add_argument("--sim", default="icarus", choices=["icarus", "verilator"])
    p.add_argument("--waves", action="store_true", help="keep a waveform in the build directory")
    p.add_argument("--pixels", type=int_in(1), help="layer engine: compute only the first N output pixels")
    p.add_argument("--rows", type=int_in(1, MAX_ARRAY), default=8, help=f"MAC array ROWS, 1..{MAX_ARRAY}")
    p.add_argument("--cols", type=int_in(1, MAX_ARRAY), default=8, help=f"MAC array COLS, 1..{MAX_ARRAY}")
    p.add_argument("--rtl-dir", action="append",
                   help="a directory of your own RTL, searched before t2c's (repeatable; "
                        "default $T2C_RTL_DIR)")
    p.add_argument("--unit", action="append",
                   help="a Python file registering your own unit(s) for some ops "
                        "(docs/testbench.md; repeatable)")
    p.set_defaults(fn=cmd_sim)
    p = sub.add_parser("report", help="FP32 vs fake-quant vs integer accuracy, ViT error budget (digits)")
    p.add_argument("--model", default="digits-cnn")
    p.set_defaults(fn=cmd_report)
    return ap


def main(argv=None) -> int:
    def run():
        args = build_parser().parse_args(argv)
        return args.fn(args)

    return guarded(run)


if __name__ == "__main__":
    sys.exit(main())
