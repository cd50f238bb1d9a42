"""The mirror: staging folder -> target, by SHA-256, with a snapshot inventory as commit point.

Owns: ``needs_upload`` (pure: a staged file is uploaded when its SHA-256 differs from the last
copy uploaded under its key), ``inventory_entry`` (pure: what a snapshot says of an upload),
``run_mirror`` (scan staging through ``daemon.sync.scan``, plan, upload with ``transfers``
concurrent uploads, verify each by HEAD, record it, then write the inventory), and keeping old
bytes reachable ("keys" versioning: copy ``<key>`` to ``versions/<key>/<sha256>`` just before
it is overwritten).

Memory stays bounded however large staging is: the plan is a merge of the staged files with
the state database, written to a temporary table of that database, uploaded from there a page
at a time; the inventory is written to a file as it is built and uploaded from it.  A run with
staging exactly as the newest snapshot covers it (``daemon.sync.scan.fingerprint_staging``)
reads no row of the state database and makes no request at all; a run with nothing to upload
makes no request but to compare the inventory's digest with the newest snapshot's.  A key
whose file left staging stays in the target but drops out of the next inventory.

Must not: delete anything from the target (``daemon.sync.prune`` does, when asked), talk to
boto3 (``daemon.targets.s3`` does), configure logging, or leave a thread running.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from aip import constants as C
from aip.progress import Meter
from aip.spill import SpillList
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
    PAGE,
    CachedHash,
    RemoteRecord,
    RunCounts,
    SnapshotRecord,
    StateDB,
    open_state,
)
from daemon.sync.inventory import InventoryEntry, InventoryHeader, InventoryWriter
from daemon.sync.layout import new_snapshot_id, versioned_key
from daemon.sync.scan import StagedFile, scan_staging, staged_stats
from daemon.sync.snapshots import write_inventory
from daemon.targets import Target, open_target
from daemon.targets.base import RemoteObject

__all__ = [
    "MirrorPlan",
    "MirrorResult",
    "Pending",
    "inventory_entry",
    "needs_upload",
    "pending_uploads",
    "run_mirror",
    "target_binding",
]

log = structlog.get_logger(__name__)

#: Uploads listed in a dry run's result (the counts are always exact).
_DRY_RUN_LISTED = 10_000


# --- the pure part ----------------------------------------------------------------------------
def needs_upload(staged: CachedHash, remote: RemoteRecord | None) -> bool:
    """True when the staged bytes are not the ones last uploaded under their key.  Pure."""
    return remote is None or remote.sha256 != staged.sha256 or remote.size != staged.size


def inventory_entry(record: RemoteRecord, versioning: Versioning) -> InventoryEntry:
    """What a snapshot says of the last upload under a key.  Pure.

    Its version is the S3 VersionId (bucket versioning) or the content-addressed key its
    bytes are kept under once overwritten (keys mode).
    """
    version = (record.version_id if versioning == "bucket"
               else versioned_key(record.key, record.sha256))
    return InventoryEntry(key=record.key, sha256=record.sha256, md5=record.md5,
                          size=record.size, version=version, parent=record.parent or None)


@dataclass(frozen=True, slots=True)
class MirrorPlan:
    """What a run will do: upload (new or changed bytes) and skip (same bytes uploaded)."""

    uploads: int = 0
    bytes_to_upload: int = 0
    skips: int = 0
    overwrites: int = 0


def _plan(state: StateDB, *, scanned_only: bool) -> MirrorPlan:
    """Merge the staged files with the last uploads and write the uploads to the state's
    plan table, largest first.  Reads the staged files a page at a time."""
    state.plan_begin()
    uploads = nbytes = skips = overwrites = 0
    after = ""
    debug = log.bind()  # one bound logger: a filtered debug call is then nearly free
    while page := state.staged_page(after, scanned_only=scanned_only):
        after = page[-1][0].name
        batch: list[tuple[str, int]] = []
        for staged, remote in page:
            if needs_upload(staged, remote):
                batch.append((staged.name, staged.size))
                nbytes += staged.size
                overwrites += remote is not None
            else:
                skips += 1
                debug.debug("mirror.upload.skipped", key=staged.name, sha256=staged.sha256)
        uploads += len(batch)
        state.plan_add(batch)
    state.plan_seal()
    return MirrorPlan(uploads, nbytes, skips, overwrites)


def _planned(state: StateDB, folder: Path) -> Iterator[tuple[StagedFile, RemoteRecord | None]]:
    """The sealed plan's uploads in order, a page at a time."""
    position = 0
    while page := state.plan_page(position):
        position = page[-1][0]
        for _, staged, remote in page:
            yield StagedFile.from_cache(folder, staged), remote


