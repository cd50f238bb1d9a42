"""Prune: the only code that deletes from a target, and only when asked.

Owns: ``prune``: drop the snapshots outside the retention rule
(``daemon.sync.snapshots.retained_snapshots``), then every AIP version no kept snapshot names
and no staged file needs; data first, inventories last.  Versions the store keeps under S3
Object Lock are kept and reported, never an error.

Must not: delete a key that is not named like an AIP, a version a kept snapshot names, or the
newest snapshot.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import structlog

from aip import constants as C
from daemon.core.config import Config
from daemon.core.errors import ObjectLockedError
from daemon.core.locks import Lock, LockName
from daemon.core.state import PAGE, StateDB, open_state
from daemon.sync.layout import SNAPSHOTS_DIR, is_aip_key, snapshot_id_of, version_owner
from daemon.sync.scan import iter_staged_names
from daemon.sync.snapshots import (
    SnapshotInfo,
    fetch_inventory,
    list_snapshots,
    retained_snapshots,
)
from daemon.targets import open_target
from daemon.targets.base import Target

__all__ = ["PruneResult", "prune"]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")


# --- prune ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PruneResult:
    """What ``prune`` deleted (or, with ``dry_run``, would delete), and the versions it kept
    because the store locks them (``kept_locked``: key, version, why)."""

    kept_snapshots: tuple[str, ...]
    deleted_snapshots: tuple[str, ...]
    deleted_objects: tuple[tuple[str, str | None], ...]
    dry_run: bool
    kept_locked: tuple[tuple[str, str | None, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The result as ``prune --json`` prints it."""
        return {"dry_run": self.dry_run, "kept_snapshots": list(self.kept_snapshots),
                "deleted_snapshots": list(self.deleted_snapshots),
                "deleted_objects": [{"key": k, "version": v} for k, v in self.deleted_objects],
                "kept_locked": [{"key": k, "version": v, "detail": d}
                                for k, v, d in self.kept_locked]}


def _lock_of(target: Target, key: str, version: str | None, now: datetime) -> str | None:
    """Why the store would refuse to delete this version now (None: it would not)."""
    lock = target.retention(key, version_id=version)
    return lock.describe() if lock is not None and lock.locked(now) else None


