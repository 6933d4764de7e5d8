"""Where the HDL is: t2c's RTL, its testbench wrappers, and the user's own RTL.

Every simulation finds its modules by *library search* (``-y`` for Icarus and Verilator),
in this order: the user's directories (``rtl_dirs`` arguments, else ``T2C_RTL_DIR``, several
separated by ``os.pathsep``), t2c's ``rtl/``, then the testbench wrappers (``sim/hdl/``).
A file ``<module>.v`` (or ``<module>.sv``) in a user directory therefore replaces t2c's
module of that name in every unit and every test, with nothing else to configure.

Library search finds a module only in a file named after it, so a user directory whose
files cannot be found that way (empty, or ``my_requant.v`` holding ``module requant``)
would silently leave t2c's own RTL in place: :func:`user_rtl_dirs` refuses such a
directory, and after every build :mod:`t2c.sim.build` reads the simulator's own list of
the files it compiled (:func:`used_sources`), so a verdict names the user files it ran.

In a source checkout the directories are the repository's ``rtl/`` and ``sim/hdl/``; an
installed package carries the same files as package data under ``t2c/hdl/`` (a mapping in
pyproject.toml, not a copy in the repository).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..fileio import sha256_file

HDL_SUFFIXES = (".v", ".sv")           # files library search loads (<module><suffix>)
INCLUDE_SUFFIXES = (".vh", ".svh")     # files only `include reads
_MODULE = re.compile(r"^\s*(?:module|macromodule)\s+(?:automatic\s+|static\s+)?([A-Za-z_][A-Za-z0-9_$]*)", re.M)
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)

_PACKAGE = Path(__file__).resolve().parents[1]  # .../t2c


def _dirs() -> tuple[Path, Path]:
    installed = _PACKAGE / "hdl"
    if (installed / "rtl").is_dir():
        return installed / "rtl", installed / "tb"
    repo = _PACKAGE.parent
    return repo / "rtl", repo / "sim" / "hdl"


RTL_DIR, TB_DIR = _dirs()


def declared_modules(path: Path) -> list[str]:
    """The modules a Verilog/SystemVerilog file declares (comments ignored)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return _MODULE.findall(_COMMENTS.sub(" ", text))


def loadable_modules(directory: Path) -> dict[str, Path]:
    """module -> file of every file in ``directory`` that library search can load: a
    ``<module>.v`` / ``<module>.sv`` declaring ``module <module>``."""
    out = {}
    for f in sorted(directory.iterdir()):
        if f.suffix in HDL_SUFFIXES and f.is_file() and f.stem in declared_modules(f):
            out.setdefault(f.stem, f)
    return out


def _check_user_dir(p: Path) -> None:
    """Refuse a user RTL directory from which library search can load nothing."""
    if loadable_modules(p):
        return
    misnamed = [f"{f.name} declares {', '.join(m)}" for f in sorted(p.iterdir())
                if f.suffix in HDL_SUFFIXES and f.is_file() and (m := declared_modules(f))]
    if misnamed:
        raise ValueError(f"RTL directory {p}: no file is named after the module it declares "
                         f"({'; '.join(misnamed)}): library search finds module M only in M.v or M.sv, "
                         f"so t2c's own RTL would run instead")
    raise ValueError(f"RTL directory {p} holds no Verilog module (.v/.sv files named after their module): "
                     f"t2c's own RTL would run instead")


def user_rtl_dirs(rtl_dirs=None) -> tuple[Path, ...]:
    """The user's RTL directories: ``rtl_dirs`` if given, else ``$T2C_RTL_DIR`` (may be empty).

    Raises ValueError for a directory that does not exist or from which library search
    can load no module (empty, or only files not named after their module)."""
    if rtl_dirs is None:
        env = os.environ.get("T2C_RTL_DIR", "")
        rtl_dirs = [d for d in env.split(os.pathsep) if d]
    out = []
    for d in rtl_dirs:
        p = Path(d).expanduser().resolve()
        if not p.is_dir():
            raise ValueError(f"RTL directory {p} does not exist (--rtl-dir / T2C_RTL_DIR)")
        _check_user_dir(p)
        out.append(p)
    return tuple(out)


def library_dirs(rtl_dirs=None) -> list[Path]:
    """Search order for modules: the user's directories, then t2c's RTL, then the wrappers."""
    return [*user_rtl_dirs(rtl_dirs), RTL_DIR, TB_DIR]


def module_file(module: str, rtl_dirs=None) -> Path:
    """The file that defines ``module`` (``<module>.v`` or ``.sv``) under the search order."""
    for d in library_dirs(rtl_dirs):
        for suffix in HDL_SUFFIXES:
            f = d / f"{module}{suffix}"
            if f.is_file():
                return f
    raise FileNotFoundError(f"no {module}.v in {', '.join(map(str, library_dirs(rtl_dirs)))}")


def library_files(rtl_dirs=None) -> list[Path]:
    """Every HDL file a build may read from the search directories (sources and includes)."""
    return [f for d in library_dirs(rtl_dirs) for f in sorted(d.iterdir())
            if f.suffix in HDL_SUFFIXES + INCLUDE_SUFFIXES and f.is_file()]


@dataclass(frozen=True)
class Source:
    """One HDL file a simulation compiled: where it is, its content, whose it is."""

    path: Path
    sha256: str
    user: bool          # from one of the user's RTL directories

    @property
    def module(self) -> str:
        return self.path.stem

    def to_json(self) -> dict:
        return {"path": str(self.path), "sha256": self.sha256, "user": self.user}


def used_sources(files, rtl_dirs=None) -> tuple[Source, ...]:
    """The HDL files among ``files`` (a simulator's dependency list), with their digests."""
    users = user_rtl_dirs(rtl_dirs)
    out, seen = [], set()
    for f in files:
        p = Path(f).resolve()
        if p.suffix not in HDL_SUFFIXES + INCLUDE_SUFFIXES or p in seen or not p.is_file():
            continue
        seen.add(p)
        out.append(Source(p, sha256_file(p), any(p.is_relative_to(d) for d in users)))
    return tuple(out)


def user_summary(sources) -> str:
    """``requant from /x/mine`` for the user files among ``sources`` ('' when none)."""
    by_dir: dict[Path, list[str]] = {}
    for s in sources:
        if s.user and s.path.suffix in HDL_SUFFIXES:
            by_dir.setdefault(s.path.parent, []).append(s.module)
    return "; ".join(f"{', '.join(m)} from {d}" for d, m in by_dir.items())


def rtl_modules() -> list[str]:
    """t2c's RTL modules (one per rtl/*.v file)."""
    return sorted(p.stem for p in RTL_DIR.glob("*.v"))
