"""Progress of long work: what a loop reports, and the one log line that renders it.

Owns: ``Progress`` (a phase of work, objects and bytes done out of their totals when known,
the object at hand), ``Meter`` (one phase: a loop's one call per unit of work, safe from any
thread), ``reporting`` (the context a renderer listens in: a ``Meter`` made inside ``with
reporting(callback)`` reports to that callback, whichever thread later advances it),
``rates`` (objects and bytes per second and the time left, from a phase's start),
``describe`` (one line for people: ``exporting 41,200 of 100,011 objects, ETA 4 min``) and
``ProgressLog`` (the ``progress`` log event, at most one every N seconds; docs/style.md L3).

Loops make a ``Meter`` and call ``advance`` once per unit of work; they never learn who, if
anyone, listens: the command line draws a bar on a terminal (``aip.terminal``), and the
service logs lines and keeps systemd's ``STATUS=`` current.  With no listener a ``Meter``
costs one comparison per call.

Must not: print, know terminals, rich or systemd, or keep anything between two phases.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

__all__ = [
    "DEFAULT_INTERVAL_SECONDS",
    "Meter",
    "Progress",
    "ProgressCallback",
    "ProgressLog",
    "Rates",
    "describe",
    "human_bytes",
    "human_duration",
    "listening",
    "rates",
    "reporting",
]

log = structlog.get_logger(__name__)

#: Seconds between two ``progress`` log lines unless configured otherwise.
DEFAULT_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one phase of work stands.

    ``phase`` names the work for machines (``export``, ``upload``...), ``label`` for people
    (``exporting``); ``objects_total`` and ``bytes_total`` are None while unknown (and may
    grow as a walk discovers more); ``current`` is the object just done (a handle, a key) or,
    for a ``wait``, what is waited for.  ``started`` is the phase's start on the monotonic
    clock; ``serial`` tells two phases of the same name apart; ``finished`` is set once, by
    the phase's last report.
    """

    phase: str
    label: str
    unit: str
    objects_done: int
    objects_total: int | None
    bytes_done: int = 0
    bytes_total: int | None = None
    current: str = ""
    started: float = 0.0
    serial: int = 0
    finished: bool = False


ProgressCallback = Callable[[Progress], None]

_listener: ContextVar[ProgressCallback | None] = ContextVar("aipsync_progress", default=None)
_serials = itertools.count(1)


@contextlib.contextmanager
def reporting(callback: ProgressCallback | None) -> Iterator[None]:
    """Send the progress of every ``Meter`` made inside this block to ``callback``.

    The callback is called from whichever thread advances a meter (worker threads too), so
    it must be thread-safe, and quick.  An exception it raises reaches the loop that
    reported (the embedded export uses that to stop between packages).
    """
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)


def listening() -> bool:
    """True when a ``Meter`` made here would report to someone (so a loop may skip work that
    only serves progress, such as summing the bytes it will copy)."""
    return _listener.get() is not None


