"""The progress display on a terminal, and the choice between it and progress log lines.

Owns: ``TerminalProgress`` (rich's live display on stderr, one line per phase of work: what
it does, a bar, objects and bytes done of their totals, the rate and the time left; log lines
print above it meanwhile, and a question can be asked with the display paused) and
``progress_output`` (on a terminal, unless asked not to, the display; otherwise
``aip.progress.ProgressLog``'s ``progress`` events, which the log level shows or hides).

Only entry points use this module (``aip.cli``, ``daemon.cli``); it is the only one that
imports rich.  Nothing is drawn, and no escape code is written, when the stream is not a
terminal (or the terminal is ``TERM=dumb``).

Must not: decide what a command does, or be imported by library code.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO, TypeVar

from rich.console import Console
from rich.file_proxy import FileProxy
from rich.progress import BarColumn, TaskID, TextColumn
from rich.progress import Progress as RichProgress

from aip import logconfig
from aip.progress import (
    DEFAULT_INTERVAL_SECONDS,
    Progress,
    ProgressLog,
    human_bytes,
    human_duration,
    rates,
    reporting,
)

__all__ = ["TerminalProgress", "is_terminal", "progress_output"]

_T = TypeVar("_T")


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal that can show a live display."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not Console(file=stream).is_dumb_terminal


class TerminalProgress:
    """A live display of the phases reported to it (a ``ProgressCallback``), thread-safe.

    Args:
        stream: the terminal (stderr).
        clock: the monotonic clock the meters use.
    """

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = Console(file=stream)
        self._clock = clock
        self._bar = RichProgress(
            TextColumn("{task.description}"), BarColumn(bar_width=30),
            TextColumn("{task.fields[counts]}"), TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"), console=self.console, transient=False,
            redirect_stdout=False, redirect_stderr=False)
        self._tasks: dict[int, TaskID] = {}
        self._lock = threading.Lock()
        #: Log lines written here appear above the display.
        self.log_stream: TextIO = FileProxy(self.console, stream)  # type: ignore[assignment]

    def start(self) -> None:
        self._bar.start()

    def stop(self) -> None:
        """Draw the last state and leave it on the screen, the cursor below it."""
        self._bar.stop()

    def paused(self, ask: Callable[[str], _T]) -> Callable[[str], _T]:
        """``ask`` (a question on the terminal) with the display stopped while it runs."""

        def wrapped(question: str) -> _T:
            self._bar.stop()
            try:
                return ask(question)
            finally:
                self._bar.start()

        return wrapped

    def __call__(self, p: Progress) -> None:
        now = self._clock()
        with self._lock:
            task = self._tasks.get(p.serial)
            if task is None:
                task = self._bar.add_task(p.label, total=None, counts="", rate="", eta="")
                self._tasks[p.serial] = task
        if p.phase == "wait":
            if p.finished:
                self._bar.remove_task(task)
            else:
                self._bar.update(task, description=f"{p.label} {p.current}",
                                 eta=f"{human_duration(now - p.started)}")
            return
        by_bytes = bool(p.bytes_total)
        done = p.bytes_done if by_bytes else p.objects_done
        total = p.bytes_total if by_bytes else p.objects_total
        counts = f"{p.objects_done:,}"
        if p.objects_total is not None:
            counts += f"/{p.objects_total:,}"
        counts += f" {p.unit}"
        if p.bytes_total:
            counts += f"  {human_bytes(p.bytes_done)}/{human_bytes(p.bytes_total)}"
        r = rates(p, now)
        rate = (f"{human_bytes(r.bytes_per_s)}/s" if p.bytes_done
                else f"{r.objects_per_s:,.1f} {p.unit}/s")
        if p.finished:
            eta = f"done in {human_duration(now - p.started)}"
        else:
            eta = f"ETA {human_duration(r.eta_s)}" if r.eta_s is not None else ""
        self._bar.update(task, completed=done, total=total, counts=counts, rate=rate, eta=eta)


@contextlib.contextmanager
def progress_output(stream: TextIO, *, display: bool = True,
                    interval: float = DEFAULT_INTERVAL_SECONDS
                    ) -> Iterator[TerminalProgress | None]:
    """Render the progress of the work done inside the block.

    Args:
        stream: where a display would go (stderr).
        display: False for ``--no-progress``/``-q``.
        interval: seconds between two ``progress`` log lines when there is no display.

    Yields:
        The display (to pause it around a question), or None when progress goes to the log.
    """
    if display and is_terminal(stream):
        view = TerminalProgress(stream)
        view.start()
        try:
            with logconfig.routed_to(view.log_stream), reporting(view):
                yield view
        finally:
            view.stop()
        return
    with reporting(ProgressLog(interval)):
        yield None
