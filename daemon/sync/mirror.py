"""The mirror: staging folder -> target, by SHA-256, with a snapshot inventory as commit point.

Owns: ``plan_mirror`` (pure: upload a staged file when its SHA-256 differs from the last copy
uploaded under its key), ``run_mirror`` (scan staging through ``daemon.sync.scan``, execute
the plan with ``transfers`` concurrent uploads, verify each by HEAD, record it, then write the
inventory), and keeping old bytes reachable ("keys" versioning: copy ``<key>`` to
``versions/<key>/<sha256>`` just before it is overwritten).

A run with nothing to upload makes no request at all: no listing, no HEAD, no snapshot (the
entries are identical to the newest snapshot's, which the state database remembers).  A key
whose file left staging stays in the target but drops out of the next inventory.

Must not: delete anything from the target (``daemon.sync.prune`` does, when asked), talk to
boto3 (``daemon.targets.s3`` does), configure logging, or leave a thread running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from aip import constants as C
from aip.progress import Meter
from daemon.core import faultpoints
from daemon.core.config import VERSIONING_MODES, Config, Versioning
from daemon.core.errors import (
    PreconditionFailedError,
    SourceChangedError,
    StagingError,
    StopRequestedError,
    TargetError,
    TargetNotFoundError,
    TargetPermanentError,
    TargetUnreachableError,
    UploadError,
    UploadVerifyError,
)
from daemon.core.locks import Lock, LockName
from daemon.core.state import (
    RemoteRecord,
    RunCounts,
    SnapshotRecord,
    StateDB,
    open_state,
)
from daemon.sync.layout import new_snapshot_id, versioned_key
from daemon.sync.scan import StagedFile, scan_staging
from daemon.sync.snapshots import (
    InventoryEntry,
    build_inventory,
    entries_digest,
    write_inventory,
)
from daemon.targets import Target, open_target
from daemon.targets.base import RemoteObject

__all__ = [
    "MirrorPlan",
    "MirrorResult",
    "StagedFile",
    "plan_mirror",
    "run_mirror",
    "scan_staging",
    "target_binding",
]

log = structlog.get_logger(__name__)



@dataclass(frozen=True, slots=True)
class MirrorPlan:
    """What a run will do: upload (new or changed bytes) and skip (same bytes uploaded)."""

    uploads: tuple[StagedFile, ...]
    skips: tuple[StagedFile, ...]
    overwrites: frozenset[str] = frozenset()

    @property
    def bytes_to_upload(self) -> int:
        return sum(f.size for f in self.uploads)


def plan_mirror(staged: Sequence[StagedFile], remote: Mapping[str, RemoteRecord]) -> MirrorPlan:
    """Decide which staged files to upload.  Pure.

    Args:
        staged: the staged files with their digests.
        remote: the last copy uploaded under each key (from the state database).

    Returns:
        Uploads for files whose SHA-256 differs from the last upload under their key (or
        that were never uploaded), largest first so big transfers start early; skips for
        the rest; ``overwrites`` names keys whose existing remote bytes will be replaced.
    """
    uploads: list[StagedFile] = []
    skips: list[StagedFile] = []
    overwrites: set[str] = set()
    for f in staged:
        rec = remote.get(f.key)
        if rec is not None and rec.sha256 == f.sha256 and rec.size == f.size:
            skips.append(f)
            continue
        uploads.append(f)
        if rec is not None:
            overwrites.add(f.key)
    uploads.sort(key=lambda f: (-f.size, f.name))
    skips.sort(key=lambda f: f.name)
    return MirrorPlan(tuple(uploads), tuple(skips), frozenset(overwrites))


def inventory_entries(staged: Iterable[StagedFile], remote: Mapping[str, RemoteRecord],
                      versioning: Versioning) -> list[InventoryEntry]:
    """The entries of the snapshot for the staged files, from what was uploaded.  Pure.

    A staged file with no upload record (it failed, or changed mid-run) is left out when it
    was never uploaded, and listed with its previous remote copy otherwise: an inventory only
    ever names bytes that are in the target.
    """
    entries: list[InventoryEntry] = []
    for f in staged:
        rec = remote.get(f.key)
        if rec is None:
            continue
        version = rec.version_id if versioning == "bucket" else versioned_key(rec.key,
                                                                              rec.sha256)
        entries.append(InventoryEntry(key=rec.key, sha256=rec.sha256, md5=rec.md5,
                                      size=rec.size, version=version))
    return entries


# --- running ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MirrorResult:
    """What a run did.  ``snapshot_id`` is the newest complete snapshot after the run."""

    run_id: int | None
    plan: MirrorPlan
    uploaded: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=dict)
    bytes_uploaded: int = 0
    snapshot_id: str | None = None
    snapshot_written: bool = False
    stopped: bool = False
    dry_run: bool = False

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.plan.skips)

    def as_json(self) -> dict[str, Any]:
        """The result as ``mirror --json`` prints it."""
        return {
            "dry_run": self.dry_run, "stopped": self.stopped,
            "to_upload": [f.name for f in self.plan.uploads] if self.dry_run else None,
            "uploaded": len(self.uploaded), "skipped": len(self.plan.skips),
            "bytes_uploaded": self.bytes_uploaded, "snapshot_id": self.snapshot_id,
            "snapshot": self.snapshot_written,
        }


class _Halt:
    """A stop flag that is set when the caller's stop event or our own fatal flag is."""

    def __init__(self, outer: threading.Event | None) -> None:
        self.outer = outer
        self.fatal = threading.Event()

    def is_set(self) -> bool:
        return self.fatal.is_set() or (self.outer is not None and self.outer.is_set())


