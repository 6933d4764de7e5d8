"""The testbench library: co-simulate any layer of an integer model on its RTL unit.

No torch: it reads golden directories (``t2c golden``) and writes memory images with
``t2c.export``, so hardware CI needs numpy, cocotb and the simulators only.

* :mod:`t2c.sim.toolchain`  simulators (discovery, install hints, PATH, cocotb runners)
* :mod:`t2c.sim.hdl`        where the RTL and wrappers are; your RTL first (``T2C_RTL_DIR``)
* :mod:`t2c.sim.images`     testbench memory images (guard words) and simulator dumps
* :mod:`t2c.sim.build`      :class:`SimJob` and :func:`run_job`: build, run, check the loads
* :mod:`t2c.sim.cocotb_side` the one generic cocotb test (await done once)
* :mod:`t2c.sim.compare`    ``==`` on every element, mismatches named by index
* :mod:`t2c.sim.units`      the unit registry: op -> RTL unit (layer engine, softmax, ...)
* :mod:`t2c.sim.layers`     :func:`run_layer` -> :class:`UnitRun` (one verdict)
* :mod:`t2c.sim.golden_dirs` golden directories: committed, given, generated

See docs/testbench.md, including "verify your own accelerator".
"""