def _staged_without_record(state: StateDB) -> Iterator[CachedHash]:
    """Staged files never uploaded from this state, in name order."""
    after = ""
    while page := state.staged_page(after):
        after = page[-1][0].name
        yield from (staged for staged, remote in page if remote is None)


@dataclass(frozen=True)
class MirrorResult:
    """What a run did.  ``snapshot_id`` is the newest complete snapshot after the run;
    ``to_upload`` lists (name, size) of the first uploads a dry run would make."""

    run_id: int | None
    plan: MirrorPlan
    #: the keys uploaded and verified, in the plan's order (largest first, then by name); of
    #: a million, a few thousand in memory at most (``aip.spill.SpillList``)
    uploaded: Collection[str] = ()
    failed: dict[str, str] = field(default_factory=dict)
    bytes_uploaded: int = 0
    snapshot_id: str | None = None
    snapshot_written: bool = False
    stopped: bool = False
    dry_run: bool = False
    to_upload: tuple[tuple[str, int], ...] = ()
    staged: int = 0

    @property
    def skipped(self) -> int:
        return self.plan.skips

    def as_json(self) -> dict[str, Any]:
        """The result as ``mirror --json`` prints it."""
        return {
            "dry_run": self.dry_run, "stopped": self.stopped,
            "to_upload": [name for name, _ in self.to_upload] if self.dry_run else None,
            "uploaded": len(self.uploaded), "skipped": self.plan.skips,
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
        #: appended by ``execute`` in the plan's order, as each upload and every one planned
        #: before it have ended (``upload`` runs on the transfer threads, in any order)
        self.uploaded: SpillList[str] = SpillList()
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

    def bootstrap(self) -> None:
        """Reconcile a state that has never seen this target with what the target holds.

        Runs once per (state, target): one listing of the root, merged with the staged
        names (both in key order), and a HEAD per staged name that exists remotely without a
        record.  Adopts identical objects (no re-upload) and records differing ones so that
        keys mode archives them before overwriting.
        """
        listed = adopted = 0
        staged = _staged_without_record(self.state)
        wanted = next(staged, None)
        for obj in self.target.list_keys(""):
            if "/" in obj.key:
                continue
            listed += 1
            while wanted is not None and wanted.name < obj.key:
                wanted = next(staged, None)
            if wanted is None or wanted.name != obj.key:
                continue
            head = self.target.head(obj.key)
            if head is None or head.sha256 is None or head.md5 is None:
                log.warning("mirror.bootstrap.foreign", key=obj.key,
                            detail="no sha256 metadata; it will be overwritten")
                continue
            self.state.record_upload(RemoteRecord(
                key=obj.key, size=head.size, sha256=head.sha256, md5=head.md5,
                version_id=head.version_id, etag=head.etag, part_size=head.part_size,
                parent=wanted.parent if head.sha256 == wanted.sha256 else None))
            adopted += 1
        self.state.set_bootstrapped()
        log.info("mirror.bootstrap.done", remote_keys=listed, adopted=adopted)

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
        """Send one staged file, verify it, and record it (with its parent)."""
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
            etag=head.etag, part_size=head.part_size, parent=f.parent)
        self.state.record_upload(record, self.run_id)
        faultpoints.checkpoint("upload.recorded")
        with self._lock:
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

    def execute(self, plan: MirrorPlan) -> None:
        """Run the planned uploads, a bounded number in flight; stop early on a fatal error
        or a stop request."""
        workers = max(1, min(self.config.target.transfers, plan.uploads))
        self.meter = Meter("upload", label="uploading", unit="AIPs",
                           objects_total=plan.uploads, bytes_total=plan.bytes_to_upload)
        pending: dict[Future[None], str] = {}
        # The uploads in the order submitted (the plan's) until they and all before them end,
        # so that ``uploaded`` is in one order whatever the transfer threads did.
        # (A slow upload at the head holds back the names of the ones after it that ended.)
        submitted: deque[tuple[Future[None], str]] = deque()
        try:
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="aipsync-put") as pool:
                for f, old in _planned(self.state, self.config.staging.dir):
                    if self.halt.is_set():
                        break
                    future = pool.submit(self.upload, f, old)
                    pending[future] = f.key
                    submitted.append((future, f.key))
                    if len(pending) >= 2 * workers:
                        done, _ = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            self._settle(future, pending.pop(future))
                        self._note_uploaded(submitted)
                done, _ = wait(pending)
                for future in done:
                    self._settle(future, pending.pop(future))
        finally:
            # Every upload has ended here (the pool waits for them), however this ends.
            self._note_uploaded(submitted)
        if not self.halt.is_set():
            self.meter.finish()

    def _note_uploaded(self, submitted: deque[tuple[Future[None], str]]) -> None:
        """Move the ended uploads at the head of ``submitted`` to ``uploaded`` (the ones that
        succeeded)."""
        while submitted and submitted[0][0].done():
            future, key = submitted.popleft()
            if future.exception() is None:
                self.uploaded.append(key)

    def _settle(self, future: Future[None], key: str) -> None:
        exc = future.exception()
        if exc is None or isinstance(exc, StopRequestedError):
            return
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
            self.failed[key] = message
        self.state.record_failure(key, self.run_id, message)
        log.error("mirror.upload.failed", key=key, error=message,
                  msgid=type(exc).__qualname__,
                  exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))


