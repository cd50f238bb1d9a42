"""The drop-ins for ``kind = "dspace"`` (``systemd/aipsync.service.d/dspace.conf``,
``systemd/aipsync-restore@.service.d/dspace.conf``): ``systemd-analyze verify`` of each unit
with its drop-in passes with nothing on stderr (and does read the drop-in: a broken one is
reported), the units run as DSpace's user, and under ``ProtectSystem=strict`` they may write
what DSpace's command line writes: its log and upload folders on export, and the assetstore
too on restore."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from unit_files import (
    DAEMON_DSPACE_DROPIN,
    DAEMON_UNIT,
    REPO_ROOT,
    RESTORE_DSPACE_DROPIN,
    RESTORE_UNIT,
    unit_settings,
)

CASES = [(DAEMON_UNIT, DAEMON_DSPACE_DROPIN, "aipsync.service"),
         (RESTORE_UNIT, RESTORE_DSPACE_DROPIN, "aipsync-restore@123456789-42.service")]


def _verify(tmp_path: Path, unit: Path, dropin_text: str,
            name: str) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    binary = unit_settings(unit)["ExecStart"][0].split()[0]
    stand_in = tmp_path / "bin" / "aipsync"
    stand_in.parent.mkdir(exist_ok=True)
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    (tmp_path / unit.name).write_text(unit.read_text().replace(binary, str(stand_in)))
    folder = tmp_path / f"{unit.name}.d"
    folder.mkdir(exist_ok=True)
    (folder / "dspace.conf").write_text(dropin_text)
    return subprocess.run([analyze, "verify", "--man=no", str(tmp_path / name)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          check=False)


@pytest.mark.parametrize(("unit", "dropin", "name"), CASES, ids=["daemon", "restore"])
def test_systemd_analyze_verify_with_the_dropin(tmp_path: Path, unit: Path, dropin: Path,
                                                name: str) -> None:
    proc = _verify(tmp_path, unit, dropin.read_text(), name)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 0, proc.stdout
    # the drop-in is read: a bad value in it is reported
    broken = _verify(tmp_path, unit, dropin.read_text() + "ReadWritePaths=relative/path\n",
                     name)
    assert "dspace.conf" in broken.stderr, broken.stderr


def _writable(path: Path) -> set[str]:
    return {p.lstrip("-") for v in unit_settings(path).get("ReadWritePaths", [])
            for p in v.split()}


@pytest.mark.parametrize(("unit", "dropin", "name"), CASES, ids=["daemon", "restore"])
def test_the_dropins_cover_what_dspace_writes(unit: Path, dropin: Path, name: str) -> None:
    settings = unit_settings(dropin)
    assert settings["User"] == ["dspace"] and settings["Group"] == ["dspace"]
    assert unit_settings(unit)["ProtectSystem"] == ["strict"]
    assert unit_settings(unit)["PrivateTmp"] == ["true"]  # java.io.tmpdir
    writable = _writable(dropin)
    assert {"/dspace/log", "/dspace/upload"} <= writable
    if unit is RESTORE_UNIT:
        assert "/dspace/assetstore" in writable  # every restored bitstream goes there
    else:
        assert "/dspace/assetstore" not in writable  # an export only reads it
    assert "/var/lib/aipsync" in _writable(unit)  # staging and state, as before


def test_install_guide_points_at_the_dropins() -> None:
    guide = (REPO_ROOT / "deploy" / "INSTALL.md").read_text()
    for dropin in (DAEMON_DSPACE_DROPIN, RESTORE_DSPACE_DROPIN):
        assert str(dropin.relative_to(REPO_ROOT).parent) in guide
