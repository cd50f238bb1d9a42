"""Worker processes of the packager: how many, how they start, and how they end.

Owns: the worker count (``--workers``: 0 = one per CPU, at most ``MAX_WORKERS``; 1 = all in
the calling process; none below ``PARALLEL_MIN_ITEMS`` packages, where starting them costs
more than they save) and the pool (``WorkerPool``): a task is a module-level function and
its arguments, sent to a worker process, its reply a ``concurrent.futures.Future``.

Each worker is a fresh interpreter (``python -m aip.packager.worker``, whose docstring gives
the protocol) that imports only the task's modules: never a fork of the calling process,
which holds database connections a child must not share, and a large heap a child would
count as its own.  The pool is its own rather than the standard library's process pool,
whose start methods cost the process tree a process or two beside the workers (the fork
server, itself holding the preloaded modules, and multiprocessing's resource tracker): the
tree's memory is what an operator's limits count.  The workers get the calling process's
``sys.path`` and an environment holding only what an interpreter needs (``CHILD_ENV``), so
no credential given to aipsync through its environment reaches them.  A worker ends when
the calling process ends, however that ends (``kill -9`` included; the worker's docstring
says how).

Export (``disseminator`` with ``zipwriter``'s task) and ingest (``ingester`` with
``prepare``'s task) both use it; this module imports neither.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import queue
import select
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aip
from aip.errors import WorkerLostError
from aip.packager import worker as protocol

#: Worker processes are used from this many packages up, at most MAX_WORKERS of them.
PARALLEL_MIN_ITEMS = 64
MAX_WORKERS = 4
#: Tasks sent to one worker and not yet answered: one running, one waiting in its pipe, so a
#: worker never waits for the round trip to the calling process between two tasks.  A task
#: is sent ahead only when its frame fits in the task pipe (``_Worker.room``): a worker busy
#: writing a long reply reads no task, and a writer waiting for room would never read that
#: reply.
IN_FLIGHT = 2
#: Environment variables a worker keeps: these names, and those starting with one of
#: ``CHILD_ENV_PREFIXES``; the rest, credentials among them, stay with the calling process.
CHILD_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "VIRTUAL_ENV",
             "LD_LIBRARY_PATH")
CHILD_ENV_PREFIXES = ("LC_", "PYTHON", "COVERAGE_")


def worker_count(requested: int, packages: int) -> int:
    """How many worker processes for ``packages`` packages (1: none, work in this process)."""
    if requested == 1 or packages < PARALLEL_MIN_ITEMS:
        return 1
    if requested > 1:
        return requested
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


class RemoteTraceback(Exception):
    """The traceback of a task's exception in its worker (the exception's ``__cause__``)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f"\n\"\"\"\n{self.text}\"\"\""


@dataclass
class _Task:
    future: Future[Any]
    function: Callable[..., Any]
    args: tuple[Any, ...]


@dataclass
class _Worker:
    """One worker process, the two pipes to it and the thread that feeds it."""

    process: subprocess.Popen[bytes]
    tasks: IO[bytes]
    results: IO[bytes]
    #: the task pipe's capacity: a frame this long is written whole while the worker writes
    room: int = select.PIPE_BUF
    thread: threading.Thread | None = None
    in_flight: deque[_Task] = field(default_factory=deque)
    #: a task taken but too long to send ahead, sent when the worker has answered the rest
    held: tuple[_Task, bytes] | None = None