class _Run:
    """One mirror run: state, target and counters shared by the transfer threads."""

    def __init__(self, config: Config, state: StateDB, target: Target,
                 stop: threading.Event | None) -> None:
        self.config = config
        self.state = state
        self.target = target
        self.halt = _Halt(stop)
        self.run_id: int | None = None
        self.versioning: Versioning = "keys"
        self._lock = threading.Lock()
        self.uploaded: list[str] = []
        self.failed: dict[str, str] = {}
        self.bytes = 0
        self.fatal: TargetError | None = None
        self._head_checked = False
        self.meter: Meter | None = None

    # --- versioning and bootstrap -------------------------------------------------------------
    def detect_versioning(self) -> Versioning:
        mode = self.config.target.versioning
        if mode == "auto":
            mode = "bucket" if self.target.bucket_versioning() else "keys"
        if self.state.versioning != mode:
            log.info("mirror.versioning", mode=mode, target=self.target.display_url)
        self.state.set_versioning(mode)
        return "bucket" if mode == "bucket" else "keys"

    def bootstrap(self, staged: Sequence[StagedFile]) -> None:
        """Reconcile a state that has never seen this target with what the target holds.

        Runs once per (state, target): one listing of the root, and a HEAD per staged name
        that exists remotely without a record.  Adopts identical objects (no re-upload) and
        records differing ones so that keys mode archives them before overwriting.
        """
        known = self.state.remote_records()
        wanted = {f.key: f for f in staged}
        remote_keys = {o.key for o in self.target.list_keys("") if "/" not in o.key}
        adopted = 0
        for key in sorted(remote_keys & set(wanted) - set(known)):
            head = self.target.head(key)
            if head is None or head.sha256 is None or head.md5 is None:
                log.warning("mirror.bootstrap.foreign", key=key,
                            detail="no sha256 metadata; it will be overwritten")
                continue
            self.state.record_upload(RemoteRecord(
                key=key, size=head.size, sha256=head.sha256, md5=head.md5,
                version_id=head.version_id, etag=head.etag, part_size=head.part_size))
            adopted += 1
        self.state.set_bootstrapped()
        log.info("mirror.bootstrap.done", remote_keys=len(remote_keys), adopted=adopted)

    # --- one upload ---------------------------------------------------------------------------
    def archive(self, key: str, old: RemoteRecord, new_sha256: str) -> None:
        """Keys mode: keep the bytes about to be overwritten at their versioned key."""
        vkey = versioned_key(key, old.sha256)
        try:
            self.target.copy(key, vkey, if_match=old.etag or None, size=old.size)
            log.info("mirror.archive.done", key=key, version_key=vkey)
        except PreconditionFailedError:
            # The remote bytes are not the ones the state remembers: keep whatever is there.
            head = self.target.head(key)
            if head is not None and head.sha256 and head.sha256 != new_sha256:
                self.target.copy(key, versioned_key(key, head.sha256), size=head.size)
                log.warning("mirror.archive.unexpected", key=key, sha256=head.sha256)
        except TargetNotFoundError:
            log.warning("mirror.archive.missing", key=key)

    def upload(self, f: StagedFile, old: RemoteRecord | None) -> None:
        if self.halt.is_set():
            raise StopRequestedError(what=f"uploading {f.key}")
        started = time.monotonic()
        if self.versioning == "keys" and old is not None and old.sha256 != f.sha256:
            self.archive(f.key, old, f.sha256)
        result = self.target.put_file(f.key, f.path, f.digests, journal=self.state,
                                      stop=self.halt, stat_key=f.stat_key)
        version_id = result.remote.version_id if self.versioning == "bucket" else None
        head = self._verified_by_etag(f, result.remote)
        if head is None:
            head = self.target.head(f.key, version_id=version_id)
        if head is None:
            raise UploadVerifyError(what=f.key, algorithm="presence", expected="object",
                                    found="nothing")
        if head.size != f.size:
            raise UploadVerifyError(what=f.key, algorithm="size", expected=f.size,
                                    found=head.size)
        if head.sha256 != f.sha256:
            raise UploadVerifyError(what=f.key, algorithm="SHA-256", expected=f.sha256,
                                    found=head.sha256)
        record = RemoteRecord(
            key=f.key, size=f.size, sha256=f.sha256, md5=f.md5, version_id=version_id,
            version_key=versioned_key(f.key, f.sha256) if self.versioning == "keys" else None,
            etag=head.etag, part_size=head.part_size)
        self.state.record_upload(record, self.run_id)
        faultpoints.checkpoint("upload.recorded")
        with self._lock:
            self.uploaded.append(f.key)
            self.bytes += result.bytes_sent
        if self.meter is not None:
            self.meter.advance(nbytes=f.size, current=f.key)
        log.info("mirror.upload.done", key=f.key, bytes=f.size, sha256=f.sha256,
                 bytes_sent=result.bytes_sent, parts_resumed=result.parts_resumed,
                 duration_s=round(time.monotonic() - started, 3))

    def _verified_by_etag(self, f: StagedFile, remote: RemoteObject) -> RemoteObject | None:
        """``verify_uploads = "etag"``: the PUT response stands in for a HEAD when it can.

        Only for a single-part PUT without KMS encryption (its ETag is then the MD5 of the
        bytes stored, which the store also checked against Content-MD5), and never for the
        first upload of a run, which is always read back to prove the store keeps metadata.
        """
        cfg = self.config.target
        if cfg.verify_uploads != "etag" or remote.part_size or (
                cfg.server_side_encryption or "").startswith("aws:kms"):
            return None
        with self._lock:
            first = not self._head_checked
            self._head_checked = True
        if first:
            return None
        if (remote.etag or "").strip('"') != f.md5:
            raise UploadVerifyError(what=f.key, algorithm="ETag (MD5)", expected=f.md5,
                                    found=(remote.etag or "").strip('"'))
        return remote

    def execute(self, plan: MirrorPlan, remote: Mapping[str, RemoteRecord]) -> None:
        """Run the uploads; stop early on a fatal error or a stop request."""
        workers = max(1, min(self.config.target.transfers, len(plan.uploads)))
        self.meter = Meter("upload", label="uploading", unit="AIPs",
                           objects_total=len(plan.uploads), bytes_total=plan.bytes_to_upload)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aipsync-put") as pool:
            futures = {pool.submit(self.upload, f, remote.get(f.key)): f for f in plan.uploads}
            for future in as_completed(futures):
                f = futures[future]
                exc = future.exception()
                if exc is None or isinstance(exc, StopRequestedError):
                    continue
                message = str(exc)
                if isinstance(exc, TargetPermanentError | TargetUnreachableError):
                    with self._lock:
                        if self.fatal is None:
                            self.fatal = exc
                    self.halt.fatal.set()
                elif not isinstance(exc, TargetError | SourceChangedError | UploadVerifyError
                                    | UploadError | OSError):
                    self.halt.fatal.set()
                    raise exc
                with self._lock:
                    self.failed[f.key] = message
                self.state.record_failure(f.key, self.run_id, message)
                log.error("mirror.upload.failed", key=f.key, error=message,
                          msgid=type(exc).__qualname__,
                          exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))
        if not self.halt.is_set():
            self.meter.finish()


