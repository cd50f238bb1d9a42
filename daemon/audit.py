"""The fixity audit (``aipsync verify`` and the scheduled audit): is the backup still whole?

Owns: ``run_audit`` and its checks, cheap ones first (docs/style.md E3):

- **Metadata** (every key of the snapshot, no download): the object the inventory names
  (its S3 version, or in keys mode its versioned key, else the current key when its stored
  SHA-256 is still the snapshot's) exists, with the inventory's size and stored SHA-256
  (``x-amz-meta-sha256`` / the folder target's sidecar).  One HEAD per key, ``transfers`` at
  a time; in keys mode one listing of ``versions/`` says which versioned keys exist.
- **Content** (``deep``, on all keys or a ``sample_percent`` random sample drawn from a seed
  recorded with the audit, so a run can be repeated): the object is downloaded, streamed into
  a temporary file while it is hashed (never held in memory), its size and SHA-256 compared
  with the inventory, and the file removed.
- **Extent** (newest snapshot only): every object of the repository has an AIP in the
  snapshot.  The source says what the repository holds (``Source.expected_packages``):
  embedded, the packages a full site export would write (the packager's own plan);
  ``kind = "dspace"``, DSpace's own list of objects from its database (the site, every
  community and collection, archived and withdrawn items), or, when that database cannot
  be read, the AIPs in staging, which the result says plainly (``extent_note``: withdrawn
  items never backed up cannot be counted then).  An object without a copy is reported as
  not backed up (a warning: the next cycle usually uploads it).

Results go to the log (``audit.*`` events), to the state database (``status`` shows the last
audit) and so to the metrics.  A key of the newest snapshot found missing or corrupted is
also handed back to the mirror (its upload record is dropped), so the next backup cycle
uploads it again from staging: the audit detects, the mirror repairs.

Exit codes: 0 clean; ``EXIT_AUDIT_FAILED`` (82) when a key is missing or corrupted;
``EXIT_WARN_AUDIT`` (102) when only warnings were found (objects not backed up yet, objects
without a stored SHA-256).

Must not: change anything in the target or the repository (repairs are uploads, and the
mirror makes them), hold a whole object in memory,
or take a lock other than ``audit`` (a mirror may run meanwhile: it never removes the bytes a
snapshot names; only ``prune`` does, and a key that vanished with its pruned snapshot is
reported as such).
"""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog

from aip import constants as C
from aip.progress import Meter
from aip.spill import SpillMap
from daemon.core.config import Config
from daemon.core.errors import (
    DownloadChecksumError,
    SnapshotNotFoundError,
    TargetNotFoundError,
)
from daemon.core.locks import Lock, LockName
from daemon.core.state import AuditCounts, StateDB, open_state
from daemon.source import Source, open_source
from daemon.sync.download import download_object
from daemon.sync.inventory import InventoryEntry, InventoryReader
from daemon.sync.layout import VERSIONS_DIR
from daemon.sync.snapshots import (
    SnapshotInfo,
    fetch_inventory,
    list_snapshots,
    select_snapshot,
)
from daemon.targets import Target, open_target
from daemon.targets.base import RemoteObject

__all__ = [
    "AuditProblem",
    "AuditResult",
    "extent_problems",
    "judge_head",
    "run_audit",
    "sample_keys",
]

log = structlog.get_logger(__name__)

