"""The small parts of the service: sd_notify, the debouncer, triggers, the configuration keys
the daemon owns, and the staging rules that need no repository.  (The DSpace command lines:
tests/unit/daemon/test_dspace_driver.py.)
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from service_fakes import FakeSource, folder_config

from aip.errors import ConfigError
from daemon.core.config import ScheduleConfig
from daemon.core.errors import SourceError
from daemon.core.state import open_state
from daemon.service.scheduler import build_trigger
from daemon.service.systemd import Notifier, watchdog_interval
from daemon.service.watcher import Debouncer
from daemon.source.base import format_updated_after, site_package_name
from daemon.sync.layout import is_staged_name
from daemon.sync.mirror import pending_uploads, run_mirror
from daemon.sync.staging import EXPORT_DIR_PREFIX, export_to_staging


# --- sd_notify ----------------------------------------------------------------------------------
@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    folder = tempfile.mkdtemp(prefix="aipsync-n-", dir="/tmp")  # AF_UNIX paths are short
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    try:
        yield path, sock
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(folder)


def test_notifier_sends_datagrams(notify_socket: tuple[str, socket.socket]) -> None:
    path, sock = notify_socket
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": path})
    assert notifier.ready("idle; next run 02:15")
    assert sock.recv(4096) == b"READY=1\nSTATUS=idle; next run 02:15"
    assert notifier.watchdog()
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notifier.reloading(123)
    assert sock.recv(4096) == b"RELOADING=1\nMONOTONIC_USEC=123"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_notifier_abstract_socket_and_no_socket() -> None:
    name = f"aipsync-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert Notifier(f"@{name}").status("hello")
        assert sock.recv(100) == b"STATUS=hello"
    assert not Notifier.from_environ({}).ready()  # outside systemd: a no-op
    assert not Notifier("/nonexistent/socket").ready()  # a dead socket never raises


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1234"}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "99"}, None),   # meant for another pid
    ({"WATCHDOG_USEC": "junk"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
])
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(environ, pid=1234) == expected


# --- the watcher's pure parts -------------------------------------------------------------------
def test_debouncer_waits_for_quiet() -> None:
    d = Debouncer(2.0)
    assert d.wait_time(0.0) is None and d.take_due(10.0) == set()
    d.add("a.zip", 1.0)
    d.add("b.zip", 2.5)  # a new event restarts the quiet period
    assert d.wait_time(3.0) == pytest.approx(1.5)
    assert d.take_due(4.4) == set()
    assert d.take_due(4.5) == {"a.zip", "b.zip"}
    assert not d.pending


@pytest.mark.parametrize(("name", "staged"), [
    ("ITEM@123456789-42.zip", True), ("SITE@123456789-0.zip", True),
    (".aipsync-tmp-abc-ITEM@1-2.zip", False), (f"{EXPORT_DIR_PREFIX}xyz", False),
    ("notes.txt", False), (".hidden.zip", False),
])
def test_is_staged_name(name: str, staged: bool) -> None:
    assert is_staged_name(name) is staged


# --- triggers and times -------------------------------------------------------------------------
def test_build_trigger() -> None:
    assert isinstance(build_trigger(ScheduleConfig()), IntervalTrigger)
    assert build_trigger(ScheduleConfig(interval_minutes=15)).interval == timedelta(minutes=15)
    assert isinstance(build_trigger(ScheduleConfig(cron="15 2 * * *")), CronTrigger)


def test_updated_after_is_utc_whole_seconds_rounded_down() -> None:
    when = datetime(2026, 3, 2, 3, 15, 7, 999_999, tzinfo=UTC) + timedelta(hours=0)
    assert format_updated_after(when) == "2026-03-02T03:15:07Z"
    from zoneinfo import ZoneInfo

    local = datetime(2026, 3, 2, 4, 15, 7, tzinfo=ZoneInfo("Europe/Berlin"))
    assert format_updated_after(local) == "2026-03-02T03:15:07Z"
    assert site_package_name("123456789/0") == "SITE@123456789-0.zip"


# --- configuration keys the daemon owns ------------------------------------------------------
@pytest.mark.parametrize("option", ["updatedAfter=2020-01-01T00:00:00", "manifestOnly=true"])
def test_the_daemon_owns_updated_after_and_manifest_only(tmp_path: Path, option: str) -> None:
    with pytest.raises(ConfigError, match=r"repository\.dspace_options"):
        folder_config(tmp_path, repository={"dspace_options": [option]})


# --- staging rules (with the fake source) -------------------------------------------------------
def test_export_to_staging_replaces_atomically_and_keeps_unchanged_items(
        tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    source = FakeSource()
    full = export_to_staging(cfg, source, updated_after=None)
    assert set(full.staged) == {"SITE@123456789-0.zip", "COLLECTION@123456789-2.zip",
                                "ITEM@123456789-3.zip", "ITEM@123456789-4.zip"}
    inode = (cfg.staging.dir / "ITEM@123456789-4.zip").stat().st_ino
    source.items["ITEM@123456789-3.zip"] = b"item 3 v2"
    source.changed = {"ITEM@123456789-3.zip"}
    incr = export_to_staging(cfg, source, updated_after=datetime(2026, 1, 1, tzinfo=UTC))
    assert "ITEM@123456789-4.zip" not in incr.staged
    assert incr.unchanged == 1  # ITEM@123456789-4.zip
    assert (cfg.staging.dir / "ITEM@123456789-4.zip").stat().st_ino == inode
    assert (cfg.staging.dir / "ITEM@123456789-3.zip").read_bytes() == b"item 3 v2"
    assert sorted(p.name for p in cfg.staging.dir.iterdir()) == sorted(full.staged)


def test_full_export_removes_gone_incremental_and_failed_never(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    source = FakeSource()
    export_to_staging(cfg, source, updated_after=None)
    del source.items["ITEM@123456789-4.zip"]
    incr = export_to_staging(cfg, source, updated_after=datetime(2026, 1, 1, tzinfo=UTC))
    assert incr.removed == () and (cfg.staging.dir / "ITEM@123456789-4.zip").exists()
    source.fail = "exited 1"
    with pytest.raises(SourceError):
        export_to_staging(cfg, source, updated_after=None)
    assert (cfg.staging.dir / "ITEM@123456789-4.zip").exists()
    source.fail = None
    full = export_to_staging(cfg, source, updated_after=None)
    assert full.removed == ("ITEM@123456789-4.zip",)
    assert not (cfg.staging.dir / "ITEM@123456789-4.zip").exists()
    assert not [p for p in cfg.staging.dir.iterdir() if p.name.startswith(".")]


def test_pending_uploads_with_and_without_hashing(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    export_to_staging(cfg, FakeSource(), updated_after=None)
    with open_state(cfg.state.dir) as state:
        assert pending_uploads(cfg.staging.dir, state, hash_changed=False).count == 4
        hashed = pending_uploads(cfg.staging.dir, state, hash_changed=True)
        assert hashed.count == 4 and len(hashed.names) == 4
        assert len(pending_uploads(cfg.staging.dir, state, hash_changed=False,
                                   listed=2).names) == 2
    run_mirror(cfg)
    with open_state(cfg.state.dir) as state:
        assert pending_uploads(cfg.staging.dir, state, hash_changed=False).count == 0
        (cfg.staging.dir / "ITEM@123456789-9.zip").write_bytes(b"new")
        assert pending_uploads(cfg.staging.dir, state, hash_changed=False).names == (
            "ITEM@123456789-9.zip",)


# --- catching up after downtime, and what a child may print -------------------------------------
@pytest.mark.parametrize(("schedule", "last", "now", "missed"), [
    (ScheduleConfig(), None, datetime(2026, 3, 2, 3, 0, tzinfo=UTC), True),
    (ScheduleConfig(interval_minutes=60), datetime(2026, 3, 2, 2, 30, tzinfo=UTC),
     datetime(2026, 3, 2, 3, 0, tzinfo=UTC), False),
    (ScheduleConfig(interval_minutes=60), datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
     datetime(2026, 3, 2, 3, 0, tzinfo=UTC), True),
    (ScheduleConfig(cron="15 2 * * *", timezone="UTC"), datetime(2026, 3, 2, 2, 15, 5, tzinfo=UTC),
     datetime(2026, 3, 2, 23, 0, tzinfo=UTC), False),   # today's run happened
    (ScheduleConfig(cron="15 2 * * *", timezone="UTC"), datetime(2026, 3, 1, 2, 15, 5, tzinfo=UTC),
     datetime(2026, 3, 2, 9, 0, tzinfo=UTC), True),     # down over this morning's slot
])
def test_missed_run(schedule: ScheduleConfig, last: datetime | None, now: datetime,
                    missed: bool) -> None:
    from daemon.service.scheduler import missed_run

    assert missed_run(schedule, last, now) is missed


@pytest.mark.parametrize(("line", "expected"), [
    ("jdbc: postgresql://dspace:s3cret@db/dspace refused",
     "jdbc: postgresql://dspace:***@db/dspace refused"),
    ("db.password = hunter2, retrying", "db.password = ***, retrying"),
    ("AWS_SECRET_ACCESS_KEY=abc123 set", "AWS_SECRET_ACCESS_KEY=*** set"),
    ("exported 12 package(s) to /tmp/x", "exported 12 package(s) to /tmp/x"),
])
def test_child_output_is_redacted(line: str, expected: str) -> None:
    from daemon.source.process import redact_line

    assert redact_line(line) == expected


def test_a_stop_request_ends_the_wait_for_the_repository_lock(tmp_path: Path) -> None:
    import threading

    from daemon.core.errors import StopRequestedError
    from daemon.core.locks import Lock, LockName

    cfg = folder_config(tmp_path)
    stop = threading.Event()
    source = FakeSource()
    with Lock(cfg.state.dir, LockName.REPOSITORY, purpose="a restore"):
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        try:
            with pytest.raises(StopRequestedError):
                export_to_staging(cfg, source, updated_after=None, stop=stop, lock_wait=60)
        finally:
            timer.join()
    assert source.calls == []