class Meter:
    """One phase of work, reported to the listener of the context it was made in.

    Args:
        phase: the phase's name for machines and logs (``export``, ``upload``, ``wait``...).
        label: what people read (``exporting``); default: ``phase``.
        unit: what the objects are (``objects``, ``AIPs``, ``items``).
        objects_total: how many objects the phase will do, if known.
        bytes_total: how many bytes, if known.
        clock: the monotonic clock (tests inject one).
    """

    def __init__(self, phase: str, *, label: str | None = None, unit: str = "objects",
                 objects_total: int | None = None, bytes_total: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._callback = _listener.get()
        self._lock = threading.Lock()
        self._phase = phase
        self._label = label or phase
        self._unit = unit
        self._objects_total = objects_total
        self._bytes_total = bytes_total
        self._objects = 0
        self._bytes = 0
        self._current = ""
        self._finished = False
        self._started = clock()
        self._serial = next(_serials)

    @property
    def active(self) -> bool:
        """True when someone listens."""
        return self._callback is not None

    @property
    def by_bytes(self) -> bool:
        """True when the phase counts bytes too (a byte total was given)."""
        return self._bytes_total is not None

    def advance(self, objects: int = 1, nbytes: int = 0, current: str = "") -> None:
        """``objects`` more objects (and ``nbytes`` bytes) done; ``current`` the last one.

        ``advance(0)`` reports that the work goes on without finishing an object (a wait).
        """
        if self._callback is None:
            return
        with self._lock:
            self._objects += objects
            self._bytes += nbytes
            if current:
                self._current = current
            report = self._snapshot()
        self._callback(report)

    def grow(self, objects: int = 0, nbytes: int = 0) -> None:
        """The phase turned out bigger: add to its totals (a walk that finds children)."""
        if self._callback is None:
            return
        with self._lock:
            self._objects_total = (self._objects_total or 0) + objects
            if nbytes:
                self._bytes_total = (self._bytes_total or 0) + nbytes
            report = self._snapshot()
        self._callback(report)

    def finish(self) -> None:
        """The phase is over (whatever it skipped): its last report, totals set to what was
        done when they were unknown or not reached."""
        if self._callback is None:
            return
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._objects_total = self._objects
            if self._bytes_total is not None or self._bytes:
                self._bytes_total = self._bytes
            report = self._snapshot()
        self._callback(report)

    def snapshot(self) -> Progress:
        """Where the phase stands now."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> Progress:
        return Progress(self._phase, self._label, self._unit, self._objects,
                        self._objects_total, self._bytes, self._bytes_total, self._current,
                        self._started, self._serial, self._finished)


@dataclass(frozen=True, slots=True)
class Rates:
    """Objects and bytes per second since a phase started, and the seconds left (None:
    unknown)."""

    objects_per_s: float
    bytes_per_s: float
    eta_s: float | None


def rates(p: Progress, now: float) -> Rates:
    """The rates of ``p`` at monotonic time ``now`` and its ETA: by bytes when both byte
    counts are known and some bytes are done (objects differ in size), else by objects.
    Pure."""
    elapsed = max(now - p.started, 1e-6)
    per_object = p.objects_done / elapsed
    per_byte = p.bytes_done / elapsed
    eta: float | None = None
    if p.finished:
        eta = 0.0
    elif p.bytes_total and p.bytes_done and per_byte > 0:
        eta = max(0.0, (p.bytes_total - p.bytes_done) / per_byte)
    elif p.objects_total is not None and p.objects_done and per_object > 0:
        eta = max(0.0, (p.objects_total - p.objects_done) / per_object)
    return Rates(per_object, per_byte, eta)


def human_bytes(n: float) -> str:
    """``1234567`` -> ``1.2 MB`` (decimal units, as rich and most tools show sizes)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def human_duration(seconds: float) -> str:
    """``35`` -> ``35 s``, ``250`` -> ``4 min``, ``7500`` -> ``2 h 5 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def describe(p: Progress, now: float) -> str:
    """One line for people: ``exporting 41,200 of 100,011 objects (1.2 GB of 3.4 GB), ETA
    4 min``; a wait reads ``waiting for <what>, 2 min so far``.  Pure."""
    if p.phase == "wait":
        return f"{p.label} {p.current}, {human_duration(now - p.started)} so far"
    counts = f"{p.objects_done:,}"
    if p.objects_total is not None:
        counts += f" of {p.objects_total:,}"
    text = f"{p.label} {counts} {p.unit}"
    if p.bytes_total:
        text += f" ({human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)})"
    elif p.bytes_done:
        text += f" ({human_bytes(p.bytes_done)})"
    if p.finished:
        return f"{text}, done in {human_duration(now - p.started)}"
    eta = rates(p, now).eta_s
    return f"{text}, ETA {human_duration(eta)}" if eta is not None else text


class ProgressLog:
    """A ``ProgressCallback`` that logs a ``progress`` event (counts, rates, ETA) at most once
    every ``interval`` seconds, and always when a phase finishes; thread-safe.

    Args:
        interval: seconds between two lines.
        clock: the monotonic clock.
    """

    def __init__(self, interval: float = DEFAULT_INTERVAL_SECONDS, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()

    def __call__(self, p: Progress) -> None:
        now = self._clock()
        with self._lock:
            if not p.finished and now - self._last < self.interval:
                return
            self._last = now
        r = rates(p, now)
        log.info("progress", phase=p.phase, objects_done=p.objects_done,
                 objects_total=p.objects_total, bytes_done=p.bytes_done,
                 bytes_total=p.bytes_total, objects_per_s=round(r.objects_per_s, 2),
                 bytes_per_s=round(r.bytes_per_s), eta_s=None if r.eta_s is None
                 else round(r.eta_s), finished=p.finished, detail=describe(p, now))
