"""The progress of ``backup`` and ``restore``, as an operator sees it.

On a terminal (a pseudo-terminal here, as an interactive shell gives): rich's live display on
stderr moves (an upload count is drawn at more than one value), shows every phase, and ends
cleanly (its last frame complete, the cursor shown again, the result printed after it).  Not
on a terminal (pipes, as under cron or systemd): no escape code anywhere, and the JSON log
lines hold ``progress`` events with counts, rates and the ETA; ``--no-progress`` on a
terminal draws nothing either.  The target is a ``file://`` folder with a bandwidth limit, so
the uploads take a few seconds and the display has something to show.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import ADMIN, PROJECT_ROOT, RepoLocation, console_env, dump_text, make_repo

from aip.repository import seed as seedmod

ESC = "\x1b["
#: Bytes per second of the target: the uploads take a few seconds.
SLOW = 150_000


def write_config(root: Path, repo: Path, state: str = "state", slow: bool = True) -> Path:
    (root / "target").mkdir(exist_ok=True)
    limit = f"bandwidth_limit = {SLOW}\ntransfers = 2\n" if slow else ""
    path = root / f"{state}.toml"
    # passwords=true: a site restored into a fresh repository dumps identically.
    path.write_text(f'[repository]\npath = "{repo}"\neperson = "{ADMIN}"\n'
                    f'dspace_options = ["passwords=true"]\n'
                    f'[staging]\ndir = "{root / "staging"}"\n[state]\ndir = "{root / state}"\n'
                    f'[target]\nurl = "file://{root / "target"}"\n{limit}'
                    f'[watch]\nenabled = false\n[log]\nprogress_interval_seconds = 0.5\n')
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    loc = make_repo(RepoLocation(tmp_path / "repo"))
    with loc.opened() as repo:
        seedmod.seed(repo, seedmod.SeedOptions(communities=1, depth=1, collections=2,
                                               items=24, bitstream_size=20_000, seed=9))
    return tmp_path


def on_terminal(*argv: str) -> tuple[int, str]:
    """``python -m daemon ARGV`` with stdin, stdout and stderr on a pseudo-terminal; returns
    the exit code and everything the terminal received."""
    leader, follower = pty.openpty()
    env = console_env(TERM="xterm-256color", COLUMNS="140", LINES="40")
    proc = subprocess.Popen([sys.executable, "-m", "daemon", *argv], cwd=PROJECT_ROOT,
                            env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], 120)
            if not ready:
                raise AssertionError("the command went silent for two minutes")
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the last holder of the terminal closed it
                break
            if not data:
                break
            chunks.append(data)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def frames(screen: str, label: str, unit: str) -> list[tuple[int, int]]:
    """Every ``<label> ... done/total <unit>`` the display drew, in order."""
    found = re.findall(rf"{label}[^\r\n]*?([0-9,]+)/([0-9,]+) {unit}", screen)
    return [(int(a.replace(",", "")), int(b.replace(",", ""))) for a, b in found]


def check_display(rc: int, screen: str, phases: list[tuple[str, str]]) -> None:
    assert rc == 0, screen[-3000:]
    assert ESC in screen, "no display was drawn on the terminal"
    for label, unit in phases:
        drawn = frames(screen, label, unit)
        assert drawn, f"{label} never drawn: {screen[-2000:]!r}"
        total = drawn[-1][1]
        assert drawn[-1] == (total, total), f"{label} did not end complete: {drawn[-3:]}"
    # It ended cleanly: the cursor rich hid is shown again, after the last frame.
    assert screen.rfind(f"{ESC}?25h") > screen.rfind(f"{ESC}?25l") >= 0


def json_events(err: str, name: str) -> list[dict[str, Any]]:
    return [doc for doc in (json.loads(line) for line in err.splitlines()
                            if line.startswith("{")) if doc.get("event") == name]


def test_backup_and_restore_on_a_terminal(root: Path) -> None:
    config = write_config(root, root / "repo")
    rc, screen = on_terminal("backup", "--config", str(config))
    check_display(rc, screen, [("exporting", "objects"), ("uploading", "AIPs")])
    uploads = {done for done, _ in frames(screen, "uploading", "AIPs")}
    assert len(uploads) > 2, f"the upload count never moved: {sorted(uploads)}"
    assert "done in" in screen
    # The result comes after the display, on a line of its own.
    assert re.search(r"\nsnapshot \d{8}T\d{6}", screen.replace("\r", "")), screen[-800:]

    fresh = make_repo(RepoLocation(root / "fresh"))
    restore_config = write_config(root, fresh.folder, state="fresh-state", slow=False)
    rc, screen = on_terminal("restore", "--config", str(restore_config), "--site", "--yes")
    check_display(rc, screen, [("downloading", "AIPs"), ("ingesting", "packages")])
    assert "restore: " in screen
    assert dump_text(fresh) == dump_text(RepoLocation(root / "repo"))


def test_no_progress_on_a_terminal_draws_nothing(root: Path) -> None:
    config = write_config(root, root / "repo", slow=False)
    rc, screen = on_terminal("--no-progress", "--log-level", "warning", "backup",
                             "--config", str(config))
    assert rc == 0, screen
    assert ESC not in screen and "uploading" not in screen
    assert screen.replace("\r", "").splitlines()[-1].startswith("snapshot ")


def test_not_on_a_terminal_progress_goes_to_the_json_log(root: Path) -> None:
    config = write_config(root, root / "repo")
    backup = subprocess.run([sys.executable, "-m", "daemon", "--log-format", "json", "backup",
                             "--config", str(config)], cwd=PROJECT_ROOT, env=console_env(),
                            capture_output=True, text=True, timeout=300, check=False)
    assert backup.returncode == 0, backup.stderr[-3000:]
    assert ESC not in backup.stdout + backup.stderr
    lines = json_events(backup.stderr, "progress")
    phases = {e["phase"] for e in lines}
    assert {"export", "upload"} <= phases, phases
    uploads = [e for e in lines if e["phase"] == "upload"]
    assert len(uploads) >= 2, "the upload phase logged only its end"
    assert uploads[-1]["finished"] and uploads[-1]["objects_done"] == uploads[-1]["objects_total"]
    assert any(e["eta_s"] is not None and not e["finished"] for e in uploads)
    assert all(e["bytes_per_s"] >= 0 and "uploading" in e["detail"] for e in uploads)

    fresh = make_repo(RepoLocation(root / "fresh"))
    restore_config = write_config(root, fresh.folder, state="fresh-state", slow=False)
    restore = subprocess.run([sys.executable, "-m", "daemon", "restore", "--config",
                              str(restore_config), "--site", "--yes"], cwd=PROJECT_ROOT,
                             env=console_env(), capture_output=True, text=True, timeout=300,
                             check=False)
    assert restore.returncode == 0, restore.stderr[-3000:]
    assert ESC not in restore.stdout + restore.stderr
    done = {e["phase"] for e in json_events(restore.stderr, "progress") if e["finished"]}
    assert {"download", "ingest"} <= done, done
