"""A dataset through the RTL network on a local Dask cluster (t2c.sim.scale): the same
result as one process, chunk by chunk merged exactly."""
from __future__ import annotations

import numpy as np
import pytest

from t2c.cli import main
from t2c.sim import toolchain

pytest.importorskip("distributed")


@pytest.mark.slow
def test_two_workers_give_the_one_process_result(capsys):
    toolchain.require_simulator("verilator")
    argv = ["sim", "--model", "digits-cnn", "--all", "--dataset", "test", "--sim", "verilator"]
    assert main(argv + ["--workers", "2"]) == 0
    out = capsys.readouterr().out
    line = ("dataset: 360/360 output vectors equal to the integer reference; top-1 accuracy: RTL 98.89%, "
            "integer reference 98.89%")
    assert line in out and "360 images" in out, out[-1500:]


def test_chunks_merge_to_the_one_run(tmp_path):
    """Three chunks of 12 images on two workers: the same outputs and per-layer counts as
    one run over all 36; the cycles are the chunks' summed: the pool unit takes one cycle per
    tap plus 7 per run, so three runs take 14 cycles more than one."""
    from t2c.pipeline import prepare
    from t2c.sim.golden_dirs import ensure_golden, open_golden
    from t2c.sim.network import run_network
    from t2c.sim.scale import run_dataset
    from t2c.sim.units import SimOptions

    sim = "verilator"
    toolchain.require_simulator(sim)
    p = prepare("digits-cnn")
    from t2c.models.digits import digits_split

    x = p.graph.quantize_input(digits_split()[2].numpy()[:36])
    golden = open_golden(ensure_golden("digits-cnn"))
    merged = run_dataset(golden, p.graph, x, SimOptions(sim=sim), workers=2, chunk=12)
    rec = p.graph.run(x, record=True)
    one = run_network(golden, SimOptions(sim=sim, tag="one"), inputs=x,
                      expected={k: r.output for k, r in rec.layers.items()})
    assert merged.passed and one.passed and merged.images == one.images == 36
    assert np.array_equal(merged.output, one.output)
    for a, b in zip(merged.layers, one.layers):
        assert (a.layer, a.comparison.compared, a.comparison.mismatches) == (b.layer, b.comparison.compared, 0)
    pool_merged, pool_one = (next(r for r in run.layers if r.op == "avgpool") for run in (merged, one))
    taps = 36 * 32 * 16  # 36 images x 32 channels, one 4x4 window each: one pool job per run
    per_run = 2 + 5      # t2c.sim.units.pool.cycles without bubbles: sum(N_k + 2) + 5
    assert (pool_one.cycles, pool_merged.cycles) == (taps + per_run, taps + 3 * per_run)
