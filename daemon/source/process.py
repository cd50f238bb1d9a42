"""Running a repository's command line: a child process, logged line by line, within a timeout.

Owns: ``run_logged`` (the child in its own session and process group, stdin ``/dev/null``
(never a terminal), only the environment it is given, every output line made printable,
redacted and logged, killed with its whole group on timeout or stop), ``child_environment``
(the few variables a DSpace child gets from aipsync's environment) and ``redact_line`` (masks
what looks like a credential in a line the child printed).

Must not: pass a credential to the child or into a log line.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO

import structlog

from daemon.core.errors import SourceError, StopRequestedError
from daemon.core.stop import StopFlag

__all__ = ["LineSink", "child_environment", "printable", "redact_line", "run_logged"]

log = structlog.get_logger(__name__)

#: ``scheme://user:password@`` and ``password=...``-like words in a child's output.
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@", re.I)


_KEY_VALUE_SECRET = re.compile(
    r"(?P<head>\b[\w.-]*(?:password|passwd|secret|token)[\w.-]*\s*[=:]\s*)[^\s,;]+", re.I)


#: Longest output line kept in a log event (a stack trace line can be huge).
_MAX_LINE = 2000


#: Longest output line handed to a ``LineSink`` (a result line is short; garbage is cut).
_MAX_PARSED_LINE = 65_536


#: Control characters (ANSI escapes, NUL, a lone CR...) are shown as ``\xNN`` in logs.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


#: What a DSpace child inherits from aipsync's environment (besides ``repository.dspace_env``):
#: the search path (DSpace's bin/dspace runs ``java`` from it), home, locale, the JVM's
#: settings and DSpace's own variables.  Never the target's credentials.
_PASSED_NAMES = frozenset({"PATH", "HOME", "LANG", "JAVA_HOME", "JAVA_OPTS"})
_PASSED_PREFIXES = ("LC_", "DSPACE_")


#: Receives each output line of the child: (``stdout`` or ``stderr``, the line).
LineSink = Callable[[str, str], None]


#: Lines of output kept for the error message of a failed call.
_TAIL_LINES = 5


#: Seconds between SIGTERM and SIGKILL when a child must go.
_KILL_GRACE = 10.0


_POLL = 0.2


def redact_line(line: str) -> str:
    """A child's output line with URL passwords and ``password=...`` values masked.

    The child (DSpace) is not ours: its lines go into the log, the state database and error
    messages, so anything that looks like a credential is replaced by ``***`` first.
    """
    line = _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", line)
    return _KEY_VALUE_SECRET.sub(lambda m: f"{m['head']}***", line)


def child_environment(environ: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """The environment of a DSpace child: PATH, HOME, LANG, LC_*, JAVA_HOME, JAVA_OPTS,
    DSPACE_* and the ``extra`` names, taken from ``environ`` where set.  Pure.

    ``repository.dspace_env`` (the ``extra``) cannot name AWS_* or AIPSYNC_* variables (the
    configuration refuses them), so the target's credentials never reach the child.
    """
    wanted = set(extra)
    return {name: value for name, value in environ.items()
            if name in _PASSED_NAMES or name in wanted or name.startswith(_PASSED_PREFIXES)}


def printable(line: str) -> str:
    """``line`` with control characters written as ``\\xNN`` (for logs and messages)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)


def _pump(stream: IO[str], name: str, source: str, tail: collections.deque[str],
          sink: LineSink | None) -> None:
    """Log each line of a child's output stream (a reader thread; ends at EOF)."""
    for raw in stream:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        shown = redact_line(printable(line[:_MAX_LINE]))
        tail.append(shown)
        if sink is not None:
            sink(name, line[:_MAX_PARSED_LINE])
        log.info("source.dspace.output", stream=name, line=shown, source=source)


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the child's process group, then SIGKILL it after a grace period."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=_KILL_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


