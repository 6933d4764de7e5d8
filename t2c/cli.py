"""``t2c`` command line (docs/cli.md).

Every failure is one line on stderr (``t2c: error: ...``) and a documented exit code
(:mod:`t2c.errors`: 0 ok, 1 mismatch, 2 bad input, 3 tool missing, 4 internal error,
130 interrupted); ``T2C_DEBUG=1`` adds the traceback.  Numeric options are checked
against their ranges before any work starts.  Commands that write a directory refuse
to replace one holding files t2c did not write unless ``--force`` is given
(:func:`t2c.fileio.output_dir`).

The model comes from ``--model SPEC`` (a built-in name, ``torchvision:NAME``,
``timm:NAME``, ``FILE.py:callable``, ``package.module:callable``, ``FILE.pt``; see
:mod:`t2c.models.spec`) with its data options, or from ``--graph net.t2c`` (a saved
integer model: no torch needed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace

from .errors import guarded

def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 layer``, ``2 layers``, ``1,024 tensors``, ``3 mismatches`` (``many``: the plural)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"


MAX_ARRAY = 128  # ROWS / COLS: memory words are COLS * 32 bits, at most 4096 (t2c.export.layout)
FORMATS = ["hex", "bin", "coe", "mif", "raw", "c"]


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
    parse.span = span  # shown in --help (build_parser)
    return parse


def _shape(text: str):
    from .data import parse_shape

    try:
        return parse_shape(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None


# ------------------------------------------------------------------ model and config options
def _add_model_args(p, graph: bool = True, default: str | None = "digits-cnn"):
    src = p.add_mutually_exclusive_group()
    src.add_argument("--model", default=None,
                     help=f"model spec (default {default}): a built-in name (`t2c models`), torchvision:NAME, "
                          "timm:NAME, FILE.py:callable[(k=v,...)], package.module:callable, FILE.pt")
    if graph:
        src.add_argument("--graph", help="a saved integer model (`t2c convert --out net.t2c`); needs no torch")
    p.add_argument("--model-arg", action="append", default=[], metavar="K=V",
                   help="keyword argument for the model's callable (repeatable)")
    p.add_argument("--weights", help="a state dict or a whole saved module to load")
    p.add_argument("--input-shape", type=_shape, help="model input N x C x H x W, e.g. 1x3x32x32 "
                                                      "(required for models without a registry entry)")
    p.add_argument("--calib", help="calibration samples: .npy, .npz, .pt or a directory of images")
    p.add_argument("--calib-count", type=int_in(1), help="use the first N calibration samples")
    p.add_argument("--input", help="the golden input sample(s) (default: the first calibration sample)")
    p.add_argument("--batch", type=int_in(1, 4096), default=1, help="golden inputs per run (default 1)")
    p.add_argument("--config", help="quantization config file (TOML; per-layer rules, docs/quantizers.md)")
    p.add_argument("--wbit", type=int_in(2, 8), help="weight bits, 2..8 (overrides the config)")
    p.add_argument("--abit", type=int_in(2, 8), help="activation bits, 2..8 (overrides the config)")
    p.add_argument("--weight-quantizer", help="registered weight quantizer (default minmax)")
    p.add_argument("--act-quantizer", help="registered activation quantizer (default minmax)")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    p.add_argument("--prune", help="prune every conv/linear: N:M (2:4, 1:4, 4:8) or a sparsity fraction "
                   "(0.5); docs/quantizers.md")
    p.add_argument("--smoothquant", type=float, metavar="ALPHA",
                   help="SmoothQuant migration strength in [0, 1] (e.g. 0.5), folded before calibration")
    p.set_defaults(model_default=default)


def _source(args):
    from .pipeline import ModelSource

    return ModelSource(spec=args.model or args.model_default, model_args=tuple(args.model_arg),
                       weights=args.weights, input_shape=args.input_shape, calib=args.calib,
                       calib_count=args.calib_count, input=args.input, batch=args.batch)


def _config(args):
    from .qconfig import QConfig, load_config
    from .quant import quantizer_class

    config = load_config(args.config) if args.config else QConfig()
    config = config.with_overrides(wbit=args.wbit, abit=args.abit, weight_quantizer=args.weight_quantizer,
                                   act_quantizer=args.act_quantizer,
                                   per_channel=False if args.per_tensor else None, prune=args.prune,
                                   smoothquant=args.smoothquant)
    for name in {config.weight_quantizer, config.act_quantizer} | {
            q for r in config.layers for q in (r.weight_quantizer, r.act_quantizer) if q}:
        quantizer_class(name)  # an unknown name fails here, listing the registered ones
    return config


def _model_given(args) -> bool:
    return any([args.model_arg, args.weights, args.input_shape, args.calib, args.calib_count, args.input,
                args.batch != 1, args.config, args.wbit, args.abit, args.weight_quantizer,
                args.act_quantizer, args.per_tensor, args.prune, args.smoothquant is not None])


def _graph(args):
    """(IntGraph, golden input codes, label) from --graph or from the model options."""
    if getattr(args, "graph", None):
        from .graph_io import load_graph

        for opt in ("model_arg", "weights", "input_shape", "calib", "calib_count", "config", "wbit", "abit",
                    "weight_quantizer", "act_quantizer", "prune", "smoothquant"):
            if getattr(args, opt) not in (None, False, []):
                raise ValueError(f"--graph holds a converted model: --{opt.replace('_', '-')} does not apply")
        if args.input or args.batch != 1:
            raise ValueError("--graph holds its golden input: --input / --batch do not apply")
        graph, x = load_graph(args.graph)
        return graph, x, graph.meta.get("model") or "model"
    from .pipeline import prepare

    p = prepare(_source(args), _config(args))
    return p.graph, p.x_int, p.name


def _label(args) -> str:
    """The model's short name before it is built (default output directories)."""
    if getattr(args, "graph", None):
        from pathlib import Path

        return Path(args.graph).stem
    from .models.spec import parse_model_spec

    return parse_model_spec(args.model or args.model_default, args.model_arg).label