def target_binding(config: Config) -> str:
    """The name the state database ties its remote records to.

    The URL and the endpoint: the same bucket name behind another endpoint is another store.
    Never holds a credential.
    """
    return f"{config.target.display_url} at {config.target.endpoint_url or 'default'}"


def run_mirror(config: Config, *, dry_run: bool = False, files: Iterable[str] | None = None,
               stop: threading.Event | None = None, target: Target | None = None,
               lock_wait: float = 0.0, now: datetime | None = None) -> MirrorResult:
    """Mirror the staging folder to the target once, then write the snapshot inventory.

    Steps: scan staging (hashing only files whose stat key changed); plan against the state
    database; upload with ``target.transfers`` threads (each verified by HEAD: size and
    stored SHA-256) and record each upload; when every upload succeeded and the entries
    differ from the newest snapshot's, upload the inventory (the commit point).

    Args:
        config: the configuration.
        dry_run: plan only: no request to the target, nothing recorded but the hash cache.
        files: only consider these staged file names (the watcher's hint); the inventory
            still covers every staged file.
        stop: when set, no new upload or part starts; the run returns ``stopped=True``
            without a snapshot (a multipart upload in progress resumes next run).
        target: an open target to use (default: opened from the configuration and closed).
        lock_wait: seconds to wait for the ``mirror`` lock.
        now: the snapshot time (injectable).

    Returns:
        What the run did.

    Raises:
        LockedError: another mirror (or prune) holds the lock.
        StagingError: staging is missing, or empty while the newest snapshot is not.
        TargetPermanentError: credentials, access or bucket refused (first attempt).
        TargetUnreachableError: the target kept failing after every retry.
        UploadError: some uploads failed; the previous snapshot stays the newest.
    """
    with Lock(config.state.dir, LockName.MIRROR, wait=lock_wait, purpose="mirror"):
        state = open_state(config.state.dir)
        if not dry_run:
            # We hold the mirror lock, so a "running" mirror run is one whose process died.
            state.close_stale_runs(["mirror"])
        own = target is None
        tgt = target if target is not None else open_target(config.target)
        try:
            return _run_mirror(config, state, tgt, dry_run=dry_run, files=files, stop=stop,
                               now=now)
        finally:
            if own:
                tgt.close()
            state.close()


