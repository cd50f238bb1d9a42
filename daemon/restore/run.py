"""Restore: AIPs back from a snapshot in the target, verified, then ingested into the repository.

Owns: ``aipsync restore`` end to end, in three steps, each finished before the next starts:

1. **Choose.**  The snapshot (``--snapshot ID``, the newest not newer than ``--at``, or the
   newest) and the AIP of the object asked for (``--handle H``: the inventory key
   ``<TYPE>@<prefix>-<suffix>.zip`` of any type; ``--site``: the SITE AIP).
2. **Download and verify.**  The object's AIP and, breadth first, every AIP its manifest's
   child pointers name, and theirs (a mapped item listed by two collections is fetched once),
   each exactly as the inventory names it (its version: an S3 VersionId, or a versioned key),
   into ``[restore] work_dir/<snapshot id>/``.  Downloads go through partial files with
   temporary names that a later run resumes with a range read; a file only gets its final
   name once its size and SHA-256 equal the inventory's, and a complete file left by an
   earlier run is re-hashed before it is used.  Nothing is ingested before every download of
   the tree has verified.
3. **Ingest.**  Holding the ``repository`` lock (the one the export holds: a restore waits for
   a running export, up to ``[restore] lock_timeout``, and the daemon's next export waits for
   the restore), one ingest of the top package with its children (``packager -r [-k|-f] -a``
   semantics, parents before children): in-process and in one transaction for the embedded
   repository (a failure changes nothing), or ``dspace packager ...`` for ``kind = "dspace"``.
   ``--dry-run`` stops after step 2 and says what the ingest would do (``predict``).

The pure part (choosing keys, walking the tree with an injected ``expand``, the mode rules,
what a dry run predicts) is ``daemon.restore.plan``; this module does the I/O (target, files,
repository, locks).

Must not: write to the repository before every download verified, print (the CLI does), ask
questions itself (a ``confirm`` callback is passed in), delete anything from the target, or
follow a child pointer that is not a plain AIP file name the snapshot names.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from aip import constants as C
from aip.errors import AipError, Outcome, UsageError, count_actions
from aip.files import Digests, sha256_file
from aip.mets.pointers import read_parent
from aip.model import check_handle
from aip.packager.manifest import parse_package
from aip.packager.modes import IngestMode
from aip.packager.reader import PackageZip
from aip.progress import Meter
from aip.spill import SpillList, SpillMap
from daemon.core import faultpoints
from daemon.core.config import Config
from daemon.core.errors import (
    LockedError,
    NotInSnapshotError,
    RestoreDeclinedError,
    SourceError,
    StopRequestedError,
)
from daemon.core.jsondoc import Listed
from daemon.core.locks import Lock, LockName
from daemon.core.state import StateDB, open_state
from daemon.restore.plan import (
    Planned,
    Tree,
    TreeEntry,
    candidate_keys,
    check_child_href,
    find_key,
    ingest_spec,
    key_handle,
    predict,
    resolve_mode,
    walk_tree,
)
from daemon.source import open_source
from daemon.source.base import IngestSpec, Source, name_set
from daemon.sync.download import download_object
from daemon.sync.inventory import InventoryEntry, InventoryReader
from daemon.sync.layout import VERSIONS_DIR, is_snapshot_id
from daemon.sync.snapshots import (
    SnapshotInfo,
    fetch_inventory,
    list_snapshots,
    open_inventory,
    select_snapshot,
)
from daemon.targets import Target, open_target

__all__ = [
    "DownloadStats",
    "Planned",
    "RestoreRequest",
    "RestoreResult",
    "TreeEntry",
    "check_child_href",
    "find_key",
    "ingest_spec",
    "key_handle",
    "predict",
    "resolve_mode",
    "run_restore",
    "walk_tree",
]

log = structlog.get_logger(__name__)


# =============================================================================================
# Requests and results
# =============================================================================================
@dataclass(frozen=True, slots=True)
class RestoreRequest:
    """What ``aipsync restore`` was asked: one object (``handle``) or the whole ``site``,
    from which snapshot, in which mode, under which parent; a dry run or not; and whether
    the replace confirmation was answered (``yes``)."""

    handle: str | None = None
    site: bool = False
    snapshot_id: str | None = None
    at: datetime | None = None
    mode: IngestMode | None = None
    parent: str | None = None
    dry_run: bool = False
    yes: bool = False

    def __post_init__(self) -> None:
        if self.mode is not None:
            object.__setattr__(self, "mode", IngestMode(self.mode))


@dataclass(frozen=True, slots=True)
class DownloadStats:
    """What step 2 did: AIPs fetched, complete files reused (re-hashed), bytes received."""

    downloaded: int = 0
    reused: int = 0
    bytes: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did (or, with ``dry_run``, would do).

    ``objects``: per handle, what the ingest reported (restored, replaced, skipped, mapped,
    submitted...).  ``planned``: the dry run's prediction (empty for a real run).
    ``exit_code``: 0, or a warning code (1, 100, 101) when objects were skipped or warnings
    were raised.
    """

    run_id: int
    snapshot: SnapshotInfo
    mode: IngestMode
    root: TreeEntry
    packages: int
    dry_run: bool
    work_dir: Path
    source: str
    stats: DownloadStats
    planned: tuple[Planned, ...] = ()
    objects: Collection[Outcome] = ()
    warnings: tuple[str, ...] = ()
    lock_wait_seconds: float = 0.0
    exit_code: int = C.EXIT_OK

    @property
    def summary(self) -> dict[str, int]:
        """Action -> count (of ``planned`` for a dry run, of ``objects`` otherwise)."""
        if self.dry_run:
            return count_actions(p.action for p in self.planned)
        return count_actions(o.action for o in self.objects)

    def as_json(self) -> dict[str, Any]:
        """The result as ``restore --json`` prints it."""
        objects = self.objects
        rows: Collection[dict[str, Any]] = (
            [{"handle": p.handle, "type": p.type, "package": p.key, "exists": p.exists,
              "action": p.action, "detail": p.detail} for p in self.planned]
            if self.dry_run else
            # a row per object restored, made as it is written (daemon.core.jsondoc)
            Listed(len(objects), lambda: ({"handle": o.handle, "action": o.action,
                                           "detail": o.detail, "package": o.package}
                                          for o in objects)))
        return {
            "snapshot": self.snapshot.as_json(),
            "handle": self.root.handle, "type": self.root.type, "package": self.root.key,
            "mode": self.mode, "dry_run": self.dry_run, "source": self.source,
            "packages": self.packages, "downloaded": self.stats.downloaded,
            "reused": self.stats.reused, "bytes_downloaded": self.stats.bytes,
            "work_dir": str(self.work_dir),
            "lock_wait_seconds": round(self.lock_wait_seconds, 3),
            "handles": rows, "summary": self.summary, "warnings": list(self.warnings),
            "exit_code": self.exit_code,
        }