def _add_stimulus_args(p):
    p.add_argument("--stimulus", choices=["corners", "random"],
                   help="also crafted variants of each layer: corners (every reachable arithmetic corner) or "
                        "random (docs/coverage.md)")
    p.add_argument("--samples", dest="stimulus_samples", type=int_in(1, 1000),
                   help="with --stimulus random: variants per layer (default 4)")
    p.add_argument("--seed", dest="stimulus_seed", type=int_in(0), help="with --stimulus random: the seed (default 0)")


def _add_out_args(p, default: str):
    p.add_argument("--out", help=f"output directory (default {default}); must be new, empty or a "
                                 "previous output of the same command")
    p.add_argument("--force", action="store_true",
                   help="replace --out even if it holds files t2c did not write")


# ------------------------------------------------------------------ verbs
def cmd_models(args):
    from .models import MODELS

    for name, entry in MODELS.items():
        print(f"{name:16s} {entry.description}")


def cmd_layers(args):
    from .summary import layer_table, sparsity_line

    graph, _, label = _graph(args)
    rows = layer_table(graph)
    head = ("layer", "op", "runs on", "fused", "w/a/out bits", "quantizers", "K", "output")
    widths = [max(len(h), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)]
    print(f"{label}: {plural(len(rows), 'layer')}")
    for r in [head, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    q = graph.meta.get("quantization", {}).get("config")
    if q:
        rules = q.get("layers") or []
        print(f"config: W{q['wbit']}A{q['abit']} {q['weight_quantizer']}/{q['act_quantizer']}, "
              f"{'per-channel' if q['per_channel'] else 'per-tensor'} weights, io_bits {q['io_bits']}"
              + (f", {len(rules)} layer rule(s): " + "; ".join(json.dumps(r) for r in rules) if rules else ""))
    sparse = sparsity_line(graph)
    if sparse:
        print(sparse)


def cmd_convert(args):
    from .fileio import check_output_target
    from .graph_io import GRAPH_OUTPUT, save_graph

    t0 = time.time()
    out = args.out or f"{_label(args)}.t2c"
    check_output_target(out, GRAPH_OUTPUT, args.force)  # before the (long) model preparation
    graph, x, label = _graph(args)
    save_graph(graph, x, out, force=args.force)
    print(f"wrote the integer model of {label} ({plural(len(graph.ops), 'layer')}) to {out} "
          f"in {time.time() - t0:.1f} s")


def _stimulus(args, graph=None):
    """The Stimulus of ``--stimulus`` (None without it)."""
    if not getattr(args, "stimulus", None):
        for opt in ("samples", "seed"):
            if getattr(args, f"stimulus_{opt}", None) is not None:
                raise ValueError(f"--{opt} goes with --stimulus random")
        return None
    from .stimulus import Stimulus

    if args.stimulus != "random" and (args.stimulus_samples is not None or args.stimulus_seed is not None):
        raise ValueError("--samples / --seed go with --stimulus random")
    bits = int((graph.meta.get("multiplier_bits") if graph is not None else None) or 32)
    return Stimulus(args.stimulus, samples=args.stimulus_samples or 4, seed=args.stimulus_seed or 0,
                    multiplier_bits=bits)


def cmd_golden(args):
    from .fileio import check_output_target
    from .golden import GOLDEN_OUTPUT, write_golden

    t0 = time.time()
    out = args.out or f"golden/{_label(args)}"
    _stimulus(args)  # option errors before the (long) model preparation
    check_output_target(out, GOLDEN_OUTPUT, args.force)
    graph, x, label = _graph(args)
    stim = _stimulus(args, graph)
    out = write_golden(graph, x, out, progress=True, force=args.force, stimulus=stim)
    made = ""
    if stim is not None:
        from .golden import read_golden

        n = sum(len(v) for v in read_golden(out, verify=False).manifest.get("variants", {}).values())
        made = f" and {plural(n, 'variant')} ({args.stimulus})"
    print(f"wrote golden vectors of {label} ({plural(len(graph.ops), 'layer')}){made} to {out} "
          f"in {time.time() - t0:.1f} s")


def cmd_export(args):
    from .export.model import MEMORIES_OUTPUT, export_model
    from .fileio import check_output_target

    if not args.all and not args.layer:
        raise ValueError("say which layers: --layer NAME (repeatable) or --all")
    if args.engine:
        return _export_engine(args)
    t0 = time.time()
    out = args.out or f"export/{_label(args)}-{args.format}"
    check_output_target(out, MEMORIES_OUTPUT, args.force)
    graph, _, label = _graph(args)
    records = export_model(graph, out, args.format, layers=None if args.all else args.layer,
                           lanes=args.lanes, layout=args.layout, progress=True, force=args.force)
    files = sum(len(r["files"]) for r in records)
    print(f"wrote {plural(files, args.format + ' memory image')} ({plural(len(records), 'tensor')}) of {label} "
          f"to {out} in {time.time() - t0:.1f} s")


def _export_engine(args):
    """``export --engine``: the layer engine's images, from golden vectors made on the fly."""
    import tempfile

    from .export.engine import ENGINE_OUTPUT, Geometry, export_engine
    from .fileio import check_output_target
    from .golden import read_golden, write_golden

    t0 = time.time()
    out = args.out or f"export/{_label(args)}-engine"
    check_output_target(out, ENGINE_OUTPUT, args.force)
    graph, x, label = _graph(args)
    for name in args.layer or []:
        graph.op(name)  # an unknown name fails here, listing the valid ones
    with tempfile.TemporaryDirectory(prefix="t2c-golden-") as tmp:
        golden = read_golden(write_golden(graph, x, f"{tmp}/golden"))
        written = export_engine(golden, out, None if args.all else args.layer,
                                Geometry(rows=args.rows, cols=args.lanes), args.format,
                                progress=True, force=args.force)
    print(f"wrote layer-engine images of {plural(len(written), 'layer')} of {label} "
          f"({args.rows}x{args.lanes} array) to {out} in {time.time() - t0:.1f} s")


def cmd_inspect(args):
    from .export import inspect_file

    print(inspect_file(args.file, fmt=args.format))


def _sim_golden(args):
    """The golden directory ``t2c sim`` runs: given, committed, or generated once (cached)."""
    from .golden import write_golden
    from .sim.golden_dirs import ensure_golden, open_golden
    from .sim.toolchain import build_root

    stim = getattr(args, "stimulus", None)
    if args.golden:
        golden = open_golden(args.golden)
        if stim and not golden.manifest.get("variants"):
            raise ValueError(f"{args.golden} holds no {stim} variants: write it with "
                             f"`t2c golden --stimulus {stim} --out {args.golden}`")
        return golden
    spec = args.model or args.model_default
    if not args.graph and not _model_given(args) and not stim:
        from .models import MODELS

        if spec in MODELS:
            return open_golden(ensure_golden(spec, log=lambda m: print(f"t2c: {m}", file=sys.stderr)))
    if args.graph:
        from pathlib import Path

        from .graph_io import GRAPH_JSON

        key = hashlib.sha1((Path(args.graph) / GRAPH_JSON).read_bytes()).hexdigest()[:10] \
            if (Path(args.graph) / GRAPH_JSON).is_file() else "missing"
    else:
        key = hashlib.sha1(json.dumps([_source(args).describe(), _config(args).to_dict()],
                                      sort_keys=True).encode()).hexdigest()[:10]
    if stim:
        key += "-" + hashlib.sha1(json.dumps(_stimulus(args).describe(), sort_keys=True).encode()).hexdigest()[:6]
    d = build_root() / "golden" / f"{_label(args)}-{key}"
    if not (d / "manifest.json").is_file():
        graph, x, _ = _graph(args)
        write_golden(graph, x, d, force=True, stimulus=_stimulus(args, graph), progress=bool(stim))
    return open_golden(d)


def _sim_options(args, one_layer: bool = False):
    from .sim.hdl import user_rtl_dirs
    from .sim.units import SimOptions

    rtl_dirs = user_rtl_dirs(args.rtl_dir if args.rtl_dir else None)  # $T2C_RTL_DIR checked too
    return SimOptions(sim=args.sim, rows=args.rows, cols=args.cols,
                      rtl_dirs=rtl_dirs if args.rtl_dir else None,
                      waves=args.waves and not args.all, pix_end=args.pixels,
                      unit_args=tuple(_key_value(a, "--unit-arg") for a in args.unit_arg or ()),
                      require_user_rtl=one_layer and bool(rtl_dirs))


def _key_value(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{option} takes KEY=VALUE, got {text!r}")
    return key.strip(), value


def cmd_sim(args):
    """One layer (``--layer``) or the whole network (``--all``) of a golden directory on the
    RTL: a verdict, exit 1 on a mismatch."""
    from .errors import MismatchError
    from .sim.build import SimulationError
    from .sim.layers import run_layer
    from .sim.units import load_unit_file

    for path in args.unit or []:
        load_unit_file(path)
    if args.all or args.layer == "all":
        return _sim_network(args)
    for opt in ("dataset", "report"):
        if getattr(args, opt):
            raise ValueError(f"--{opt} goes with --all (the whole network)")
    if not args.layer:
        raise ValueError("say which layer: --layer NAME (see `t2c layers`), or --all for the whole network")
    _stimulus(args)
    golden = _sim_golden(args)
    model = golden.manifest.get("model") or "model"
    if args.pixels is not None and golden.layer(args.layer)["op"] not in ("conv", "linear", "matmul"):
        raise ValueError("--pixels applies to layer-engine layers (conv, linear, matmul) only")
    if args.stimulus:
        return _sim_cases(golden, [args.layer], _sim_options(args, one_layer=True))
    try:
        res = run_layer(golden, args.layer, _sim_options(args, one_layer=True))
    except SimulationError as e:
        raise MismatchError(f"{args.layer} {model} {args.sim}: FAIL ({e})") from None
    print(res.verdict())
    if not res.passed:
        print("\n".join(res.message.splitlines()[1:]))
        print(f"  build directory: {res.build_dir}")
        raise MismatchError(f"{plural(res.mismatches, 'mismatch', 'mismatches')} in {args.layer}")
    if res.waves is not None:
        print(f"  waveform: {res.waves}")


def _sim_cases(golden, layers, options):
    """``--stimulus``: each layer's model case and every variant on its unit, one verdict each,
    then the layer's coverage line; exit 1 when any case fails."""
    from .coverage import golden_coverage, has_model
    from .errors import MismatchError
    from .sim.build import SimulationError
    from .sim.layers import run_layer

    failed = []
    for layer in layers:
        for case in [layer, *golden.variant_names(layer)]:
            try:
                res = run_layer(golden, case, options)
            except SimulationError as e:
                print(f"{case}: FAIL ({e})")
                failed.append(case)
                continue
            print(res.verdict())
            if not res.passed:
                print("\n".join(res.message.splitlines()[1:]))
                failed.append(case)
        if has_model(golden.layer(layer)["op"]):
            c = golden_coverage(golden, [layer])[0]
            missed = ", ".join(b.name for b in c.missed)
            print(f"  coverage of {layer}: {c.hit}/{c.reachable} reachable bins hit ({len(c.bins)} in all) "
                  f"over {c.cases} cases" + (f"; missed: {missed}" if missed else ""))
    if failed:
        raise MismatchError(f"{plural(len(failed), 'case')} failed: {', '.join(failed[:8])}"
                            + (", ..." if len(failed) > 8 else ""))


def _dataset(args):
    """(graph, input codes, labels or None) of ``--dataset``."""
    import numpy as np

    graph, _, label = _graph(args)
    if args.dataset == "test":
        spec = args.model or args.model_default
        if spec not in ("digits-cnn", "digits-vit") and not str(label).startswith("digits"):
            raise ValueError("--dataset test is the held-out digits split: use it with digits-cnn or digits-vit; "
                             "other models take --dataset FILE (.npy samples, or .npz with x and labels y)")
        from .models.digits import digits_split

        _, _, xte, yte = digits_split()
        x, y = xte.numpy(), yte.numpy()
    else:
        from .data import load_samples

        spec = graph.tensors[graph.input]
        x = load_samples(args.dataset, (1, *spec.shape[1:]))
        y = None
        if str(args.dataset).endswith(".npz"):
            with np.load(args.dataset, allow_pickle=False) as z:
                y = z["y"] if "y" in z.files else None
        if y is not None:
            _check_labels(args.dataset, y, len(x), graph.tensors[graph.output].shape[-1])
    return graph, graph.quantize_input(x), y


def _check_labels(path, y, samples: int, classes: int) -> None:
    """Labels that fit the samples and the model's outputs (before any simulation)."""
    import numpy as np

    y = np.asarray(y)
    if y.ndim != 1 or len(y) != samples:
        raise ValueError(f"{path}: y holds {y.shape[0] if y.ndim else 0:,} labels for {samples:,} samples "
                         f"in x (one class index per sample)")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels y are {y.dtype}, not class indices")
    if len(y) and (y.min() < 0 or y.max() >= classes):
        bad = int(np.argmax((y < 0) | (y >= classes)))
        raise ValueError(f"{path}: label y[{bad}] = {int(y[bad])} is outside the model's {classes} classes "
                         f"(0..{classes - 1})")


def _sim_network(args):
    """``t2c sim --all``: every layer chained on the RTL, a per-layer table and a verdict."""
    import numpy as np

    from .errors import MismatchError
    from .sim.layers import run_layer
    from .sim.network import merge_runs, run_network

    if args.layer not in (None, "all"):
        raise ValueError("give --layer NAME or --all, not both")
    if args.pixels is not None:
        raise ValueError("--pixels applies to one layer, not to --all")
    stim = _stimulus(args)
    golden = _sim_golden(args)
    options = _sim_options(args)
    if stim is not None:
        if args.dataset or args.report:
            raise ValueError("--stimulus runs every layer's cases on their own: not with --dataset / --report")
        from .sim.layers import runnable_layers

        return _sim_cases(golden, [name for name, _, _ in runnable_layers(golden)], options)
    inputs = labels = None
    if (args.workers or args.scheduler) and not args.dataset:
        raise ValueError("--workers / --scheduler split a --dataset across workers")
    if args.dataset:
        graph, inputs, labels = _dataset(args)
    if args.dataset and (args.workers or args.scheduler):
        from .sim.scale import run_dataset

        net = run_dataset(golden, graph, inputs, options, workers=args.workers or 2, chunk=args.chunk,
                          scheduler=args.scheduler, keep_going=args.keep_going)
    elif args.dataset:
        rec = graph.run(inputs, record=True)
        expected = {name: r.output for name, r in rec.layers.items()}
        chunk = args.chunk or len(inputs)
        runs = []
        for i in range(0, len(inputs), chunk):
            runs.append(run_network(golden, options, inputs=inputs[i:i + chunk],
                                    expected={k: v[i:i + chunk] if np.ndim(v) and len(v) == len(inputs) else v
                                              for k, v in expected.items()},
                                    keep_going=args.keep_going, progress=True))
            if runs[-1].stopped_at:
                break
        net = merge_runs(runs) if len(runs) > 1 else runs[0]
    else:
        net = run_network(golden, options, keep_going=args.keep_going, progress=True)
    print(net.table())
    print(net.verdict())
    unused = net.unused_rtl_dirs(options.rtl_dirs)
    extra = {}
    if inputs is not None and net.output is not None:
        ref, got = np.asarray(net.expected_output), np.asarray(net.output)
        equal = int((ref.reshape(len(ref), -1) == got.reshape(len(got), -1)).all(axis=1).sum())
        line = f"dataset: {equal}/{len(ref)} output vectors equal to the integer reference"
        extra["dataset"] = {"images": len(ref), "outputs_equal": equal}
        if labels is not None:
            acc_rtl = 100.0 * float((got.argmax(1) == labels).mean())
            acc_ref = 100.0 * float((ref.argmax(1) == labels).mean())
            line += f"; top-1 accuracy: RTL {acc_rtl:.2f}%, integer reference {acc_ref:.2f}%"
            extra["dataset"].update(rtl_top1=round(acc_rtl, 4), reference_top1=round(acc_ref, 4))
        print(line)
    for r in net.failures:
        msg = r.run.message if r.run is not None else r.comparison.message(f"{net.model} {r.layer}")
        print(msg if r.run is None else "\n".join(msg.splitlines()[:-1]))
        if r.inputs_at_failure:
            print(f"  inputs at the first element: {r.inputs_at_failure}")
        print(f"  (fed from the {'RTL outputs before it' if r.fed_from == 'rtl' else 'golden tensors'})")
    if net.failures and args.waves:
        first = net.failures[0]
        if first.replay is not None:
            fed, want = first.replay
            again = run_layer(golden, first.layer, replace(options, waves=True, tag=f"{net.model}-waves"),
                              inputs=fed, expected=want)
            print(f"  waveform of {first.layer} alone: {again.waves}")
    if args.report:
        from .sim.report import write_report

        print(f"wrote {write_report(net, args.report, extra, force=args.force)}/report.json and report.png")
    if unused:
        from .sim.build import UnusedRTLError

        raise UnusedRTLError(f"{', '.join(map(str, unused))} contributed no module to any layer's build "
                             f"(they used: {net.modules()}); library search finds module M only in M.v or M.sv")
    if not net.passed:
        raise MismatchError(f"{plural(len(net.failures), 'layer')} differ{'s' * (len(net.failures) == 1)}"
                            + (f"; stopped at {net.stopped_at}"
                                                                       if net.stopped_at else ""))


def cmd_coverage(args):
    """``t2c coverage``: which arithmetic corners a golden set reaches, per layer."""
    import tempfile

    from .coverage import golden_coverage, table
    from .golden import read_golden

    if args.report:
        from .coverage import REPORT_OUTPUT
        from .fileio import check_output_target

        check_output_target(args.report, REPORT_OUTPUT, args.force)
    _stimulus(args)
    with tempfile.TemporaryDirectory(prefix="t2c-coverage-") as tmp:
        if args.golden:
            if args.stimulus:
                raise ValueError("--golden holds its cases: --stimulus applies to --model / --graph")
            golden = read_golden(args.golden)
        else:
            from .golden import write_golden

            graph, x, _ = _graph(args)
            golden = read_golden(write_golden(graph, x, f"{tmp}/golden", stimulus=_stimulus(args, graph)))
        for name in args.layer or []:
            golden.layer(name)  # an unknown name fails here, listing the valid ones
        cov = golden_coverage(golden, args.layer, progress=sys.stderr.isatty())
    model = golden.manifest.get("model") or "model"
    print(f"{model}: numerics coverage" + (f" with {golden.manifest['stimulus']['kind']} stimulus"
                                          if golden.manifest.get("stimulus") else " of the model case"))
    print(table(cov))
    if args.report:
        from .coverage import write_report

        print(f"wrote {write_report(cov, model, args.report, force=args.force)}/coverage.json and coverage.png")


def cmd_mutate(args):
    """``t2c mutate``: which one-token bugs of your RTL the golden set lets through."""
    import tempfile
    from pathlib import Path

    from .mutation import describe, table
    from .sim.mutants import MutationRun, load_equivalents, mutate, rtl_files, write_report

    if not args.layer:
        raise ValueError("say which layer(s): --layer NAME (repeatable)")
    rtl_files(Path(args.rtl_dir))  # a directory with no Verilog fails here, before any work
    equivalents = load_equivalents(args.equivalent) if args.equivalent else ()
    with tempfile.TemporaryDirectory(prefix="t2c-mutate-") as tmp:
        if args.golden:
            from .sim.golden_dirs import open_golden

            golden = open_golden(args.golden)
            if args.stimulus and not golden.manifest.get("variants"):
                raise ValueError(f"{args.golden} holds no corner variants: write it with "
                                 f"`t2c golden --stimulus corners --out {args.golden}`")
            gdir = Path(args.golden)
        else:
            from .golden import write_golden

            graph, x, _ = _graph(args)
            gdir = write_golden(graph, x, f"{tmp}/golden", stimulus=_stimulus(args, graph))
            from .sim.golden_dirs import open_golden

            golden = open_golden(gdir)
        for name in args.layer:
            golden.layer(name)  # an unknown name fails here, listing the valid ones
        run = MutationRun(Path(args.rtl_dir).resolve(), gdir.resolve(), args.layer, bool(args.stimulus), args.sim,
                          tuple(str(Path(u).resolve()) for u in args.unit or ()), args.jobs, args.mutants,
                          args.every, args.mutation_seed, args.timeout, equivalents)
        t0 = time.time()
        mutants = mutate(run, progress=sys.stderr.isatty(), log=lambda m: print(f"t2c: {m}", file=sys.stderr))
    print(table(mutants))
    for title, status in (("survivors: bugs these cases let through", "survived"), ("errors", "error")):
        ms = [m for m in mutants if m.status == status]
        if ms:
            print(f"\n{title} ({len(ms)}):")
            for m in ms:
                print(f"  {describe(m)}" + (f"\n      {m.detail}" if status == "error" else ""))
    print(f"\n{plural(len(mutants), 'mutant')} in {time.time() - t0:.0f} s, {plural(run.jobs, 'job')}")
    if args.report:
        write_report(mutants, args.report)
        print(f"wrote {args.report}")


def cmd_report(args):
    if args.drift and args.methods:
        raise ValueError("give one of --drift and --methods")
    if args.methods:
        from .report import methods_report

        print(methods_report(args.model or args.model_default, progress=sys.stderr.isatty()))
        return
    if not args.drift:
        from .report import report

        print(report(args.model or args.model_default))
        return
    from .pipeline import prepare
    from .report import DRIFT_HEADER, drift_inputs, drift_row

    p = prepare(_source(args), _config(args))
    shape = "x".join(map(str, p.graph.tensors[p.graph.input].shape[1:]))
    print(DRIFT_HEADER)
    print(drift_row(f"{p.name} ({shape}, {p.config.label()})", p.qmodel, p.graph,
                    drift_inputs(args.model or args.model_default, p.graph, args.samples, args.seed)))


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="t2c", description="PyTorch -> bit-exact integer reference, "
                 "golden vectors, memory images, RTL co-simulation")
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    sub.add_parser("models", help="list the built-in models").set_defaults(fn=cmd_models)

    p = sub.add_parser("layers", help="the layers of a model's integer graph: unit, fused ops, bits, K")
    _add_model_args(p)
    p.set_defaults(fn=cmd_layers)

    p = sub.add_parser("convert", help="quantize and convert a model; save the integer model (net.t2c)")
    _add_model_args(p, graph=False)
    _add_out_args(p, "<model>.t2c")
    p.set_defaults(fn=cmd_convert, graph=None)

    p = sub.add_parser("golden", help="write per-layer golden vectors + checksummed manifest")
    _add_model_args(p)
    _add_out_args(p, "golden/<model>")
    _add_stimulus_args(p)
    p.set_defaults(fn=cmd_golden)

    p = sub.add_parser("coverage", help="which arithmetic corners (rounding ties, saturation, zero points, ...) "
                                        "each layer's golden cases reach (docs/coverage.md)")
    _add_model_args(p)
    p.add_argument("--golden", help="a golden directory (instead of a model): its model cases and variants")
    p.add_argument("--layer", action="append", help="layer name (repeatable; default every layer with a "
                                                    "coverage model)")
    p.add_argument("--report", help="write coverage.json and coverage.png into this directory")
    p.add_argument("--force", action="store_true", help="replace --report even if it holds other files")
    _add_stimulus_args(p)
    p.set_defaults(fn=cmd_coverage)

    p = sub.add_parser("export", help="memory images (hex/bin/coe/mif/raw/c) of layer parameters")
    _add_model_args(p)
    p.add_argument("--layer", action="append", help="layer name (repeatable)")
    p.add_argument("--all", action="store_true", help="every layer with parameters")
    p.add_argument("--format", default="hex", choices=FORMATS,
                   help=f"memory image format: {', '.join(FORMATS)} (default hex; docs/formats.md)")
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
    p.add_argument("--format", choices=FORMATS,
                   help=f"the file's format, one of {', '.join(FORMATS)} (default: from its sidecar or its "
                        "content; raw binary only when given here or by the sidecar)")
    p.set_defaults(fn=cmd_inspect)

    p = sub.add_parser("sim", help="co-simulate one layer on its RTL unit against golden vectors "
                                   "(exit 0 pass, 1 mismatch)")
    _add_model_args(p)
    p.add_argument("--golden", help="a golden directory written by `t2c golden` (instead of a model)")
    p.add_argument("--layer", help="layer name (see `t2c layers`); `all`: the whole network")
    p.add_argument("--all", action="store_true",
                   help="the whole network, chained: each layer fed the RTL outputs before it")
    p.add_argument("--continue", dest="keep_going", action="store_true",
                   help="with --all: after a failing layer go on from its golden output")
    p.add_argument("--dataset", help="with --all: run a dataset through the RTL network: `test` (the "
                                     "held-out digits) or FILE (.npy samples, .npz with x and labels y)")
    p.add_argument("--chunk", type=int_in(1), help="with --dataset: images per simulation (default all)")
    p.add_argument("--workers", type=int_in(1, 1024),
                   help="with --dataset: split it across N Dask workers (a local cluster; docs/testbench.md)")
    p.add_argument("--scheduler", help="with --dataset: a running Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--report", help="with --all: write report.json and report.png into this directory")
    p.add_argument("--force", action="store_true", help="replace --report even if it holds other files")
    p.add_argument("--sim", default="icarus", choices=["icarus", "verilator"],
                   help="the simulator: icarus (default) or verilator")
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
    p.add_argument("--unit-arg", action="append", metavar="KEY=VALUE",
                   help="a setting for your unit, read with t2c.sim.units.unit_arg(options, KEY) (repeatable)")
    _add_stimulus_args(p)
    p.set_defaults(fn=cmd_sim)

    p = sub.add_parser("mutate", help="mutation testing of your RTL against a golden set: which one-token bugs "
                                      "it lets through (docs/coverage.md)")
    _add_model_args(p)
    p.add_argument("--golden", help="a golden directory (instead of a model)")
    p.add_argument("--rtl-dir", required=True, help="the RTL directory whose files are mutated (searched first)")
    p.add_argument("--unit", action="append", help="a Python file registering your unit(s) (repeatable)")
    p.add_argument("--layer", action="append", help="layer name (repeatable): the runs each mutant must pass")
    p.add_argument("--sim", default="icarus", choices=["icarus", "verilator"],
                   help="the simulator: icarus (default; builds fastest) or verilator")
    p.add_argument("--jobs", type=int_in(1, 64), default=2, help="mutants run at once (default 2)")
    p.add_argument("--mutants", type=int_in(1), default=60,
                   help="mutants sampled over all files, proportional to their candidates (default 60)")
    p.add_argument("--all", dest="every", action="store_true", help="every candidate mutant, no sampling")
    p.add_argument("--mutation-seed", type=int_in(0), default=1, help="the sample's seed (default 1)")
    p.add_argument("--timeout", type=float, help="seconds per mutant (default 3 x the baseline + 60)")
    p.add_argument("--equivalent", help="a JSON list of equivalent mutants (module, line, mutated, reason)")
    p.add_argument("--report", help="write every mutant with its verdict to this JSON file")
    _add_stimulus_args(p)
    p.set_defaults(fn=cmd_mutate)

    p = sub.add_parser("report", help="FP32 vs fake-quant vs integer accuracy, ViT error budget (digits); "
                                      "--drift: float fake-quant vs integer codes of any model")
    _add_model_args(p, graph=False)
    p.add_argument("--drift", action="store_true",
                   help="compare the float fake-quant forward (exact=False) with the integer graph, in codes")
    p.add_argument("--methods", action="store_true",
                   help="every quantization / pruning method at W8A8..W2A4 (digits models; rows cached)")
    p.add_argument("--samples", type=int_in(1, 4096), default=8, help="--drift: inputs compared (default 8)")
    p.add_argument("--seed", type=int, default=0, help="--drift: seed of the random inputs (default 0)")
    p.set_defaults(fn=cmd_report)
    _show_ranges(ap)
    return ap


def _show_ranges(parser) -> None:
    """Append every integer option's range to its help text (``--batch N  ... (1..4096)``),
    so ``--help`` shows each range the option checks, in every verb."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _show_ranges(sub)
        span = getattr(action.type, "span", None)
        if span and action.help and span not in action.help:
            action.help = f"{action.help} ({span})"


def main(argv=None) -> int:
    def run():
        args = build_parser().parse_args(argv)
        if getattr(args, "golden", None) and isinstance(args.golden, str) and (args.model or args.graph):
            raise ValueError("give one of --golden, --graph and --model")
        return args.fn(args)

    return guarded(run, process=argv is None)  # argv None: the `t2c` command itself


if __name__ == "__main__":
    sys.exit(main())
