"""The layer engine unit: conv, linear and matmul layers on ``rtl/layer_engine.v``.

Images: :func:`t2c.export.engine.write_images` (the same bytes ``t2c export --engine``
writes) into the build directory; wrapper ``sim/hdl/tb_layer_engine.v`` pulses start,
waits for the engine's done, reads the output memory through the engine's read port and
dumps it (``y.hex``).  The engine's own counters (cycles start to done, K-steps issued)
and error flag are read after the run; the output memory is decoded with
:func:`t2c.export.engine.decode_output`.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ...export import engine as E
from ...export.formats import read_dump
from ..build import Dump, SimJob
from ..compare import index_names
from ..images import Image
from . import LayerCase, SimOptions, UnitJob, Workspace

TOP = "tb_layer_engine"
Y_NAME = "y.hex"
IMAGES = "images"
# image -> its memory below the wrapper (guard word checked after the run)
MEMORIES = {"desc": "u_dut.desc", "tiles": "u_dut.u_tiles.mem", "input": "u_dut.u_act.mem",
            "weight": "u_dut.u_w.mem", "bias": "u_dut.u_bias.mem", "m": "u_dut.u_m.mem",
            "s": "u_dut.u_s.mem", "residual": "u_dut.u_res.mem", "residual_m": "u_dut.u_rm.mem"}


def geometry(options: SimOptions) -> E.Geometry:
    return E.Geometry(rows=options.rows, cols=options.cols)


def engine_layer(case: LayerCase, options: SimOptions) -> E.EngineLayer:
    layer = E.EngineLayer.from_golden(case.golden, case.name)
    if options.pix_end is not None:
        if not 1 <= options.pix_end <= layer.npix:
            raise ValueError(f"--pixels {options.pix_end} is outside 1..{layer.npix} "
                             f"(the output pixels of {case.name})")
        layer = E.with_pixels(layer, options.pix_end)
    return layer


def timing(layer: E.EngineLayer, geo: E.Geometry) -> tuple[int, int]:
    """(K-steps, cycles) the engine takes for ``layer``: the issue rules of rtl/engine_ctrl.v
    (docs/engine.md, "Handshake and timing"), which the tests hold the counters to exactly.

    Tiles run row tile by row tile (ROWS output pixels each), each over the column tiles
    with their K (``tile_plan``): steps = row tiles x sum of the column tiles' K, one per
    cycle.  A tile's last K-step waits until the previous tile's last one is GAP =
    max(ROWS + 1, 3) cycles back (its result must drain first); the first tile's last
    K-step, unless it is the whole layer, also waits 1 cycle for the next tile-table row,
    or ROWS cycles for the pixel walker when it ends a row tile.  Then 2 ROWS + 9 cycles
    of start and drain.
    """
    ks = [int(k) for k in E.tile_plan(layer, geo)[:, 4]]
    tiles = ks * -(-layer.pixels_computed // geo.rows)
    gap = max(geo.rows + 1, 3)
    if len(tiles) == 1:
        last = tiles[0] - 1
    else:
        last = max(tiles[0] - 1, geo.rows if len(ks) == 1 else 1)
        last += sum(max(k, gap) for k in tiles[1:])
    return sum(tiles), last + 2 * geo.rows + 9


def cycle_limit(layer: E.EngineLayer, geo: E.Geometry) -> int:
    """A generous bound on the run (engine + output readout): twice the formula, plus margin."""
    return 2 * timing(layer, geo)[1] + E.memory_words(layer, geo)[E.OUTPUT_NAME] + 200


def computed_mask(layer: E.EngineLayer) -> np.ndarray:
    """Output elements the run computes (all, or the first pix_end pixels)."""
    pix = np.arange(layer.npix) < layer.pixels_computed
    return layer.from_fmap(np.broadcast_to(pix, (layer.out_c, layer.npix)))


def decode(layer: E.EngineLayer, geo: E.Geometry, path) -> tuple[np.ndarray, np.ndarray]:
    """The dumped output memory as the output tensor, and which elements were known."""
    n_words = E.memory_words(layer, geo)[E.OUTPUT_NAME]
    lay = E.layouts(geo, layer)[E.OUTPUT_NAME]
    limbs, valid = read_dump(path, lay.word_bits, n_words)
    got = E.decode_output(limbs, layer, geo)
    word_of = E.fmap_rows(np.arange(layer.out_c * layer.npix).reshape(layer.out_c, layer.npix), geo)
    known = np.ones(layer.out_c * layer.npix, dtype=bool)
    for w in np.flatnonzero(~valid):  # a word with x digits: its real lanes are unknown
        lanes = np.arange(geo.cols) < min(geo.cols, layer.out_c - (w // layer.npix) * geo.cols)
        known[word_of[w][lanes]] = False
    return got, layer.from_fmap(known.reshape(layer.out_c, layer.npix))


class LayerEngine:
    name = "layer_engine"
    ops = E.ENGINE_OPS

    def per_image(self, case: LayerCase) -> bool:
        """Convs run one image at a time (linear layers and matmuls fold the batch into
        their rows already)."""
        return case.op == "conv"

    def check(self, case: LayerCase, options: SimOptions) -> None:
        engine_layer(case, options).check(geometry(options))

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        geo = geometry(options)
        layer = engine_layer(case, options)
        params = E.hdl_parameters(layer, geo)
        bdir = ws.dir(params)
        x, residual = inputs[0], (inputs[1] if layer.residual or layer.kind == "matmul" else None)
        if layer.kind == "matmul":  # the second operand is the weight memory, not a residual
            layer = _with_weight(layer, residual)
            residual = None
        out_lay = E.layouts(geo, layer)[E.OUTPUT_NAME]
        fits = out_lay.elem_min <= int(np.min(expected)) and int(np.max(expected)) <= out_lay.elem_max
        # output.hex: the expected output memory, for users comparing memory dumps (skipped
        # when a test corrupted the golden output beyond the output codes' range)
        images = E.write_images(layer, x, residual, bdir / IMAGES, geo, expected=expected if fits else None)
        imgs = [Image(E.FILE_PARAMETERS[name], path, images.words[name], MEMORIES[name],
                      ((images.words[name], images.guards[name]),))
                for name, path in images.paths.items() if name in MEMORIES]
        sim_job = SimJob(self.name, TOP, options.sim, bdir, params, imgs, [Dump("Y_FILE", Y_NAME)],
                         cycle_limit(layer, geo), counters=("eng_cycles", "eng_steps"),
                         error_flag="eng_err",
                         error_hint="the descriptor image is not loaded or not made by t2c.export.engine",
                         rtl_dirs=options.rtl_dirs, waves=options.waves, fast_build=options.fast_build,
                         quiet=options.quiet)

        def read(run):
            return {"output": decode(layer, geo, run.job.dump_path("Y_FILE"))}

        return UnitJob(sim_job, {"output": np.asarray(expected)}, read,
                       index_names(np.shape(expected), layer.kind), computed_mask(layer),
                       {"macs": layer.macs, "rows": geo.rows, "cols": geo.cols,
                        "k": layer.k, "pixels": layer.pixels_computed}, cycles_counter="eng_cycles")


def _with_weight(layer: E.EngineLayer, b) -> E.EngineLayer:
    """A matmul's second operand ``b`` (given, e.g. an RTL output) as the weight memory."""
    if b is None:
        return layer
    g, n = layer.groups, layer.out_c // layer.groups
    k = layer.in_c // g
    weight = np.asarray(b, dtype=np.int64).reshape(g, k, n).transpose(0, 2, 1).reshape(g * n, k, 1, 1)
    return replace(layer, weight=weight)


UNIT = LayerEngine()
