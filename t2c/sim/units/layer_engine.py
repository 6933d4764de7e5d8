"""The layer engine unit: conv, linear and matmul layers on ``rtl/layer_engine.v``.

Images: :func:`t2c.export.engine.write_images` (the same bytes ``t2c export --engine``
writes) into the build directory; wrapper ``sim/hdl/tb_layer_engine.v`` pulses start,
waits for the engine's done, reads the output memory through the engine's read port and
dumps it (``y.hex``).  The engine's own counters (cycles start to done, K-steps issued)
and error flag are read after the run; the output memory is decoded with
:func:`t2c.export.engine.decode_output`.
"""
from __future__ import annotations

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


def engine_layer(case: LayerCase, options: SimOptions, shapes: dict | None = None) -> E.EngineLayer:
    """The layer in the engine's terms, for tensors of ``shapes`` (default: the golden ones)."""
    layer = E.EngineLayer.from_golden(case.golden, case.name, shapes)
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
    or ROWS cycles for the pixel walker when it ends a row tile.  Then 2 ROWS + 13 cycles
    of start and drain (the MAC array's 5-cycle latency, the drain of ROWS rows, the
    post-processor's operand register and the requantizer's 4 stages).
    """
    ks = [int(k) for k in E.tile_plan(layer, geo)[:, 4]]
    tiles = ks * -(-layer.pixels_computed // geo.rows)
    gap = max(geo.rows + 1, 3)
    if len(tiles) == 1:
        last = tiles[0] - 1
    else:
        last = max(tiles[0] - 1, geo.rows if len(ks) == 1 else 1)
        last += sum(max(k, gap) for k in tiles[1:])
    return sum(tiles), last + 2 * geo.rows + 13


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

    def check(self, case: LayerCase, options: SimOptions) -> None:
        engine_layer(case, options).check(geometry(options))

    def job(self, case: LayerCase, inputs, expected, options: SimOptions, ws: Workspace) -> UnitJob:
        """One engine run for the layer fed ``inputs``.  A batch of N images: a linear layer
        or a matmul folds it into its rows; a conv runs the images stacked along H
        (``t2c.export.engine.stack_batch``), all in one run."""
        geo = geometry(options)
        shapes = {"input": np.shape(inputs[0]), "output": np.shape(expected)}
        if len(inputs) > 1:
            shapes["residual"] = np.shape(inputs[1])
        layer = engine_layer(case, options, shapes)
        x, residual = inputs[0], (inputs[1] if len(inputs) > 1 else None)
        if layer.kind == "matmul":  # the second operand is the weight memory, not a residual
            layer, residual = E.with_weight(layer, residual), None
        n_img = shapes["input"][0] if layer.kind == "conv" else 1
        stack, want = None, np.asarray(expected)
        if n_img > 1:
            if options.pix_end is not None:
                raise ValueError("--pixels runs one image; this batch has " + str(n_img))
            stack = E.stack_batch(layer, n_img)
            per_image, layer = layer, stack.layer
            x = stack.stack_input(x)
            residual = None if residual is None else stack.stack_output(residual, per_image.r_zp)
        params = E.hdl_parameters(layer, geo)
        bdir = ws.dir(params)
        out_lay = E.layouts(geo, layer)[E.OUTPUT_NAME]
        fits = stack is None and out_lay.elem_min <= int(np.min(want)) and int(np.max(want)) <= out_lay.elem_max
        # output.hex: the expected output memory, for users comparing memory dumps (skipped
        # for a stacked batch and when a test corrupted the golden output beyond the codes' range)
        images = E.write_images(layer, x, residual, bdir / IMAGES, geo, expected=want if fits else None)
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
            got, valid = decode(layer, geo, run.job.dump_path("Y_FILE"))
            if stack is not None:
                got, valid = stack.unstack(got), stack.unstack(valid)
            return {"output": (got, valid)}

        macs = layer.macs if stack is None else n_img * per_image.macs  # useful MACs only
        return UnitJob(sim_job, {"output": want}, read, index_names(np.shape(expected), layer.kind),
                       computed_mask(layer) if stack is None else None,
                       {"macs": macs, "rows": geo.rows, "cols": geo.cols, "k": layer.k, "images": n_img,
                        "pixels": layer.pixels_computed}, cycles_counter="eng_cycles")


UNIT = LayerEngine()