# =============================================================================================
# The I/O part
# =============================================================================================
def _safe_dest(run_dir: Path, key: str) -> Path:
    """The local file of ``key``: a plain name inside the run folder (never a symlink)."""
    key_handle(key)  # a plain AIP file name, or ValueError
    dest = run_dir / key
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(dest)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{dest}: exists and is not a regular file; remove it")
    return dest


def _reusable(dest: Path, entry: InventoryEntry) -> bool:
    """A complete file from an earlier run: kept only if its bytes are the snapshot's."""
    try:
        if dest.stat().st_size == entry.size and sha256_file(dest) == entry.sha256:
            return True
    except FileNotFoundError:
        return False
    dest.unlink(missing_ok=True)
    log.warning("restore.download.discarded", key=entry.key, path=str(dest),
                detail="a file left by an earlier run does not match the snapshot")
    return False


#: Keys looked up in the inventory at once while a level downloads.
_LOOKUP_CHUNK = 1024


class _Fetcher:
    """Step 2: downloads a level of the tree at a time, verifies, and reads child pointers."""

    def __init__(self, config: Config, target: Target, inventory: InventoryReader,
                 run_dir: Path, root: str, stop: threading.Event | None) -> None:
        self.config = config
        self.target = target
        self.inventory = inventory
        self.snapshot = inventory.id
        self.run_dir = run_dir
        self.root = root
        self.stop = stop
        #: The parent the top AIP's manifest names.
        self.root_parent: str | None = None
        #: child key -> the key whose AIP points at it, for the level being found (a level of
        #: a large site is every item of it: a SpillMap, the previous level's dropped).
        self.pointed_by = SpillMap()
        # Keys mode: which versioned keys exist (one listing), so most downloads are one GET.
        self.versions: set[str] | None = None
        if inventory.versioning == "keys":
            self.versions = {o.key for o in target.list_keys(f"{VERSIONS_DIR}/")}
        self._lock = threading.Lock()
        self._parse_lock = threading.Lock()
        self.downloaded = 0
        self.reused = 0
        self.bytes = 0
        # The tree is found a level at a time: each level adds to the totals (expand).
        self.meter = Meter("download", label="downloading", unit="AIPs")

    def fetch(self, entry: InventoryEntry) -> SpillList[str]:
        """Download (or reuse) one AIP, verified; its child keys (containers only)."""
        key = entry.key
        if self.stop is not None and self.stop.is_set():
            raise StopRequestedError(what=f"downloading {key}")
        dest = _safe_dest(self.run_dir, key)
        if _reusable(dest, entry):
            with self._lock:
                self.reused += 1
        else:
            digests = self._download(entry, dest)
            faultpoints.checkpoint("restore.downloaded")
            with self._lock:
                self.downloaded += 1
                self.bytes += digests.size
        obj_type, _ = key_handle(key)
        children: SpillList[str] = SpillList()
        if obj_type in C.CONTAINER_TYPES or key == self.root:
            children = self._children(key, dest)
        self.meter.advance(nbytes=entry.size, current=key)
        return children

    def _download(self, entry: InventoryEntry, dest: Path) -> Digests:
        """One object as the snapshot names it, verified.  Not fsynced: the work folder is
        scratch, and a file found there is re-hashed before it is used (``_reusable``)."""
        return download_object(self.config, entry.key, entry.version, dest,
                               sha256=entry.sha256, size=entry.size, target=self.target,
                               durable=False, archived=self.versions)

    def _children(self, key: str, path: Path) -> SpillList[str]:
        with PackageZip(path) as package:
            manifest = package.read_manifest()
        if key.startswith(f"{C.TYPE_ITEM}@"):
            # An item points at no child: its parent is all the walk needs, read by a
            # streaming parse (the ingest parses the whole manifest, once).
            if key == self.root:
                self.root_parent = read_parent(manifest)
            return SpillList()
        # One container manifest parsed at a time: four collections of 25,000 items parsed
        # at once, on four threads, each left its thread's heap at its high-water mark.
        with self._parse_lock:
            parsed = parse_package(manifest, config=self.config.aip.ingest, path=str(path))
        del manifest
        if key == self.root:
            self.root_parent = parsed.parent
        children: SpillList[str] = SpillList()
        for child in parsed.children:
            href = check_child_href(key, child.href)
            with self._lock:
                if self.pointed_by.get(href) is None:
                    self.pointed_by[href] = key
            children.append(href)
        return children

    def _entries(self, level: Collection[str]) -> Iterator[InventoryEntry]:
        """The level's inventory entries, in key order, looked up ``_LOOKUP_CHUNK`` at a time
        (never the whole level's at once: the keys are put in order by a SpillMap); a key
        the snapshot lacks is an error, raised when its chunk is looked up (what was
        downloaded before stays, for the next attempt)."""
        pointed_by, self.pointed_by = self.pointed_by, SpillMap()
        keys = name_set(level)
        chunk: list[str] = []
        for key in keys:
            chunk.append(key)
            if len(chunk) == _LOOKUP_CHUNK:
                yield from self._looked_up(chunk, pointed_by)
                chunk = []
        if chunk:
            yield from self._looked_up(chunk, pointed_by)
        keys.close()
        pointed_by.close()

    def _looked_up(self, chunk: list[str], pointed_by: SpillMap) -> Iterator[InventoryEntry]:
        found = self.inventory.lookup(chunk)
        for key in chunk:
            if key not in found:
                parent = pointed_by.get(key)
                raise NotInSnapshotError(key=f"{key} (a child of {parent})" if parent else key,
                                         snapshot=self.snapshot)
        self.meter.grow(len(chunk), sum(e.size for e in found.values()))
        yield from (found[key] for key in chunk)

    def expand(self, level: Collection[str]) -> dict[str, SpillList[str]]:
        """``walk_tree``'s ``expand``: one level, ``target.transfers`` downloads at a time;
        the child keys of each AIP of the level that has any.

        The first failure cancels the downloads not yet started (those running finish, so
        their partial files stay resumable) and is raised.
        """
        todo = self._entries(level)
        workers = max(1, min(self.config.target.transfers, len(level)))
        if workers == 1:
            # Only keys with children: a level of a large site is every item of it.
            return {entry.key: found for entry in todo if (found := self.fetch(entry))}
        out: dict[str, SpillList[str]] = {}
        errors: list[BaseException] = []
        # A window of downloads in flight, not a future per key of the level (a level of a
        # large site is every item of it).
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="aipsync-restore-get") as pool:
            running: dict[Future[SpillList[str]], str] = {}
            while True:
                while not errors and len(running) < 4 * workers:
                    upcoming = next(todo, None)
                    if upcoming is None:
                        break
                    running[pool.submit(self.fetch, upcoming)] = upcoming.key
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    exc = future.exception()
                    if exc is None:
                        found = future.result()
                        if found:
                            out[key] = found
                    else:
                        errors.append(exc)
        if errors:
            # A real failure wins over the stop requests it may have caused.
            real = [e for e in errors if not isinstance(e, StopRequestedError)]
            raise (real or errors)[0]
        return out



