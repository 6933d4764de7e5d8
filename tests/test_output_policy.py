"""Every command that writes follows one output policy (t2c.fileio.output_dir): a user's
files are never replaced without --force, a failed or interrupted write leaves no
temporary and the previous output intact, and modes honour the umask."""
from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from t2c.cli import main
from t2c.fileio import OutputExistsError, output_dir, remove_stale_temporaries
from t2c.golden import GOLDEN_OUTPUT, read_golden

REPO = Path(__file__).resolve().parents[1]
T2C = [sys.executable, "-m", "t2c.cli"]


def _tree(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _error_lines(err: str) -> list[str]:
    """The t2c message lines of stderr (progress bars also write there)."""
    return [ln for ln in err.replace("\r", "\n").splitlines() if ln.startswith("t2c")]


def _temporaries(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if ".t2c-" in p.name)


def _user_dir(d: Path) -> dict[str, bytes]:
    (d / "sub").mkdir(parents=True)
    (d / "notes.txt").write_text("my notes\n")
    (d / "sub" / "keep.v").write_text("module keep; endmodule\n")
    return _tree(d)


WRITERS = {
    "golden": ["golden", "--model", "digits-cnn"],
    "export": ["export", "--model", "digits-cnn", "--layer", "fc", "--format", "coe"],
    "engine": ["export", "--engine", "--model", "digits-cnn", "--layer", "fc"],
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_foreign_directory_is_refused_then_force_replaces(writer, tmp_path, capsys):
    out = tmp_path / "out"
    before = _user_dir(out)
    assert main(WRITERS[writer] + ["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds files t2c did not write" in err and "--force" in err
    assert "notes.txt" in err and "Traceback" not in err
    assert _tree(out) == before  # byte-identical, nothing added or removed
    assert _temporaries(tmp_path) == []
    assert main(WRITERS[writer] + ["--out", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and not (out / "sub").exists()
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("writer", list(WRITERS))
def test_previous_output_is_replaced_but_not_with_a_foreign_file_in_it(writer, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(WRITERS[writer] + ["--out", str(out)]) == 0
    first = _tree(out)
    assert main(WRITERS[writer] + ["--out", str(out)]) == 0  # its own previous output: replaced
    assert _tree(out) == first  # deterministic
    (out / "notes.txt").write_text("added by the user\n")
    assert main(WRITERS[writer] + ["--out", str(out)]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "added by the user\n"


def test_other_kind_of_t2c_output_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(WRITERS["export"] + ["--out", str(out)]) == 0
    assert main(WRITERS["golden"] + ["--out", str(out)]) == 2  # memory images are not golden vectors
    assert "holds files t2c did not write" in capsys.readouterr().err


@pytest.mark.parametrize("writer", list(WRITERS))
def test_existing_file_target_is_refused_even_with_force(writer, tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("precious\n")
    for extra in ([], ["--force"]):
        assert main(WRITERS[writer] + ["--out", str(target)] + extra) == 2
        err = capsys.readouterr().err
        assert "exists and is not a directory" in err and err.count("\n") == 1
        assert target.read_text() == "precious\n"
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("target", [".", "..", "sub/.."])
def test_current_directory_is_refused(target, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "mine.txt").write_text("x")
    monkeypatch.chdir(work)
    assert main(WRITERS["golden"] + ["--out", target, "--force"]) == 2
    err = capsys.readouterr().err
    assert "current directory" in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in work.iterdir()) == ["mine.txt", "sub"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_empty_directory_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(WRITERS["export"] + ["--out", str(out)]) == 0
    assert (out / "memories.json").is_file()


# ------------------------------------------------------------------ failures mid-write
def _make_readonly(d: Path):
    """Make directory ``d`` unwritable, as root too (chattr +i); returns the undo."""
    if os.geteuid() != 0:
        d.chmod(0o555)
        return lambda: d.chmod(0o755)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(d)], check=True)
    pytest.skip("cannot make a directory read-only here (root without chattr)")


def test_read_only_parent_is_one_line_and_leaves_nothing(tmp_path, capsys):
    parent = tmp_path / "ro"
    parent.mkdir()
    undo = _make_readonly(parent)
    try:
        assert main(WRITERS["export"] + ["--out", str(parent / "out")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"t2c: error: {parent / 'out'}: cannot create a directory there"), err
        assert list(parent.iterdir()) == []
    finally:
        undo()


def test_full_disk_keeps_the_previous_output(tmp_path, monkeypatch, capsys):
    """ENOSPC in the middle of writing golden vectors (simulated): one line, exit 2, the
    previous golden directory byte-identical, no temporary left."""
    out = tmp_path / "golden"
    assert main(WRITERS["golden"] + ["--out", str(out)]) == 0
    before = _tree(out)
    real = Path.write_bytes
    calls = {"n": 0}

    def full_disk(self, data):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    assert main(WRITERS["golden"] + ["--out", str(out)]) == 2
    last = _error_lines(capsys.readouterr().err)
    assert len(last) == 1 and "No space left on device" in last[0], last
    assert f"{out}/conv1/acc.npy" in last[0]  # the path the user asked for, not the temporary
    monkeypatch.undo()
    assert _tree(out) == before and _temporaries(tmp_path) == []
    read_golden(out)  # still verifies


def test_interrupt_mid_write_leaves_previous_output_and_no_temporary(tmp_path):
    """SIGINT to `t2c golden --model resnet18` while it writes: exit 130, one line, the
    previous output intact, no temporary directory (resnet18 writes for seconds)."""
    out = tmp_path / "golden"
    _user_dir(out)
    before = _tree(out)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(T2C + ["golden", "--model", "resnet18", "--out", str(out), "--force"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while not _temporaries(tmp_path):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.decode().strip().splitlines()[-1] == "t2c: interrupted"
    assert b"Traceback" not in err
    assert _tree(out) == before and _temporaries(tmp_path) == []


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "out"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".out.t2c-tmp-{dead.pid}-0badc0de"
    stale.mkdir()
    (stale / "half.npy").write_bytes(b"x")
    live = tmp_path / f".out.t2c-tmp-{os.getppid()}-00000001"  # a process that exists
    live.mkdir()
    other = tmp_path / f".other.t2c-tmp-{dead.pid}-0badc0de"
    other.mkdir()
    assert remove_stale_temporaries(target) == [stale]
    assert live.exists() and other.exists() and not stale.exists()


def test_exception_inside_output_dir_removes_the_temporary(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with output_dir(out, GOLDEN_OUTPUT) as tmp:
            (tmp / "a.npy").write_bytes(b"x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputExistsError):
        (tmp_path / "f").write_text("x")
        with output_dir(tmp_path / "f", GOLDEN_OUTPUT):
            pass


# ------------------------------------------------------------------ permissions
@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_modes_honour_the_umask(mask, tmp_path):
    out = tmp_path / "out"
    code = ("import os, sys; os.umask(%d); from t2c.cli import main; "
            "sys.exit(main(['export', '--engine', '--layer', 'fc', '--out', %r]))" % (mask, str(out)))
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
    dirs = [out] + [p for p in out.rglob("*") if p.is_dir()]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(dirs) >= 2 and len(files) >= 5
    assert {oct(d.stat().st_mode & 0o777) for d in dirs} == {oct(0o777 & ~mask)}
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {oct(0o666 & ~mask)}


def test_regenerated_golden_directory_keeps_its_mode(tmp_path):
    out = tmp_path / "golden"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    old = os.umask(0o022)
    try:
        assert main(WRITERS["golden"] + ["--out", str(out)]) == 0
        assert main(WRITERS["golden"] + ["--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert oct(out.stat().st_mode & 0o777) == oct(0o755)
    assert np.load(out / "conv3" / "output.npy").size == 512
