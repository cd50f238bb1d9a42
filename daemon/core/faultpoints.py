"""Named crash points for the crash tests: the process kills itself (SIGKILL) at a chosen one.

Owns: ``checkpoint(name)``, which the daemon's code calls at the moments where a crash
teaches the most, and ``arm(spec)``, which only the entry point calls: ``daemon/cli/``
arms the point named by the ``AIPSYNC_TEST_CRASH_AT`` environment variable, and nothing else
reads it.  Unarmed (always, outside the crash tests) a checkpoint is one comparison, and
``watch_inserts`` registers nothing.

``spec`` is ``<point>`` or ``<point>:<n>``: the process is killed the n-th time (default the
first) it reaches the point, with SIGKILL, so nothing gets a chance to clean up: exactly a
power cut or the OOM killer, made deterministic (tests/faults/test_crashes.py).

=======================  ==================================================================
point                    reached
=======================  ==================================================================
``export.package``       after each package the embedded export wrote
                         (``daemon/source/embedded.py``)
``export.staged``        the export is in staging; nothing uploaded yet (``daemon/sync/backup.py``)
``upload.part``          after each multipart part was sent and journalled
                         (``daemon/targets/s3.py``)
``upload.recorded``      after each upload was verified and recorded (``daemon/sync/mirror.py``)
``snapshot.write``       every upload recorded, the inventory not written
                         (``daemon/sync/mirror.py``)
``restore.downloaded``   after each AIP of a restore was downloaded and verified
                         (``daemon/restore/run.py``)
``restore.ingest``       inside the ingest's transaction, before each SQL INSERT
                         (``daemon/source/embedded.py``)
=======================  ==================================================================

Must not: do anything when unarmed, read the environment, or be armed by library code.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

__all__ = ["POINTS", "arm", "armed", "checkpoint", "watch_inserts"]

POINTS = frozenset({"export.package", "export.staged", "upload.part", "upload.recorded",
                    "snapshot.write", "restore.downloaded", "restore.ingest"})

_lock = threading.Lock()
_armed: tuple[str, int] | None = None
_reached = 0


def arm(spec: str | None) -> None:
    """Arm the crash point ``spec`` (``<point>[:<n>]``); None or "" disarms.

    Raises:
        ValueError: an unknown point or a bad count.
    """
    global _armed, _reached  # noqa: PLW0603  (process-wide by design: one test hook)
    if not spec:
        _armed = None
        return
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r} (known: {', '.join(sorted(POINTS))})")
    times = int(count) if count else 1
    if times < 1:
        raise ValueError(f"crash point {spec!r}: the count must be at least 1")
    with _lock:
        _armed = (name, times)
        _reached = 0


def armed(name: str) -> bool:
    """True when ``name`` is the armed point."""
    return _armed is not None and _armed[0] == name


def checkpoint(name: str) -> None:
    """The point ``name`` is reached: SIGKILL this process if it is armed and due."""
    global _reached  # noqa: PLW0603
    if _armed is None or _armed[0] != name:
        return
    with _lock:
        _reached += 1
        due = _reached >= _armed[1]
    if due:
        os.kill(os.getpid(), signal.SIGKILL)


def watch_inserts(engine: Any, name: str) -> None:
    """Make every SQL INSERT on the SQLAlchemy ``engine`` the checkpoint ``name`` (only when
    that point is armed: otherwise nothing is registered)."""
    if not armed(name):
        return
    # Only the crash tests arm a point: a daemon that never does never imports SQLAlchemy here.
    from sqlalchemy import event

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip()[:6].upper() == "INSERT":
            checkpoint(name)

    event.listen(engine, "before_cursor_execute", before)
