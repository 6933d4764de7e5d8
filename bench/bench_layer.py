"""Layer engine: cycles and MAC utilization per layer, and simulator wall time per MAC.

Runs every conv/linear layer of the default model, the attention matmuls (Q·Kᵀ,
attention·V) of digits-vit's first block and torchvision resnet18
``layer1.0.conv1`` (56x56x64 -> 64, K = 576, seeded weights) through rtl/layer_engine.v
(8x8 MAC array) on Icarus and Verilator, each checked against its golden vectors, and
prints, measured in this one run:

* cycles (the engine's own counter, start to done) and MAC utilization
  (useful MACs / (cycles * ROWS * COLS));
* simulation wall time (reset release to done: no build, no Python compare) and wall
  time per simulated MAC, Icarus and Verilator side by side.

Icarus runs the first ``ICARUS_PIXELS`` output pixels of the resnet18 layer (the whole
layer would take ~15 minutes there); its cycles and utilization are then those of
that part.  Verilator models are built with Verilator's optimised default (the tests
use -O0 to build faster).  Prints numbers, asserts nothing.

    python bench/bench_layer.py
    T2C_SIMS=verilator python bench/bench_layer.py
"""
from __future__ import annotations

from t2c.sim import toolchain
from t2c.sim.golden_dirs import ensure_golden, open_golden
from t2c.sim.layers import run_layer
from t2c.sim.units import SimOptions

RESNET = ("resnet18", "layer1.0.conv1")
VIT_MATMULS = [("digits-vit", "blocks.0.attn.qk"), ("digits-vit", "blocks.0.attn.av")]
ICARUS_PIXELS = 64  # 8 row tiles: ~40k cycles (Icarus simulates ~2k engine cycles/s)


def main() -> None:
    sims = toolchain.available_simulators()
    for s in toolchain.SIMULATORS:
        if s not in sims:
            print(f"# {s}: skipped ({toolchain.simulator_missing(s)})")
    goldens = {m: open_golden(ensure_golden(m)) for m in ("digits-cnn", "digits-vit", "resnet18")}
    cnn = goldens["digits-cnn"]
    cases = [("digits-cnn", e["name"]) for e in cnn.manifest["layers"] if e["op"] in ("conv", "linear")]
    cases += VIT_MATMULS + [RESNET]
    results = {}
    for m, layer in cases:
        for sim in sims:
            pixels = ICARUS_PIXELS if (sim == "icarus" and (m, layer) == RESNET) else None
            try:
                results[(m, layer, sim)] = run_layer(goldens[m], layer, SimOptions(
                    sim=sim, pix_end=pixels, fast_build=False, tag="bench"))
            except Exception as exc:  # a benchmark reports, it does not stop
                print(f"# {m} {layer} on {sim}: failed: {exc}")

    head = f"{'model':10s} {'layer':17s} {'MACs':>11s} {'cycles':>10s} {'util':>6s} {'ok':>4s}"
    for sim in sims:
        head += f" {sim + ' s':>13s} {'ns/MAC':>9s}"
    if len(sims) == 2:
        head += f" {'icarus/verilator':>17s}"
    print(head)
    for m, layer in cases:
        runs = [results.get((m, layer, s)) for s in sims]
        ref = next((r for r in reversed(runs) if r is not None), None)
        if ref is None:
            continue
        ok = "yes" if all(r is None or r.passed for r in runs) else "NO"
        macs = ref.stats["macs"]
        line = f"{m:10s} {layer:17s} {macs:>11,d} {ref.cycles:>10,d} {ref.utilization:>6.1%} {ok:>4s}"
        per_mac = []
        for sim, r in zip(sims, runs):
            if r is None:
                line += f" {'-':>13s} {'-':>9s}"
                per_mac.append(None)
                continue
            ns = 1e9 * r.sim_s / r.stats["macs"]
            per_mac.append(ns)
            part = "*" if r.stats["macs"] != macs else " "
            line += f" {r.sim_s:>12.3f}{part} {ns:>9.1f}"
        if len(sims) == 2 and None not in per_mac:
            line += f" {per_mac[0] / per_mac[1]:>16.1f}x"
        print(line)
    if "icarus" in sims:
        print(f"* Icarus: the first {ICARUS_PIXELS} of 3,136 output pixels of {RESNET[1]} "
              "(ns/MAC over the MACs simulated)")
    print("cycles: engine start to done; util: useful MACs / (cycles x 64); "
          "s: simulation wall time, reset release to done")


if __name__ == "__main__":
    main()