def _run_mirror(config: Config, state: StateDB, target: Target, *, dry_run: bool,
                files: Iterable[str] | None, stop: threading.Event | None,
                now: datetime | None) -> MirrorResult:
    started = time.monotonic()
    if not dry_run:
        state.bind_target(target_binding(config))
    staged = scan_staging(config.staging.dir, state, workers=config.target.transfers)
    newest = state.newest_snapshot
    newest_rec = state.snapshot(newest) if newest else None
    if not staged and newest_rec is not None and newest_rec.objects > 0 and files is None:
        raise StagingError(path=str(config.staging.dir),
                           detail=f"holds no AIP while snapshot {newest} names "
                                  f"{newest_rec.objects}; refusing to write an empty snapshot "
                                  "(is the disk mounted? did the export fail?)")
    remote = state.remote_records()
    if files is not None:
        wanted = set(files)
        candidates = [f for f in staged if f.name in wanted]
    else:
        candidates = staged
    plan = plan_mirror(candidates, remote)
    log.info("mirror.plan", staged=len(staged), upload=len(plan.uploads),
             skip=len(plan.skips), bytes=plan.bytes_to_upload, dry_run=dry_run)
    debug = log.bind()  # one bound logger: a filtered debug call is then nearly free
    for f in plan.skips:
        debug.debug("mirror.upload.skipped", key=f.key, sha256=f.sha256)
    if dry_run:
        return MirrorResult(run_id=None, plan=plan, snapshot_id=newest, dry_run=True)

    run = _Run(config, state, target, stop)
    run.run_id = state.start_run("mirror")
    try:
        if plan.uploads and not state.bootstrapped:
            run.bootstrap(staged)
            remote = state.remote_records()
            plan = plan_mirror(candidates, remote)
        if plan.uploads:
            run.versioning = run.detect_versioning()
            aborted = target.abort_orphaned_uploads(
                state.known_upload_ids(),
                older_than=timedelta(hours=config.target.abort_orphaned_after_hours))
            if aborted:
                log.info("mirror.multipart.orphans_aborted", count=aborted)
            run.execute(plan, remote)
        counts = RunCounts(seen=len(staged), uploaded=len(run.uploaded), skipped=len(plan.skips),
                           failed=len(run.failed), bytes_uploaded=run.bytes)
        if run.fatal is not None:
            raise run.fatal
        if run.failed:
            first = next(iter(sorted(run.failed.items())))
            raise UploadError(f"{len(run.failed)} upload(s) failed (first: {first[0]}: "
                              f"{first[1]}); the previous snapshot stays the newest")
        if len(run.uploaded) < len(plan.uploads):
            state.finish_run(run.run_id, "stopped", counts, snapshot_id=newest)
            log.info("mirror.run.stopped", uploaded=len(run.uploaded))
            return MirrorResult(run.run_id, plan, tuple(run.uploaded), {}, run.bytes,
                                snapshot_id=newest, stopped=True)
        # Nothing planned means nothing recorded since ``remote`` was read: reuse it (a no-op
        # run over a large staging folder then reads the records once, not twice).
        snapshot_id, written = _commit(config, state, target, run, staged, newest_rec, now,
                                       remote=None if plan.uploads else remote)
        state.finish_run(run.run_id, "ok", counts, snapshot_id=snapshot_id)
        log.info("mirror.run.done", uploaded=len(run.uploaded), skipped=len(plan.skips),
                 bytes=run.bytes, snapshot=snapshot_id, snapshot_written=written,
                 duration_s=round(time.monotonic() - started, 3))
        return MirrorResult(run.run_id, plan, tuple(sorted(run.uploaded)), {}, run.bytes,
                            snapshot_id=snapshot_id, snapshot_written=written)
    except BaseException as exc:
        counts = RunCounts(seen=len(staged), uploaded=len(run.uploaded),
                           skipped=len(plan.skips), failed=len(run.failed),
                           bytes_uploaded=run.bytes)
        state.finish_run(run.run_id, "failed", counts, snapshot_id=newest,
                         error=f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, TargetPermanentError | TargetUnreachableError):
            log.error("mirror.run.failed", error=str(exc), msgid=type(exc).__qualname__,
                      exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))
        raise