def run_restore(config: Config, request: RestoreRequest, *, target: Target | None = None,
                source: Source | None = None,
                confirm: Callable[[str], bool] | None = None,
                stop: threading.Event | None = None) -> RestoreResult:
    """Restore one object (and its descendants) or the whole site from a snapshot.

    Args:
        config: the configuration (target, repository, ``[restore]``, state folder).
        request: what to restore.
        target: an open target (default: opened from the configuration and closed).
        source: the repository to ingest into (default: ``open_source(config)``).
        confirm: asks the operator a yes/no question (a terminal); None when there is none.
            Only used for ``replace`` without ``request.yes``.
        stop: when set, no new download starts and the ingest does not begin; the result
            is marked ``stopped``.

    Returns:
        What was restored (or, with ``dry_run``, what would be).

    Raises:
        UsageError: bad handle, conflicting options, or ``replace`` without ``--yes`` and no
            terminal to ask on (nothing was downloaded).
        SnapshotNotFoundError: no complete snapshot matches (53).
        NotInSnapshotError: the handle (or a child an AIP points at) is not in it (54).
        DownloadChecksumError: a downloaded object is not the bytes the inventory names (80);
            nothing was ingested.
        TargetError: the target failed (51 unreachable, 52 refused, 55 missing object).
        RestoreDeclinedError: the operator said no (58); nothing was ingested.
        LockedError: another restore runs, or the repository lock stayed busy (44).
        AipError: the ingest failed (e.g. 42: an object exists in mode restore); the
            embedded repository is unchanged (one transaction).
        SourceError: the DSpace command line failed (56).
    """
    if request.site == (request.handle is not None):
        raise UsageError("give exactly one of --handle H and --site")
    if request.handle is not None:
        try:
            check_handle(request.handle)
        except AipError:
            raise UsageError(f"--handle {request.handle!r} is not a handle "
                             "(<prefix>/<suffix>, e.g. 123456789/42)") from None
    if request.parent is not None:
        try:
            check_handle(request.parent)
        except AipError:
            raise UsageError(f"--parent {request.parent!r} is not a handle") from None
    if request.snapshot_id is not None and request.at is not None:
        raise UsageError("give --snapshot or --at, not both")
    site = request.site or request.handle == config.repository.site_handle
    mode = resolve_mode(request.mode, site=site, default=config.restore.mode)
    if mode == IngestMode.SUBMIT and request.parent is None:
        raise UsageError("--mode submit needs --parent H (the new parent of the object)")
    if site and request.parent is not None:
        raise UsageError("--parent makes no sense with --site")
    asks = mode == IngestMode.REPLACE and not request.yes and not request.dry_run
    if asks and confirm is None:
        raise UsageError("--mode replace overwrites existing objects: confirm with --yes "
                         "(required when there is no terminal to ask on); nothing was done")
    source = source or open_source(config)
    own = target is None
    tgt = target if target is not None else open_target(config.target)
    try:
        with Lock(config.state.dir, LockName.RESTORE, purpose="restore"), \
                open_state(config.state.dir) as state:
            state.close_stale_restores()
            return _run(config, request, mode=mode, site=site, target=tgt, source=source,
                        confirm=confirm if asks else None, stop=stop, state=state)
    finally:
        if own:
            tgt.close()


