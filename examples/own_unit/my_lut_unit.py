"""Layout description of my_lut.v for t2c's testbench: which ops it runs, which wrapper
and parameters to build, how its memories are laid out, how to read its output.

    t2c sim --model digits-vit --layer blocks.0.mlp.act \
            --unit examples/own_unit/my_lut_unit.py --rtl-dir examples/own_unit

t2c does the rest: golden vectors, building and running, ``==`` on every element, the
mismatch report.  (docs/testbench.md, "Verify your own accelerator".)
"""
import numpy as np

from t2c.sim.build import Dump, SimJob
from t2c.sim.compare import index_names
from t2c.sim.images import read_values, write_image
from t2c.sim.units import UnitJob, register


class MyLut:
    name = "my_lut"
    ops = ("lut",)                      # the golden ops this unit runs

    def check(self, layer, options):
        if layer.spec("input")["bits"] > 12:
            raise ValueError("my_lut tables are at most 4096 entries")

    def job(self, layer, inputs, expected, options, ws):
        tin, tout = layer.spec("input"), layer.spec("output")
        bits = tin["bits"]
        x = np.asarray(inputs[0]).reshape(-1)
        params = dict(CODE_BITS=bits, VALUE_BITS=tout["bits"], NX=x.size)
        d = ws.dir(params)
        # my_lut's table is addressed by the code's raw bits; t2c's table by x - x_qmin
        codes = np.arange(1 << bits)
        if tin["signed"]:
            codes = np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
        table = layer.tensor("table")[codes - layer.attrs["x_qmin"]]
        images = [write_image(d / "table.hex", table, tout["bits"], parameter="TABLE_FILE",
                              memory="u_dut.table_mem", guard=False),
                  write_image(d / "x.hex", x, bits, parameter="X_FILE", memory="u_x.mem")]
        job = SimJob(self.name, "tb_my_lut", options.sim, d, params, images,
                     [Dump("Y_FILE", "y.hex")], max_cycles=2 * x.size + 64,
                     rtl_dirs=options.rtl_dirs, waves=options.waves, quiet=options.quiet)
        shape = np.shape(expected)

        def decode(run):
            y, valid = read_values(run.job.dump_path("Y_FILE"), tout["bits"], tout["signed"], x.size)
            return {"output": (y.reshape(shape), valid.reshape(shape))}

        return UnitJob(job, {"output": np.asarray(expected)}, decode, index_names(shape))


register(MyLut())
