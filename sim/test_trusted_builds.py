"""A verdict is earned by the RTL the user named, never by a stale build or by t2c's own RTL.

* Builds are keyed by the *content* of every HDL file they read: a source replaced by an
  older file (``cp -p``, ``tar x``, ``rsync -t``) rebuilds and fails, on Verilator (whose
  model t2c reuses) as on Icarus; a touched but unchanged file does not rebuild.
* A user RTL directory from which library search can load nothing (empty, or only files
  not named after their module) is refused before any work; one whose modules the build
  does not need is refused before it simulates, naming the modules the build needs.
* The verdict line names the user's modules that ran, and ``report.json`` lists every HDL
  file simulated with its sha256.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from t2c.cli import main
from t2c.fileio import sha256_file
from t2c.sim import toolchain
from t2c.sim.hdl import RTL_DIR

GOOD = "zp2_q   <= {zp1_q, 1'b1};"
BAD = "zp2_q   <= {zp1_q, 1'b0};"  # the rounding term dropped: 130 of conv3's 512 outputs differ


def _verdict(argv, capsys) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_an_older_file_copied_over_a_source_rebuilds(sim, tmp_path, capsys, monkeypatch):
    """The reproduction of the stale-build report: ``cp -p`` of an older, broken requant.v."""
    toolchain.require_simulator(sim)
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    old, mine = tmp_path / "old", tmp_path / "mine"
    old.mkdir()
    mine.mkdir()
    text = (RTL_DIR / "requant.v").read_text()
    assert text.count(GOOD) == 1
    (old / "requant.v").write_text(text.replace(GOOD, BAD))
    os.utime(old / "requant.v", (1_000_000_000, 1_000_000_000))  # 2001: older than any build
    shutil.copyfile(RTL_DIR / "requant.v", mine / "requant.v")
    argv = ["sim", "--layer", "conv3", "--sim", sim, "--rtl-dir", str(mine)]
    code, out, _ = _verdict(argv, capsys)
    assert code == 0 and "PASS 0/512" in out and f"requant from {mine}" in out, out
    shutil.copy2(old / "requant.v", mine / "requant.v")  # cp -p: content and the old mtime
    assert (mine / "requant.v").stat().st_mtime < 1_000_000_001
    code, out, _ = _verdict(argv, capsys)
    assert code == 1 and "FAIL 130/512" in out, out
    shutil.copyfile(RTL_DIR / "requant.v", mine / "requant.v")
    code, out, _ = _verdict(argv, capsys)
    assert code == 0 and "PASS 0/512" in out, out


def test_a_touched_unchanged_source_reuses_the_verilator_model(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("verilator")
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copyfile(RTL_DIR / "requant.v", mine / "requant.v")
    argv = ["sim", "--layer", "conv3", "--sim", "verilator", "--rtl-dir", str(mine)]
    assert _verdict(argv, capsys)[0] == 0
    binary = next((tmp_path / "build").glob("layer_engine/verilator/*/tb_layer_engine"))
    built = binary.stat().st_mtime_ns
    os.utime(mine / "requant.v")  # newer timestamp, same content
    assert _verdict(argv, capsys)[0] == 0
    assert binary.stat().st_mtime_ns == built  # not rebuilt
    stamp = json.loads((binary.parent / "build.key").read_text())
    assert stamp["read"][str(mine / "requant.v")] == sha256_file(mine / "requant.v")


def _one_error(argv, capsys) -> str:
    code, _, err = _verdict(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.startswith("t2c")]
    assert code == 2 and len(lines) == 1, err
    return lines[0]


def test_an_empty_rtl_dir_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    msg = _one_error(["sim", "--layer", "conv3", "--rtl-dir", str(tmp_path / "empty")], capsys)
    assert "holds no Verilog module" in msg and "t2c's own RTL would run instead" in msg


def test_a_file_not_named_after_its_module_is_refused(tmp_path, capsys, monkeypatch):
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copyfile(RTL_DIR / "requant.v", d / "my_requant.v")
    msg = _one_error(["sim", "--layer", "conv3", "--rtl-dir", str(d)], capsys)
    assert "my_requant.v declares requant" in msg
    monkeypatch.setenv("T2C_RTL_DIR", str(d))  # the environment variable is checked the same way
    assert "my_requant.v declares requant" in _one_error(["sim", "--layer", "conv3"], capsys)


def test_rtl_the_build_does_not_need_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("icarus")
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copyfile(RTL_DIR / "softmax.v", d / "softmax.v")
    msg = _one_error(["sim", "--layer", "conv3", "--rtl-dir", str(d)], capsys)
    assert f"{d} contributes no module to the layer_engine build" in msg
    assert "requant" in msg and "mac_pe" in msg and "layer_engine" in msg
    assert not list((tmp_path / "build").glob("layer_engine/icarus/*/run.json"))  # never simulated


def test_report_lists_every_hdl_file_with_its_digest(tmp_path, capsys):
    toolchain.require_simulator("icarus")
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copyfile(RTL_DIR / "requant.v", d / "requant.v")
    out = tmp_path / "report"
    code, stdout, _ = _verdict(["sim", "--all", "--rtl-dir", str(d), "--report", str(out)], capsys)
    assert code == 0, stdout
    doc = json.loads((out / "report.json").read_text())
    files = {f["path"]: f for f in doc["hdl_files"]}
    assert files[str(d / "requant.v")] == {"path": str(d / "requant.v"), "sha256": sha256_file(d / "requant.v"),
                                           "user": True}
    assert str(RTL_DIR / "requant.v") not in files  # shadowed by the user's copy
    assert files[str(RTL_DIR / "mac_pe.v")]["sha256"] == sha256_file(RTL_DIR / "mac_pe.v")
    assert not files[str(RTL_DIR / "mac_pe.v")]["user"]
    rows = {r["layer"]: r for r in doc["layers"]}
    assert rows["conv3"]["user_rtl"] == f"requant from {d}" and str(d / "requant.v") in rows["conv3"]["hdl"]
    assert rows["flatten"]["user_rtl"] is None
    assert f"layer_engine (requant from {d})" in stdout


def test_all_refuses_rtl_no_layer_used(tmp_path, capsys, monkeypatch):
    toolchain.require_simulator("icarus")
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copyfile(RTL_DIR / "softmax.v", d / "softmax.v")  # digits-cnn has no softmax layer
    msg = _one_error(["sim", "--all", "--rtl-dir", str(d)], capsys)
    assert f"{d} contributed no module to any layer's build" in msg and "requant" in msg


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_rtl_build_error_is_one_line_with_the_log(sim, tmp_path, capsys, monkeypatch):
    toolchain.require_simulator(sim)
    monkeypatch.setenv("T2C_BUILD_ROOT", str(tmp_path / "build"))
    d = tmp_path / "mine"
    d.mkdir()
    (d / "requant.v").write_text((RTL_DIR / "requant.v").read_text().replace(GOOD, "zp2_q   <= {zp1_q, 1;"))
    code, out, err = _verdict(["sim", "--layer", "conv3", "--sim", sim, "--rtl-dir", str(d)], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and out == "" and len(lines) == 1, err
    assert "the HDL did not build" in lines[0] and f"{d}/requant.v:242" in lines[0] and "syntax error" in lines[0]
    log = Path(lines[0].rsplit("full log: ", 1)[1].rstrip("))"))
    assert log.is_file() and "syntax error" in log.read_text()


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs (needs the right to mount: root on CI and here)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("sim", toolchain.SIMULATORS)
def test_full_disk_as_build_root_names_the_path(sim, full_disk, capsys, monkeypatch):
    toolchain.require_simulator(sim)
    monkeypatch.setenv("T2C_BUILD_ROOT", str(full_disk / "build"))
    code, _, err = _verdict(["sim", "--layer", "conv3", "--sim", sim], capsys)
    lines = [ln for ln in err.splitlines() if ln.startswith("t2c")]
    assert code == 2 and len(lines) == 1, err
    assert f"{full_disk}/build/layer_engine/{sim}/" in lines[0] and "No space left on device" in lines[0]


def test_full_disk_as_output_dir_names_the_path(full_disk, capsys):
    code, _, err = _verdict(["golden", "--out", str(full_disk / "g")], capsys)
    lines = [ln for ln in err.splitlines() if ln.startswith("t2c")]
    assert code == 2 and len(lines) == 1, err
    assert f"{full_disk}/g" in lines[0] and "No space left on device" in lines[0]
    assert list(full_disk.iterdir()) == []  # no partial output
