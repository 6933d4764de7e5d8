"""ViT non-linear layers (softmax, LUT/GELU) through rtl/softmax.v and rtl/lut_layer.v.

Shared by ``sim/test_vit_layers.py`` (pytest and the cocotb side) and
:func:`run_vit_layer` (the runner behind ``make sim MODEL=digits-vit LAYER=...``).

Flow (the simutil pattern, see sim/simutil.py):

1. golden vectors of the model: ``golden/<model>/`` when committed, else generated once
   (deterministically) into ``sim_build/golden/<model>/`` by ``layer_util.ensure_golden``;
2. the layer's input codes, table and row lengths are written as ``$readmemh`` images
   into a build directory of its own (``simutil.build_dir_for``, so ``pytest -n auto``
   is safe), together with ``inputs.npz`` (what the cocotb side compares against);
3. ``simutil.build_and_test`` builds ``sim/hdl/tb_softmax.v`` or ``sim/hdl/tb_lut_layer.v``
   and runs the cocotb test ``softmax_tb`` / ``lut_layer_tb`` of ``sim/test_vit_layers.py``:
   one await on ``done`` (the wrapper runs free), guard and table checks, then ``==`` on
   every output element against the golden output (or ``t2c.arith`` for random rows),
   mismatches reported with their ``(n, h, row, col)`` / ``(n, t, c)`` index.

This module is imported inside the simulator too, so it imports t2c (and with it
torch) only inside functions that run on the pytest side.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import simutil as su

TEST_MODULE = "test_vit_layers"
SOFTMAX_RTL = ("softmax", "lut", "row_buffer", "row_counter", "divider")
LUT_RTL = ("lut_layer", "lut")
EXP_BITS = 16           # exp table entries: unsigned Q0.15, EXP[0] = 2^15
DEFAULT_MAX_N = 256     # softmax row buffer (rows up to 256 elements)
Y_NAME, L_NAME = "y.hex", "last.hex"
SOFTMAX_CYCLES_PER_ROW = 40  # a row takes 3n + 30 cycles (4n + 40: margin for input bubbles)


def n_bits(max_n: int) -> int:
    """Width of the softmax's n_i port: $clog2(MAX_N + 1)."""
    return max(1, int(max_n).bit_length())


