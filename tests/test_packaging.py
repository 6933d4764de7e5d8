"""The package as users install it: the hardware side without torch, and the wheel.

* ``import t2c.arith / golden / export / sim`` (and the whole testbench library) never
  imports torch: hardware CI installs numpy, cocotb and the simulators only;
* ``t2c sim --model digits-cnn --layer conv3`` passes with torch unimportable;
* a wheel built from the repository, installed in a fresh virtual environment outside
  the repository with numpy and cocotb only (no torch), co-simulates conv3 (the RTL, the
  wrappers and the default model's golden vectors ship inside it);
* pyproject's explicit package list holds every t2c package (a new one would otherwise
  be missing from the wheel).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HARDWARE_MODULES = ["t2c", "t2c.arith", "t2c.ir", "t2c.golden", "t2c.export", "t2c.export.engine",
                    "t2c.fileio", "t2c.errors", "t2c.cli", "t2c.sim", "t2c.sim.toolchain", "t2c.sim.hdl",
                    "t2c.sim.images", "t2c.sim.build", "t2c.sim.compare", "t2c.sim.golden_dirs",
                    "t2c.sim.layers", "t2c.sim.units", "t2c.sim.units.layer_engine",
                    "t2c.sim.units.softmax", "t2c.sim.units.lut_layer", "t2c.sim.units.layernorm",
                    "t2c.sim.engine_driver", "t2c.sim.engine_regs"]


def torch_blocked_env(tmp_path: Path) -> dict:
    """An environment in which `import torch` raises ImportError (a stub first on the path)."""
    stub = tmp_path / "no_torch" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('torch is blocked for this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(stub.parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def test_hardware_side_imports_without_torch(tmp_path):
    code = ("import importlib, sys\n"
            f"for m in {HARDWARE_MODULES!r}: importlib.import_module(m)\n"
            "import t2c.sim.units as u; u.units()\n"
            "assert 'torch' not in sys.modules or sys.modules['torch'] is None, 'torch imported'\n"
            "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=torch_blocked_env(tmp_path),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_the_torch_stub_does_block_torch(tmp_path):
    """The check above can fail: with the stub, importing the converter fails."""
    out = subprocess.run([sys.executable, "-c", "import t2c; t2c.quantize"], cwd=REPO,
                         env=torch_blocked_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "torch is blocked" in out.stderr


def test_t2c_sim_without_torch(tmp_path):
    from t2c.sim import toolchain

    toolchain.require_simulator("icarus")
    env = torch_blocked_env(tmp_path)
    env["T2C_BUILD_ROOT"] = str(tmp_path / "build")
    out = subprocess.run([sys.executable, "-m", "t2c.cli", "sim", "--model", "digits-cnn", "--layer", "conv3"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("conv3 digits-cnn icarus: PASS 0/512 mismatches, 2,332 cycles")


def test_every_package_is_in_the_wheel_list():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "t2c").rglob("__init__.py")}
    assert found <= listed, f"missing from pyproject packages: {sorted(found - listed)}"
    for pkg, directory in config["package-dir"].items():
        assert (REPO / directory).is_dir() and pkg in listed


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_cosimulates(tmp_path):
    """pip wheel . -> a new venv outside the repo with numpy + cocotb only -> t2c sim PASS."""
    from t2c.sim import toolchain

    toolchain.require_simulator("icarus")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = wheels.glob("t2c-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(pip + ["--no-deps", str(wheel)], check=True, capture_output=True, timeout=600)
    subprocess.run(pip + ["numpy>=1.24", "cocotb>=2.1,<2.2"], check=True, capture_output=True, timeout=900)
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "T2C_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join([str(env_dir / "bin"), env.get("PATH", "")])
    out = subprocess.run([str(env_dir / "bin" / "t2c"), "sim", "--model", "digits-cnn", "--layer", "conv3"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("conv3 digits-cnn icarus: PASS 0/512 mismatches, 2,332 cycles")
    probe = subprocess.run([str(py), "-c", "import t2c.sim.hdl as h, t2c; print(h.RTL_DIR); print(t2c.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    rtl_dir, init = probe.stdout.split()
    assert Path(rtl_dir).is_relative_to(env_dir) and Path(init).is_relative_to(env_dir), probe.stdout
    assert (work / "sim_build").is_dir()
    shutil.rmtree(env_dir)