#: The guard of a child process group: it waits for its standard input to end.  "done"
#: first means the child was dealt with; an end without it means aipsync died (kill -9
#: included), and then the group goes: SIGTERM, and SIGKILL after the grace period.
_GUARD = """
import os, signal, sys, time
group, grace = int(sys.argv[1]), float(sys.argv[2])
if sys.stdin.read() != "done":
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
"""


def _guard(group: int) -> subprocess.Popen[str] | None:
    """A process that ends the child's group if this process ends first, however it ends:
    the child runs in a session of its own (so that it can be stopped as a whole), where
    no signal of ours reaches it.  None if it cannot be started (the child then runs
    unguarded, as before: a warning says so)."""
    try:
        return subprocess.Popen([sys.executable, "-I", "-c", _GUARD, str(group),
                                 str(_KILL_GRACE)], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                text=True, env={}, start_new_session=True, close_fds=True)
    except OSError as exc:
        log.warning("source.dspace.unguarded", error=str(exc),
                    detail="the DSpace process would outlive a killed aipsync")
        return None


def _release(guard: subprocess.Popen[str] | None) -> None:
    """The child is dealt with: the guard leaves it alone and ends."""
    if guard is None or guard.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, OSError):
        guard.stdin.write("done")
        guard.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        guard.wait(timeout=5)


def run_logged(argv: Sequence[str], *, source: str, timeout: float, env: Mapping[str, str],
               stop: StopFlag | None = None, what: str = "command", check: bool = True,
               sink: LineSink | None = None) -> int:
    """Run ``argv``, logging every output line, within ``timeout`` seconds.

    The child runs in its own session (so its whole process group, e.g. DSpace's JVM, can
    be stopped), with stdin ``/dev/null`` (a question finds the end of input at once, never
    a terminal) and exactly the environment ``env``.

    Args:
        argv: the command line (logged; it must hold no secret).
        source: names the source in logs and errors.
        timeout: seconds before the child is killed.
        env: the child's whole environment (``child_environment``).
        stop: when set, the child is terminated and ``StopRequestedError`` raised.
        what: what the command does, for messages.
        check: raise ``SourceError`` on a non-zero exit.
        sink: receives every non-blank output line, as printed (cut at 64 KiB), with its
            stream's name; called from the reader threads, one stream each.

    Returns:
        The exit code.

    Raises:
        SourceError: the command is missing, timed out, or (``check``) exited non-zero.
        StopRequestedError: ``stop`` was set.
    """
    log.info("source.dspace.start", argv=[redact_line(a) for a in argv], what=what,
             timeout_s=timeout, env=sorted(env))
    started = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                env=dict(env), start_new_session=True)
    except OSError as exc:
        raise SourceError(source=source,
                          detail=f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    guard = _guard(proc.pid)
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    assert proc.stdout is not None and proc.stderr is not None
    readers = [threading.Thread(target=_pump, args=(stream, name, source, tail, sink),
                                name=f"aipsync-dspace-{name}", daemon=True)
               for stream, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for reader in readers:
        reader.start()
    try:
        while True:
            try:
                rc = proc.wait(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop is not None and stop.is_set():
                log.info("source.dspace.stopping", what=what)
                _terminate(proc)
                raise StopRequestedError(what=f"the DSpace {what} finished")
            if time.monotonic() - started > timeout:
                _terminate(proc)
                raise SourceError(source=source,
                                  detail=f"{what} timed out after {timeout:g} s and was killed "
                                         "(repository.dspace_timeout)")
    except BaseException:
        if proc.poll() is None:
            _terminate(proc)
        raise
    finally:
        _release(guard)
        for reader in readers:
            reader.join(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    duration = round(time.monotonic() - started, 3)
    log.info("source.dspace.done", what=what, exit_code=rc, duration_s=duration)
    if rc != 0 and check:
        last = " | ".join(tail) or "no output"
        raise SourceError(source=source,
                          detail=f"{what} exited with code {rc}; last output: {last}")
    return rc
