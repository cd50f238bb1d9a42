"""A watchdog that means something: ``WATCHDOG=1`` only while the service's threads live and
none of its workers is stuck in one step.

The service runs in-process (on a thread, without signal handlers) under a fake systemd: a
datagram socket in a temporary folder is its ``NOTIFY_SOCKET``, and ``WATCHDOG_USEC`` asks
for a ping every 0.1 s.  A source whose export blocks on a gate wedges the backup cycle; a
watcher stopped behind the service's back is a dead mirror worker.  Either way the pings stop
(and ``STATUS=`` says why), and they come back once the cause is gone.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import NotifySocket, to_toml, wait_for
from service_fakes import FakeSource

from aip import constants as C
from daemon.service.health import Monitor, stuck_bound
from daemon.service.lifecycle import Service


@pytest.fixture
def systemd() -> Iterator[NotifySocket]:
    fake = NotifySocket()
    yield fake
    fake.close()


def start_service(root: Path, systemd: NotifySocket, source: FakeSource, *, watch: bool
                  ) -> tuple[Service, threading.Thread, list[int]]:
    (root / "target").mkdir(exist_ok=True)
    config = root / "aipsync.toml"
    config.write_text(to_toml({
        "repository": {"path": str(root / "repo"), "eperson": "admin@example.org"},
        "staging": {"dir": str(root / "staging")}, "state": {"dir": str(root / "state")},
        "target": {"url": f"file://{root / 'target'}"},
        "watch": {"enabled": watch, "debounce_seconds": 0.1},
        "watchdog": {"stuck_seconds": 0.5}}))
    service = Service(config, environ={"NOTIFY_SOCKET": systemd.path,
                                       "WATCHDOG_USEC": "200000"},
                      source_factory=lambda _: source, log_stream=io.StringIO(),
                      install_signals=False)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), name="service")
    thread.start()
    wait_for(lambda: systemd.index_of("READY=1") is not None, timeout=30, what="READY=1")
    return service, thread, codes


def stop_service(service: Service, thread: threading.Thread, codes: list[int]) -> None:
    service.request_stop()
    thread.join(30)
    assert codes == [C.EXIT_OK]


def test_a_wedged_backup_cycle_stops_the_pings(tmp_path: Path, systemd: NotifySocket) -> None:
    source = FakeSource()
    source.gate = threading.Event()  # the export never returns until the gate opens
    service, thread, codes = start_service(tmp_path, systemd, source, watch=False)
    try:
        wait_for(source.entered.is_set, timeout=30, what="the first cycle's export")
        stuck = wait_for(lambda: systemd.index_of("STATUS=unhealthy: backup stuck in backup "
                                                  "cycle"),
                         timeout=30, what="the watchdog to give up")
        assert systemd.count("WATCHDOG=1", 0, stuck) >= 1, "the watchdog was fed before the wedge"
        # Ten ping periods and more: not one WATCHDOG=1 while the cycle is wedged.
        time.sleep(1.0)
        before_release = len(systemd.messages)
        assert systemd.count("WATCHDOG=1", stuck, before_release) == 0, systemd.messages[stuck:]
        source.gate.set()
        wait_for(lambda: systemd.count("WATCHDOG=1", before_release) >= 2, timeout=30,
                 what="the pings to come back")
    finally:
        if source.gate is not None:
            source.gate.set()
        stop_service(service, thread, codes)


def test_a_dead_mirror_worker_stops_the_pings(tmp_path: Path, systemd: NotifySocket) -> None:
    service, thread, codes = start_service(tmp_path, systemd, FakeSource(), watch=True)
    try:
        wait_for(lambda: systemd.count("WATCHDOG=1") >= 2, timeout=30, what="the first pings")
        watcher = service._watcher
        assert watcher is not None
        watcher.stop()  # behind the service's back: its mirror worker thread ends
        watcher.join(10)
        dead = wait_for(lambda: systemd.index_of("STATUS=unhealthy: mirror worker thread is "
                                                 "dead"), timeout=30, what="the watchdog to notice")
        time.sleep(1.0)
        assert systemd.count("WATCHDOG=1", dead + 1) == 0
    finally:
        stop_service(service, thread, codes)


def test_stuck_means_no_sign_of_life_for_the_bound() -> None:
    now = [100.0]
    monitor = Monitor(progress_interval=60, clock=lambda: now[0])
    alive = [True]
    monitor.watch_thread("scheduler", lambda: alive[0])
    assert monitor.problems(10) == []
    with monitor.step("backup", "backup cycle"):
        now[0] += 9
        assert monitor.problems(10) == []
        monitor.beat("backup")
        now[0] += 9
        assert monitor.problems(10) == [], "a beat is a sign of life"
        now[0] += 2
        assert monitor.problems(10) == ["backup stuck in backup cycle for 11 s without "
                                        "progress"]
    assert monitor.problems(10) == [], "between steps a worker is idle, never stuck"
    alive[0] = False
    assert monitor.problems(10) == ["scheduler thread is dead"]


@pytest.mark.parametrize(("configured", "usec", "expected"), [
    (30.0, 300_000_000, 30.0),        # configured wins
    (0.0, 300_000_000, 900.0),        # 3 x WatchdogSec=5min
    (0.0, 60_000_000, 600.0),         # at least ten minutes
    (0.0, None, 600.0),               # no watchdog: the log still says so after 10 min
])
def test_the_bound_derives_from_watchdogsec(configured: float, usec: float | None,
                                            expected: float) -> None:
    assert stuck_bound(configured, usec) == expected


def test_progress_counts_as_a_sign_of_life_and_shows_in_status() -> None:
    from aip.progress import Meter

    now = [0.0]
    monitor = Monitor(progress_interval=60, clock=lambda: now[0])
    with monitor.step("backup", "backup cycle"):
        meter = Meter("export", label="exporting", objects_total=100_011,
                      clock=lambda: now[0])
        now[0] = 600.0
        meter.advance(41_200)
        assert monitor.problems(10) == []
        assert monitor.status_line() == ("backup cycle: exporting 41,200 of 100,011 objects, "
                                         "ETA 14 min")
    assert monitor.status_line() is None
