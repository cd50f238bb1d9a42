"""Monitoring hooks: Healthchecks-style pings and webhooks around a backup, an audit or a restore.

Owns: ``Hooks`` (from ``[notify]``) and ``Hooks.watch(event)``, a context manager around one
run that tells every configured hook about it:

- ``healthchecks_url``, the Healthchecks pinging API (https://healthchecks.io/docs/http_api/):
  ``<url>/start`` when the run starts, ``<url>`` when it succeeded (a warning is a success
  with its summary as the body), ``<url>/fail`` with the last error line as the body when it
  failed, ``<url>/log`` when it was stopped or skipped (the check then stays "started" and
  Healthchecks raises the alarm if nothing follows in its grace time).  Every ping of one run
  carries the same ``rid`` (run id), so runs that overlap on one check are told apart.
- ``webhook_urls``: at the end, a JSON POST with the result (``as_json()`` of the run's
  result, each per-object list cut to its first 1,000 entries: ``daemon.core.jsondoc``), the
  status, the host, the times, the error line if any, and a ``text`` line that
  Slack's and Mattermost's incoming webhooks show as the message.

Both the one-shot commands (``daemon.cli``) and the service (``daemon.service.scheduler``)
use it.  Sending is the standard library's ``urllib.request`` on daemon threads: a run never
waits for a hook while it works, and at its end waits for its notifications at most
``notify.timeout_seconds`` (every attempt included, with a short back-off between them), so
a hook that hangs or fails never blocks or fails a backup; failures are logged
(``notify.failed``).  No credential is ever sent (results hold redacted target URLs only) or
logged: a hook's URL appears in the log as scheme and host only (its path is often its token).

Must not: raise from a send, change an exit code, or log a hook's path, query or credentials.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import structlog

from aip import constants as C
from aip.logconfig import redact_text
from daemon.core import jsondoc
from daemon.core.config import NotifyConfig, redact_url
from daemon.core.errors import LockedError, StopRequestedError

__all__ = ["HookRun", "Hooks", "summarize"]

log = structlog.get_logger(__name__)

_USER_AGENT = "aipsync"
#: Healthchecks keeps at most 100 kB of a ping's body; an error line is far shorter.
_MAX_BODY = 10_000
_BACKOFF = 0.5

Opener = Callable[..., Any]


class Result(Protocol):
    """A run's result (a cycle's, an audit's, a restore's)."""

    def as_json(self) -> dict[str, Any]: ...


def _ping_url(base: str, suffix: str, rid: str) -> str:
    """``base`` + ``/start`` (or ``/fail``, ``/log``, "") with ``rid`` in the query."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + suffix if suffix else parts.path
    query = "&".join(q for q in (parts.query, urlencode({"rid": rid})) if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))


def summarize(event: str, doc: Mapping[str, Any]) -> str:
    """One line about a run's result (``as_json()`` of a cycle, an audit or a restore)."""
    if event == "backup":
        return (f"{doc.get('kind', '?')} backup: {doc.get('exported', 0)} exported, "
                f"{len(doc.get('uploaded') or [])} uploaded "
                f"({doc.get('bytes_uploaded', 0)} bytes), snapshot "
                f"{doc.get('snapshot_id') or '(none)'}")
    if event == "audit":
        return (f"audit of snapshot {doc.get('snapshot')}: {doc.get('checked', 0)} keys "
                f"checked, {doc.get('downloaded', 0)} re-hashed, {doc.get('missing', 0)} "
                f"missing, {doc.get('corrupted', 0)} corrupted, "
                f"{doc.get('not_backed_up', 0)} not backed up")
    snapshot = doc.get("snapshot") or {}
    counts = ", ".join(f"{n} {a}" for a, n in (doc.get("summary") or {}).items())
    return (f"restore of {doc.get('handle')} from snapshot {snapshot.get('id', '?')}"
            f"{' (dry run)' if doc.get('dry_run') else ''}: {counts or 'nothing to do'}")


def _status(event: str, doc: Mapping[str, Any]) -> str:
    if event in ("backup", "audit"):
        return str(doc.get("status", "ok"))
    return "ok" if doc.get("exit_code", C.EXIT_OK) == C.EXIT_OK else "warning"


@dataclass
class HookRun:
    """One run the hooks are told about; ``finish`` it with its result (``as_json()``)."""

    hooks: Hooks
    event: str
    rid: str
    started: datetime
    t0: float
    ended: bool = False
    status: str = ""
    pending: list[threading.Thread] = field(default_factory=list)

    def finish(self, result: Result) -> None:
        """The run ended with this result."""
        if not self.hooks.enabled(self.event):
            self.ended = True
            return
        doc = result.as_json()
        status = _status(self.event, doc)
        self.hooks.end(self, status=status, summary=summarize(self.event, doc),
                       result=doc, exit_code=int(doc.get("exit_code", C.EXIT_OK)))

    def failed(self, exc: BaseException) -> None:
        """The run ended with ``exc`` (a stop request, a busy lock or a failure)."""
        line = redact_text(str(exc) or type(exc).__name__).splitlines()
        error = line[-1] if line else type(exc).__name__
        exit_code = int(getattr(exc, "exit_code", C.EXIT_UNEXPECTED))
        if isinstance(exc, StopRequestedError | KeyboardInterrupt):
            self.hooks.end(self, status="stopped", summary=f"stopped: {error}",
                           error=error, exit_code=exit_code)
        elif isinstance(exc, LockedError):
            self.hooks.end(self, status="skipped", summary=f"skipped: {error}",
                           error=error, exit_code=exit_code)
        else:
            self.hooks.end(self, status="failed", summary=error, error=error,
                           exit_code=exit_code)


