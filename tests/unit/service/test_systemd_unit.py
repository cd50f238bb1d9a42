"""The systemd unit: ``systemd-analyze verify`` passes with nothing on stderr, and the
settings the service relies on are there (Type=notify, the watchdog, the hardening, the
configuration exit codes in RestartPreventExitStatus=).
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest
from unit_files import DAEMON_UNIT, REPO_ROOT, unit_settings

from aip import constants as C
from daemon.core.config import load_config

UNIT = DAEMON_UNIT


def test_systemd_analyze_verify_passes_with_nothing_on_stderr(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify checks that ExecStart's binary exists: point it at a stand-in in tmp_path,
    # keeping everything else (and the file name) as shipped.
    exec_start = unit_settings(UNIT)["ExecStart"][0]
    binary = exec_start.split()[0]
    stand_in = tmp_path / "bin" / "aipsync"
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    text = UNIT.read_text()
    assert text.count(binary) == 1
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(binary, str(stand_in)))
    proc = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60, check=False)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 0, proc.stdout


def test_unit_settings_the_service_relies_on() -> None:
    s = unit_settings(UNIT)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(UNIT.read_text())
    assert set(parser.sections()) == {"Unit", "Service", "Install"}
    assert s["Type"] == ["notify"]
    assert "WatchdogSec" in s
    assert s["ExecStart"][0].endswith("aipsync daemon --config /etc/aipsync/aipsync.toml")
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    codes = {int(c) for c in s["RestartPreventExitStatus"][0].split()}
    assert codes == {C.EXIT_CONFIG, C.EXIT_CONFIG_PERMISSIONS}
    assert s["User"] == ["aipsync"] and s["ProtectSystem"] == ["strict"]
    for key, value in (("NoNewPrivileges", "true"), ("PrivateTmp", "true"),
                       ("ProtectHome", "true"), ("CapabilityBoundingSet", ""),
                       ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6")):
        assert s[key] == [value], key
    assert "@system-service" in s["SystemCallFilter"]


def test_read_write_paths_cover_the_example_configuration() -> None:
    example = load_config(REPO_ROOT / "config.example.toml")
    writable = [Path(p.lstrip("-")) for v in unit_settings(UNIT)["ReadWritePaths"]
                for p in v.split()]
    for folder in (example.staging.dir, example.state.dir, example.repository.path):
        assert folder is not None
        assert any(folder == w or w in folder.parents for w in writable), folder
