"""Worker processes of the packager: how many, how they start, and how they end.

Owns: the worker count (``--workers``: 0 = one per CPU, at most ``MAX_WORKERS``; 1 = all in
the calling process; none below ``PARALLEL_MIN_ITEMS`` packages, where starting them costs
more than they save), the pool (started by a fork server, never forked from the calling
process, which holds database connections a child must not share), its end (``end_pool``:
the fork server stops with the last pool) and a worker's initialiser, which ends it when the
calling process ends, however that ends.

Export (``disseminator`` with ``zipwriter``'s task) and ingest (``ingester`` with
``prepare``'s task) both use it; this module imports neither.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from aip import heap

#: Worker processes are used from this many packages up, at most MAX_WORKERS of them.
PARALLEL_MIN_ITEMS = 64
MAX_WORKERS = 4


def worker_count(requested: int, packages: int) -> int:
    """How many worker processes for ``packages`` packages (1: none, work in this process)."""
    if requested == 1 or packages < PARALLEL_MIN_ITEMS:
        return 1
    if requested > 1:
        return requested
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


#: Pools started and not yet ended (``end_pool``), and the lock around the set.
_live_pools: set[ProcessPoolExecutor] = set()
_live_lock = threading.Lock()


def process_pool(workers: int, *, preload: Sequence[str],
                 warm_up: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes started by a fork server; end it with ``end_pool``.

    The fork server imports the ``preload`` modules (the workers' task, without the database
    layer) once; every worker is started at once on a thread of this process with a
    ``warm_up`` task, so the workers are ready while this process goes on (``submit`` is
    thread-safe; the pool's shutdown waits for a start under way).
    """
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
        else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(list(preload))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=start_worker)
    with _live_lock:
        _live_pools.add(pool)
    threading.Thread(target=_start_workers, args=(pool, workers, warm_up or _nothing),
                     name="aipsync-workers-start", daemon=True).start()
    return pool


def end_pool(pool: ProcessPoolExecutor, *, cancel: bool = True) -> None:
    """Shut ``pool`` down (waiting for its workers; ``cancel``: its tasks not started are
    dropped) and, when no other pool is alive, stop the fork server too.

    The fork server holds the preloaded modules (26 MiB) for as long as this process lives
    unless it is stopped; a backup goes on to mirror, and the service to its next cycle,
    without needing it.  The next pool starts a new one (a fraction of a second, with that
    pool's own preloads).  ``ForkServer._stop`` is the standard library's own way to stop it
    (``Lib/multiprocessing/forkserver.py``, there since Python 3.8, used by its tests): it
    closes the server's "alive" pipe and reaps it.  The resource tracker is left running:
    stopping it while the pool's semaphores are still referenced makes it report them as
    leaked, and start again when they are released.
    """
    try:
        pool.shutdown(wait=True, cancel_futures=cancel)
    finally:
        with _live_lock:
            _live_pools.discard(pool)
            if not _live_pools:
                _stop_fork_server()


def _stop_fork_server() -> None:
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None:
        with contextlib.suppress(OSError):
            stop()


def _nothing() -> None:
    """A warm-up task that only starts the worker."""


def _start_workers(pool: ProcessPoolExecutor, workers: int,
                   warm_up: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the work already ended (shut down)
        for _ in range(workers):
            pool.submit(warm_up)


def start_worker() -> None:
    """A worker process's initialiser: keep its heap trimmed (``aip.heap``), and end this
    worker as soon as the process that started the pool ends, however it ends (``kill -9``
    included).

    A worker's parent process is the fork server, not the process that started the pool, so
    a parent-death signal would not fire; the worker watches instead the pipe
    multiprocessing gives it to that process (``multiprocessing.parent_process().sentinel``),
    whose other end only that process holds: it reads end-of-file when that process is gone,
    and a daemon thread then exits the worker at once.  Without this, a worker blocked on
    its task queue (whose writing end it holds itself) would live on, and keep the fork
    server and the resource tracker alive with it.
    """
    heap.keep_trimmed()  # a worker lives as long as its pool, freeing what each task made
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    sentinel = parent.sentinel

    def watch() -> None:
        multiprocessing.connection.wait([sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="aipsync-worker-lifeline", daemon=True).start()
