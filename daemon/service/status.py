"""How fresh the backup is: ``aipsync status`` and the figures behind the metrics.

Owns: ``Status`` (read from the state database, the staging folder and, for a DSpace source,
DSpace's configuration files only: the source (DSpace's version as last read, how withdrawn
items are found), the last run,
the last successful cycle and mirror, the newest complete snapshot and its age (the recovery
point), the staged files not yet uploaded, the failed uploads, the export watermark, whether a
daemon holds the state folder, the last fixity audit and the last restore), which renders
itself as JSON (``as_json``) and for a terminal (``render``), and ``collect_status``.

Reads only: no request to the target, no lock taken, no file hashed, and a state database
that does not exist yet is reported as "never run" rather than created.

Must not: print (the CLI does), or show a secret (the target URL is the redacted one; run
errors were written without secrets).
"""

from __future__ import annotations

import heapq
import os
import socket
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.core.config import Config
from daemon.core.locks import LockName, read_holder
from daemon.core.state import (
    STATE_FILE_NAME,
    AuditRecord,
    Failure,
    RestoreRecord,
    RunRecord,
    open_state,
)
from daemon.source import source_status
from daemon.sync.mirror import pending_uploads
from daemon.sync.scan import count_staged, iter_staged_names

__all__ = ["STATUS_FORMAT", "DaemonState", "RecoveryPoint", "Status", "collect_status"]

#: The version of the ``status --json`` document; bumped when a key changes meaning.
STATUS_FORMAT = "aipsync-status/1"
#: Pending file names and failures listed in full (the counts are always exact).
_MAX_LISTED = 50
_CYCLE_KINDS = ("full", "incremental")


@dataclass(frozen=True, slots=True)
class DaemonState:
    """Whether a daemon holds the state folder (from its lock file)."""

    running: bool = False
    pid: int | None = None
    since: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"running": self.running, "pid": self.pid, "since": self.since}


