"""Co-simulation overhead and Verilator options, measured side by side in one run.

    python bench/bench_sim.py [--layer-model resnet18 --layer layer1.0.conv1] [--arrays 8x8,16x16,32x32]

1. Overhead, for the layer engine on resnet18 ``layer1.0.conv1`` (1.8 M cycles at 8x8) and
   for every engine layer of the default model: (a) the whole ``t2c sim`` run (images,
   build check, simulator start, cocotb, compare), (b) the simulation alone inside cocotb
   (reset release to done), (c) a bare Verilator binary of the same wrapper and images
   with a C++ main and no cocotb (its run loop), and the ratios (a)/(c), (b)/(c); plus a
   second ``t2c sim`` of the unchanged layer (the build reused: time to the first cycle).
2. Verilator options on the engine at each array size: the default build, -O3,
   --x-assign fast, --threads 2, and cocotb's --public-flat-rw, each as a bare binary on
   the same images; cycles per second, wall time per simulated MAC, and whether the output
   memory equals the golden output (a faster option that is not bit-exact is not kept).

Prints numbers, asserts nothing.
"""
from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np

from t2c.export import engine as E
from t2c.export.formats import read_dump
from t2c.sim import toolchain
from t2c.sim.build import hdl_string
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.hdl import RTL_DIR, TB_DIR
from t2c.sim.layers import run_layer
from t2c.sim.units import SimOptions
from t2c.sim.units.layer_engine import TOP, Y_NAME

MAIN_CPP = r"""
#include <chrono>
#include <cstdio>
#include "Vtop.h"
#include "verilated.h"
int main(int argc, char** argv) {
  VerilatedContext* ctx = new VerilatedContext;
  ctx->commandArgs(argc, argv);
  Vtop* top = new Vtop{ctx};
  auto t0 = std::chrono::steady_clock::now();
  while (!ctx->gotFinish() && !top->done) {
    top->eval();
    if (!top->eventsPending()) break;
    ctx->time(top->nextTimeSlot());
  }
  auto t1 = std::chrono::steady_clock::now();
  std::printf("cycles %u eng_cycles %u done %d loop_s %.6f\n", top->cycles, top->eng_cycles, (int)top->done,
              std::chrono::duration<double>(t1 - t0).count());
  top->final();
  delete top;
  delete ctx;
  return 0;
}
"""

OPTIONS = {  # name -> extra verilator arguments (make's OPT_FAST for -O3)
    "default": [],
    "-O3": ["-CFLAGS", "-O3", "-MAKEFLAGS", "OPT_FAST=-O3"],
    "--x-assign fast": ["--x-assign", "fast", "--x-initial", "fast"],
    "--threads 2": ["--threads", "2"],
    "--public-flat-rw": ["--public-flat-rw"],
}