@dataclass(frozen=True, slots=True)
class Pending:
    """Staged AIPs whose bytes are not (known to be) in the target: how many, and the first
    names in name order."""

    count: int
    names: tuple[str, ...]


def pending_uploads(staging_dir: Path, state: StateDB, *, hash_changed: bool,
                    listed: int = 50) -> Pending:
    """Staged AIPs whose bytes are not (known to be) in the target yet.

    Args:
        staging_dir: the staging folder.
        state: the state database (hash cache and remote records).
        hash_changed: True: hash files whose stat key changed and compare SHA-256 with the
            last upload (the watcher's healing scan; updates the hash cache).  False: never
            read a file; a file whose stat key is not cached counts as pending (``status``).
        listed: how many names to return (the count is always exact).

    Returns:
        The count and the first names.
    """
    if hash_changed:
        scan_staging(staging_dir, state)
        plan = _plan(state, scanned_only=False)
        names = [f.name for f, _ in itertools.islice(_planned(state, staging_dir), listed)]
        return Pending(plan.uploads, tuple(sorted(names)))
    count = 0
    first: list[str] = []
    batch: list[tuple[str, int, int, int]] = []

    def settle() -> None:
        nonlocal count, first
        names = [row[0] for row in batch]
        cache, remote = state.cached_hashes(names), state.remote_records(names)
        late = []
        for name, size, mtime_ns, inode in batch:
            hit, rec = cache.get(name), remote.get(name)
            if hit is None or not hit.matches(size, mtime_ns, inode) or needs_upload(hit, rec):
                late.append(name)
        count += len(late)
        first = heapq.nsmallest(listed, first + late)

    for row in staged_stats(staging_dir) if staging_dir.is_dir() else ():
        batch.append(row)
        if len(batch) >= PAGE:
            settle()
            batch = []
    settle()
    return Pending(count, tuple(first))


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
    newest = state.newest_snapshot
    newest_rec = state.snapshot(newest) if newest else None
    known = state.staging_fingerprint if newest_rec is not None and not dry_run else None
    scan = scan_staging(config.staging.dir, state, workers=config.target.transfers,
                        known=known)
    if scan.unchanged:
        # Staging is as the newest snapshot covers it: the run is recorded, nothing else.
        run_id = state.start_run("mirror")
        state.finish_run(run_id, "ok", RunCounts(seen=scan.files, skipped=scan.files),
                         snapshot_id=newest)
        log.info("mirror.run.done", uploaded=0, skipped=scan.files, bytes=0, snapshot=newest,
                 snapshot_written=False, unchanged=True,
                 duration_s=round(time.monotonic() - started, 3))
        return MirrorResult(run_id=run_id, plan=MirrorPlan(skips=scan.files),
                            snapshot_id=newest, staged=scan.files)
    if not scan.files and newest_rec is not None and newest_rec.objects > 0 and files is None:
        raise StagingError(path=str(config.staging.dir),
                           detail=f"holds no AIP while snapshot {newest} names "
                                  f"{newest_rec.objects}; refusing to write an empty snapshot "
                                  "(is the disk mounted? did the export fail?)")
    if files is not None:
        # Only the hinted files are candidates; the cache (and so the inventory) covers all.
        state.scan_keep_only(files)
    plan = _plan(state, scanned_only=files is not None)
    log.info("mirror.plan", staged=scan.files, upload=plan.uploads, skip=plan.skips,
             bytes=plan.bytes_to_upload, dry_run=dry_run)
    if dry_run:
        listed = []
        for f, _ in _planned(state, config.staging.dir):
            listed.append((f.name, f.size))
            if len(listed) >= _DRY_RUN_LISTED:
                break
        return MirrorResult(run_id=None, plan=plan, snapshot_id=newest, dry_run=True,
                            to_upload=tuple(listed), staged=scan.files)

    run = _Run(config, state, target, stop)
    run.run_id = state.start_run("mirror")
    try:
        if plan.uploads and not state.bootstrapped:
            run.bootstrap()
            plan = _plan(state, scanned_only=files is not None)
        if plan.uploads:
            run.versioning = run.detect_versioning()
            aborted = target.abort_orphaned_uploads(
                state.known_upload_ids(),
                older_than=timedelta(hours=config.target.abort_orphaned_after_hours))
            if aborted:
                log.info("mirror.multipart.orphans_aborted", count=aborted)
            run.execute(plan)
        counts = RunCounts(seen=scan.files, uploaded=len(run.uploaded), skipped=plan.skips,
                           failed=len(run.failed), bytes_uploaded=run.bytes)
        if run.fatal is not None:
            raise run.fatal
        if run.failed:
            first = next(iter(sorted(run.failed.items())))
            raise UploadError(f"{len(run.failed)} upload(s) failed (first: {first[0]}: "
                              f"{first[1]}); the previous snapshot stays the newest")
        if len(run.uploaded) < plan.uploads:
            state.finish_run(run.run_id, "stopped", counts, snapshot_id=newest)
            log.info("mirror.run.stopped", uploaded=len(run.uploaded))
            return MirrorResult(run.run_id, plan, run.uploaded, {}, run.bytes,
                                snapshot_id=newest, stopped=True, staged=scan.files)
        snapshot_id, written = _commit(config, state, target, run, newest_rec, now)
        if files is None or not written:
            state.set_staging_fingerprint(scan.fingerprint if snapshot_id else None)
        state.finish_run(run.run_id, "ok", counts, snapshot_id=snapshot_id)
        log.info("mirror.run.done", uploaded=len(run.uploaded), skipped=plan.skips,
                 bytes=run.bytes, snapshot=snapshot_id, snapshot_written=written,
                 duration_s=round(time.monotonic() - started, 3))
        return MirrorResult(run.run_id, plan, run.uploaded, {}, run.bytes,
                            snapshot_id=snapshot_id, snapshot_written=written,
                            staged=scan.files)
    except BaseException as exc:
        counts = RunCounts(seen=scan.files, uploaded=len(run.uploaded),
                           skipped=plan.skips, failed=len(run.failed),
                           bytes_uploaded=run.bytes)
        state.finish_run(run.run_id, "failed", counts, snapshot_id=newest,
                         error=f"{type(exc).__name__}: {exc}")
        if not isinstance(exc, TargetPermanentError | TargetUnreachableError):
            log.error("mirror.run.failed", error=str(exc), msgid=type(exc).__qualname__,
                      exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))
        raise