@dataclass(frozen=True, slots=True)
class RecoveryPoint:
    """The newest complete snapshot: what a restore can bring back now."""

    snapshot_id: str
    created_at: str
    age_seconds: float | None
    objects: int
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {"snapshot_id": self.snapshot_id, "created_at": self.created_at,
                "age_seconds": self.age_seconds, "objects": self.objects, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class Status:
    """How fresh the backup is.  ``pending`` and ``failures`` hold at most 50 entries; their
    counts are exact."""

    generated_at: datetime
    config: Path | None
    target: str
    staging_dir: Path
    state_dir: Path
    daemon: DaemonState
    staged: int = 0
    last_run: RunRecord | None = None
    last_success: RunRecord | None = None
    last_mirror_success: RunRecord | None = None
    export_watermark: str | None = None
    last_full_export: str | None = None
    recovery_point: RecoveryPoint | None = None
    pending_count: int = 0
    pending: tuple[str, ...] = ()
    failed_count: int = 0
    failures: tuple[Failure, ...] = ()
    last_audit: AuditRecord | None = None
    last_restore: RestoreRecord | None = None
    source: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The ``status --json`` document (format ``aipsync-status/1``)."""

        def opt(record: Any) -> Any:
            return None if record is None else record.as_json()

        return {
            "format": STATUS_FORMAT,
            "generated_at": self.generated_at.isoformat(),
            "config": str(self.config) if self.config else None,
            "target": self.target,
            "staging_dir": str(self.staging_dir),
            "state_dir": str(self.state_dir),
            "daemon": self.daemon.as_json(),
            "last_run": opt(self.last_run), "last_success": opt(self.last_success),
            "last_mirror_success": opt(self.last_mirror_success),
            "export_watermark": self.export_watermark,
            "last_full_export": self.last_full_export,
            "recovery_point": opt(self.recovery_point),
            "pending": {"count": self.pending_count, "files": list(self.pending)},
            "failed": {"count": self.failed_count,
                       "uploads": [f.as_json() for f in self.failures]},
            "staged": self.staged, "last_audit": opt(self.last_audit),
            "last_restore": opt(self.last_restore), "source": dict(self.source),
        }

    def render(self) -> str:
        """The status as lines for a terminal."""
        lines = [f"target:          {self.target}",
                 f"staging:         {self.staging_dir} ({self.staged} AIPs)"]
        lines += [f"{label + ':':<17}{text}" if len(label) < 17 else f"{label}: {text}"
                  for label, text in self.source.items()]
        daemon = self.daemon
        lines.append("daemon:          " + (f"running (pid {daemon.pid}, since {daemon.since})"
                                            if daemon.running else "not running"))
        lines.append(f"last run:        {_run_line(self.last_run)}")
        lines.append(f"last success:    {_run_line(self.last_success)}")
        rp = self.recovery_point
        if rp is None:
            lines.append("recovery point:  none (no complete snapshot yet)")
        else:
            lines.append(f"recovery point:  snapshot {rp.snapshot_id}, {rp.objects} objects, "
                         f"{rp.bytes} bytes, created {rp.created_at} "
                         f"({_human_age(rp.age_seconds)} ago)")
        lines.append(f"export watermark: {self.export_watermark or 'none (next run is full)'}")
        lines.append(f"pending uploads: {self.pending_count}"
                     + (f" ({', '.join(self.pending[:5])}"
                        f"{', ...' if self.pending_count > 5 else ''})"
                        if self.pending_count else ""))
        lines.append(f"failed uploads:  {self.failed_count}")
        for f in self.failures[:10]:
            lines.append(f"  {f.key}: {f.error} ({f.attempts} attempt(s), last {f.failed_at})")
        audit = self.last_audit
        if audit is None:
            lines.append("last audit:      never (aipsync verify, or schedule.audit_cron)")
        else:
            c = audit.counts
            kind = "deep" if audit.deep else "metadata"
            lines.append(f"last audit:      #{audit.id} {audit.status} ({kind}, "
                         f"{audit.trigger}), {audit.finished_at}, snapshot "
                         f"{audit.snapshot_id}: {c.checked} checked, "
                         f"{c.downloaded} re-hashed, {c.missing} missing, "
                         f"{c.corrupted} corrupted, {c.not_backed_up} not backed up"
                         + (f"; error: {audit.error}" if audit.error else ""))
            for problem in audit.problems[:5]:
                lines.append(f"  {problem.get('kind')}: {problem.get('key')}: "
                             f"{problem.get('detail')}")
        restore = self.last_restore
        if restore is not None:
            counts = ", ".join(f"{n} {a}" for a, n in restore.summary.items())
            lines.append(f"last restore:    #{restore.id} {restore.status} of "
                         f"{restore.handle} ({restore.mode}) from {restore.snapshot_id}, "
                         f"{restore.finished_at}" + (f": {counts}" if counts else "")
                         + (f"; error: {restore.error}" if restore.error else ""))
        return "\n".join(lines)


def _newest(runs: list[RunRecord | None]) -> RunRecord | None:
    present = [r for r in runs if r is not None]
    return max(present, key=lambda r: r.id) if present else None


def _age(when: str | None, now: datetime) -> float | None:
    if not when:
        return None
    try:
        value = datetime.fromisoformat(when)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return round(max(0.0, (now - value).total_seconds()), 3)


def _daemon(state_dir: Path) -> DaemonState:
    """Whether a daemon holds the state folder (from its lock file; no lock is taken)."""
    holder = read_holder(state_dir / f"{LockName.DAEMON}.lock")
    pid = holder.get("pid")
    running = False
    if isinstance(pid, int):
        if holder.get("host") == socket.gethostname():
            try:
                os.kill(pid, 0)
                running = True
            except ProcessLookupError:
                running = False
            except PermissionError:
                running = True
        else:
            running = True  # another host: we cannot tell, so trust the record
    if not running:
        return DaemonState()
    return DaemonState(True, pid if isinstance(pid, int) else None, holder.get("since"))


def collect_status(config: Config, *, now: datetime | None = None) -> Status:
    """The state of the backup.

    Args:
        config: the configuration.
        now: the current time (injectable).

    Returns:
        The status.

    Raises:
        StateError: the state database exists but cannot be read.
    """
    now = now or datetime.now(UTC)
    base = Status(generated_at=now, config=config.source, target=config.target.display_url,
                  staging_dir=config.staging.dir, state_dir=config.state.dir,
                  daemon=_daemon(config.state.dir),
                  staged=count_staged(config.staging.dir))
    if not (config.state.dir / STATE_FILE_NAME).exists():
        first = heapq.nsmallest(_MAX_LISTED, iter_staged_names(config.staging.dir))
        return replace(base, pending_count=base.staged, pending=tuple(first),
                       source=source_status(config, lambda _: None))
    with open_state(config.state.dir) as state:
        newest = state.newest_snapshot
        snap = state.snapshot(newest) if newest else None
        point = (RecoveryPoint(snap.id, snap.created_at, _age(snap.created_at, now),
                               snap.objects, snap.bytes) if snap is not None else None)
        pending = pending_uploads(config.staging.dir, state, hash_changed=False,
                                  listed=_MAX_LISTED)
        failures = state.failures()
        return replace(
            base,
            last_run=state.last_run(),
            last_success=_newest([state.last_success(k) for k in _CYCLE_KINDS]),
            last_mirror_success=state.last_success("mirror"),
            export_watermark=state.export_watermark,
            last_full_export=state.last_full_export,
            recovery_point=point,
            pending_count=pending.count, pending=pending.names,
            failed_count=len(failures), failures=tuple(failures[:_MAX_LISTED]),
            last_audit=state.last_audit(), last_restore=state.last_restore(),
            source=source_status(config, state.get_meta))


def _human_age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days"


def _run_line(run: RunRecord | None) -> str:
    if run is None:
        return "never"
    text = (f"#{run.id} {run.kind} {run.status}, started {run.started_at}"
            f"{', finished ' + run.finished_at if run.finished_at else ''}")
    if run.kind in _CYCLE_KINDS or run.kind == "mirror":
        text += f"; {run.counts.uploaded} uploaded ({run.counts.bytes_uploaded} bytes)"
    if run.error:
        text += f"; error: {run.error}"
    return text
