"""Where the HDL is: t2c's RTL, its testbench wrappers, and the user's own RTL.

Every simulation finds its modules by *library search* (``-y`` for Icarus and Verilator),
in this order: the user's directories (``rtl_dirs`` arguments, else ``T2C_RTL_DIR``, several
separated by ``os.pathsep``), t2c's ``rtl/``, then the testbench wrappers (``sim/hdl/``).
A file ``<module>.v`` in a user directory therefore replaces t2c's module of that name in
every unit and every test, with nothing else to configure.

In a source checkout the directories are the repository's ``rtl/`` and ``sim/hdl/``; an
installed package carries the same files as package data under ``t2c/hdl/`` (a mapping in
pyproject.toml, not a copy in the repository).
"""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # .../t2c


def _dirs() -> tuple[Path, Path]:
    installed = _PACKAGE / "hdl"
    if (installed / "rtl").is_dir():
        return installed / "rtl", installed / "tb"
    repo = _PACKAGE.parent
    return repo / "rtl", repo / "sim" / "hdl"


RTL_DIR, TB_DIR = _dirs()


def user_rtl_dirs(rtl_dirs=None) -> tuple[Path, ...]:
    """The user's RTL directories: ``rtl_dirs`` if given, else ``$T2C_RTL_DIR`` (may be empty)."""
    if rtl_dirs is None:
        env = os.environ.get("T2C_RTL_DIR", "")
        rtl_dirs = [d for d in env.split(os.pathsep) if d]
    out = []
    for d in rtl_dirs:
        p = Path(d).expanduser().resolve()
        if not p.is_dir():
            raise ValueError(f"RTL directory {p} does not exist (--rtl-dir / T2C_RTL_DIR)")
        out.append(p)
    return tuple(out)


def library_dirs(rtl_dirs=None) -> list[Path]:
    """Search order for modules: the user's directories, then t2c's RTL, then the wrappers."""
    return [*user_rtl_dirs(rtl_dirs), RTL_DIR, TB_DIR]


def module_file(module: str, rtl_dirs=None) -> Path:
    """The file that defines ``module`` (``<module>.v``) under the search order."""
    for d in library_dirs(rtl_dirs):
        f = d / f"{module}.v"
        if f.is_file():
            return f
    raise FileNotFoundError(f"no {module}.v in {', '.join(map(str, library_dirs(rtl_dirs)))}")


def rtl_modules() -> list[str]:
    """t2c's RTL modules (one per rtl/*.v file)."""
    return sorted(p.stem for p in RTL_DIR.glob("*.v"))
