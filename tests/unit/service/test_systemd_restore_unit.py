"""The restore template unit ``systemd/aipsync-restore@.service``: ``systemd-analyze verify``
passes for the template and for an instance with nothing on stderr, the instance name is the
handle escaped by ``systemd-escape`` (``%I`` gives it back), and the command is the restore."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from unit_files import DAEMON_UNIT, RESTORE_UNIT, unit_settings

UNIT = RESTORE_UNIT


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install systemd)")
    return found


@pytest.mark.parametrize("name", ["aipsync-restore@.service",
                                  "aipsync-restore@123456789-42.service",
                                  r"aipsync-restore@10.5072-abc\x2d1.service"])
def test_systemd_analyze_verify_passes_with_nothing_on_stderr(tmp_path: Path,
                                                              name: str) -> None:
    analyze = _tool("systemd-analyze")
    exec_start = unit_settings(UNIT)["ExecStart"][0]
    binary = exec_start.split()[0]
    stand_in = tmp_path / "bin" / "aipsync"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    text = UNIT.read_text()
    assert text.count(binary) == 1
    (tmp_path / UNIT.name).write_text(text.replace(binary, str(stand_in)))
    proc = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / name)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize(("handle", "instance"), [
    ("123456789/42", "123456789-42"),
    ("10.5072/abc-1", r"10.5072-abc\x2d1"),
])
def test_the_instance_name_is_the_escaped_handle(handle: str, instance: str) -> None:
    escape = _tool("systemd-escape")
    made = subprocess.run([escape, "--template", UNIT.name, handle], capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()
    assert made == f"aipsync-restore@{instance}.service"
    back = subprocess.run([escape, "--unescape", "--instance", made], capture_output=True,
                          text=True, check=True, timeout=30).stdout.strip()
    assert back == handle


def test_unit_runs_the_restore_of_the_unescaped_handle() -> None:
    s = unit_settings(UNIT)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert set(parser.sections()) == {"Unit", "Service"}  # a template started on demand
    assert s["Type"] == ["oneshot"]
    argv = s["ExecStart"][0].split()
    assert argv[0].endswith("/aipsync") and "restore" in argv
    assert argv[argv.index("--config") + 1] == "/etc/aipsync/aipsync.toml"
    assert argv[argv.index("--handle") + 1] == "%I"  # %I: unescaped ("-" back to "/")
    assert "--yes" in argv and "--site" not in argv
    assert s["TimeoutStartSec"] == ["infinity"]
    assert {int(c) for c in s["SuccessExitStatus"][0].split()} == {1, 100, 101}
    # the same user, folders and hardening as the daemon, so the two share the lock files
    daemon = unit_settings(DAEMON_UNIT)
    for key in ("User", "Group", "UMask", "StateDirectory", "ReadWritePaths", "ProtectSystem",
                "NoNewPrivileges", "PrivateTmp", "ProtectHome", "CapabilityBoundingSet",
                "RestrictAddressFamilies", "SystemCallFilter", "EnvironmentFile"):
        assert s[key] == daemon[key], key
