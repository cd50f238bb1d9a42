"""The stand-in's fault knobs (``config/standin.toml [faults]`` or ``DSPACE_STANDIN_*``):
a DSpace that hangs, prints garbage, lies about its output, fails or is killed half way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import zipfile
from pathlib import Path

from helpers import ADMIN, wait_for
from standin_support import Make, Tree

SITE_ARGS = ("packager", "-d", "-a", "-u", "-t", "AIP", "-e", ADMIN, "-i", "123456789/0")


def test_sleep_hangs_the_call_at_its_point(standin: Make, tmp_path: Path) -> None:
    dspace = standin("7.6.2", faults={"sleep_at": "package:1", "sleep_seconds": 600.0})
    out = tmp_path / "out"
    proc = subprocess.Popen([str(dspace.bin), *SITE_ARGS, str(out / "s.zip")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    try:
        wait_for((out / "s.zip").exists, timeout=60, what="the first package")
        assert proc.poll() is None
        assert len(list(out.iterdir())) == 1
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert "exit_code" not in dspace.last_call()


def test_garbage_output_comes_before_the_normal_output(standin: Make) -> None:
    dspace = standin("6.3", faults={"garbage_output": True})
    result = dspace.run("version", expect=0)
    assert result.out.startswith("\ufffd\ufffd\x00garbage\x1b[31m\r")
    assert "\nDSpace version:  6.3\n" in result.out
    assert "garbage" in result.err


def test_omit_top_file_exits_0_without_the_top_package(standin: Make, tree: Tree,
                                                       tmp_path: Path) -> None:
    dspace = standin("10.0", faults={"omit_top_file": True})
    out = tmp_path / "out"
    result = dspace.run(*SITE_ARGS, str(out / "SITE@123456789-0.zip"), expect=0)
    assert not (out / "SITE@123456789-0.zip").exists()
    assert len(list(out.iterdir())) == 8
    assert "CREATED a total of 8 dissemination package files." in result.lines


def test_kill_at_a_package_is_a_killed_jvm(standin: Make, tmp_path: Path) -> None:
    dspace = standin("9.1", faults={"kill_at": "package:2"})
    out = tmp_path / "out"
    proc = subprocess.run([str(dspace.bin), *SITE_ARGS, str(out / "s.zip")],
                          stdin=subprocess.DEVNULL, capture_output=True, check=False,
                          env={"PATH": os.environ["PATH"]}, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert len(list(out.iterdir())) == 2
    call = dspace.last_call()
    assert call["at"] == "package:2" and "exit_code" not in call


def test_fail_at_a_package_leaves_a_partial_file(standin: Make, tmp_path: Path) -> None:
    # AbstractMETSDisseminator.disseminate() writes through a FileOutputStream: a failure
    # half way leaves what was written; the exception leaves main(): ScriptLauncher, exit 1
    dspace = standin("7.6.2")
    out = tmp_path / "out"
    result = dspace.run(*SITE_ARGS, str(out / "s.zip"), expect=1,
                        env={"DSPACE_STANDIN_FAIL_AT": "package:3"})
    assert result.err.splitlines()[:2] == ["Exception: No space left on device",
                                           "java.io.IOException: No space left on device"]
    files = sorted(out.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    assert len(files) == 4
    for complete in files[:3]:
        with zipfile.ZipFile(complete) as zf:
            assert zf.testzip() is None
    try:
        with zipfile.ZipFile(files[3]) as zf:
            zf.testzip()
        raise AssertionError("the fourth package should be partial")
    except zipfile.BadZipFile:
        pass


def test_knobs_are_read_from_the_install_folder_not_the_caller(standin: Make,
                                                              tmp_path: Path) -> None:
    dspace = standin("7.6.2", faults={"fail_at": "package:0"})
    text = (dspace.home / "config" / "standin.toml").read_text()
    assert 'fail_at = "package:0"' in text
    dspace.run(*SITE_ARGS, str(tmp_path / "o" / "s.zip"), expect=1)
    dspace.set_faults()
    dspace.run(*SITE_ARGS, str(tmp_path / "p" / "s.zip"), expect=0)
    records = [json.loads(line) for line in
               (dspace.home / "log" / "standin-calls.jsonl").read_text().splitlines()]
    assert [r["exit_code"] for r in records if r["event"] == "end"] == [1, 0]
