"""A worker process of the packager: runs the tasks its pool sends, one after the other.

``aip.packager.pool`` starts it as ``python -m aip.packager.worker TASKS RESULTS``: the two
numbers are the ends of two pipes it inherits, one it reads tasks from, one it writes results
to.  Every message on either pipe is a frame, an 8-byte big-endian length and that many bytes
of pickle, so a message that cannot be unpickled is skipped whole and the next one still
starts where the reader expects it.

The first frame is the set-up: the calling process's ``sys.path`` and the modules to import
(the task's, without the database layer).  Each later frame is a task, ``(function, args)``;
its reply is ``(True, result, None)`` or ``(False, exception, traceback text)``.

The worker ends when the task pipe's writing end is closed, at once, whatever it is doing: a
watching thread sees the pipe hang up (``poll``'s ``POLLHUP``).  Only the process that
started it holds that end, and closes it when it has every reply it waits for (the pool's
shutdown) or when it is gone, however that ended (``kill -9`` included).  Ctrl-C is
left to that process (a terminal sends it to the whole process group); the pool ends its
workers in order.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import IO, Any

#: A frame's length prefix.
LENGTH = struct.Struct(">Q")


def frame(message: object) -> bytes:
    """``message`` pickled, with its length in front (raises what pickling raises)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(data)) + data


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's bytes from ``stream``, or None at end of file before one starts.
    Raises EOFError when the stream ends inside a frame."""
    head = stream.read(LENGTH.size)
    if not head:
        return None
    if len(head) < LENGTH.size:
        raise EOFError("the pipe ended inside a frame's length")
    (size,) = LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the pipe ended inside a frame")
    return data


def reply_for(function: Any, args: Sequence[Any]) -> bytes:
    """Run one task and frame its reply; an exception or a result that cannot be pickled
    becomes an error reply naming it."""
    try:
        reply: tuple[bool, Any, str | None] = (True, function(*args), None)
    except BaseException as exc:  # the task's failure is the caller's to raise
        reply = (False, exc, traceback.format_exc())
    try:
        return frame(reply)
    except Exception as exc:  # the result or the exception does not pickle
        what = "result" if reply[0] else f"exception {reply[1]!r}"
        return frame((False, TypeError(f"the task's {what} cannot be sent back: {exc}"),
                      reply[2] or traceback.format_exc()))


def _end_with_parent(tasks: int) -> None:
    """Exit at once when the task pipe's writing end (held only by the process that started
    this worker) is closed while a task runs."""

    def watch() -> None:
        poller = select.poll()
        poller.register(tasks, select.POLLHUP)  # never POLLIN: no wake-up per task
        while True:
            for _, events in poller.poll():
                if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    os._exit(1)

    threading.Thread(target=watch, name="aipsync-worker-lifeline", daemon=True).start()


def serve(tasks: IO[bytes], results: IO[bytes]) -> None:
    """Read the set-up, then run tasks until the pool closes the task pipe."""
    from aip import heap

    setup = read_frame(tasks)
    if setup is None:
        return
    path, preload = pickle.loads(setup)
    sys.path[:] = path
    for name in preload:
        importlib.import_module(name)
    heap.keep_trimmed()  # a worker lives as long as its pool, freeing what each task made
    while (data := read_frame(tasks)) is not None:
        try:
            function, args = pickle.loads(data)
        except Exception as exc:  # e.g. the task's module does not import here
            reply = frame((False, exc, traceback.format_exc()))
        else:
            reply = reply_for(function, args)
        results.write(reply)
        results.flush()


def main(argv: Sequence[str]) -> int:
    tasks_fd, results_fd = (int(a) for a in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent(tasks_fd)
    with open(tasks_fd, "rb") as tasks, open(results_fd, "wb") as results:
        try:
            serve(tasks, results)
        except BrokenPipeError:  # the pool stopped reading: it is gone or going
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