def flip_one(expected) -> np.ndarray:
    """The expected output with bit 0 of its middle element flipped (negative tests)."""
    e = np.array(expected, dtype=np.int64).reshape(-1)
    e[e.size // 2] ^= 1
    return e


def row_col(lens) -> tuple[np.ndarray, np.ndarray]:
    """Row index and column (position in its row) of every element of rows back to back."""
    lens = np.asarray(lens, dtype=np.int64)
    row = np.repeat(np.arange(lens.size), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    return row, np.arange(row.size) - starts[row]


def compare_rows(expected, got, valid, last, lvalid, lens, *, what: str, shape, index_names,
                 inputs: dict) -> tuple[int, int, str]:
    """``simutil.compare`` of a row unit's outputs plus its ``last_o`` flags (set exactly
    on each row's last element): ``(value mismatches, last_o mismatches, message)``."""
    row, col = row_col(lens)
    count, msg = su.compare(np.reshape(expected, shape), np.reshape(got, shape), what=what,
                            index_names=index_names, valid=np.reshape(valid, shape),
                            inputs={k: np.reshape(a, shape) for k, a in inputs.items()})
    want_last = (col == np.asarray(lens)[row] - 1).astype(np.int64)
    bad_last = int(((last != want_last) | ~lvalid).sum())
    if bad_last:
        msg += f"\nlast_o wrong at {bad_last} elements, first at element {int(np.argmax(last != want_last))}"
    return count, bad_last, msg


# ------------------------------------------------------------------ jobs
def softmax_job(*, sim: str, test_id: str, x, lens, qmax, table, in_bits: int = 8,
                in_signed: bool = True, out_bits: int = 8, max_n: int = DEFAULT_MAX_N,
                expected=None, shape=None, index_names=("row", "col"), gaps: int = 0,
                wrong: str = "", seed: int | None = None, tag: str = "") -> dict:
    """Images + the build_and_test arguments for rows of codes through rtl/softmax.v.

    ``x``: the rows back to back; ``lens``/``qmax``: per row; ``table``: the exp table
    (2^in_bits entries).  ``expected`` (optional, e.g. a golden output) is compared
    instead of ``t2c.arith.softmax_int``; ``shape``/``index_names`` name its axes.
    """
    x = np.asarray(x, dtype=np.int64).reshape(-1)
    lens = np.asarray(lens, dtype=np.int64).reshape(-1)
    qmax = np.asarray(qmax, dtype=np.int64).reshape(-1)
    table = np.asarray(table, dtype=np.int64).reshape(-1)
    if lens.sum() != x.size or lens.size != qmax.size:
        raise ValueError("row lengths do not add up to the inputs")
    if lens.min() < 1 or lens.max() > max_n:
        raise ValueError(f"row lengths must be 1..{max_n}")
    if table.size != 1 << in_bits or table[0] != 1 << 15:
        raise ValueError("the exp table needs 2^in_bits entries with EXP[0] = 2^15")
    params = dict(IN_BITS=in_bits, IN_SIGNED=int(in_signed), OUT_BITS=out_bits, MAX_N=max_n,
                  NX=int(x.size), NROWS=int(lens.size), GAPS=gaps)
    bdir = su.build_dir_for("softmax", sim, test_id, dict(params, tag=tag))
    files = {"EXP_FILE": su.write_memh(bdir / "exp.hex", table, EXP_BITS, guard=False),
             "X_FILE": su.write_memh(bdir / "x.hex", x, in_bits),
             "N_FILE": su.write_memh(bdir / "n.hex", lens, n_bits(max_n)),
             "Q_FILE": su.write_memh(bdir / "qmax.hex", qmax, out_bits)}
    exp = np.zeros(0, dtype=np.int64) if expected is None else np.asarray(expected, np.int64)
    su.save_inputs(bdir, x=x, lens=lens, qmax=qmax, table=table, expected=exp.reshape(-1),
                   shape=np.asarray(shape if shape is not None else (x.size,), dtype=np.int64),
                   index_names=json.dumps(list(index_names)), out_bits=out_bits)
    for f in (Y_NAME, L_NAME):
        (bdir / f).unlink(missing_ok=True)
    job = su.make_job(sim=sim, wrapper="tb_softmax", rtl=SOFTMAX_RTL, test_module=TEST_MODULE,
                      build_dir=bdir, parameters=params, files=files,
                      outputs={"Y_FILE": Y_NAME, "L_FILE": L_NAME}, seed=seed, wrong=wrong)
    job.update(testcase="softmax_tb")
    return job


def lut_job(*, sim: str, test_id: str, x, table, x_qmin: int, in_bits: int = 8,
            out_bits: int = 8, out_signed: bool = True, expected=None, shape=None,
            index_names=("n",), gaps: int = 0, wrong: str = "", seed: int | None = None,
            tag: str = "") -> dict:
    """Images + the build_and_test arguments for codes through rtl/lut_layer.v."""
    x = np.asarray(x, dtype=np.int64).reshape(-1)
    table = np.asarray(table, dtype=np.int64).reshape(-1)
    if table.size != 1 << in_bits:
        raise ValueError("the table needs 2^in_bits entries")
    params = dict(IN_BITS=in_bits, OUT_BITS=out_bits, OUT_SIGNED=int(out_signed),
                  X_QMIN=int(x_qmin) & ((1 << in_bits) - 1), NX=int(x.size), GAPS=gaps)
    bdir = su.build_dir_for("lut_layer", sim, test_id, dict(params, tag=tag))
    files = {"TABLE_FILE": su.write_memh(bdir / "table.hex", table, out_bits, guard=False),
             "X_FILE": su.write_memh(bdir / "x.hex", x, in_bits)}
    exp = np.zeros(0, dtype=np.int64) if expected is None else np.asarray(expected, np.int64)
    su.save_inputs(bdir, x=x, table=table, x_qmin=int(x_qmin), in_bits=in_bits,
                   out_bits=out_bits, out_signed=int(out_signed), expected=exp.reshape(-1),
                   shape=np.asarray(shape if shape is not None else (x.size,), dtype=np.int64),
                   index_names=json.dumps(list(index_names)))
    (bdir / Y_NAME).unlink(missing_ok=True)
    job = su.make_job(sim=sim, wrapper="tb_lut_layer", rtl=LUT_RTL, test_module=TEST_MODULE,
                      build_dir=bdir, parameters=params, files=files,
                      outputs={"Y_FILE": Y_NAME}, seed=seed, wrong=wrong)
    job.update(testcase="lut_layer_tb")
    return job


# ------------------------------------------------------------------ golden layers
VIT_KINDS = ("softmax", "lut", "layernorm")  # layernorm: sim/layernorm_util.py


def golden_kind(gdir: Path, layer: str) -> str:
    """The op of ``layer`` in a golden manifest (one of VIT_KINDS), with a helpful error."""
    m = json.loads((Path(gdir) / "manifest.json").read_text())
    ops = {e["name"]: e["op"] for e in m["layers"]}
    if layer not in ops:
        ok = ", ".join(n for n, op in ops.items() if op in VIT_KINDS)
        raise KeyError(f"unknown layer {layer!r}; softmax/LUT/LayerNorm layers: {ok}")
    if ops[layer] not in VIT_KINDS:
        raise ValueError(f"{layer} is a {ops[layer]} layer: this runner takes softmax, lut and "
                         f"layernorm layers (conv/linear layers: sim/run_layer.py)")
    return ops[layer]


def golden_job(model: str, layer: str, sim: str, *, test_id: str | None = None,
               gdir: Path | None = None, wrong: str = "", seed: int | None = None,
               log=print) -> dict:
    """The job of one softmax / LUT / LayerNorm layer of ``model`` against its golden vectors."""
    import layer_util
    from t2c.golden import read_golden

    gdir = Path(gdir) if gdir is not None else layer_util.ensure_golden(model, log=log)
    kind = golden_kind(gdir, layer)
    g = read_golden(gdir)
    entry = g.layer(layer)
    tin, tout = entry["tensors"]["input"], entry["tensors"]["output"]
    x = g.tensor(layer, "input")
    y = g.tensor(layer, "output")
    test_id = test_id or f"run-{model}-{layer}"
    tag = f"{model}/{layer}"
    if kind == "layernorm":
        import layernorm_util

        return layernorm_util.golden_job(g, layer, sim, test_id=test_id, wrong=wrong, seed=seed,
                                         tag=tag)
    if kind == "softmax":
        attrs = entry["attrs"]
        if attrs["exp_frac_bits"] != 15 or attrs["recip_bits"] != 40:
            raise ValueError(f"{layer}: rtl/softmax.v implements exp_frac_bits=15, recip_bits=40, "
                             f"not {attrs}")
        n = x.shape[-1]
        rows = x.size // n
        names = {4: ("n", "h", "row", "col"), 3: ("n", "row", "col")}.get(
            x.ndim, tuple(f"d{i}" for i in range(x.ndim)))
        return softmax_job(sim=sim, test_id=test_id, x=x, lens=np.full(rows, n),
                           qmax=np.full(rows, attrs["qmax"]), table=g.tensor(layer, "exp_table"),
                           in_bits=tin["bits"], in_signed=tin["signed"], out_bits=tout["bits"],
                           max_n=max(DEFAULT_MAX_N, n), expected=y, shape=y.shape,
                           index_names=names, wrong=wrong, seed=seed, tag=tag)
    names = {3: ("n", "t", "c"), 2: ("n", "c"), 4: ("n", "c", "h", "w")}.get(
        x.ndim, tuple(f"d{i}" for i in range(x.ndim)))
    return lut_job(sim=sim, test_id=test_id, x=x, table=g.tensor(layer, "table"),
                   x_qmin=entry["attrs"]["x_qmin"], in_bits=tin["bits"], out_bits=tout["bits"],
                   out_signed=tout["signed"], expected=y, shape=y.shape, index_names=names,
                   wrong=wrong, seed=seed, tag=tag)


def run_vit_layer(model: str, layer: str, sim: str, waves: bool = False) -> dict:
    """Run one softmax, LUT (GELU) or LayerNorm layer of ``model`` on ``sim`` against its golden output.

    Returns ``{passed, mismatches, elements, cycles, seconds}`` (plus ``kind``,
    ``sim_seconds``, ``message`` naming the first mismatches with their indices, and
    ``build_dir``); prints nothing (build and simulator output go to ``build.log`` /
    ``sim.log`` in the build directory).  ``seconds`` is the whole run's wall time
    (golden vectors, images, build, simulation, compare).  Raises when the run itself
    breaks (build error, timeout, an image not loaded).
    """
    t0 = time.perf_counter()
    job = golden_job(model, layer, sim, seed=0, log=lambda *a, **k: None)
    bdir = Path(job["build_dir"])
    try:
        report = su.build_and_test(**job, waves=waves, quiet=True)
    except (SystemExit, RuntimeError):
        report = su.read_report(bdir)
        if report is None or not report.get("mismatches"):
            raise
    if report is None:
        raise RuntimeError(f"{model} {layer} on {sim}: no report (see {bdir / 'sim.log'})")
    return dict(passed=report["mismatches"] == 0, mismatches=int(report["mismatches"]),
                elements=int(report["compared"]), cycles=int(report["cycles"]),
                seconds=time.perf_counter() - t0, kind=report.get("kind"),
                sim_seconds=float(report["wall_s"]), message=report.get("message", ""),
                build_dir=str(bdir))