def _versioning(state: StateDB, run: _Run) -> Versioning:
    if run.uploaded:
        return run.versioning
    if state.versioning in VERSIONING_MODES:
        return "bucket" if state.versioning == "bucket" else "keys"
    return run.detect_versioning()


def _commit(config: Config, state: StateDB, target: Target, run: _Run,
            newest: SnapshotRecord | None, now: datetime | None) -> tuple[str | None, bool]:
    """Write the inventory unless it would equal the newest snapshot's; returns (id, written).

    The inventory is written to a file in the state folder as the state database yields its
    entries, a page at a time, then uploaded from it.
    """
    mode = _versioning(state, run)
    created = now or datetime.now(UTC)
    header = InventoryHeader(id=new_snapshot_id(created), created=created,
                             root=target.display_url, versioning=mode)
    path = config.state.dir / f"{C.TEMP_PREFIX}inventory-{os.getpid()}.jsonl"
    try:
        with InventoryWriter(path, header) as writer:
            after = ""
            while page := state.snapshot_page(after):
                after = page[-1].key
                for record in page:
                    writer.add(inventory_entry(record, mode))
            summary = writer.finish()
        assert writer.digests is not None
        if newest is not None and newest.entries_digest == summary.entries_sha256:
            log.info("mirror.snapshot.unchanged", snapshot=newest.id)
            return newest.id, False
        if not summary.object_count and newest is None:
            return None, False
        faultpoints.checkpoint("snapshot.write")
        write_inventory(target, path, header, summary, writer.digests)
    finally:
        path.unlink(missing_ok=True)
    state.record_snapshot(SnapshotRecord(header.id, created.isoformat(), summary.object_count,
                                         summary.total_size, summary.entries_sha256),
                          run.run_id)
    return header.id, True
