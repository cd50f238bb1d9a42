"""The session summary's skips by reason, and ``AIPSYNC_CI=1`` failing a session with a skip.

Each case runs pytest in a subprocess on modules of this suite: the UBC restores, which skip
as a whole when ``AIPSYNC_UBC_FIXTURES`` names a folder that is not there, and a module that
skips nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import PROJECT_ROOT, console_env

UBC_MODULE = "tests/integration/packager/test_packager_ubc_fixtures.py"
NOTHING_SKIPPED = "tests/unit/test_exit_codes_doc.py"


def _pytest(modules: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=240, check=False,
        env=console_env(AIPSYNC_UBC_FIXTURES=str(tmp_path / "no-such-folder"), **env))


def test_skips_are_counted_by_reason(tmp_path: Path) -> None:
    result = _pytest([UBC_MODULE, NOTHING_SKIPPED], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    section = lines.index(next(ln for ln in lines if "skipped tests, by reason" in ln))
    reason = f"UBC DSpace 1.7.0 AIPs not found: AIPSYNC_UBC_FIXTURES={tmp_path}/no-such-folder"
    assert lines[section + 1].startswith(f"   1 skipped: {reason} is not a folder")
    assert lines[section + 2] == "   1 skipped in all"
    assert "skips CI must not have" not in result.stdout


def test_under_ci_a_skip_fails_the_session_and_names_the_test(tmp_path: Path) -> None:
    result = _pytest([UBC_MODULE, NOTHING_SKIPPED], tmp_path, AIPSYNC_CI="1")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "AIPSYNC_CI=1: skips CI must not have" in out
    assert f"{UBC_MODULE}: UBC DSpace 1.7.0 AIPs not found" in out
    assert "1 test(s) skipped although CI can run them (allowed reasons: none); " \
        "the session fails" in out


def test_under_ci_a_session_without_skips_passes(tmp_path: Path) -> None:
    result = _pytest([NOTHING_SKIPPED], tmp_path, AIPSYNC_CI="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "none skipped" in result.stdout
    assert "skips CI must not have" not in result.stdout
