"""The staging watcher: new and changed zips in staging are mirrored within seconds.

Owns: the watchdog event handler (its callbacks only put a file name on a queue; docs/style.md T1),
``Debouncer`` (pure: a batch is due after ``debounce_seconds`` of quiet since its last event),
and ``Watcher``, which runs two threads, each with the shared stop ``Event`` and joined on
``stop()``:

- watchdog's observer thread (inotify on Linux), feeding the queue;
- the mirror worker thread: drains the queue, waits for the quiet period, then calls
  ``mirror(names)``; on start and every ``scan_interval_seconds`` it calls ``scan()`` (a
  comparison of staging with the state database, the truth; docs/style.md T2) and mirrors whatever
  that finds, so events lost to a queue overflow or a restart heal themselves.

Temporary names (``aip.files.is_temp_name``, e.g. the exporter's own folder and
``atomic_write``'s files), hidden files, non-zips and sub-folders are ignored: the exporter
renames finished zips into staging, so the watcher never sees a partial one.

Must not: upload or hash inside a watchdog callback, or let an exception from ``mirror`` or
``scan`` end the worker (it is logged; the next scan retries).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from aip import constants as C
from daemon.sync.layout import is_staged_name

__all__ = ["Debouncer", "StagingEventHandler", "Watcher", "is_staged_name"]

log = structlog.get_logger(__name__)

#: Longest wait of the worker, so it notices ``stop`` even without an event.
_MAX_WAIT = 0.5


class StagingEventHandler(FileSystemEventHandler):
    """Puts the name of each created, written, closed or renamed-in zip on ``out``."""

    def __init__(self, staging_dir: Path, out: queue.Queue[str | None]) -> None:
        super().__init__()
        # The same spelling the observer is scheduled with (watchdog reports paths under the
        # watched path as given, symlinks unresolved).
        self._dir = os.path.abspath(staging_dir)
        self._out = out

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        path = event.dest_path if event.event_type == "moved" else event.src_path
        text = path.decode() if isinstance(path, bytes) else str(path)
        folder, _, name = text.rpartition("/")
        if folder == self._dir and is_staged_name(name):
            self._out.put(name)


class Debouncer:
    """Collects names; the batch is due once ``quiet`` seconds passed since the last add."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self._names: set[str] = set()
        self._last = 0.0

    def add(self, name: str, now: float) -> None:
        self._names.add(name)
        self._last = now

    @property
    def pending(self) -> bool:
        return bool(self._names)

    def wait_time(self, now: float) -> float | None:
        """Seconds until the batch is due (None: nothing pending)."""
        if not self._names:
            return None
        return max(0.0, self._last + self.quiet - now)

    def take_due(self, now: float) -> set[str]:
        """The batch, if it is due (and then forget it); else an empty set."""
        if self._names and now - self._last >= self.quiet:
            names, self._names = self._names, set()
            return names
        return set()


class Watcher:
    """The observer thread plus the mirror worker thread, stoppable and joinable.

    Args:
        staging_dir: the folder to watch (created if missing).
        mirror: uploads the given staged names (called on the worker thread).
        scan: returns staged names that are not in the target (called on the worker thread).
        debounce_seconds: quiet time after the last event before ``mirror`` runs.
        scan_interval_seconds: time between two healing scans (the first runs at start).
        clock: monotonic seconds (injectable).
    """

    def __init__(self, staging_dir: Path, *, mirror: Callable[[set[str]], None],
                 scan: Callable[[], Iterable[str]], debounce_seconds: float,
                 scan_interval_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.staging_dir = Path(staging_dir)
        self._mirror = mirror
        self._scan = scan
        self._debounce = Debouncer(debounce_seconds)
        self._interval = float(scan_interval_seconds)
        self._clock = clock
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.stop_event = threading.Event()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._worker: threading.Thread | None = None
        self.scans = 0
        self.batches = 0

    def start(self) -> None:
        """Start watching and the worker (the first scan runs at once)."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        observer = Observer()
        observer.schedule(StagingEventHandler(self.staging_dir, self._queue),
                          os.path.abspath(self.staging_dir), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._worker = threading.Thread(target=self._work, name="aipsync-watch-mirror")
        self._worker.start()
        log.info("watch.started", staging=str(self.staging_dir),
                 debounce_s=self._debounce.quiet, scan_interval_s=self._interval)

    def stop(self) -> None:
        """Ask both threads to stop (returns at once; ``join`` waits)."""
        self.stop_event.set()
        self._queue.put(None)
        if self._observer is not None:
            self._observer.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads; True when they ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._observer, self._worker):
            if thread is None:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        alive = any(t is not None and t.is_alive() for t in (self._observer, self._worker))
        if not alive:
            log.info("watch.stopped")
        return not alive

    @property
    def alive(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    # --- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        next_scan = self._clock()
        while not self.stop_event.is_set():
            now = self._clock()
            waits = [next_scan - now, _MAX_WAIT]
            due_in = self._debounce.wait_time(now)
            if due_in is not None:
                waits.append(due_in)
            timeout = max(0.0, min(waits))
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else \
                    self._queue.get_nowait()
                while True:
                    if item is not None:
                        self._debounce.add(item, self._clock())
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            if self.stop_event.is_set():
                break
            now = self._clock()
            batch = self._debounce.take_due(now)
            if batch:
                self.batches += 1
                log.info("watch.batch", files=len(batch))
                self._call(self._mirror, batch)
            if self._clock() >= next_scan:
                self.scans += 1
                found = self._call_scan()
                if found and not self.stop_event.is_set():
                    log.info("watch.scan.found", files=len(found))
                    self._call(self._mirror, found)
                next_scan = self._clock() + self._interval

    def _call(self, fn: Callable[[set[str]], None], names: set[str]) -> None:
        try:
            fn(names)
        except Exception as exc:  # logged; the next scan retries (T2)
            log.error("watch.mirror.failed", error=str(exc), msgid=type(exc).__qualname__,
                      exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))

    def _call_scan(self) -> set[str]:
        try:
            return set(self._scan())
        except Exception as exc:
            log.error("watch.scan.failed", error=str(exc), msgid=type(exc).__qualname__,
                      exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))
            return set()