ProblemKind = Literal["missing", "corrupted", "unverifiable", "not_backed_up"]
#: Problems kept in the state database and shown by ``status`` (the log has them all).
_KEPT_PROBLEMS = 50
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One finding: the key (or file name), what is wrong, and the facts."""

    key: str
    kind: ProblemKind
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"key": self.key, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class AuditResult:
    """What an audit checked and found.  ``status``: ok, warning, failed or stopped."""

    audit_id: int
    snapshot: SnapshotInfo
    trigger: str
    deep: bool
    sample_percent: float | None
    seed: int
    counts: AuditCounts
    problems: tuple[AuditProblem, ...]
    extent_checked: bool
    extent_objects: int
    seconds: float
    stopped: bool = False
    extent_basis: str = ""
    extent_note: str = ""

    @property
    def status(self) -> str:
        if self.stopped:
            return "stopped"
        if self.counts.missing or self.counts.corrupted:
            return "failed"
        if self.counts.unverifiable or self.counts.not_backed_up:
            return "warning"
        return "ok"

    @property
    def exit_code(self) -> int:
        return {"failed": C.EXIT_AUDIT_FAILED, "warning": C.EXIT_WARN_AUDIT,
                "stopped": C.EXIT_INTERRUPTED}.get(self.status, C.EXIT_OK)

    def as_json(self) -> dict[str, Any]:
        """The result as ``verify --json`` prints it."""
        counts = self.counts
        return {
            "audit_id": self.audit_id, "snapshot": self.snapshot.id, "status": self.status,
            "deep": self.deep, "sample_percent": self.sample_percent, "seed": self.seed,
            "checked": counts.checked, "downloaded": counts.downloaded,
            "bytes_read": counts.bytes_read, "missing": counts.missing,
            "corrupted": counts.corrupted, "unverifiable": counts.unverifiable,
            "not_backed_up": counts.not_backed_up, "extent_checked": self.extent_checked,
            "extent_objects": self.extent_objects, "extent_basis": self.extent_basis,
            "extent_note": self.extent_note,
            "problems": [p.as_json() for p in self.problems], "exit_code": self.exit_code,
        }


# =============================================================================================
# The pure part
# =============================================================================================
def sample_positions(count: int, percent: float | None, seed: int) -> range | list[int]:
    """Which of ``count`` keys (by position in key order) a content check reads: all
    (``percent`` None or >= 100) or a random ``percent`` of them (at least one), the same for
    the same seed, in increasing order.  Pure."""
    if percent is None or percent >= 100 or not count:
        return range(count)
    if percent <= 0:
        return []
    picks = max(1, math.ceil(count * percent / 100))
    return sorted(random.Random(seed).sample(range(count), picks))


def sample_keys(keys: Iterable[str], percent: float | None, seed: int) -> list[str]:
    """``sample_positions`` applied to ``keys`` (sorted).  Pure."""
    ordered = sorted(keys)
    return [ordered[i] for i in sample_positions(len(ordered), percent, seed)]


def judge_head(entry: InventoryEntry, head: RemoteObject | None) -> AuditProblem | None:
    """Compare what the target says about an object with the inventory.  Pure."""
    if head is None:
        return AuditProblem(entry.key, "missing",
                            f"named by the snapshot (version {entry.version or 'current'}) "
                            "but not in the target")
    if head.size != entry.size:
        return AuditProblem(entry.key, "corrupted",
                            f"size: the inventory says {entry.size}, the target {head.size}")
    if head.sha256 is None:
        return AuditProblem(entry.key, "unverifiable",
                            "no SHA-256 stored with the object (only --deep can check it)")
    if head.sha256 != entry.sha256:
        return AuditProblem(entry.key, "corrupted",
                            f"SHA-256: the inventory says {entry.sha256}, the object's "
                            f"metadata {head.sha256}")
    return None


def extent_problems(expected: Iterable[str] | SpillMap, inventory_keys: Iterable[str]
                    ) -> tuple[list[AuditProblem], int]:
    """Objects of the repository without a copy in the snapshot, and how many copies are of
    objects gone from the repository.  Pure; both inputs are read once, and merged in key
    order (``inventory_keys`` must come sorted, as an inventory gives them)."""
    problems: list[AuditProblem] = []
    gone = 0
    # A SpillMap gives its keys in order from its temp database; anything else is sorted.
    wanted = iter(expected) if isinstance(expected, SpillMap) else iter(sorted(set(expected)))
    want = next(wanted, None)
    for key in inventory_keys:
        while want is not None and want < key:
            problems.append(_not_backed_up(want))
            want = next(wanted, None)
        if want == key:
            want = next(wanted, None)
        else:
            gone += 1
    while want is not None:
        problems.append(_not_backed_up(want))
        want = next(wanted, None)
    return problems, gone


def _not_backed_up(name: str) -> AuditProblem:
    return AuditProblem(name, "not_backed_up", "an object of the repository without an AIP "
                                               "in the snapshot")


def _default_seed(snapshot_id: str, audit_id: int) -> int:
    digest = hashlib.sha256(f"{snapshot_id}:{audit_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


# =============================================================================================
# The I/O part
# =============================================================================================

class _Audit:
    """One audit run: the target, counters and problems shared by the worker threads."""

    def __init__(self, config: Config, target: Target, inventory: InventoryReader,
                 stop: threading.Event | None, work: Path) -> None:
        self.config = config
        self.target = target
        self.inventory = inventory
        self.stop = stop
        self.work = work  # scratch: the inventory and deep downloads
        self._lock = threading.Lock()
        self.problems: dict[str, AuditProblem] = {}
        self.counts = AuditCounts()
        self.stopped = False
        self._versions: set[str] | None = None

    def add(self, problem: AuditProblem) -> None:
        with self._lock:
            if problem.key in self.problems:
                return
            self.problems[problem.key] = problem
            field_name = problem.kind
            self.counts = replace(self.counts, **{field_name: getattr(self.counts,
                                                                      field_name) + 1})
        level = log.warning if problem.kind in ("unverifiable", "not_backed_up") else log.error
        level(f"audit.object.{problem.kind}", key=problem.key, detail=problem.detail,
              snapshot=self.inventory.id)

    def _halted(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.stopped = True
            return True
        return False

    def _pool(self, fn: Callable[[InventoryEntry], _T], entries: Iterable[InventoryEntry],
              meter: Meter) -> None:
        """``fn`` over ``entries``, ``transfers`` at a time (never more than twice that
        many waiting); the first error stops the rest (a target that is down must not be
        asked once per key) and is raised."""
        workers = max(1, self.config.target.transfers)
        pending: dict[Future[_T], InventoryEntry] = {}

        def settle(done: Iterable[Future[_T]]) -> None:
            for future in done:
                entry = pending.pop(future)
                future.result()  # the first error leaves through here
                meter.advance(nbytes=entry.size if meter.by_bytes else 0, current=entry.key)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aipsync-audit") as pool:
            try:
                for entry in entries:
                    if self._halted():
                        break
                    pending[pool.submit(fn, entry)] = entry
                    if len(pending) >= 2 * workers:
                        settle(wait(pending, return_when=FIRST_COMPLETED)[0])
                settle(wait(pending)[0])
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        if not self.stopped:
            meter.finish()

    # --- metadata -----------------------------------------------------------------------------
    def head(self, entry: InventoryEntry) -> RemoteObject | None:
        version = entry.version
        if version is not None and version.startswith(f"{VERSIONS_DIR}/"):
            if self._versions is None or version in self._versions:
                found = self.target.head(version)
                if found is not None:
                    return found
            current = self.target.head(entry.key)
            if current is not None and current.sha256 not in (None, entry.sha256):
                return None  # the key holds newer bytes, and the snapshot's are not kept
            return current
        return self.target.head(entry.key, version_id=version)

    def check_metadata(self, entry: InventoryEntry) -> None:
        if self._halted():
            return
        problem = judge_head(entry, self.head(entry))
        with self._lock:
            self.counts = replace(self.counts, checked=self.counts.checked + 1)
        if problem is not None:
            self.add(problem)

    def run_metadata(self) -> None:
        if self.inventory.versioning == "keys":
            self._versions = {o.key for o in self.target.list_keys(f"{VERSIONS_DIR}/")}
        self._pool(self.check_metadata, self.inventory.entries(),
                   Meter("audit", label="checking", unit="keys",
                         objects_total=self.inventory.object_count))

    # --- content ------------------------------------------------------------------------------
    def check_content(self, entry: InventoryEntry, folder: Path) -> None:
        if self._halted() or entry.key in self.problems:
            return
        dest = folder / hashlib.sha256(entry.key.encode()).hexdigest()[:32]
        try:
            digests = download_object(self.config, entry.key, entry.version, dest,
                                      sha256=entry.sha256, size=entry.size,
                                      target=self.target, durable=False,
                                      archived=self._versions)
        except DownloadChecksumError as exc:
            fields = exc.fields
            self.add(AuditProblem(entry.key, "corrupted",
                                  f"downloaded and re-hashed: {fields.get('algorithm')} "
                                  f"{fields.get('found')}, the inventory says "
                                  f"{fields.get('expected')}"))
            return
        except TargetNotFoundError:
            self.add(AuditProblem(entry.key, "missing", "not found when downloading"))
            return
        finally:
            dest.unlink(missing_ok=True)
        with self._lock:
            self.counts = replace(self.counts, downloaded=self.counts.downloaded + 1,
                                  bytes_read=self.counts.bytes_read + digests.size)

    def run_content(self, positions: Sequence[int]) -> None:
        """Download and re-hash the entries at ``positions`` (in key order, increasing)."""
        folder = self.work
        picked = _at_positions(self.inventory.entries(), positions)
        self._pool(lambda e: self.check_content(e, folder), picked,
                   Meter("rehash", label="re-hashing", unit="keys",
                         objects_total=len(positions)))


def _at_positions(entries: Iterable[InventoryEntry], positions: Sequence[int]
                  ) -> Iterator[InventoryEntry]:
    """The entries at ``positions`` (increasing) of a stream of entries."""
    wanted = iter(positions)
    want = next(wanted, None)
    for i, entry in enumerate(entries):
        if want is None:
            return
        if i == want:
            yield entry
            want = next(wanted, None)


def _schedule_repairs(state: StateDB, inventory: InventoryReader,
                      problems: Iterable[AuditProblem]) -> list[str]:
    """Let the next mirror run upload again the keys found missing or corrupted.

    The mirror uploads a key only when its bytes differ from its record of the last upload,
    so it would never replace a copy that vanished or rotted in the target.  For a key of
    the newest snapshot whose record names exactly the snapshot's bytes, the record is
    dropped: the next run sends the staged file again (no archive copy is made of the bad
    bytes), and older snapshots that name those bytes become restorable again.
    """
    damaged = [p.key for p in problems if p.kind in ("missing", "corrupted")]
    records = state.remote_records(damaged)
    entries = inventory.lookup(damaged)
    keys = []
    for key in damaged:
        entry, record = entries.get(key), records.get(key)
        if entry is not None and record is not None and record.sha256 == entry.sha256:
            keys.append(key)
    if keys:
        state.forget_remote(keys)
        log.warning("audit.repair.scheduled", keys=sorted(keys),
                    detail="the next mirror run uploads these again from staging")
    return keys


def run_audit(config: Config, *, snapshot_id: str | None = None, deep: bool = False,
              sample_percent: float | None = None, seed: int | None = None,
              extent: bool = True, trigger: str = "cli", target: Target | None = None,
              source: Source | None = None,
              stop: threading.Event | None = None) -> AuditResult:
    """Audit one snapshot (default: the newest) in the target, and the extent.

    Args:
        config: the configuration.
        snapshot_id: the snapshot to audit (default: the newest complete one).
        deep: download and re-hash (all keys, or the sample).
        sample_percent: download and re-hash only this percent of the keys (implies ``deep``).
        seed: the sample's seed (default: derived from the snapshot and the audit's id, and
            recorded, so ``--seed`` repeats a run's sample).
        extent: check that every object of the repository has a copy (newest snapshot only).
        trigger: ``cli`` or ``schedule`` (recorded).
        target: an open target (default: opened from the configuration and closed).
        source: the repository whose objects the extent check expects (default:
            ``open_source(config)``).
        stop: when set, the audit stops between objects (status ``stopped``).

    Returns:
        What was checked and found (problems are results, not exceptions).

    Raises:
        LockedError: another audit is running.
        SnapshotNotFoundError: no such snapshot (53), or it was pruned during the audit.
        TargetError: the target failed (51, 52).
    """
    deep = deep or sample_percent is not None
    own = target is None
    tgt = target if target is not None else open_target(config.target)
    try:
        with Lock(config.state.dir, LockName.AUDIT, purpose=f"audit ({trigger})"), \
                open_state(config.state.dir) as state:
            state.close_stale_audits()
            snaps = list_snapshots(tgt)
            chosen = select_snapshot(snaps, snapshot_id=snapshot_id)
            newest = snaps[0].id == chosen.id
            audit_id = state.start_audit(trigger=trigger, snapshot_id=chosen.id, deep=deep,
                                         sample_percent=sample_percent, seed=seed)
            run_seed = seed if seed is not None else _default_seed(chosen.id, audit_id)
            started = time.monotonic()
            log.info("audit.start", audit_id=audit_id, snapshot=chosen.id, trigger=trigger,
                     deep=deep, sample_percent=sample_percent, seed=run_seed,
                     target=tgt.display_url)
            audit: _Audit | None = None
            config.restore_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            work = Path(tempfile.mkdtemp(prefix=f"{C.TEMP_PREFIX}audit-",
                                         dir=config.restore_dir))
            try:
                # Every entry is read (twice with a deep audit): fetch the inventory once.
                inventory = fetch_inventory(tgt, chosen, work / "inventory.jsonl")
                audit = _Audit(config, tgt, inventory, stop, work)
                audit.run_metadata()
                if deep and not audit.stopped:
                    audit.run_content(sample_positions(inventory.object_count, sample_percent,
                                                       run_seed))
                extent_objects = 0
                basis = note = ""
                if extent and newest and not audit.stopped:
                    expected = (source or open_source(config)).expected_packages()
                    extent_objects, basis, note = (len(expected.names), expected.basis,
                                                   expected.note)
                    if not expected.complete:
                        log.warning("audit.extent.incomplete", basis=basis, detail=note)
                    missing, gone = extent_problems(
                        expected.names, (e.key for e in inventory.entries()))
                    for problem in missing:
                        audit.add(problem)
                    if gone:
                        log.info("audit.extent.deleted_since", objects=gone,
                                 detail="AIPs in the snapshot whose objects are gone now")
                if audit.counts.missing and tgt.head(chosen.key) is None:
                    raise SnapshotNotFoundError(detail=f"{chosen.id}: it was pruned while the "
                                                       "audit ran; run the audit again")
                if newest and not audit.stopped:
                    _schedule_repairs(state, inventory, audit.problems.values())
            except BaseException as exc:
                state.finish_audit(audit_id, "error",
                                   audit.counts if audit else AuditCounts(),
                                   problems=[p.as_json() for p in list(
                                       audit.problems.values())[:_KEPT_PROBLEMS]]
                                   if audit else (),
                                   error=f"{type(exc).__name__}: {exc}")
                log.error("audit.failed", audit_id=audit_id, error=str(exc),
                          msgid=type(exc).__qualname__,
                          exit_code=getattr(exc, "exit_code", C.EXIT_UNEXPECTED))
                raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
            problems = tuple(sorted(audit.problems.values(), key=lambda p: (p.kind, p.key)))
            result = AuditResult(audit_id=audit_id, snapshot=chosen, trigger=trigger,
                                 deep=deep, sample_percent=sample_percent, seed=run_seed,
                                 counts=audit.counts, problems=problems,
                                 extent_checked=extent and newest and not audit.stopped,
                                 extent_objects=extent_objects,
                                 seconds=time.monotonic() - started, stopped=audit.stopped,
                                 extent_basis=basis, extent_note=note)
            state.finish_audit(audit_id, result.status, result.counts,
                               problems=[p.as_json() for p in problems[:_KEPT_PROBLEMS]])
            counts = result.counts
            event = log.info if result.status in ("ok", "stopped") else (
                log.warning if result.status == "warning" else log.error)
            event("audit.done", audit_id=audit_id, snapshot=chosen.id, status=result.status,
                  checked=counts.checked, downloaded=counts.downloaded,
                  bytes_read=counts.bytes_read, missing=counts.missing,
                  corrupted=counts.corrupted, unverifiable=counts.unverifiable,
                  not_backed_up=counts.not_backed_up, exit_code=result.exit_code,
                  duration_s=round(result.seconds, 3))
            return result
    finally:
        if own:
            tgt.close()