def _run(config: Config, request: RestoreRequest, *, mode: IngestMode, site: bool,
         target: Target, source: Source, confirm: Callable[[str], bool] | None,
         stop: threading.Event | None, state: StateDB) -> RestoreResult:
    source.preflight()
    snaps = list_snapshots(target)
    chosen = select_snapshot(snaps, snapshot_id=request.snapshot_id, at=request.at)
    run_dir = config.restore_dir / chosen.id
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A whole site reads every entry: fetch the inventory once; one object reads its blocks.
    local = run_dir / f"{C.TEMP_PREFIX}inventory.jsonl"
    try:
        inventory = (fetch_inventory(target, chosen, local) if site
                     else open_inventory(target, chosen))
        return _restore(config, request, mode=mode, site=site, target=target, source=source,
                        confirm=confirm, stop=stop, state=state, chosen=chosen,
                        inventory=inventory, run_dir=run_dir)
    finally:
        local.unlink(missing_ok=True)


def _unpointed_items(tree: Tree, inventory: InventoryReader, fetcher: _Fetcher
                     ) -> list[TreeEntry]:
    """Items whose owning collection is in the tree although its AIP does not point at them,
    downloaded and verified like the rest.

    DSpace's collection AIPs leave withdrawn items out (its export walks archived items
    only), but the snapshot holds their own AIPs, each with its parent (the owning
    collection, ``InventoryEntry.parent``), so a restore of the collection brings them back
    too.  The inventory is read through once, only when the tree holds a collection.
    """
    collections = {e.handle: e for e in tree if e.type == C.TYPE_COLLECTION}
    if not collections:
        return []
    found = {entry.key: entry for entry in inventory.entries()
             if entry.parent in collections and entry.key.startswith(f"{C.TYPE_ITEM}@")
             and not tree.has(entry.key)}
    if not found:
        return []
    fetcher.expand(sorted(found))
    log.info("restore.unpointed", items=len(found),
             detail="items of the restored collections their AIPs do not point at (withdrawn "
                    "items of a DSpace-made backup): ingested explicitly")
    out = []
    for key in sorted(found):
        owner = collections[str(found[key].parent)]
        out.append(TreeEntry(key, C.TYPE_ITEM, key_handle(key)[1], owner.depth + 1,
                             (owner.key,), pointed=False))
    return out


