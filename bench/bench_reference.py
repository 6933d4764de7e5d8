"""Integer reference vs float32 PyTorch forward, measured side by side in one run.

    python bench/bench_reference.py [--models resnet18,mobilenet_v2,vit-tiny] [--batches 1,32,256]
                                    [--repeats 5] [--paths] [--shapes]

For each model (seeded weights, 224x224, W8A8 per-channel) and batch: the float32 model's
forward (``torch.no_grad``, eval) and ``IntGraph.run`` on the same images, interleaved
(float, integer, float, integer, ...) so a busy machine slows both alike; the best of
``--repeats`` each, the ratio integer / float and images per second.  ``--paths`` adds
the integer reference forced through each GEMM path (``t2c.gemm``); ``--shapes`` the
accumulator time of every conv / linear layer of resnet18 per path.  Prints; asserts
nothing.
"""
from __future__ import annotations

import argparse
import time

import torch

from t2c import gemm
from t2c.ir import Conv2d, Linear
from t2c.models.spec import build_model, parse_model_spec
from t2c.pipeline import ModelSource, prepare

from machine import machine

MODELS = {"resnet18": "resnet18", "vit-tiny": "vit-tiny",
          "mobilenet_v2": ModelSource(spec="torchvision:mobilenet_v2", input_shape=(1, 3, 224, 224))}


def interleaved(runs: dict, repeats: int) -> dict[str, float]:
    """Best wall time of each callable, the callables run in turn ``repeats`` times."""
    times = {k: [] for k in runs}
    for fn in runs.values():
        fn()  # warm-up: plans, allocator, caches
    for _ in range(repeats):
        for k, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def model_rows(name: str, batches: list[int], repeats: int, paths: bool) -> None:
    source = MODELS[name]
    p = prepare(source)
    spec = source.spec if isinstance(source, ModelSource) else source
    float_model = build_model(parse_model_spec(spec)).float().eval()
    shape = p.graph.tensors[p.graph.input].shape[1:]
    for batch in batches:
        x = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(batch))
        x_int = p.graph.quantize_input(x.numpy())
        runs = {"float32": lambda: float_model(x), "integer": lambda: p.graph.run(x_int)}
        if paths:
            runs.update({f"integer {path}": (lambda path=path: p.graph.run(x_int, gemm_path=path))
                         for path in gemm.PATHS if not (path == "int64" and batch > 1)})
        reps = max(1, repeats if batch < 256 else repeats // 2)
        with torch.no_grad():
            best = interleaved(runs, reps)
        used = sorted(set(p.graph.run(x_int[:1]).gemm.values()))
        line = (f"{name:13s} batch {batch:3d}: float32 {best['float32'] * 1e3:9.1f} ms "
                f"({batch / best['float32']:7.1f} img/s), integer {best['integer'] * 1e3:9.1f} ms "
                f"({batch / best['integer']:7.1f} img/s), ratio integer / float32 "
                f"{best['integer'] / best['float32']:.2f}x  [GEMM paths {', '.join(used)}; best of {reps}]")
        print(line, flush=True)
        for k, v in best.items():
            if k.startswith("integer "):
                print(f"{'':13s}   {k:17s} {v * 1e3:9.1f} ms  ratio {v / best['float32']:.2f}x", flush=True)


def shape_rows(repeats: int) -> None:
    """Per layer of resnet18: the accumulator alone through each GEMM path."""
    p = prepare("resnet18")
    rec = p.graph.run(p.x_int, record=True)
    print("resnet18 per layer (batch 1): accumulator ms by path (int8 / float32 / int64), fastest marked")
    for op in p.graph.ops:
        if not isinstance(op, (Conv2d, Linear)):
            continue
        x = rec.layers[op.name].inputs[0]
        spec = p.graph.tensors[op.inputs[0]]
        runs = {}
        for path in gemm.PATHS:
            plan = gemm.WeightGemm(op.weight, getattr(op, "groups", 1), path, op.x_zero_point,
                                   (spec.qmin, spec.qmax))
            if isinstance(op, Conv2d):
                runs[path] = (lambda plan=plan: plan.conv(x, op.weight.shape[2:], op.stride, op.padding,
                                                          op.dilation))
            else:
                runs[path] = lambda plan=plan: plan.linear(x)
        best = interleaved(runs, repeats)
        fastest = min(best, key=best.get)
        geo = f"{tuple(op.weight.shape)} on {tuple(x.shape)}"
        cells = "  ".join(f"{k} {v * 1e3:7.2f}{'*' if k == fastest else ' '}" for k, v in best.items())
        print(f"  {op.name:22s} {geo:38s} {cells}", flush=True)


def matmul_rows(repeats: int) -> None:
    """Attention-like matmuls of int8 operands [n, m, k] @ [n, k, p]: one torch._int_mm per
    matrix against one batched float32 torch.matmul (exact: k * 128 * 128 <= 2**24) and a
    batched float64 numpy matmul; the choice behind gemm.SMALL_MATMUL."""
    import numpy as np

    rng = np.random.default_rng(0)
    print(f"matmuls [n, m, k] @ [n, k, p], int8 operands: ms by method (gemm.SMALL_MATMUL = {gemm.SMALL_MATMUL} MACs)")
    for n, m, k, q in ((192, 17, 16, 17), (192, 17, 17, 16), (3, 197, 64, 197), (3, 197, 197, 64),
                       (96, 197, 64, 197), (96, 197, 197, 64)):
        a = torch.from_numpy(rng.integers(-128, 128, (n, m, k)).astype(np.int8))
        b = torch.from_numpy(rng.integers(-128, 128, (n, k, q)).astype(np.int8))
        a64, b64 = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
        runs = {"_int_mm per matrix": lambda: [torch._int_mm(a[i], b[i]) for i in range(n)],
                "float32 batched": lambda: torch.matmul(a.float(), b.float()),
                "float64 numpy": lambda: np.matmul(a64, b64)}
        best = interleaved(runs, repeats)
        fastest = min(best, key=best.get)
        cells = "  ".join(f"{key} {v * 1e3:8.3f}{'*' if key == fastest else ' '}" for key, v in best.items())
        print(f"  {n:4d} x {m}x{k} @ {k}x{q} ({m * k * q:>7,} MACs each)  {cells}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,32,256")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--paths", action="store_true", help="also every GEMM path forced")
    ap.add_argument("--shapes", action="store_true", help="also resnet18's layers by GEMM path")
    args = ap.parse_args(argv)
    print(f"machine: {machine()}")
    batches = [int(b) for b in args.batches.split(",")]
    for name in args.models.split(","):
        model_rows(name, batches, args.repeats, args.paths)
    if args.shapes:
        shape_rows(args.repeats)
        matmul_rows(args.repeats)


if __name__ == "__main__":
    main()
