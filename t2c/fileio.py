"""Files t2c writes: atomic writes, checksums and the output-directory policy.

Every file and directory t2c writes goes through here, so one set of rules holds for
every command:

* **Atomic.** Content is written to a temporary sibling (``.<name>.t2c-tmp-<pid>-...``)
  and renamed into place; a crash, a ^C, a full disk or a refused input never leaves a
  half-written file or directory, and the previous output stays as it was.
* **A user's files are never replaced.** :func:`output_dir` writes a directory of one
  :class:`OutputKind` (golden vectors, memory images, ...).  A new or empty target is
  created; a previous t2c output of the same kind (recognised by its manifest, holding
  only files that manifest lists) is replaced whole; anything else - a directory with
  files t2c did not write, a regular file, the current directory or one of its parents -
  is refused with :class:`OutputExistsError` unless ``force`` is given (never for a
  regular file or the current directory).
* **The umask is honoured** (files ``0666 & ~umask``, directories ``0777 & ~umask``),
  not the 0600 / 0700 of ``mkstemp`` / ``mkdtemp``.
* Temporary siblings left by a process that was killed (SIGKILL, power loss) are
  removed by the next write to the same target, so they never pile up.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator


class OutputExistsError(FileExistsError):
    """The output target exists and t2c will not replace it (see :func:`output_dir`)."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sealed(doc: dict, field: str) -> dict:
    """``doc`` with ``field`` set to the sha256 of its canonical JSON without that field: a
    manifest that checksums itself, so an edited value in it is caught like an edited array."""
    body = {k: v for k, v in doc.items() if k != field}
    return {**body, field: sha256_bytes(json.dumps(body, indent=1, sort_keys=True).encode())}


def seal_intact(doc: dict, field: str) -> bool:
    """True when ``doc[field]`` is the digest :func:`sealed` computes for the rest of ``doc``."""
    return isinstance(doc, dict) and field in doc and sealed(doc, field)[field] == doc[field]


# ------------------------------------------------------------------ permissions
def umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    old = os.umask(0o022)
    os.umask(old)
    return old


def _honour_umask(path: Path, mask: int) -> None:
    """chmod ``path`` (a file or a tree) to what a plain open()/mkdir() would have given."""
    if path.is_dir() and not path.is_symlink():
        os.chmod(path, 0o777 & ~mask)
        for root, dirs, files in os.walk(path):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o777 & ~mask)
    else:
        os.chmod(path, 0o666 & ~mask)


# ------------------------------------------------------------------ locks
@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created) for the block: one process at a time
    (pytest-xdist workers, two `t2c sim` runs) writes a shared build or cache directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ------------------------------------------------------------------ temporaries
_TMP_RE = re.compile(r"\.(?P<name>.+)\.t2c-(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]+\Z")


def _tmp_name(target: Path, what: str) -> Path:
    return target.with_name(f".{target.name}.t2c-{what}-{os.getpid()}-{secrets.token_hex(4)}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete temporary siblings of ``target`` whose writing process no longer exists."""
    removed = []
    with contextlib.suppress(OSError):
        for p in target.parent.iterdir():
            m = _TMP_RE.match(p.name)
            if m and m.group("name") == target.name and not _pid_alive(int(m.group("pid"))):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
    return removed


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT / SIGTERM / SIGHUP until the block is done (the final renames)."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - not POSIX
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_dir(tmp: Path, target: Path) -> None:
    """Put the finished directory ``tmp`` at ``target``, removing what was there."""
    with _signals_deferred():
        if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
            if _exchange(tmp, target):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old output
                return
            old = _tmp_name(target, "old")
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
            return
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        os.rename(tmp, target)  # over an empty directory, or into a free name


# ------------------------------------------------------------------ single files
def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling (mode honours the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path, "tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode())


# ------------------------------------------------------------------ output directories
@dataclass(frozen=True)
class OutputKind:
    """A kind of directory t2c writes, and how to recognise a previous one.

    ``owned(dir)`` returns the files (relative POSIX paths) that the kind's manifest in
    ``dir`` says t2c wrote, or None when ``dir`` holds no readable manifest of this kind.
    """

    name: str                                   # e.g. "golden vectors"
    owned: Callable[[Path], set[str] | None]


def _files_under(d: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(d):
        rel = Path(root).relative_to(d)
        out += [(rel / f).as_posix() for f in files]
        out += [(rel / x).as_posix() for x in dirs if os.path.islink(os.path.join(root, x))]
    return sorted(out)


def _is_cwd_or_parent(target: Path) -> bool:
    cwd = Path.cwd().resolve()
    t = target.resolve()
    return t == cwd or t in cwd.parents


def check_output_target(target: str | os.PathLike, kind: OutputKind, force: bool = False) -> Path:
    """Raise OutputExistsError unless ``target`` may receive a new output of ``kind``."""
    target = Path(target)
    if _is_cwd_or_parent(target):
        raise OutputExistsError(f"{target} is the current directory or one of its parents; "
                                f"t2c writes {kind.name} into a new directory: give --out NEWDIR")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise OutputExistsError(f"{target} exists and is not a directory; t2c will not replace it")
    if not target.exists() or force:
        return target
    present = _files_under(target)
    if not present:
        return target
    owned = kind.owned(target)
    if owned is not None:
        foreign = [f for f in present if f not in owned]
        if not foreign:
            return target  # a previous output of the same kind: replaced whole
    else:
        foreign = present
    shown = ", ".join(foreign[:3]) + (f", ... ({len(foreign)} files)" if len(foreign) > 3 else "")
    raise OutputExistsError(f"{target} exists and holds files t2c did not write ({shown}); "
                            f"use --force to replace it")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``target`` when the block succeeds.

    On any exception, KeyboardInterrupt included, the temporary directory is removed and
    ``target`` is left exactly as it was.  The final swap runs with SIGINT/SIGTERM
    deferred, so an interrupt lands before it or after it, never in between.  No
    ownership check: use it directly only for directories t2c owns outright (build and
    cache directories under ``sim_build/``); user-facing outputs use :func:`output_dir`.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    mask = umask()
    tmp = _tmp_name(target, "tmp")
    try:
        tmp.mkdir()
    except OSError as e:
        raise OSError(e.errno, f"cannot create a directory there ({e.strerror})", str(target)) from None
    try:
        yield tmp
        _honour_umask(tmp, mask)
        _replace_dir(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _name_the_target(e, tmp, target)
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _name_the_target(e: OSError, tmp: Path, target: Path) -> None:
    """Say ``target/x`` rather than ``.target.t2c-tmp-.../x`` in an error's file name, and
    name ``target`` when the error names no file (a write that found the disk full)."""
    if not getattr(e, "filename", None):
        e.filename = str(target)
    for attr in ("filename", "filename2"):
        name = getattr(e, attr, None)
        if isinstance(name, str) and name.startswith(str(tmp)):
            setattr(e, attr, str(target) + name[len(str(tmp)):])


@contextlib.contextmanager
def output_dir(target: str | os.PathLike, kind: OutputKind, force: bool = False) -> Iterator[Path]:
    """:func:`atomic_dir` for a user-facing output of ``kind``, after
    :func:`check_output_target` (the target is checked before any work is written)."""
    check_output_target(target, kind, force)
    with atomic_dir(target) as tmp:
        yield tmp
