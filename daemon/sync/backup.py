"""One backup cycle: export into staging, then mirror staging to the target.

Owns: ``plan_cycle`` (pure: full or incremental, and the ``updatedAfter`` of an incremental run),
and ``run_cycle``, which holds the ``cycle`` lock, records the run in the state database,
exports through the source (``daemon.sync.staging``), mirrors
(``daemon.sync.mirror.run_mirror``, whose snapshot inventory is the commit point)
and, only when all of that succeeded, moves the export watermark forward.

The rules (DSpace's ``updatedAfter`` only filters Items: containers are always exported,
and hash the same when unchanged):

- the first cycle, and any cycle before the first successful full export, is a full export;
- later cycles pass ``updatedAfter`` = start of the last successful cycle minus
  ``schedule.overlap_seconds`` (clock skew, long transactions);
- a full export runs again every ``schedule.full_export_every`` (weekly by default): it is
  what catches deleted objects (their staged AIPs leave staging) and anything else
  ``updatedAfter`` cannot see.

A cycle that fails or is stopped leaves the watermark where it was, so the next cycle
exports the same Items again: an Item is never skipped because a run died.

Must not: sleep, read the clock directly (a ``daemon.core.clock.Clock`` is a parameter,
docs/style.md T3), schedule anything, or
catch errors it cannot handle (the scheduler and the CLI decide what a failure means).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from daemon.core import faultpoints
from daemon.core.clock import Clock, SystemClock
from daemon.core.config import Config
from daemon.core.errors import StopRequestedError
from daemon.core.locks import Lock, LockName
from daemon.core.state import RunCounts, open_state
from daemon.source import open_source
from daemon.source.base import Source, format_updated_after
from daemon.sync.mirror import MirrorResult, run_mirror
from daemon.sync.staging import StagingResult, export_to_staging
from daemon.targets import Target

__all__ = [
    "Clock",
    "CyclePlan",
    "CycleResult",
    "SystemClock",
    "plan_cycle",
    "run_cycle",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CyclePlan:
    """A full export (``updated_after`` None) or an incremental one, and why."""

    full: bool
    updated_after: datetime | None
    reason: str

    @property
    def kind(self) -> str:
        return "full" if self.full else "incremental"


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plan_cycle(*, now: datetime, watermark: datetime | None, last_full: datetime | None,
               overlap: timedelta, full_every: timedelta | None,
               force_full: bool = False) -> CyclePlan:
    """Decide the next cycle's export.  Pure.

    Args:
        now: the cycle's start.
        watermark: start of the last successful cycle (None: never).
        last_full: start of the last successful full export (None: never).
        overlap: subtracted from the watermark.
        full_every: time between full exports (None: only the first one).
        force_full: a full export was asked for.

    Returns:
        The plan.
    """
    if force_full:
        return CyclePlan(True, None, "full export requested")
    if watermark is None or last_full is None:
        return CyclePlan(True, None, "first run: no successful full export yet")
    if full_every is not None and now - last_full >= full_every:
        return CyclePlan(True, None, f"periodic full export due (last {last_full.isoformat()})")
    return CyclePlan(False, watermark - overlap,
                     f"incremental since the last success at {watermark.isoformat()}")


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What a cycle did.  ``status`` is ``ok`` or ``stopped`` (failures raise)."""

    run_id: int
    plan: CyclePlan
    started_at: datetime
    staging: StagingResult | None
    mirror: MirrorResult | None
    status: str

    @property
    def snapshot_id(self) -> str | None:
        return self.mirror.snapshot_id if self.mirror else None

    def as_json(self) -> dict[str, Any]:
        """The result as ``backup --json`` prints it."""
        staged, mirrored = self.staging, self.mirror
        return {
            "run_id": self.run_id, "kind": self.plan.kind, "reason": self.plan.reason,
            "status": self.status,
            "updated_after": (self.plan.updated_after.isoformat()
                              if self.plan.updated_after else None),
            "exported": len(staged.staged) if staged else 0,
            "unchanged": staged.unchanged if staged else 0,
            "removed_from_staging": list(staged.removed) if staged else [],
            # written an entry at a time by daemon.core.jsondoc (a name per AIP uploaded)
            "uploaded": mirrored.uploaded if mirrored else [],
            "skipped": mirrored.skipped if mirrored else 0,
            "bytes_uploaded": mirrored.bytes_uploaded if mirrored else 0,
            "snapshot_id": self.snapshot_id,
            "snapshot_written": bool(mirrored and mirrored.snapshot_written),
        }


