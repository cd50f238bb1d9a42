"""A disk that fills up: during the export into staging, and during a restore's downloads.

The full disk is injected (``DiskQuota``: files written under the staging or restore folder
fail with ``ENOSPC`` once a byte budget is spent), so the suite runs anywhere without
privileges or a tmpfs.  Each time: exit code 57 with one line saying so, nothing partial left
(no temporary name, no half-written AIP, no half-downloaded file), nothing changed where it
matters (staging, the bucket's snapshots, the repository), and once space is freed the next
cycle (or the same restore) succeeds; the daemon's scheduler keeps running in between.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import structlog
from faults_support import (
    DiskQuota,
    FaultEnv,
    aipsync,
    error_lines,
    record_figure,
    sha256,
    temp_names,
)
from helpers import RepoLocation, dump_text, make_repo, snapshot

from aip import constants as C
from daemon.service.scheduler import CycleRunner, Scheduler


def record(where: str, outcome: str, **extra: object) -> None:
    record_figure(disk_full=where, outcome=outcome, **extra)


def test_disk_full_during_the_export(fenv: FaultEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = fenv.write_config()
    config = fenv.config()
    fenv.staging.mkdir()
    quota = DiskQuota(fenv.staging, budget=256 * 1024).install(monkeypatch)

    failed = aipsync("backup", "--config", str(config_file), expect=C.EXIT_DISK_FULL)
    (line,) = error_lines(failed.err)
    assert line == (f"aipsync: error: no space left on the device while writing "
                    f"{fenv.staging}"), line
    assert quota.refused >= 1
    assert temp_names(fenv.staging) == [] and fenv.staged() == {}, "nothing partial left"
    assert fenv.bucket_objects() == {} and fenv.multipart_uploads() == []

    # The daemon's scheduler: the first cycle fails on the full disk, the operator frees
    # space, and the next scheduled cycle succeeds without a restart.
    from apscheduler.triggers.interval import IntervalTrigger

    outcomes: list[str] = []
    second = threading.Event()

    def on_done(kind: str, status: str, result: Any) -> None:
        outcomes.append(status)
        quota.full = False  # space freed after the first failure
        if len(outcomes) >= 2:
            second.set()

    runner = CycleRunner(lambda: config, on_done=on_done)
    scheduler = Scheduler(runner, config.schedule, run_now=True,
                          trigger=IntervalTrigger(seconds=0.5))
    with structlog.testing.capture_logs() as logs:
        scheduler.start()
        try:
            assert second.wait(60), f"the scheduler stopped cycling: {outcomes}"
        finally:
            scheduler.shutdown(wait=True)
    assert outcomes[:2] == ["failed", "ok"], outcomes
    cycle_failed = [e for e in logs if e["event"] == "backup.cycle.failed"]
    assert cycle_failed[0]["exit_code"] == C.EXIT_DISK_FULL
    assert cycle_failed[0]["msgid"] == "DiskFullError"
    assert temp_names(fenv.staging) == []
    fenv.assert_consistent()
    record("export into staging", "exit 57; staging unchanged; the next scheduled cycle "
           "succeeded", enospc=quota.refused)


def test_disk_full_during_the_restore_download(fenv: FaultEnv, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    aipsync("backup", "--config", str(fenv.write_config()), expect=0)
    inventory = fenv.inventory()
    fresh = make_repo(RepoLocation(tmp_path / "fresh"))
    state = tmp_path / "fresh-state"
    fresh_config = fenv.write_config("fresh.toml", repo=fresh, state={"dir": str(state)})
    (state / "restore").mkdir(parents=True)
    before = snapshot(fresh)
    # Room for the small AIPs, not for the 11 MiB one.
    quota = DiskQuota(state / "restore", budget=2 * 1024 * 1024).install(monkeypatch)

    failed = aipsync("restore", "--config", str(fresh_config), "--site", "--yes",
                     expect=C.EXIT_DISK_FULL)
    (line,) = error_lines(failed.err)
    assert line.startswith("aipsync: error: no space left on the device while writing "), line
    assert snapshot(fresh) == before, "the repository changed"
    assert temp_names(state) == [], "a partial download was left"
    for path in (state / "restore").rglob("*.zip"):  # what is kept is whole and verified
        entry = inventory.entry(path.name)
        assert entry is not None and sha256(path.read_bytes()) == entry.sha256, path

    quota.full = False
    aipsync("restore", "--config", str(fresh_config), "--site", "--yes", expect=0)
    assert dump_text(fresh) == dump_text(fenv.repo)
    assert temp_names(state) == []
    record("restore download", "exit 57; repository unchanged; no partial file; the same "
           "restore succeeded once space was freed", enospc=quota.refused)