def bare_binary(run_dir: Path, params: dict, extra: list[str]) -> Path:
    """Build the wrapper with a C++ main, no cocotb; file parameters as in the t2c run."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "main.cpp").write_text(MAIN_CPP)
    gen = [f"-G{k}={v}" for k, v in params.items()]
    # --output-split 0: one C++ file, as t2c's own builds (a split build races on its
    # precompiled header under make -j)
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "--timing", "--output-split", "0",
           "-CFLAGS", "-std=c++20",
           "--top-module", TOP, "--prefix", "Vtop", "-Mdir", str(run_dir), "-o", "bare", "-y", str(RTL_DIR),
           "-y", str(TB_DIR), "-Wno-fatal", *extra, *gen, str(run_dir / "main.cpp"), str(TB_DIR / f"{TOP}.v")]
    subprocess.run(cmd, check=True, capture_output=True, timeout=1800)
    return run_dir / "bare"


def run_bare(binary: Path) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=3600).stdout
    wall = time.perf_counter() - t0
    f = dict(zip(out.split()[::2], out.split()[1::2]))
    return {"cycles": int(f["cycles"]), "eng_cycles": int(f["eng_cycles"]), "loop_s": float(f["loop_s"]),
            "process_s": wall}


def hdl_params(res) -> dict:
    """The exact HDL parameters (file parameters included) of a finished t2c run."""
    import json

    stamp = json.loads((res.build_dir / "build.key").read_text())
    return stamp["key"]["parameters"]


def output_equal(res, layer, geo, dump: Path) -> bool:
    words, valid = read_dump(dump, E.layouts(geo, layer)[E.OUTPUT_NAME].word_bits,
                             E.memory_words(layer, geo)[E.OUTPUT_NAME])
    return bool(valid.all()) and np.array_equal(E.decode_output(words, layer, geo), res.golden_output)


def measure_layer(golden, name: str, arrays: list[str], root: Path):
    """Yield the printed lines of each array size as it is measured."""
    for arr in arrays:
        rows, cols = (int(v) for v in arr.split("x"))
        geo = E.Geometry(rows=rows, cols=cols)
        opts = SimOptions(sim="verilator", rows=rows, cols=cols, fast_build=False, tag=f"bench-sim-{arr}")
        res = run_layer(golden, name, opts)
        t0 = time.perf_counter()
        again = run_layer(golden, name, opts)  # the build reused
        second = time.perf_counter() - t0
        layer = E.EngineLayer.from_golden(golden, name)
        res.golden_output = golden.tensor(name, "output")
        params = hdl_params(res)
        macs = res.stats["macs"]
        bare = {}
        for opt, extra in OPTIONS.items():
            d = root / f"{name}-{arr}-{opt.strip('-').replace(' ', '_')}"
            params_o = {**params, "Y_FILE": hdl_string(d / Y_NAME)}
            try:
                b = run_bare(bare_binary(d, params_o, extra))
                b["exact"] = output_equal(res, layer, geo, d / Y_NAME) and b["eng_cycles"] == res.cycles
            except subprocess.CalledProcessError as e:
                b = {"error": (e.stderr or b"")[-300:]}
            bare[opt] = b
        base = bare["default"]
        if "error" in base:
            yield f"{name} {arr}: the default bare build failed: {base['error']!r}"
            continue
        yield (f"{golden.manifest.get('model')} {name} {arr}: {res.cycles:,} cycles, {macs:,} MACs; "
               f"t2c sim {res.wall_s:.2f} s, second run {second:.2f} s (simulating from "
               f"{second - again.sim_s:.2f} s), cocotb simulation {res.sim_s:.2f} s, bare binary loop "
               f"{base.get('loop_s', float('nan')):.2f} s / process {base.get('process_s', float('nan')):.2f} s; "
               f"ratios: t2c sim / bare {res.wall_s / base['loop_s']:.2f}x, "
               f"cocotb simulation / bare {res.sim_s / base['loop_s']:.2f}x")
        for opt, b in bare.items():
            if "error" in b:
                yield f"    {opt:16s} build failed: {b['error']!r}"
                continue
            yield (f"    {opt:16s} {b['loop_s']:8.3f} s  {b['cycles'] / b['loop_s'] / 1e3:9.1f} k cycles/s  "
                   f"{1e9 * b['loop_s'] / macs:8.2f} ns/MAC  {b['loop_s'] / base['loop_s']:5.2f}x of default  "
                   f"bit-exact: {'yes' if b['exact'] else 'NO'}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer-model", default="resnet18")
    ap.add_argument("--layer", default="layer1.0.conv1")
    ap.add_argument("--arrays", default="8x8,16x16,32x32")
    args = ap.parse_args(argv)
    if toolchain.simulator_missing("verilator"):
        print(f"# verilator: skipped ({toolchain.simulator_missing('verilator')})")
        return
    toolchain.setup_path()
    root = toolchain.build_root() / "bench_sim"
    big = open_golden(ensure_golden(args.layer_model))
    for line in measure_layer(big, args.layer, args.arrays.split(","), root):
        print(line, flush=True)
    cnn = open_golden(ensure_golden("digits-cnn"))
    t_sim = t_bare = t_all = 0.0
    for e in cnn.manifest["layers"]:
        if e["op"] in ("conv", "linear"):
            res = run_layer(cnn, e["name"], SimOptions(sim="verilator", fast_build=False, tag="bench-sim"))
            b = run_bare(bare_binary(root / f"digits-{e['name']}", {**hdl_params(res)}, []))
            t_all, t_sim, t_bare = t_all + res.wall_s, t_sim + res.sim_s, t_bare + b["loop_s"]
    print(f"digits-cnn engine layers: t2c sim {t_all:.2f} s, cocotb simulation {t_sim:.3f} s, bare loops "
          f"{t_bare:.3f} s: small layers are start-up bound ({t_all / max(t_bare, 1e-9):.0f}x)")


if __name__ == "__main__":
    main()
