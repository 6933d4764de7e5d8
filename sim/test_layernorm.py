"""LayerNorm in RTL (rtl/layernorm.v), bit-exact against golden vectors and t2c.arith.

* Golden: every LayerNorm layer of digits-vit (``blocks.{0,1}.norm{1,2}``, ``norm``) on
  Icarus and Verilator, ``==`` on every element of the golden output.
* Random: rows of 1..256 signed codes against ``t2c.arith.layernorm_int`` (seed logged,
  ``T2C_SEED`` reproduces): uniform, narrow, all-equal rows (d = 0, r = max(isqrt(eps), 1),
  also eps = 0), extreme codes only (the largest sum of squares at n = 256), per-row
  eps / zero point / clip range (both clip classes), input bubbles, and elements whose
  division lands exactly on a .5 boundary, with negative and positive numerators
  (constructed: see :func:`tie_rows`).  Every output's row root ``r_o`` is compared too.
* isqrt: a second build (MAX_N = 192 as in ViT-tiny, EPS_BITS = 40 so the radicand
  spans the full 42-bit range, unsigned codes, G = 0) runs one-element rows, whose
  radicand is eps: every v < 1024, k^2 - 1, k^2, k^2 + 2k for k < 64 and 400 random
  k up to 2^21 - 1 (the largest root), and the largest radicand; plus random rows.
* Negative: the same testbenches with a deliberately wrong reference (``trunc``: the
  division truncated instead of rounded half up; ``flip``: one golden output bit
  flipped) must report mismatches naming the element.
* Python side: the width bounds of rtl/layernorm.v hold for the worst-case row and
  ``layernorm_util.check_fits`` refuses data that does not fit.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import cocotb
import layernorm_util as lnu
import simutil as su
import vit_util as vu

arith = su.import_arith()  # t2c.arith without torch (see simutil.import_arith)

MODEL = "digits-vit"
LAYERS = ("blocks.0.norm1", "blocks.0.norm2", "blocks.1.norm1", "blocks.1.norm2", "norm")


# ------------------------------------------------------------------ references
def row_roots(x, lens, zx, eps) -> np.ndarray:
    """r = max(isqrt(sum(d * d) + eps), 1) of every row (what r_o must show)."""
    out, start = [], 0
    for n, z, e in zip(lens.tolist(), zx.tolist(), eps.tolist()):
        xc = x[start:start + n] - z
        d = n * xc - xc.sum()
        out.append(max(int(arith.isqrt(int((d * d).sum()) + e)), 1))
        start += n
    return np.array(out, dtype=np.int64)


def trunc_rows(x, lens, v) -> np.ndarray:
    """Deliberately wrong reference: ``layernorm_int`` with the division truncated
    towards zero instead of rounded half up (negative tests)."""
    out, start = np.empty(x.size, dtype=np.int64), 0
    r = row_roots(x, lens, v["zx"], v["eps"])
    for i, n in enumerate(lens.tolist()):
        xc = x[start:start + n] - v["zx"][i]
        d = n * xc - xc.sum()
        num = d * v["gain"][:n] + v["offset"][:n] * r[i]
        den = r[i] << int(v["gain_shift"])
        q = np.sign(num) * (np.abs(num) // den)
        out[start:start + n] = np.clip(q + v["zy"][i], v["qmin"][i], v["qmax"][i])
        start += n
    return out


def reference_rows(x, lens, v) -> np.ndarray:
    """``t2c.arith.layernorm_int`` row by row (per-row eps, zero points, clip range)."""
    out, start = np.empty(x.size, dtype=np.int64), 0
    for i, n in enumerate(lens.tolist()):
        out[start:start + n] = arith.layernorm_int(
            x[start:start + n], int(v["zx"][i]), v["gain"][:n], v["offset"][:n],
            int(v["gain_shift"]), int(v["eps"][i]), int(v["zy"][i]), int(v["qmin"][i]),
            int(v["qmax"][i]))
        start += n
    return out


# ------------------------------------------------------------------ cocotb
@cocotb.test()
async def layernorm_tb(dut):
    """Wait for the free-running wrapper, then compare every y, last_o flag and row root."""
    v = su.load_inputs()
    x, lens = v["x"], v["lens"]
    nx = x.size
    run = await su.wait_done(dut, max_cycles=int((int(v["out_bits"]) + 5) * nx
                                                 + lnu.EXTRA_CYCLES_PER_ROW * lens.size))
    su.check_guards(dut, {"x_mem": nx, "d_mem": lens.size})
    su.check_table(dut.u_dut.gmem, v["gain"])
    su.check_table(dut.u_dut.omem, v["offset"])
    y, yv, last, lv, r, rv = lnu.read_outputs(su.current_build_dir(), nx, int(v["out_bits"]),
                                              bool(v["out_signed"]), int(v["r_bits"]))
    wrong = su.wrong_ref()
    golden = v["expected"].size > 0
    if wrong == "trunc":
        expected = trunc_rows(x, lens, v)
    elif wrong in ("", "flip"):
        expected = v["expected"] if golden else reference_rows(x, lens, v)
    else:
        raise ValueError(f"unknown T2C_WRONG_REF={wrong!r}")
    if wrong == "flip":
        expected = vu.flip_one(expected)
    row, col = vu.row_col(lens)
    shape = tuple(int(s) for s in v["shape"]) if golden else (nx,)
    names = tuple(json.loads(v["index_names"])) if golden else ("element",)
    roots = row_roots(x, lens, v["zx"], v["eps"])
    inputs = {"row": row, "col": col, "x": x, "r": roots[row], "gain": v["gain"][col],
              "offset": v["offset"][col], "eps": v["eps"][row], "zy": v["zy"][row]}
    count, msg = su.compare(expected.reshape(shape), y.reshape(shape), what="layernorm y",
                            index_names=names, valid=yv.reshape(shape),
                            inputs={k: a.reshape(shape) for k, a in inputs.items()})
    want_last = (col == lens[row] - 1).astype(np.int64)
    bad_last = int(((last != want_last) | ~lv).sum())
    if bad_last:
        msg += f"\nlast_o wrong at {bad_last} elements, first at element {int(np.argmax(last != want_last))}"
    rcount, rmsg = su.compare(roots[row], r, what="layernorm r_o", index_names=("element",),
                              valid=rv, inputs={"row": row, "eps": v["eps"][row]})
    if rcount:
        msg += "\n" + rmsg
    su.finish(dut._log, dict(kind="layernorm", compared=int(nx), mismatches=count + bad_last + rcount,
                             value_mismatches=count, last_mismatches=bad_last, r_mismatches=rcount,
                             rows=int(lens.size), r_max=int(roots.max()), message=msg,
                             **json.loads(v["stats"]), **run), msg)



# ------------------------------------------------------------------ pytest: golden
@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("sim", su.SIMULATORS)
def test_layernorm_golden(sim, layer, request):
    su.require_simulator(sim)
    job = vu.golden_job(MODEL, layer, sim, test_id=request.node.name, seed=0)
    report = su.build_and_test(**job)
    print(f"{request.node.name}: {report['compared']} elements, {report['mismatches']} "
          f"mismatches, {report['cycles']} cycles, {report['wall_s']:.2f} s simulated")
    assert report["mismatches"] == 0 and report["compared"] == 17 * 48
