"""The staging watcher on real folders (inotify), with deadline waits and no fixed sleeps.

First the ``Watcher`` alone with recording callbacks (what it reacts to, debouncing, the
healing scan), then the whole service in-process against both targets: a zip dropped into
staging by hand is uploaded within seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for
from service_support import BackupEnv, running_service

from daemon.core.state import open_state
from daemon.service.watcher import Watcher
from daemon.sync.backup import run_cycle


class Recorder:
    def __init__(self, scan_result: set[str] | None = None) -> None:
        self.batches: list[set[str]] = []
        self.scans = 0
        self.scan_result = scan_result or set()
        self.lock = threading.Lock()

    def mirror(self, names: set[str]) -> None:
        with self.lock:
            self.batches.append(set(names))

    def scan(self) -> set[str]:
        with self.lock:
            self.scans += 1
            found, self.scan_result = self.scan_result, set()
            return found

    def seen(self) -> set[str]:
        with self.lock:
            return set().union(*self.batches) if self.batches else set()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Recorder, Watcher]]:
    staging = tmp_path / "staging"
    rec = Recorder({"ITEM@1-1.zip"})
    watcher = Watcher(staging, mirror=rec.mirror, scan=rec.scan, debounce_seconds=0.3,
                      scan_interval_seconds=3600)
    watcher.start()
    try:
        yield staging, rec, watcher
    finally:
        watcher.stop()
        assert watcher.join(10), "watcher threads did not stop"


def drop(staging: Path, name: str, data: bytes = b"zip bytes") -> None:
    """Write a file as the exporter does: a temporary name, then a rename."""
    tmp = staging / f".aipsync-tmp-{name}"
    tmp.write_bytes(data)
    os.replace(tmp, staging / name)


def test_the_start_up_scan_mirrors_what_was_missed(
        watched: tuple[Path, Recorder, Watcher]) -> None:
    _, rec, _ = watched
    wait_for(lambda: "ITEM@1-1.zip" in rec.seen(), timeout=10, what="the start-up scan")
    assert rec.scans == 1


def test_a_renamed_in_zip_is_mirrored_once_after_the_quiet_period(
        watched: tuple[Path, Recorder, Watcher]) -> None:
    staging, rec, _ = watched
    wait_for(lambda: rec.scans == 1, timeout=10, what="the start-up scan")
    started = time.monotonic()
    drop(staging, "ITEM@123456789-7.zip")
    wait_for(lambda: "ITEM@123456789-7.zip" in rec.seen(), timeout=10, what="the batch")
    assert time.monotonic() - started >= 0.3  # the debounce held it back
    assert rec.batches[-1] == {"ITEM@123456789-7.zip"}


def test_a_burst_is_one_batch_and_temp_names_and_other_files_are_ignored(
        watched: tuple[Path, Recorder, Watcher]) -> None:
    staging, rec, _ = watched
    wait_for(lambda: rec.scans == 1 and rec.batches, timeout=10, what="the start-up scan")
    before = len(rec.batches)
    names = {f"ITEM@123456789-{n}.zip" for n in range(10, 20)}
    for name in sorted(names):
        drop(staging, name)
    (staging / ".aipsync-tmp-export-x").mkdir()
    (staging / ".aipsync-tmp-export-x" / "ITEM@123456789-99.zip").write_bytes(b"partial")
    (staging / ".aipsync-tmp-half").write_bytes(b"partial")
    (staging / "notes.txt").write_text("not an AIP")
    (staging / ".hidden.zip").write_bytes(b"hidden")
    wait_for(lambda: names <= rec.seen(), timeout=10, what="the burst")
    assert len(rec.batches) == before + 1, rec.batches
    assert rec.seen() == names | {"ITEM@1-1.zip"}


def test_the_periodic_scan_heals_missed_events(tmp_path: Path) -> None:
    rec = Recorder()
    watcher = Watcher(tmp_path / "staging", mirror=rec.mirror, scan=rec.scan,
                      debounce_seconds=0.1, scan_interval_seconds=0.2)
    watcher.start()
    try:
        wait_for(lambda: rec.scans >= 1, timeout=10, what="the first scan")
        with rec.lock:
            rec.scan_result = {"ITEM@123456789-5.zip"}  # e.g. an inotify queue overflow
        wait_for(lambda: "ITEM@123456789-5.zip" in rec.seen(), timeout=10,
                 what="the periodic scan")
    finally:
        watcher.stop()
        assert watcher.join(10)


def test_a_failing_mirror_does_not_end_the_worker(tmp_path: Path) -> None:
    calls: list[set[str]] = []

    def mirror(names: set[str]) -> None:
        calls.append(names)
        raise OSError("the target is down")

    watcher = Watcher(tmp_path / "staging", mirror=mirror, scan=set,
                      debounce_seconds=0.1, scan_interval_seconds=3600)
    watcher.start()
    try:
        drop(tmp_path / "staging", "ITEM@123456789-1.zip")
        wait_for(lambda: calls, timeout=10, what="the first call")
        drop(tmp_path / "staging", "ITEM@123456789-2.zip")
        wait_for(lambda: len(calls) == 2, timeout=10, what="the second call")
        assert watcher.alive
    finally:
        watcher.stop()
        assert watcher.join(10)


# --- the service's watcher against both targets -----------------------------------------------
def test_a_zip_dropped_into_staging_by_hand_is_uploaded_within_seconds(env: BackupEnv) -> None:
    run_cycle(env.config())  # the daemon then starts with nothing to do
    first = env.snapshot_ids()[0]
    with running_service(env.write_config()) as service:
        wait_for(lambda: service._watcher is not None and service._watcher.scans >= 1,
                 timeout=20, what="the service's watcher")
        data = b"PK\x05\x06" + b"\0" * 18  # an empty zip, put there by an operator
        drop(env.staging, "ITEM@123456789-900.zip", data)
        started = time.monotonic()
        wait_for(lambda: env.remote_sha256("ITEM@123456789-900.zip"), timeout=15,
                 what="the upload of the dropped zip")
        assert time.monotonic() - started < 10
        newest = wait_for(lambda: env.snapshot_ids()[0] != first and env.snapshot_ids()[0],
                          timeout=10, what="the new snapshot")
        assert "ITEM@123456789-900.zip" in env.snapshot_entries(newest)
    with open_state(env.state_dir) as state:
        assert state.runs(kind="mirror")[0].status == "ok"
