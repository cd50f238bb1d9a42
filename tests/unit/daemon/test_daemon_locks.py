"""Named locks: exclusion between threads and processes, holder named, waits, stale-proof."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aip import constants as C
from daemon.core.errors import LockedError
from daemon.core.locks import Lock, LockName, read_holder

HOLD = """
import logging, sys, time
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
from daemon.core.locks import Lock
with Lock(sys.argv[1], "repository", purpose="export"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_second_holder_in_another_thread_is_refused_with_the_holder(tmp_path: Path) -> None:
    with Lock(tmp_path, LockName.REPOSITORY, purpose="export"):
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with Lock(tmp_path, LockName.REPOSITORY, purpose="restore"):
                    pass
            except LockedError as exc:
                errors.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(5)
        assert len(errors) == 1
        message = str(errors[0])
        assert f"pid {os.getpid()}" in message and "(export)" in message
        assert errors[0].exit_code == C.EXIT_LOCKED
    with Lock(tmp_path, LockName.REPOSITORY):  # free again
        pass


def test_different_names_do_not_conflict(tmp_path: Path) -> None:
    with Lock(tmp_path, LockName.REPOSITORY), Lock(tmp_path, LockName.MIRROR), \
            Lock(tmp_path, LockName.DAEMON):
        assert read_holder(tmp_path / "mirror.lock")["pid"] == os.getpid()


def test_waiter_gets_the_lock_when_released(tmp_path: Path) -> None:
    first = Lock(tmp_path, LockName.REPOSITORY)
    first.acquire()
    got = threading.Event()

    def waiter() -> None:
        with Lock(tmp_path, LockName.REPOSITORY, wait=10):
            got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    assert not got.is_set()
    first.release()
    thread.join(5)
    assert got.is_set()


def test_wait_times_out(tmp_path: Path) -> None:
    with Lock(tmp_path, LockName.MIRROR):
        started = time.monotonic()
        with pytest.raises(LockedError):
            Lock(tmp_path, LockName.MIRROR, wait=0.3).acquire()
        assert 0.25 < time.monotonic() - started < 3


def test_other_process_holds_then_dies_kill9(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True, cwd=Path(__file__).resolve().parents[3])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(LockedError, match=f"pid {proc.pid}"):
            Lock(tmp_path, LockName.REPOSITORY).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    # The kernel released the lock with the process: no stale lock can block us.
    with Lock(tmp_path, LockName.REPOSITORY, purpose="after crash"):
        assert read_holder(tmp_path / "repository.lock")["purpose"] == "after crash"


def test_bad_name_and_double_acquire(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Lock(tmp_path, "../x")
    lock = Lock(tmp_path, "x")
    with lock, pytest.raises(RuntimeError):
        lock.acquire()
    assert not lock.held
