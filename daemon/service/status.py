"""How fresh the backup is: ``aipsync status`` and the figures behind the metrics.

Owns: ``collect_status`` (a JSON-ready dict, read from the state database and the staging
folder only: the last run, the last successful cycle and mirror, the newest complete snapshot
and its age, the recovery point, the staged files not yet uploaded, the failed uploads, the
export watermark, whether a daemon holds the state folder, the last fixity audit and the
last restore) and ``render_status`` (the same for a terminal).

Reads only: no request to the target, no lock taken, no file hashed, and a state database
that does not exist yet is reported as "never run" rather than created.

Must not: print (the CLI does), or show a secret (the target URL is the redacted one; run
errors were written without secrets).
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.core.config import Config
from daemon.core.locks import LockName, read_holder
from daemon.core.state import (
    STATE_FILE_NAME,
    AuditRecord,
    RestoreRecord,
    RunRecord,
    StateDB,
    open_state,
)

__all__ = ["STATUS_FORMAT", "collect_status", "render_status"]

#: The version of the ``status --json`` document; bumped when a key changes meaning.
STATUS_FORMAT = "aipsync-status/1"
#: Pending file names listed in full (the count is always exact).
_MAX_LISTED = 50
_CYCLE_KINDS = ("full", "incremental")


def _run_dict(run: RunRecord | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "kind": run.kind, "status": run.status,
            "started_at": run.started_at, "finished_at": run.finished_at,
            "updated_after": run.updated_after, "objects_seen": run.counts.seen,
            "uploaded": run.counts.uploaded, "unchanged": run.counts.skipped,
            "failed": run.counts.failed, "bytes_uploaded": run.counts.bytes_uploaded,
            "snapshot_id": run.snapshot_id, "error": run.error}


def _audit_dict(audit: AuditRecord | None) -> dict[str, Any] | None:
    if audit is None:
        return None
    c = audit.counts
    return {"id": audit.id, "status": audit.status, "trigger": audit.trigger,
            "started_at": audit.started_at, "finished_at": audit.finished_at,
            "snapshot_id": audit.snapshot_id, "deep": audit.deep,
            "sample_percent": audit.sample_percent, "seed": audit.seed,
            "checked": c.checked, "downloaded": c.downloaded, "bytes_read": c.bytes_read,
            "missing": c.missing, "corrupted": c.corrupted, "unverifiable": c.unverifiable,
            "not_backed_up": c.not_backed_up, "problems": list(audit.problems[:10]),
            "error": audit.error}


def _restore_dict(restore: RestoreRecord | None) -> dict[str, Any] | None:
    if restore is None:
        return None
    return {"id": restore.id, "status": restore.status, "started_at": restore.started_at,
            "finished_at": restore.finished_at, "snapshot_id": restore.snapshot_id,
            "handle": restore.handle, "mode": restore.mode, "packages": restore.packages,
            "bytes_downloaded": restore.bytes_downloaded, "summary": restore.summary,
            "error": restore.error}


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


def _daemon(state_dir: Path) -> dict[str, Any]:
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
    return {"running": running, "pid": pid if running else None,
            "since": holder.get("since") if running else None}


def collect_status(config: Config, *, now: datetime | None = None) -> dict[str, Any]:
    """The state of the backup, as a JSON-ready dict.

    Keys: ``format``, ``generated_at``, ``config``, ``target``, ``staging_dir``,
    ``state_dir``, ``daemon`` (running, pid, since), ``last_run`` (the newest run of any
    kind), ``last_success`` (the newest successful backup cycle), ``last_mirror_success``
    (each run: id, kind, status, started_at, finished_at, updated_after, objects_seen (AIPs
    exported by a cycle; staged files seen by a mirror run), uploaded, unchanged, failed,
    bytes_uploaded, snapshot_id, error),
    ``export_watermark``, ``last_full_export``, ``recovery_point`` (the newest complete
    snapshot: id, created_at, age_seconds, objects, bytes; None before the first),
    ``pending`` (count and file names of staged AIPs not known to be uploaded), ``failed``
    (count and the uploads whose last attempt failed: key, attempts, error, failed_at),
    ``staged`` (how many AIPs staging holds), ``last_audit`` (the newest fixity audit: id,
    status (ok, warning, failed, error, stopped), trigger, started_at, finished_at,
    snapshot_id, deep, sample_percent, seed, checked, downloaded, bytes_read, missing,
    corrupted, unverifiable, not_backed_up, the first problems, error; None before the first)
    and ``last_restore`` (id, status, started_at, finished_at, snapshot_id, handle, mode,
    packages, bytes_downloaded, summary, error).

    Args:
        config: the configuration.
        now: the current time (injectable).

    Returns:
        The status document.

    Raises:
        StateError: the state database exists but cannot be read.
    """
    now = now or datetime.now(UTC)
    doc: dict[str, Any] = {
        "format": STATUS_FORMAT,
        "generated_at": now.isoformat(),
        "config": str(config.source) if config.source else None,
        "target": config.target.display_url,
        "staging_dir": str(config.staging.dir),
        "state_dir": str(config.state.dir),
        "daemon": _daemon(config.state.dir),
        "last_run": None, "last_success": None, "last_mirror_success": None,
        "export_watermark": None, "last_full_export": None, "recovery_point": None,
        "pending": {"count": 0, "files": []}, "failed": {"count": 0, "uploads": []},
        "staged": 0, "last_audit": None, "last_restore": None,
    }
    from daemon.sync.scan import staged_names

    doc["staged"] = len(staged_names(config.staging.dir))
    if not (config.state.dir / STATE_FILE_NAME).exists():
        pending = sorted(staged_names(config.staging.dir))
        doc["pending"] = {"count": len(pending), "files": pending[:_MAX_LISTED]}
        return doc
    with open_state(config.state.dir) as state:
        _fill(doc, state, config, now)
    return doc


def _fill(doc: dict[str, Any], state: StateDB, config: Config, now: datetime) -> None:
    from daemon.sync.staging import pending_names

    doc["last_run"] = _run_dict(state.last_run())
    doc["last_success"] = _run_dict(_newest([state.last_success(k) for k in _CYCLE_KINDS]))
    doc["last_mirror_success"] = _run_dict(state.last_success("mirror"))
    doc["export_watermark"] = state.export_watermark
    doc["last_full_export"] = state.last_full_export
    newest = state.newest_snapshot
    snap = state.snapshot(newest) if newest else None
    if snap is not None:
        doc["recovery_point"] = {"snapshot_id": snap.id, "created_at": snap.created_at,
                                 "age_seconds": _age(snap.created_at, now),
                                 "objects": snap.objects, "bytes": snap.bytes}
    pending = sorted(pending_names(config.staging.dir, state, hash_changed=False))
    doc["pending"] = {"count": len(pending), "files": pending[:_MAX_LISTED]}
    doc["last_audit"] = _audit_dict(state.last_audit())
    doc["last_restore"] = _restore_dict(state.last_restore())
    failures = state.failures()
    doc["failed"] = {"count": len(failures),
                     "uploads": [{"key": f.key, "attempts": f.attempts, "error": f.error,
                                  "failed_at": f.failed_at} for f in failures[:_MAX_LISTED]]}


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


def _run_line(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    text = (f"#{run['id']} {run['kind']} {run['status']}, started {run['started_at']}"
            f"{', finished ' + run['finished_at'] if run['finished_at'] else ''}")
    if run["kind"] in _CYCLE_KINDS or run["kind"] == "mirror":
        text += f"; {run['uploaded']} uploaded ({run['bytes_uploaded']} bytes)"
    if run["error"]:
        text += f"; error: {run['error']}"
    return text


def render_status(doc: dict[str, Any]) -> str:
    """``collect_status``'s document as lines for a terminal."""
    lines = [f"target:          {doc['target']}",
             f"staging:         {doc['staging_dir']} ({doc['staged']} AIPs)"]
    daemon = doc["daemon"]
    lines.append("daemon:          " + (f"running (pid {daemon['pid']}, since {daemon['since']})"
                                        if daemon["running"] else "not running"))
    lines.append(f"last run:        {_run_line(doc['last_run'])}")
    lines.append(f"last success:    {_run_line(doc['last_success'])}")
    rp = doc["recovery_point"]
    if rp is None:
        lines.append("recovery point:  none (no complete snapshot yet)")
    else:
        lines.append(f"recovery point:  snapshot {rp['snapshot_id']}, {rp['objects']} objects, "
                     f"{rp['bytes']} bytes, created {rp['created_at']} "
                     f"({_human_age(rp['age_seconds'])} ago)")
    lines.append(f"export watermark: {doc['export_watermark'] or 'none (next run is full)'}")
    pending = doc["pending"]
    lines.append(f"pending uploads: {pending['count']}"
                 + (f" ({', '.join(pending['files'][:5])}"
                    f"{', ...' if pending['count'] > 5 else ''})" if pending["count"] else ""))
    failed = doc["failed"]
    lines.append(f"failed uploads:  {failed['count']}")
    for f in failed["uploads"][:10]:
        lines.append(f"  {f['key']}: {f['error']} ({f['attempts']} attempt(s), "
                     f"last {f['failed_at']})")
    audit = doc.get("last_audit")
    if audit is None:
        lines.append("last audit:      never (aipsync verify, or schedule.audit_cron)")
    else:
        kind = "deep" if audit["deep"] else "metadata"
        lines.append(f"last audit:      #{audit['id']} {audit['status']} ({kind}, "
                     f"{audit['trigger']}), {audit['finished_at']}, snapshot "
                     f"{audit['snapshot_id']}: {audit['checked']} checked, "
                     f"{audit['downloaded']} re-hashed, {audit['missing']} missing, "
                     f"{audit['corrupted']} corrupted, {audit['not_backed_up']} not backed up"
                     + (f"; error: {audit['error']}" if audit["error"] else ""))
        for problem in audit["problems"][:5]:
            lines.append(f"  {problem.get('kind')}: {problem.get('key')}: "
                         f"{problem.get('detail')}")
    restore = doc.get("last_restore")
    if restore is not None:
        counts = ", ".join(f"{n} {a}" for a, n in restore["summary"].items())
        lines.append(f"last restore:    #{restore['id']} {restore['status']} of "
                     f"{restore['handle']} ({restore['mode']}) from {restore['snapshot_id']}, "
                     f"{restore['finished_at']}" + (f": {counts}" if counts else "")
                     + (f"; error: {restore['error']}" if restore["error"] else ""))
    return "\n".join(lines)