def _restore(config: Config, request: RestoreRequest, *, mode: IngestMode, site: bool,
             target: Target, source: Source, confirm: Callable[[str], bool] | None,
             stop: threading.Event | None, state: StateDB, chosen: SnapshotInfo,
             inventory: InventoryReader, run_dir: Path) -> RestoreResult:
    wanted = config.repository.site_handle if site else request.handle
    assert wanted is not None
    root_key = find_key(inventory.lookup(candidate_keys(wanted)).keys(), wanted)
    if root_key is None:
        raise NotInSnapshotError(key=wanted, snapshot=chosen.id)
    run_id = state.start_restore(snapshot_id=chosen.id, handle=wanted,
                                 mode=f"{mode}{' (dry run)' if request.dry_run else ''}")
    structlog.contextvars.bind_contextvars(restore_id=run_id, handle=wanted)
    log.info("restore.start", snapshot=chosen.id, snapshot_created=chosen.created.isoformat(),
             mode=mode, dry_run=request.dry_run, root=root_key, source=source.name,
             target=target.display_url)
    pruned = prune_work_dirs(config.restore_dir, keep=chosen.id,
                             keep_days=config.restore.keep_work_days, now=time.time())
    if pruned:
        log.info("restore.work.pruned", folders=pruned,
                 detail="downloads of earlier restores of other snapshots, untouched for "
                        "longer than restore.keep_work_days")
    tree = Tree()
    packages = 0
    stats = DownloadStats()
    try:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        started = time.monotonic()
        fetcher = _Fetcher(config, target, inventory, run_dir, root_key, stop)
        tree = walk_tree(root_key, fetcher.expand)
        for entry in _unpointed_items(tree, inventory, fetcher):
            tree.append(entry)
        packages = len(tree)
        fetcher.meter.finish()
        stats = DownloadStats(fetcher.downloaded, fetcher.reused, fetcher.bytes,
                              time.monotonic() - started)
        log.info("restore.verified", packages=packages, downloaded=stats.downloaded,
                 reused=stats.reused, bytes=stats.bytes, duration_s=round(stats.seconds, 3),
                 detail="every AIP matched the inventory's size and SHA-256")
        root = tree.top
        top_parent = None if site or request.parent else fetcher.root_parent
        # What exists now: the dry run's answer, and the confirmation's count.  A real run
        # that asks nothing does not need it (the ingester decides, object by object).
        found = None
        if request.dry_run or confirm is not None:
            listed = [e.handle for e in tree] + ([top_parent] if top_parent else [])
            found = source.existing(listed, owners=request.dry_run)
        exists, owners = (found.exists, found.owners) if found is not None else (None, {})
        planned = predict(mode, tree, exists, owners=owners, top_parent=top_parent,
                          top_parent_exists=None if exists is None or top_parent is None
                          else exists.get(top_parent, False),
                          skip_if_parent_missing=config.restore.skip_if_parent_missing,
                          keep_below_existing=source.keep_below_existing
                          ) if request.dry_run else []
        base = RestoreResult(run_id=run_id, snapshot=chosen, mode=mode, root=root,
                             packages=packages, dry_run=request.dry_run, work_dir=run_dir,
                             source=source.name, stats=stats, planned=tuple(planned))
        if request.dry_run:
            state.finish_restore(run_id, "dry-run", packages=packages,
                                 bytes_downloaded=stats.bytes, summary=base.summary)
            log.info("restore.dry_run.done", packages=packages, summary=base.summary,
                     detail="nothing was changed; the verified downloads are kept for the "
                            "real run")
            return base
        if confirm is not None:
            existing = (sum(1 for e in tree if exists.get(e.handle))
                        if exists is not None else None)
            what = (f"{existing} existing object(s)" if existing is not None
                    else "the existing objects")
            question = (f"Replace {what} ({'the whole site' if site else wanted} and everything "
                        f"below it, {packages} AIPs) with their copies from snapshot "
                        f"{chosen.id} ({chosen.created.isoformat(timespec='seconds')})? "
                        "[y/N] ")
            if not confirm(question):
                raise RestoreDeclinedError(detail=f"replace of {wanted} from {chosen.id}")
        if stop is not None and stop.is_set():
            raise StopRequestedError(what="the ingest started")
        spec = ingest_spec(config, run_dir / root_key, mode=mode, site=site,
                           parent=request.parent, tree=tree)
        # The spec holds what the ingest needs of the tree (all of it only for keep-existing);
        # the walked tree itself (its temp files) is not kept through the ingest.
        tree = Tree()
        waited, outcome = _ingest_locked(config, source, spec, stop)
        exit_code = outcome.exit_code
        result = RestoreResult(
            run_id=run_id, snapshot=chosen, mode=mode, root=root, packages=packages,
            dry_run=False, work_dir=run_dir, source=source.name, stats=stats,
            planned=tuple(planned), objects=outcome.objects, warnings=outcome.warnings,
            lock_wait_seconds=waited, exit_code=exit_code)
        state.finish_restore(run_id, "ok" if exit_code == C.EXIT_OK else "warning",
                             packages=packages, bytes_downloaded=stats.bytes,
                             summary=result.summary)
        log.info("restore.done", packages=packages, summary=result.summary,
                 warnings=len(result.warnings), exit_code=exit_code,
                 lock_wait_s=round(waited, 3))
        shutil.rmtree(run_dir, ignore_errors=True)
        return result
    except StopRequestedError as exc:
        state.finish_restore(run_id, "stopped", packages=packages, bytes_downloaded=stats.bytes,
                             error=str(exc))
        log.info("restore.stopped", detail=str(exc))
        raise
    except BaseException as exc:
        state.finish_restore(run_id, "failed", packages=packages, bytes_downloaded=stats.bytes,
                             error=f"{type(exc).__name__}: {exc}")
        log.error("restore.failed", error=str(exc), msgid=type(exc).__qualname__,
                  exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED),
                  detail="nothing was written to the repository" if not isinstance(
                      exc, SourceError) else "DSpace's packager rolls back a failed run")
        raise
    finally:
        structlog.contextvars.unbind_contextvars("restore_id", "handle")