def run_cycle(config: Config, *, source: Source | None = None, clock: Clock | None = None,
              stop: threading.Event | None = None, target: Target | None = None,
              force_full: bool = False, lock_wait: float = 0.0,
              mirror_lock_wait: float | None = None) -> CycleResult:
    """Run one backup cycle: export into staging, mirror, commit.

    Args:
        config: the configuration.
        source: the repository source (default: ``open_source(config)``).
        clock: the clock (default: the system's).
        stop: when set, the export is abandoned (staging unchanged) or the mirror stops
            after the uploads in flight; the cycle then returns ``status="stopped"``.
        target: an open target for the mirror (default: opened and closed by the mirror).
        force_full: run a full export whatever the schedule says.
        lock_wait: seconds to wait for the ``cycle`` lock (another cycle running).
        mirror_lock_wait: seconds to wait for the ``mirror`` lock (default
            ``schedule.run_lock_timeout``).

    Returns:
        What the cycle did.

    Raises:
        LockedError: another cycle (or, after the waits, a restore or a mirror) is running.
        SourceError, StagingError, UploadError, TargetError, AipError: the cycle failed; it
            is recorded as failed and the watermark stays where it was.
    """
    clock = clock or SystemClock()
    source = source or open_source(config)
    wait_mirror = float(config.schedule.run_lock_timeout if mirror_lock_wait is None
                        else mirror_lock_wait)
    with Lock(config.state.dir, LockName.CYCLE, wait=lock_wait, purpose="backup cycle"), \
            open_state(config.state.dir) as state:
        # We hold the cycle lock: a cycle still marked running died with its process.
        state.close_stale_runs(["full", "incremental"])
        started = clock.now()
        plan = plan_cycle(now=started, watermark=_parse_time(state.export_watermark),
                          last_full=_parse_time(state.last_full_export),
                          overlap=timedelta(seconds=config.schedule.overlap_seconds),
                          full_every=config.schedule.full_export_interval,
                          force_full=force_full)
        since = format_updated_after(plan.updated_after) if plan.updated_after else None
        run_id = state.start_run("full" if plan.full else "incremental", updated_after=since)
        log.info("backup.cycle.start", run_id=run_id, kind=plan.kind, reason=plan.reason,
                 updated_after=since)
        t0 = clock.monotonic()
        staged: StagingResult | None = None
        mirrored: MirrorResult | None = None
        try:
            staged = export_to_staging(config, source, updated_after=plan.updated_after,
                                       stop=stop)
            faultpoints.checkpoint("export.staged")
            mirrored = run_mirror(config, stop=stop, target=target,
                                  lock_wait=wait_mirror, now=clock.now())
        except StopRequestedError:
            if staged is None:
                state.set_export_token(None)  # the export did not reach staging
            state.finish_run(run_id, "stopped", _counts(staged, mirrored),
                             snapshot_id=state.newest_snapshot)
            log.info("backup.cycle.stopped", run_id=run_id, kind=plan.kind)
            return CycleResult(run_id, plan, started, staged, mirrored, "stopped")
        except BaseException as exc:
            if staged is None:
                state.set_export_token(None)  # the export did not reach staging
            state.finish_run(run_id, "failed", _counts(staged, mirrored),
                             snapshot_id=state.newest_snapshot,
                             error=f"{type(exc).__name__}: {exc}")
            log.error("backup.cycle.failed", run_id=run_id, kind=plan.kind, error=str(exc),
                      msgid=type(exc).__qualname__, exit_code=getattr(exc, "exit_code", 2))
            raise
        counts = _counts(staged, mirrored)
        if mirrored.stopped:
            state.finish_run(run_id, "stopped", counts, snapshot_id=mirrored.snapshot_id)
            log.info("backup.cycle.stopped", run_id=run_id, kind=plan.kind,
                     uploaded=len(mirrored.uploaded))
            return CycleResult(run_id, plan, started, staged, mirrored, "stopped")
        state.set_export_watermark(started)
        if plan.full:
            state.set_last_full_export(started)
        state.finish_run(run_id, "ok", counts, snapshot_id=mirrored.snapshot_id)
        log.info("backup.cycle.done", run_id=run_id, kind=plan.kind,
                 exported=len(staged.staged), unchanged=staged.unchanged,
                 removed=len(staged.removed), uploaded=len(mirrored.uploaded),
                 bytes=mirrored.bytes_uploaded, snapshot=mirrored.snapshot_id,
                 snapshot_written=mirrored.snapshot_written,
                 duration_s=round(clock.monotonic() - t0, 3))
        return CycleResult(run_id, plan, started, staged, mirrored, "ok")


def _counts(staged: StagingResult | None, mirrored: MirrorResult | None) -> RunCounts:
    return RunCounts(
        seen=len(staged.staged) if staged else 0,
        uploaded=len(mirrored.uploaded) if mirrored else 0,
        skipped=staged.unchanged if staged else 0,
        failed=len(mirrored.failed) if mirrored else 0,
        bytes_uploaded=mirrored.bytes_uploaded if mirrored else 0)