class Hooks:
    """The ``[notify]`` hooks.

    Args:
        notify: the ``[notify]`` table.
        host: the name runs are reported under (default: this machine's).
        opener: ``urllib.request.urlopen``'s stand-in (tests).
    """

    def __init__(self, notify: NotifyConfig, *, host: str | None = None,
                 opener: Opener | None = None) -> None:
        self.notify = notify
        self.host = host or socket.gethostname()
        self._open: Opener = opener or urllib.request.urlopen

    def enabled(self, event: str) -> bool:
        return bool(self.notify.urls) and event in self.notify.events

    @contextlib.contextmanager
    def watch(self, event: str) -> Iterator[HookRun]:
        """Tell the hooks about the run inside the block: ``/start`` now; at the end, the
        result given to ``HookRun.finish`` or, when the block raises, the failure (the
        exception goes on).  Then waits for the run's notifications, at most
        ``notify.timeout_seconds``."""
        run = self.begin(event)
        try:
            yield run
        except BaseException as exc:
            if not run.ended:
                run.failed(exc)
            raise
        finally:
            self.wait(run)

    def begin(self, event: str) -> HookRun:
        run = HookRun(self, event, str(uuid.uuid4()), datetime.now(UTC), time.monotonic())
        if self.enabled(event) and self.notify.healthchecks_url:
            self._send(run, "start", _ping_url(self.notify.healthchecks_url, "/start",
                                               run.rid), None)
        return run

    def end(self, run: HookRun, *, status: str, summary: str,
            result: Mapping[str, Any] | None = None, error: str | None = None,
            exit_code: int = C.EXIT_OK) -> None:
        """Send the end of ``run`` (once)."""
        if run.ended:
            return
        run.ended = True
        run.status = status
        if not self.enabled(run.event):
            return
        text = f"aipsync {run.event} on {self.host}: {status}: {summary}"
        url = self.notify.healthchecks_url
        if url:
            suffix, body = {"ok": ("", summary), "warning": ("", summary),
                            "failed": ("/fail", error or summary)}.get(status,
                                                                        ("/log", summary))
            self._send(run, suffix.lstrip("/") or "success", _ping_url(url, suffix, run.rid),
                       body.encode("utf-8", "replace")[:_MAX_BODY])
        if self.notify.webhook_urls:
            doc = {"source": "aipsync", "event": run.event, "status": status,
                   "host": self.host, "started_at": run.started.isoformat(timespec="seconds"),
                   "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
                   "duration_s": round(time.monotonic() - run.t0, 3), "summary": summary,
                   "error": error, "exit_code": exit_code,
                   "result": jsondoc.capped(result) if result is not None else None,
                   "text": text}
            payload = json.dumps(doc, sort_keys=True, default=str).encode("utf-8")
            for hook in self.notify.webhook_urls:
                self._send(run, "webhook", hook, payload, content_type="application/json")

    def wait(self, run: HookRun) -> None:
        """Wait for the run's notifications, at most ``timeout_seconds`` from now."""
        deadline = time.monotonic() + self.notify.timeout_seconds
        for thread in run.pending:
            thread.join(max(0.0, deadline - time.monotonic()))
        run.pending = [t for t in run.pending if t.is_alive()]

    # --- sending --------------------------------------------------------------------------
    def _send(self, run: HookRun, kind: str, url: str, body: bytes | None, *,
              content_type: str = "text/plain; charset=utf-8") -> None:
        deadline = time.monotonic() + self.notify.timeout_seconds
        thread = threading.Thread(target=self._deliver,
                                  args=(run.event, kind, url, body, content_type, deadline),
                                  name=f"aipsync-notify-{kind}", daemon=True)
        run.pending.append(thread)
        thread.start()

    def _deliver(self, event: str, kind: str, url: str, body: bytes | None,
                 content_type: str, deadline: float) -> None:
        shown = redact_url(url, path=False)
        error = ""
        for attempt in range(1, self.notify.attempts + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                error = error or "timed out"
                break
            request = urllib.request.Request(
                url, data=body if body is not None else b"", method="POST",
                headers={"User-Agent": _USER_AGENT, "Content-Type": content_type})
            try:
                with self._open(request, timeout=left) as response:
                    response.read(1024)
                log.debug("notify.sent", job=event, hook=kind, url=shown, attempt=attempt)
                return
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    break  # the hook refused it: another attempt would be refused too
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                error = type(reason).__name__ if not isinstance(reason, str) else reason
                if isinstance(reason, TimeoutError | socket.timeout):
                    error = "timed out"
            pause = min(_BACKOFF * 2 ** (attempt - 1), deadline - time.monotonic())
            if attempt < self.notify.attempts and pause > 0:
                time.sleep(pause)
        log.warning("notify.failed", job=event, hook=kind, url=shown, error=error,
                    attempts=self.notify.attempts, timeout_s=self.notify.timeout_seconds,
                    detail="the hook was not told; the run itself is not affected")
