"""Handing the memory the C allocator holds free back to the operating system.

Owns: ``trim`` (once, now) and ``keep_trimmed`` (a daemon thread that trims every few
seconds, started once per process).

CPython gives freed memory back to the C allocator, and glibc's ``malloc`` keeps it in its
heaps for the next allocation instead of returning it: what an import, a parsed manifest or a
finished phase freed stays resident, and a long run's heap only grows.  glibc's
``malloc_trim(0)`` returns every whole free page of every heap to the kernel (since glibc 2.8
not only at the top of a heap; see malloc_trim(3)).  A page given back and needed again
costs a page fault.  Elsewhere (musl, macOS, Windows) there is no such call and these
functions do nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import time
from collections.abc import Callable

#: Seconds between two trims of ``keep_trimmed``'s thread.
INTERVAL = 2.0

_started = threading.Lock()
#: The trimming thread of this process, once started (a child made by fork has none).
_threads: list[threading.Thread] = []


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        # The process's own symbols (libc among them): ctypes.util.find_library would run
        # ldconfig in a subprocess at every start-up.
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    trim_c: Callable[[int], int] = function
    return trim_c


def available() -> bool:
    """Whether this C library has ``malloc_trim``."""
    return _malloc_trim() is not None


def trim() -> None:
    """Return the allocator's free pages to the kernel now (nothing without glibc)."""
    function = _malloc_trim()
    if function is not None:
        function(0)


def keep_trimmed(interval: float = INTERVAL) -> None:
    """Trim now and then every ``interval`` seconds on a daemon thread, for the rest of the
    process; a second call does nothing.  For a command's process, not a library's caller."""
    if not available():
        return
    with _started:
        if _threads:
            return
        _threads.append(threading.Thread(target=_trim_forever, args=(interval,),
                                         name="aipsync-heap-trim", daemon=True))
    trim()
    _threads[0].start()


def _forget_thread() -> None:
    """In a child made by fork: the thread did not come along."""
    _threads.clear()


def _trim_forever(interval: float) -> None:
    while True:  # a daemon thread: it ends with the process
        time.sleep(interval)
        trim()


os.register_at_fork(after_in_child=_forget_thread)