#: However small ``keep_work_days``, a folder touched this recently may belong to a restore or
#: an audit running now, and is left alone.
_WORK_MIN_AGE = 3600.0


def prune_work_dirs(folder: Path, *, keep: str, keep_days: int, now: float) -> list[str]:
    """Remove the work folders in ``folder`` untouched for more than ``keep_days`` days.

    A failed, stopped or dry-run restore keeps ``<work_dir>/<snapshot id>/`` so that the next
    restore of that snapshot reuses its verified downloads; nothing else would ever remove
    them.  Only snapshot folders and audit leftovers are considered; ``keep`` (the snapshot
    being restored) never is, nor a folder touched in the last hour.  Returns the names
    removed, sorted.
    """
    cutoff = now - max(keep_days * 86_400.0, _WORK_MIN_AGE)
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        name = entry.name
        ours = is_snapshot_id(name) or name.startswith(f"{C.TEMP_PREFIX}audit-")
        if name == keep or not ours or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            newest = max([entry.stat(follow_symlinks=False).st_mtime]
                         + [f.stat(follow_symlinks=False).st_mtime
                            for f in os.scandir(entry.path)])
        except OSError:
            continue
        if newest < cutoff:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(name)
    return sorted(removed)


def _ingest_locked(config: Config, source: Source, spec: IngestSpec,
                   stop: threading.Event | None) -> tuple[float, Any]:
    """Step 3 under the repository lock; returns (seconds waited for the lock, outcome)."""
    wait = float(config.restore.lock_timeout)

    def pause(seconds: float) -> None:
        if stop is not None and stop.is_set():
            raise StopRequestedError(what="the repository lock was free")
        time.sleep(seconds)

    t0 = time.monotonic()
    try:
        lock = Lock(config.state.dir, LockName.REPOSITORY, wait=wait,
                    purpose=f"restore {spec.package.name}", sleep=pause)
        lock.acquire()
    except LockedError as exc:
        raise LockedError(path=exc.fields.get("path", ""),
                          holder=f"{exc.fields.get('holder', '?')}; the restore waited "
                                 f"{wait:g} s for it (restore.lock_timeout), downloaded "
                                 "AIPs are kept for the next attempt") from exc
    waited = time.monotonic() - t0
    if waited >= 1.0:
        log.info("restore.lock.acquired", waited_s=round(waited, 3),
                 detail="waited for a running export")
    try:
        log.info("restore.ingest.start", package=spec.package.name, mode=spec.mode,
                 source=source.name)
        outcome = source.ingest(spec, stop=stop)
    finally:
        lock.release()
    return waited, outcome
