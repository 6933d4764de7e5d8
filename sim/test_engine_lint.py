"""Lint of the layer engine's modules with corner parameters (sim/test_lint.py lints every
rtl/ and sim/hdl/ file with its defaults; this adds the engine's generate/width corners:
1x1 and non-power-of-two arrays, narrow codes, 16-bit multipliers, large memories)."""
from __future__ import annotations

import pytest

import simutil as su
import test_lint as tl

GEOMETRIES = [dict(ROWS=1, COLS=1), dict(ROWS=3, COLS=5, ABITS=4, WBITS=3, OBITS=5, MULT_BITS=16),
              dict(ROWS=2, COLS=16, ACT_WORDS=1000, W_WORDS=5000, CT_WORDS=7, RES_WORDS=300,
                   OUT_WORDS=300)]
CORNERS = {
    "layer_engine": GEOMETRIES,
    "tb_layer_engine": GEOMETRIES[:2],
    "engine_ctrl": [dict(ROWS=1, COLS=1, AAW=1, WAW=1, TAW=1), dict(ROWS=3, COLS=5, AAW=20, TAW=6)],
    "engine_post": [dict(ROWS=1, COLS=1, RAW=1, OAW=1, TAW=1),
                    dict(ROWS=5, COLS=3, ABITS=4, MULT_BITS=16, OBITS=4, RAW=12, OAW=12)],
    "engine_mem": [dict(WIDTH=1, DEPTH=1, PORTS=1), dict(WIDTH=100, DEPTH=1000, PORTS=3)],
    "engine_pixwalk": [dict(PW=8)],
}
CASES = [pytest.param((su.HDL_DIR if m.startswith("tb_") else su.RTL_DIR) / f"{m}.v", p,
                      id=f"{m}-{i}")
         for m, ps in CORNERS.items() for i, p in enumerate(ps)]


@pytest.mark.parametrize("path, params", CASES)
def test_engine_verilator_lint(path, params):
    tl.test_verilator_lint(path, params)


@pytest.mark.parametrize("path, params", CASES)
def test_engine_iverilog_2005(path, params):
    tl.test_iverilog_2005(path, params)