def prune(config: Config, keep_snapshots: int | None = None, keep_days: int | None = None,
          dry_run: bool = False, *, target: Target | None = None,
          now: datetime | None = None) -> PruneResult:
    """Delete snapshots outside retention, then every object version no kept snapshot names.

    Keys mode: deletes ``snapshots/<id>.json`` of dropped snapshots, ``versions/<key>/<sha>``
    that no kept snapshot names, and current ``<key>`` objects that no kept snapshot names
    and that are not staged now.  Only AIP-named keys (``TYPE@handle.zip``), their versions
    and snapshot inventories are candidates: other objects under the root are never touched.
    Bucket mode: deletes (by VersionId) versions no kept
    snapshot names, except the latest version of a key that is staged or kept.  Takes the
    ``mirror`` lock so no mirror runs meanwhile.

    S3 Object Lock (a bucket with Object Lock, ``target.object_lock_mode``): a version whose
    retention has not ended (or under a legal hold) cannot be deleted; it is kept and
    reported (``kept_locked``), and the prune goes on with the rest.  A dropped snapshot
    whose inventory is locked is kept whole, with every version it names: deleting its data
    would leave a listed snapshot that cannot be restored.  A dry run asks the store the
    same question (one HEAD per candidate version) and says the same.

    Args:
        config: the configuration (target, state folder, staging folder, defaults).
        keep_snapshots: keep this many newest snapshots (default: ``target.keep_snapshots``).
        keep_days: keep snapshots younger than this (default: ``target.keep_days``).
        dry_run: report only, delete nothing.
        target: an open target (default: opened from the configuration).
        now: the current time (injectable).

    Returns:
        What was (or would be) deleted, and what the store keeps locked.

    Raises:
        LockedError: a mirror or prune is running.
        TargetError: the target failed (deletions done so far stay done; rerun to finish).
    """
    keep_n = config.target.keep_snapshots if keep_snapshots is None else keep_snapshots
    keep_d = config.target.keep_days if keep_days is None else keep_days
    now = now or datetime.now(UTC)
    own = target is None
    tgt = target if target is not None else open_target(config.target)
    try:
        with (Lock(config.state.dir, LockName.MIRROR, purpose="prune"),
              open_state(config.state.dir) as state):
            snaps = list_snapshots(tgt)
            if not snaps:
                return PruneResult((), (), (), dry_run)
            keep = retained_snapshots(snaps, keep_snapshots=keep_n, keep_days=keep_d, now=now)
            # Keys mode deletes without a VersionId (a delete marker): nothing to refuse.
            locking = state.versioning != "keys" and tgt.object_lock_enabled()
            kept_locked: list[tuple[str, str | None, str]] = []
            if locking:
                # A dropped snapshot whose inventory the store locks stays, whole.
                for ver in tgt.list_versions(f"{SNAPSHOTS_DIR}/"):
                    sid = snapshot_id_of(ver.key) if ver.key.startswith(
                        f"{SNAPSHOTS_DIR}/") else None
                    if sid is None or sid in keep or ver.is_delete_marker:
                        continue
                    why = _lock_of(tgt, ver.key, ver.version_id, now)
                    if why is not None:
                        keep.add(sid)
                        kept_locked.append((ver.key, ver.version_id, why))
            drop = [s.id for s in snaps if s.id not in keep]
            bucket_mode = _remember_kept(config, state, tgt, [s for s in snaps if s.id in keep])
            doomed: list[tuple[str, str | None]] = []
            if bucket_mode:
                for chunk in _chunks(tgt.list_versions(""), PAGE):
                    named = state.name_set_members(
                        "named", (_pair(v.key, v.version_id) for v in chunk))
                    live = state.name_set_members("live", (v.key for v in chunk))
                    for ver in chunk:
                        if ver.key.startswith(f"{SNAPSHOTS_DIR}/"):
                            if snapshot_id_of(ver.key) in drop:
                                doomed.append((ver.key, ver.version_id))
                            continue
                        if ver.is_delete_marker or not is_aip_key(ver.key):
                            continue
                        if _pair(ver.key, ver.version_id) in named:
                            continue
                        if ver.is_latest and ver.key in live:
                            continue
                        doomed.append((ver.key, ver.version_id))
            else:
                for objects in _chunks(tgt.list_keys(""), PAGE):
                    keys = [o.key for o in objects]
                    owners = {k: version_owner(k) for k in keys}
                    named = state.name_set_members(
                        "named", (_pair(o, k) for k, o in owners.items() if o is not None))
                    live = state.name_set_members("live", (k for k in keys if "/" not in k))
                    for key in keys:
                        owner = owners[key]
                        if key.startswith(f"{SNAPSHOTS_DIR}/"):
                            if snapshot_id_of(key) in drop:
                                doomed.append((key, None))
                        elif owner is not None:
                            if is_aip_key(owner) and _pair(owner, key) not in named:
                                doomed.append((key, None))
                        elif key not in live and is_aip_key(key):
                            doomed.append((key, None))
            # Data first, snapshots last: an interrupted prune never leaves a snapshot that
            # names deleted bytes... except the ones it was about to delete anyway.
            doomed.sort(key=lambda kv: kv[0].startswith(f"{SNAPSHOTS_DIR}/"))
            deleted: list[tuple[str, str | None]] = []
            for key, version in doomed:
                why = _lock_of(tgt, key, version, now) if locking and version else None
                if why is None and not dry_run:
                    try:
                        tgt.delete(key, version_id=version)
                    except ObjectLockedError as exc:  # locked since we looked
                        why = str(exc.fields.get("detail", exc))
                if why is not None:
                    kept_locked.append((key, version, why))
                    log.info("prune.kept.locked", key=key, version=version, detail=why,
                             dry_run=dry_run)
                    continue
                log.info("prune.delete", key=key, version=version, dry_run=dry_run)
                deleted.append((key, version))
            if not dry_run:
                current = [k for k, _ in deleted if "/" not in k]
                live = state.name_set_members("live", current)
                gone_current = [k for k, v in deleted
                                if "/" not in k and (v is None or k not in live)]
                state.forget_remote(gone_current)
                state.forget_snapshots(drop)
            log.info("prune.done", kept=len(keep), dropped=len(drop), objects=len(deleted),
                     kept_locked=len(kept_locked), dry_run=dry_run)
            return PruneResult(tuple(s.id for s in snaps if s.id in keep), tuple(drop),
                               tuple(deleted), dry_run, tuple(kept_locked))
    finally:
        if own:
            tgt.close()


def _pair(key: str, version: str | None) -> str:
    return f"{key}\0{version or ''}"


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _remember_kept(config: Config, state: StateDB, target: Target,
                   kept: list[SnapshotInfo]) -> bool:
    """Fill the state's temporary sets: ``named`` (key and version of every entry of a kept
    snapshot) and ``live`` (their keys, and every staged name); each inventory is fetched
    and read as a stream.  Returns True when a kept snapshot uses bucket versioning."""
    state.name_set("named")
    state.name_set("live")
    state.name_set_add("live", iter_staged_names(config.staging.dir))
    bucket = False
    work = Path(tempfile.mkdtemp(prefix=f"{C.TEMP_PREFIX}prune-", dir=config.state.dir))
    try:
        for snap in kept:
            inventory = fetch_inventory(target, snap, work / "inventory")
            bucket = bucket or inventory.versioning == "bucket"
            state.name_set_add("named", (_pair(e.key, e.version) for e in inventory.entries()))
            state.name_set_add("live", (e.key for e in inventory.entries()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return bucket

