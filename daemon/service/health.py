"""What the service's workers are doing: alive and moving (the watchdog), and how far (people).

Owns: ``Monitor``.  The service registers the threads it depends on (APScheduler's thread,
the watcher's mirror worker) with ``watch_thread``, and runs each unit of work of a worker
(a backup cycle, an audit, a watcher-triggered mirror or scan) inside ``step(worker, what)``.
Inside a step, every progress report (``aip.progress``: each object exported, uploaded,
hashed, checked; each poll of a busy lock) and every ``beat`` proves the worker moves, and
also goes to the log (``progress`` lines every ``[log] progress_interval_seconds``) and to
``status_line`` (what systemd's ``STATUS=`` shows: ``backup cycle: exporting 41,200 of
100,011 objects, ETA 4 min``).

``problems(stuck_after)`` is what the service's main loop asks before each ``WATCHDOG=1``: a
registered thread that died, or a step without a sign of life for ``stuck_after`` seconds
(wedged: a deadlock, a call that never returns); with a problem the pings stop and systemd
restarts the service.  A worker between steps is idle, never stuck.

Must not: send anything to systemd (the service's main loop does), or sleep.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aip.progress import Progress, ProgressLog, describe, reporting

__all__ = ["Monitor", "stuck_bound"]

#: The shortest bound derived from the unit's watchdog: a single large upload or a slow
#: store must not count as a wedge.
_MIN_DERIVED_STUCK = 600.0
_WATCHDOG_FACTOR = 3.0


def stuck_bound(configured: float, watchdog_usec: float | None) -> float:
    """Seconds without a sign of life after which a step is stuck: ``configured`` when set
    (above 0), else three times the unit's ``WatchdogSec`` (``WATCHDOG_USEC``), at least ten
    minutes.  Pure."""
    if configured > 0:
        return configured
    if watchdog_usec:
        return max(_MIN_DERIVED_STUCK, _WATCHDOG_FACTOR * watchdog_usec / 1_000_000)
    return _MIN_DERIVED_STUCK


@dataclass
class _Step:
    what: str
    since: float
    last_sign: float
    progress: Progress | None = None


class Monitor:
    """The service's workers, for the watchdog and for people; thread-safe.

    Args:
        progress_interval: seconds between two ``progress`` log lines.
        clock: the monotonic clock.
    """

    def __init__(self, *, progress_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._threads: dict[str, Callable[[], bool]] = {}
        self._steps: dict[str, _Step] = {}
        self.progress_log = ProgressLog(progress_interval, clock=clock)

    def set_progress_interval(self, seconds: float) -> None:
        self.progress_log.interval = seconds

    def watch_thread(self, name: str, alive: Callable[[], bool]) -> None:
        """A thread the service needs; ``alive()`` says whether it still runs."""
        with self._lock:
            self._threads[name] = alive

    def forget_thread(self, name: str) -> None:
        with self._lock:
            self._threads.pop(name, None)

    @contextlib.contextmanager
    def step(self, worker: str, what: str) -> Iterator[None]:
        """``worker`` does ``what`` inside the block; progress reported there counts."""
        now = self._clock()
        with self._lock:
            self._steps[worker] = _Step(what, now, now)

        def report(p: Progress) -> None:
            self._sign(worker, p)
            self.progress_log(p)

        try:
            with reporting(report):
                yield
        finally:
            with self._lock:
                self._steps.pop(worker, None)

    def beat(self, worker: str) -> None:
        """``worker`` is alive and moving (a loop that waits calls this on each turn)."""
        self._sign(worker, None)

    def _sign(self, worker: str, p: Progress | None) -> None:
        now = self._clock()
        with self._lock:
            step = self._steps.get(worker)
            if step is None:
                return
            step.last_sign = now
            if p is not None:
                step.progress = None if p.finished else p

    def problems(self, stuck_after: float) -> list[str]:
        """Dead threads and stuck steps, one line each (empty: healthy)."""
        now = self._clock()
        with self._lock:
            found = [f"{name} thread is dead" for name, alive in self._threads.items()
                     if not alive()]
            found += [f"{worker} stuck in {step.what} for {now - step.last_sign:.0f} s "
                      f"without progress" for worker, step in self._steps.items()
                      if now - step.last_sign > stuck_after]
        return found

    def busy(self, worker: str) -> bool:
        with self._lock:
            return worker in self._steps

    def status_line(self) -> str | None:
        """What the busy workers do, with their progress, for ``STATUS=`` (None: idle)."""
        now = self._clock()
        with self._lock:
            steps = sorted(self._steps.items())
            parts = [f"{step.what}: {describe(step.progress, now)}" if step.progress
                     else f"{step.what} running" for _, step in steps]
        return "; ".join(parts) or None