def _commit(config: Config, state: StateDB, target: Target, run: _Run,
            staged: Sequence[StagedFile], newest: SnapshotRecord | None,
            now: datetime | None, *,
            remote: Mapping[str, RemoteRecord] | None = None) -> tuple[str | None, bool]:
    """Write the inventory unless it would equal the newest snapshot's; returns (id, written)."""
    mode: Versioning
    if run.uploaded:
        mode = run.versioning
    elif state.versioning in VERSIONING_MODES:
        mode = "bucket" if state.versioning == "bucket" else "keys"
    else:
        mode = run.detect_versioning()
    if remote is None:
        remote = state.remote_records()
    entries = inventory_entries(staged, remote, mode)
    digest = entries_digest(entries, mode)
    if newest is not None and newest.entries_digest == digest:
        log.info("mirror.snapshot.unchanged", snapshot=newest.id)
        return newest.id, False
    if not entries and newest is None:
        return None, False
    created = now or datetime.now(UTC)
    inventory = build_inventory(new_snapshot_id(created), created, target.display_url, mode,
                                entries)
    faultpoints.checkpoint("snapshot.write")
    write_inventory(target, inventory)
    state.record_snapshot(SnapshotRecord(inventory.id, created.isoformat(),
                                         inventory.object_count, inventory.total_size, digest),
                          run.run_id)
    return inventory.id, True


