"""A designer's own unit file for stream_dense.v (written outside t2c, as a user would):
which ops it takes, which wrapper and parameters to build, its memory layouts, how to
read its output.  It declines linear layers with a fused residual (no residual input).

    t2c sim --golden G --layer blocks.0.mlp.fc1 --stimulus corners \\
            --unit tests/stream_dense/stream_dense_unit.py --rtl-dir tests/stream_dense
"""
import numpy as np

from t2c.sim.build import Dump, SimJob
from t2c.sim.compare import index_names
from t2c.sim.images import read_values, write_image
from t2c.sim.units import UnitJob, register


class StreamDense:
    name = "stream_dense"
    ops = ("linear",)

    def check(self, layer, options):
        if "residual" in layer.entry["tensors"]:
            raise ValueError("stream_dense has no residual input")

    def job(self, layer, inputs, expected, options, ws):
        a, tin, tout = layer.attrs, layer.spec("input"), layer.spec("output")
        x = np.asarray(inputs[0])
        w = layer.tensor("weight")
        n, k = w.shape
        per = lambda v: np.broadcast_to(np.asarray(v).reshape(-1), (n,))  # noqa: E731
        params = dict(XBITS=tin["bits"], XSIGNED=int(tin["signed"]), WBITS=a["wbits"], OUTW=tout["bits"], K=k, N=n,
                      NX=x.size, NY=x.size // k * n, ZX=a["x_zero_point"], ZY=a["out_zero_point"], QMIN=a["qmin"],
                      QMAX=a["qmax"])
        d = ws.dir(params)
        images = [write_image(d / "x.hex", x.reshape(-1), tin["bits"], parameter="X_FILE", memory="u_x.mem"),
                  write_image(d / "w.hex", w.reshape(-1), a["wbits"], parameter="W_FILE", memory="u_w.mem"),
                  write_image(d / "b.hex", per(layer.tensor("bias")), 32, parameter="B_FILE", memory="u_b.mem"),
                  write_image(d / "m.hex", per(layer.tensor("m")), 32, parameter="M_FILE", memory="u_m.mem"),
                  write_image(d / "s.hex", per(layer.tensor("s")), 8, parameter="S_FILE", memory="u_s.mem")]
        job = SimJob(self.name, "tb_stream_dense", options.sim, d, params, images, [Dump("Y_FILE", "y.hex")],
                     max_cycles=x.size * 2 + (x.size // k) * n * (k + 3) + 64, rtl_dirs=options.rtl_dirs,
                     waves=options.waves, quiet=options.quiet)
        shape = np.shape(expected)

        def decode(run):
            y, valid = read_values(run.job.dump_path("Y_FILE"), tout["bits"], tout["signed"], int(np.prod(shape)))
            return {"output": (y.reshape(shape), valid.reshape(shape))}

        def position(index):  # one output code per beat, rows one after the other
            return f"output beat {int(np.ravel_multi_index(index, shape)):,}"

        return UnitJob(job, {"output": np.asarray(expected)}, decode, index_names(shape), position=position)


register(StreamDense())
