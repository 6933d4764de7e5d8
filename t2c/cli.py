"""``t2c`` command line.  Errors print one line (``t2c: error: ...``), never a traceback."""
from __future__ import annotations

import argparse
import sys
import time


def _config(args):
    from .convert import QConfig

    return QConfig(wbit=args.wbit, abit=args.abit, weight_quantizer=args.weight_quantizer,
                   act_quantizer=args.act_quantizer, per_channel=not args.per_tensor)


def _add_quant_args(p):
    p.add_argument("--model", default="digits-cnn", help="model name (see `t2c models`)")
    p.add_argument("--wbit", type=int, default=8)
    p.add_argument("--abit", type=int, default=8)
    p.add_argument("--weight-quantizer", default="minmax")
    p.add_argument("--act-quantizer", default="minmax")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")


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
    from .golden import write_golden
    from .pipeline import prepare

    t0 = time.time()
    p = prepare(args.model, _config(args))
    out = write_golden(p.graph, p.x_int, args.out or f"golden/{args.model}", progress=True)
    print(f"wrote golden vectors of {args.model} ({len(p.graph.ops)} layers) to {out} "
          f"in {time.time() - t0:.1f} s")


def cmd_export(args):
    from .export.model import export_model
    from .pipeline import prepare

    if not args.all and not args.layer:
        raise ValueError("say which layers: --layer NAME (repeatable) or --all")
    if args.engine:
        return _export_engine(args)
    t0 = time.time()
    graph = prepare(args.model, _config(args)).graph
    out = args.out or f"export/{args.model}-{args.format}"
    records = export_model(graph, out, args.format, layers=None if args.all else args.layer,
                           lanes=args.lanes, layout=args.layout, progress=True)
    files = sum(len(r["files"]) for r in records)
    print(f"wrote {files} {args.format} memory images ({len(records)} tensors) of {args.model} "
          f"to {out} in {time.time() - t0:.1f} s")


def _export_engine(args):
    """``export --engine``: the layer engine's images, from golden vectors made on the fly."""
    import tempfile

    from .export.engine import Geometry, export_engine
    from .golden import read_golden, write_golden
    from .pipeline import prepare

    t0 = time.time()
    p = prepare(args.model, _config(args))
    for name in args.layer or []:
        p.graph.op(name)  # an unknown name fails here, listing the valid ones
    out = args.out or f"export/{args.model}-engine"
    with tempfile.TemporaryDirectory(prefix="t2c-golden-") as tmp:
        golden = read_golden(write_golden(p.graph, p.x_int, f"{tmp}/golden"))
        written = export_engine(golden, out, None if args.all else args.layer,
                                Geometry(rows=args.rows, cols=args.lanes), args.format, progress=True)
    print(f"wrote layer-engine images of {len(written)} layers of {args.model} "
          f"({args.rows}x{args.lanes} array) to {out} in {time.time() - t0:.1f} s")


def cmd_inspect(args):
    from .export import inspect_file

    print(inspect_file(args.file))


def cmd_report(args):
    from .report import report

    print(report(args.model))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="t2c", description="PyTorch -> bit-exact integer reference, "
                                 "golden vectors, memory images, RTL co-simulation")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("models", help="list the built-in models").set_defaults(fn=cmd_models)
    p = sub.add_parser("layers", help="list the layer names of a model's integer graph")
    _add_quant_args(p)
    p.set_defaults(fn=cmd_layers)
    p = sub.add_parser("golden", help="write per-layer golden vectors + checksummed manifest")
    _add_quant_args(p)
    p.add_argument("--out", help="output directory (default golden/<model>)")
    p.set_defaults(fn=cmd_golden)
    p = sub.add_parser("export", help="memory images (hex/bin/coe/mif/raw/c) of layer parameters")
    _add_quant_args(p)
    p.add_argument("--layer", action="append", help="layer name (repeatable)")
    p.add_argument("--all", action="store_true", help="every layer with parameters")
    p.add_argument("--format", default="hex", choices=["hex", "bin", "coe", "mif", "raw", "c"])
    p.add_argument("--layout", help="weight layout keys, e.g. 'word=32,elem=4,banks=2' (docs/formats.md)")
    p.add_argument("--lanes", type=int, default=8, help="output channels per weight row (array COLS)")
    p.add_argument("--out", help="output directory (default export/<model>-<format>, "
                                 "export/<model>-engine with --engine)")
    p.add_argument("--engine", action="store_true",
                   help="instead: rtl/layer_engine.v's memory images of each conv/linear/matmul layer "
                        "(docs/engine.md), one directory per layer")
    p.add_argument("--rows", type=int, default=8, help="with --engine: MAC array rows (ROWS)")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("inspect", help="summarize a memory image (format, width, depth, values)")
    p.add_argument("file")
    p.set_defaults(fn=cmd_inspect)
    p = sub.add_parser("report", help="FP32 vs fake-quant vs integer accuracy, ViT error budget (digits)")
    p.add_argument("--model", default="digits-cnn")
    p.set_defaults(fn=cmd_report)
    args = ap.parse_args(argv)
    try:
        args.fn(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"t2c: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
