"""Where the daemon reads the time: a protocol, so tests drive a fake clock and never sleep.

Owns: ``Clock`` (wall time, timezone-aware, and a monotonic clock for intervals) and
``SystemClock``, the real one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Where the daemon gets the time (a fake in tests, so nothing ever sleeps there)."""

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware."""

    def monotonic(self) -> float:
        """Seconds of a clock that never goes back (for intervals)."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
