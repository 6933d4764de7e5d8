"""Run one layer of a model through rtl/layer_engine.v and print a one-line verdict.

    python sim/run_layer.py --layer conv3 [--model digits-cnn] [--sim icarus|verilator]
                            [--waves 1] [--pixels N]

(what ``make sim LAYER=conv3 [MODEL=...] [SIM=...] [WAVES=1]`` runs).  Golden vectors
are generated when missing (deterministic), the engine's memory images are written
from them, the engine runs under the simulator (cocotb's Python runner) and its output
memory is compared with the golden output, ``==`` on every element:

    conv3 digits-cnn icarus: PASS 0/512 mismatches, 2,328 cycles, MAC utilization 99.0%, 3.1 s

On a mismatch the verdict says FAIL and the following lines name the first differing
elements as (n, c, h, w) with expected and got (and the waveform file with --waves 1).
Exit status: 0 pass, 1 mismatch or simulation failure, 2 bad arguments (unknown layer,
unknown simulator), 3 simulator not installed.  ``--pixels N`` computes only the first
N output pixels (a quick look at a large layer).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import layer_util as lu  # noqa: E402
import simutil as su  # noqa: E402


def _flag(text: str) -> bool:
    return text.strip().lower() not in ("", "0", "no", "false", "off")


VIT_OPS = ("softmax", "lut", "layernorm")


def _run_vit(args, op: str) -> int:
    """Softmax, LUT (GELU) and LayerNorm layers: rtl/softmax.v, rtl/lut_layer.v and
    rtl/layernorm.v (sim/vit_util.py, sim/layernorm_util.py)."""
    from vit_util import run_vit_layer

    try:
        res = run_vit_layer(args.model, args.layer, args.sim, waves=_flag(args.waves))
    except Exception as exc:  # build error, timeout, image not loaded
        print(f"{args.layer} {args.model} {args.sim}: FAIL ({type(exc).__name__}: {exc})")
        return 1
    status = "PASS" if res["passed"] else "FAIL"
    print(f"{args.layer} {args.model} {args.sim}: {status} {res['mismatches']}/{res['elements']} "
          f"mismatches, {res['cycles']:,} cycles ({op} unit), {res['seconds']:.1f} s")
    if not res["passed"]:
        print(res["message"])
        print(f"  build directory: {res['build_dir']}")
        return 1
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layer", required=True, help="layer name (see `t2c layers --model MODEL`)")
    ap.add_argument("--model", default=lu.DEFAULT_MODEL)
    ap.add_argument("--sim", default="icarus", help="icarus or verilator")
    ap.add_argument("--waves", default="0", help="1: dump a waveform into the build directory")
    ap.add_argument("--pixels", type=int, default=None, help="compute only the first N output pixels")
    args = ap.parse_args(argv)

    if args.sim not in su.SIMULATORS:
        print(f"unknown simulator {args.sim!r}; use one of: {', '.join(su.SIMULATORS)}")
        return 2
    missing = su.simulator_missing(args.sim)
    if missing is not None:
        print(f"cannot run {args.sim}: {missing}")
        return 3
    try:
        gdir = lu.ensure_golden(args.model)
    except KeyError as exc:  # unknown model: the registry lists the valid ones
        print(f"cannot make golden vectors: {exc.args[0] if exc.args else exc}")
        return 2
    layers = lu.manifest_layers(gdir)
    runnable = lu.engine_layers(gdir)
    ops = dict(layers)
    if ops.get(args.layer) in VIT_OPS:  # softmax / LUT / LayerNorm layers run on their own units
        return _run_vit(args, ops[args.layer])
    if args.layer not in runnable:
        what = (f"'{args.layer}' of {args.model} is not a conv, linear or matmul layer ({ops[args.layer]})"
                if args.layer in ops
                else f"unknown layer '{args.layer}' for {args.model}")
        vit = [name for name, op in layers if op in VIT_OPS]
        print(f"{what}; the layer engine runs its conv, linear and matmul layers: {', '.join(runnable)}"
              + (f"; the softmax / LUT / LayerNorm units run: {', '.join(vit)}" if vit else ""))
        return 2

    try:
        res = lu.run(args.model, args.layer, args.sim, waves=_flag(args.waves), pix_end=args.pixels)
    except Exception as exc:  # the cocotb test failed (timeout, error flag, image not loaded)
        bdir = lu.su.BUILD_ROOT / lu.DUT / args.sim
        print(f"{args.layer} {args.model} {args.sim}: FAIL ({type(exc).__name__}: {exc}); "
              f"logs under {bdir}")
        return 1
    print(lu.verdict(res))
    if not res.passed:
        print("\n".join(res.message.splitlines()[1:]))
        print(f"  build directory: {res.build_dir}")
        return 1
    if res.waves is not None:
        print(f"  waveform: {res.waves}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
