"""Named, exclusive, stale-proof locks on files in the state folder.

Owns: ``Lock`` (a context manager over ``flock`` on ``<state.dir>/<name>.lock``) and the lock
names: ``repository`` (taken by export and restore, so the two never run at once),
``mirror`` (one mirror or prune at a time), ``daemon`` (one service per state folder),
``cycle`` (one backup cycle, export then mirror, at a time), ``restore`` (one restore at a
time) and ``audit`` (one fixity audit at a time).
The holder writes its pid, host and start time into the file so a busy lock can say who
holds it (``LockedError``).

Why ``flock`` (docs/style.md T4, after borg's ``storelocking``): the kernel drops the lock when the
holder's process dies, however it dies, so a stale lock cannot block anyone; the recorded
holder is only information.  Two opens in one process are two locks, so threads exclude each
other too.  State folders on NFS need a lock daemon (``flock`` maps to POSIX locks there).

Must not: remove a lock file (removing it while another process waits on it would let two
holders in), or hold a lock across a fork.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from aip.progress import Meter
from daemon.core.errors import LockedError

__all__ = ["Lock", "LockName", "read_holder"]

log = structlog.get_logger(__name__)

_POLL_SECONDS = 0.1


class LockName(StrEnum):
    """The locks the daemon takes."""

    REPOSITORY = "repository"
    MIRROR = "mirror"
    DAEMON = "daemon"
    #: One backup cycle (export, then mirror) at a time per state folder, daemon or CLI.
    CYCLE = "cycle"
    #: One restore at a time (it owns ``[restore] work_dir`` while it downloads and ingests).
    RESTORE = "restore"
    #: One fixity audit at a time (scheduled or ``aipsync verify``).
    AUDIT = "audit"


def read_holder(path: Path) -> dict[str, Any]:
    """What the lock file says about its holder (empty if unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another process (holder unknown)"
    pid = holder.get("pid")
    host = holder.get("host", "?")
    text = f"pid {pid} on {host} since {holder.get('since', '?')}"
    if holder.get("purpose"):
        text += f" ({holder['purpose']})"
    if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
        text += "; that process is gone, so a child it started still holds the lock"
    return text


class Lock:
    """An exclusive lock named ``name`` in ``state_dir``.

    Args:
        state_dir: the ``[state] dir`` folder (created if missing).
        name: a ``LockName`` (or any plain file-name-safe string).
        wait: seconds to wait for a busy lock (0: fail at once).
        purpose: a few words recorded for whoever finds the lock busy.
        clock, sleep: injectable for tests.

    Raises (on enter):
        LockedError: the lock is still busy after ``wait`` seconds; names the holder.
    """

    def __init__(self, state_dir: Path, name: str, *, wait: float = 0.0, purpose: str = "",
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad lock name {name!r}")
        self.path = Path(state_dir) / f"{name}.lock"
        self.name = str(name)
        self.wait = wait
        self.purpose = purpose
        self._clock = clock
        self._sleep = sleep
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait`` seconds.

        Raises:
            LockedError: still busy after the wait.
        """
        if self._fd is not None:
            raise RuntimeError(f"lock {self.name} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = self._clock() + self.wait
        waited: Meter | None = None
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                if self._clock() >= deadline:
                    holder = _describe(read_holder(self.path))
                    log.warning("lock.busy", lock=self.name, holder=holder, waited_s=self.wait)
                    raise LockedError(path=str(self.path), holder=holder)
                if waited is None:
                    holder = _describe(read_holder(self.path))
                    log.info("lock.waiting", lock=self.name, holder=holder)
                    # A wait is progress too: the display and systemd's STATUS= say what
                    # the work waits for, and the service's watchdog sees it is not stuck.
                    waited = Meter("wait", label="waiting for", unit="")
                    waited.advance(0, current=f"the {self.name} lock ({holder})")
                else:
                    waited.advance(0)
                self._sleep(_POLL_SECONDS)
        except BaseException:
            os.close(fd)
            if waited is not None:
                waited.finish()
            raise
        if waited is not None:
            waited.finish()
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds"),
                  "purpose": self.purpose}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        self._fd = fd
        log.debug("lock.acquired", lock=self.name)

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        log.debug("lock.released", lock=self.name)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