def worker_environment(environ: Mapping[str, str], package_root: str) -> dict[str, str]:
    """What a worker's environment holds: the ``CHILD_ENV`` variables of ``environ``, and a
    ``PYTHONPATH`` that finds this ``aip`` first (``package_root``, the folder holding it)."""
    kept = {k: v for k, v in environ.items()
            if k in CHILD_ENV or k.startswith(CHILD_ENV_PREFIXES)}
    kept["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, environ.get("PYTHONPATH", "")) if p)
    return kept


class WorkerPool:
    """``workers`` worker processes, fed from one queue in submission order.

    ``submit`` is thread-safe.  Each worker is started at once (its imports run while this
    process goes on) and given ``warm_up`` as its first task.  When a worker ends during a
    task, that task, every task queued and every later ``submit`` raise ``WorkerLostError``;
    the other workers finish what they hold.  ``shutdown`` waits for the tasks under way.
    """

    def __init__(self, workers: int, *, preload: Sequence[str],
                 warm_up: Callable[[], None] | None = None) -> None:
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._lost: str | None = None
        self._workers: list[_Worker] = []
        setup = protocol.frame((list(sys.path), list(preload)))
        first = protocol.frame((warm_up or _nothing, ()))
        try:
            for _ in range(workers):
                self._workers.append(_start(setup + first))
        except BaseException:
            for started in self._workers:
                _stop(started)
            raise
        for number, w in enumerate(self._workers, 1):
            w.in_flight.append(_Task(Future(), _nothing, ()))  # the warm-up's reply
            w.in_flight[0].future.set_running_or_notify_cancel()
            w.thread = threading.Thread(target=self._feed, args=(w,), daemon=True,
                                        name=f"aipsync-worker-{number}")
            w.thread.start()

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [w.process.pid for w in self._workers]

    def submit(self, function: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Queue ``function(*args)`` for the next free worker; its future."""
        with self._lock:
            if self._lost is not None:
                raise WorkerLostError(self._lost)
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            future: Future[Any] = Future()
            self._queue.put(_Task(future, function, args))
            return future

    def shutdown(self, *, cancel_futures: bool = True) -> None:
        """Stop taking tasks (``cancel_futures``: drop those not started), wait for the
        workers to answer what they hold, and end them."""
        with self._lock:
            if not self._closed:
                self._closed = True
                if cancel_futures:
                    self._drain(lambda task: task.future.cancel())
                for _ in self._workers:
                    self._queue.put(None)
        for w in self._workers:
            if w.thread is not None:
                w.thread.join()

    # -- the feeding threads -------------------------------------------------------------------
    def _feed(self, w: _Worker) -> None:
        """Send ``w`` tasks (``IN_FLIGHT`` at a time) and settle their futures, until the
        pool shuts down or the worker is lost."""
        try:
            stopping = False
            while w.in_flight or w.held or not stopping:
                if w.held is not None and not w.in_flight:
                    self._write(w, *w.held)
                    w.held = None
                while w.held is None and not stopping and len(w.in_flight) < IN_FLIGHT:
                    try:
                        task = self._queue.get(block=not w.in_flight)
                    except queue.Empty:
                        break
                    if task is None:
                        stopping = True
                    elif task.future.set_running_or_notify_cancel():
                        data = self._frame(task)
                        if data is None:
                            continue
                        if w.in_flight and len(data) > w.room:
                            w.held = (task, data)  # sent once the worker has answered
                        else:
                            self._write(w, task, data)
                if w.in_flight:
                    reply = protocol.read_frame(w.results)
                    if reply is None:  # the worker is gone: its tasks stay held, and fail
                        raise EOFError("the worker closed its result pipe")
                    self._settle(w.in_flight.popleft(), reply)
        except (OSError, EOFError) as exc:
            self._lose(w, exc)
        except BaseException as exc:  # a fault of this pool: fail what waits, never hang
            self._lose(w, exc)
            raise
        finally:
            _stop(w)

    @staticmethod
    def _frame(task: _Task) -> bytes | None:
        """The task's frame, or None when it does not pickle (its future then fails)."""
        try:
            return protocol.frame((task.function, task.args))
        except Exception as exc:  # arguments that do not pickle: this task's failure
            task.future.set_exception(exc)
            return None

    @staticmethod
    def _write(w: _Worker, task: _Task, data: bytes) -> None:
        w.in_flight.append(task)
        w.tasks.write(data)
        w.tasks.flush()

    @staticmethod
    def _settle(task: _Task, data: bytes) -> None:
        try:
            ok, value, remote = pickle.loads(data)
        except Exception as exc:  # e.g. an exception class that does not import here
            task.future.set_exception(exc)
            return
        if ok:
            task.future.set_result(value)
            return
        if isinstance(value, BaseException) and remote:
            value.__cause__ = RemoteTraceback(remote)
        task.future.set_exception(value)

    def _lose(self, w: _Worker, cause: BaseException) -> None:
        """``w`` ended or failed: fail its tasks, every task queued and every later one."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            w.process.wait(timeout=5)
        detail = f"(pid {w.process.pid}) ended during a task: {_ending(w.process, cause)}"
        error = WorkerLostError(detail)
        with self._lock:
            if self._lost is None:
                self._lost = detail
            self._drain(lambda task: task.future.set_exception(error))
            for _ in self._workers:  # wake the other feeders: no task will come
                self._queue.put(None)
        held, w.held = w.held, None
        for task in [*w.in_flight, *([held[0]] if held else [])]:
            if not task.future.done():
                task.future.set_exception(error)
        w.in_flight.clear()

    def _drain(self, settle: Callable[[_Task], object]) -> None:
        """Take every task still queued and ``settle`` it (sentinels are put back)."""
        sentinels = 0
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                break
            if task is None:
                sentinels += 1
            else:
                settle(task)
        for _ in range(sentinels):
            self._queue.put(None)


def _nothing() -> None:
    """A warm-up task that only starts the worker."""


def _start(first_frames: bytes) -> _Worker:
    """Start one worker with its pipes, and queue its set-up and warm-up frames."""
    if not sys.executable:
        raise WorkerLostError("could not be started: no Python interpreter is known "
                              "(sys.executable is empty)")
    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    root = str(Path(aip.__file__).resolve().parent.parent)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "aip.packager.worker", str(task_read), str(result_write)],
            pass_fds=(task_read, result_write), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, env=worker_environment(os.environ, root))
    except OSError as exc:
        for fd in (task_read, task_write, result_read, result_write):
            os.close(fd)
        raise WorkerLostError(f"could not be started: {exc}") from exc
    os.close(task_read)
    os.close(result_write)
    w = _Worker(process=process, tasks=open(task_write, "wb"),  # noqa: SIM115 (closed by _stop)
                results=open(result_read, "rb"), room=_capacity(task_write))  # noqa: SIM115
    w.tasks.write(first_frames)  # a pipe holds them until the worker reads them
    w.tasks.flush()
    return w


def _capacity(fd: int) -> int:
    """How many bytes the pipe ``fd`` holds (Linux's ``F_GETPIPE_SZ``; else ``PIPE_BUF``,
    the least any pipe holds)."""
    get_size = getattr(fcntl, "F_GETPIPE_SZ", None)
    if get_size is None:
        return select.PIPE_BUF
    try:
        return max(select.PIPE_BUF, fcntl.fcntl(fd, get_size))
    except OSError:
        return select.PIPE_BUF


def _stop(w: _Worker) -> None:
    """Close ``w``'s pipes (the worker ends on that) and reap it."""
    with contextlib.suppress(OSError):
        w.tasks.close()
    with contextlib.suppress(OSError):
        w.results.close()
    try:
        w.process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # stuck past its lifeline: not left behind
        w.process.kill()
        w.process.wait()


def _ending(process: subprocess.Popen[bytes], cause: BaseException) -> str:
    code = process.poll()
    if code is None:
        return f"{type(cause).__name__}: {cause}"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        return f"killed by signal {-code}"
    return f"exit status {code}"


def process_pool(workers: int, *, preload: Sequence[str],
                 warm_up: Callable[[], None] | None = None) -> WorkerPool:
    """A pool of ``workers`` processes importing ``preload``; end it with ``end_pool``."""
    return WorkerPool(workers, preload=preload, warm_up=warm_up)


def end_pool(pool: WorkerPool, *, cancel: bool = True) -> None:
    """Shut ``pool`` down: its tasks not started dropped (``cancel``), those under way waited
    for, its workers ended and reaped."""
    pool.shutdown(cancel_futures=cancel)
