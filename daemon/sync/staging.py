"""The staging folder: the current AIP of each exported object, replaced atomically.

Owns: ``export_to_staging`` (under the ``repository`` lock, so a restore never runs at the
same time: export into a temporary folder inside staging, fsync what was written, then move
each zip into staging with ``os.replace`` so the watcher and the mirror never see a partial
zip; after a *full* export, remove the staged AIPs the export did not write, i.e. objects
deleted from the repository), the clean-up of export folders a dead process left behind,
and ``pending_names`` (which staged files are not yet in the target, with or without hashing).

Staging keeps each object's AIP under DSpace's file name (``ITEM@123456789-42.zip``).  An
incremental export (``updatedAfter``) writes only changed Items (and every container), so the
staged copies of unchanged Items stay.  Nothing leaves staging on an incremental run, nor when
an export fails or is stopped: then staging is exactly as it was.  What a full export removes
is decided by the source's ``expected`` (every AIP the site has now), never by what the
export happened to write: the source is told what staging holds, so one whose full export
leaves objects out (DSpace leaves out withdrawn items) checks those itself.

Must not: upload (``daemon.sync.mirror`` does), decide when to run (``daemon.sync.backup``),
or delete anything outside the staging folder.  Removing a staged AIP never deletes it from
the target: it only drops out of the next snapshot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Collection, Container
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from aip import constants as C
from aip.errors import AipError
from aip.files import fsync_dir, is_disk_full
from aip.spill import SpillList
from daemon.core.config import Config
from daemon.core.errors import DiskFullError, SourceError, StagingError, StopRequestedError
from daemon.core.locks import Lock, LockName
from daemon.core.stop import StopFlag
from daemon.source.base import Source
from daemon.sync.scan import StagedNames, iter_staged_names

__all__ = [
    "EXPORT_DIR_PREFIX",
    "StagingResult",
    "clean_export_leftovers",
    "export_to_staging",
]

log = structlog.get_logger(__name__)

#: Export folders inside staging: a temporary name, so the watcher and the mirror skip them.
EXPORT_DIR_PREFIX = f"{C.TEMP_PREFIX}export-"


@dataclass(frozen=True, slots=True)
class StagingResult:
    """What one export did to staging.

    ``staged``: file names moved into staging (new or replaced; past a few thousand kept in
    a temp file, ``aip.spill.SpillList``: a full export of a million items would hold a
    million names through the whole cycle).  ``removed``: file names that left staging
    (full exports only).  ``unchanged``: how many items the export left
    alone because of ``updatedAfter`` (their staged copies stay).
    """

    full: bool
    updated_after: datetime | None
    staged: Collection[str]
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    bytes: int = 0
    seconds: float = 0.0


def clean_export_leftovers(staging_dir: Path) -> int:
    """Remove export folders a killed process left in staging.

    Call it only while holding the ``repository`` lock: every live export holds it too.

    Returns:
        How many folders were removed.
    """
    removed = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(staging_dir) as it:
        for entry in it:
            if entry.name.startswith(EXPORT_DIR_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
    if removed:
        log.info("staging.leftovers.removed", folders=removed)
    return removed


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_stop(stop: StopFlag | None, what: str) -> None:
    if stop is not None and stop.is_set():
        raise StopRequestedError(what=what)


def export_to_staging(config: Config, source: Source, *, updated_after: datetime | None,
                      stop: StopFlag | None = None,
                      lock_wait: float | None = None) -> StagingResult:
    """Export the site through ``source`` and bring staging up to date, atomically per file.

    Args:
        config: the configuration (``staging.dir``, ``state.dir`` for the lock).
        source: where the AIPs come from.
        updated_after: None for a full export; else only Items changed after it.
        stop: checked by the source between packages and here before anything moves.
        lock_wait: seconds to wait for the ``repository`` lock (default
            ``schedule.run_lock_timeout``; a restore may be holding it).

    Returns:
        What changed in staging.

    Raises:
        LockedError: the repository lock stayed busy (a restore is running).
        SourceError: the export failed or wrote nothing; staging is unchanged.
        StopRequestedError: ``stop`` was set before the move; staging is unchanged.
        DiskFullError: the disk filled up (57); the export folder is removed, staging is
            unchanged (or, if it filled while moving, holds whole files only).
        StagingError: the staging folder cannot be created or written.
    """
    staging = config.staging.dir
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StagingError(path=str(staging), detail=exc.strerror or str(exc)) from exc
    wait = float(config.schedule.run_lock_timeout if lock_wait is None else lock_wait)
    full = updated_after is None
    started = time.monotonic()
    def pause(seconds: float) -> None:
        # Between two polls of a busy lock (a restore may hold it for long): a stop request
        # ends the wait instead of outliving systemd's stop timeout.
        _check_stop(stop, "the repository lock was free")
        time.sleep(seconds)

    with Lock(config.state.dir, LockName.REPOSITORY, wait=wait, purpose="export",
              sleep=pause):
        clean_export_leftovers(staging)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=EXPORT_DIR_PREFIX, dir=staging))
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(key="export", path=str(staging)) from exc
            raise StagingError(path=str(staging), detail=exc.strerror or str(exc)) from exc
        try:
            log.info("staging.export.start", full=full, source=source.name,
                     updated_after=updated_after.isoformat() if updated_after else None)
            outcome = source.export(tmp, updated_after=updated_after, stop=stop,
                                    staged=StagedNames(staging))
            _check_stop(stop, "the export was staged")
            if full and not outcome.written:
                raise SourceError(source=source.name, detail="a full export wrote no package")
            # One durability point before anything is renamed into staging: after a crash,
            # a staged name never points at bytes that were not on disk.
            for name in outcome.written:
                if Path(name).name != name or not (tmp / name).is_file():
                    raise SourceError(source=source.name,
                                      detail=f"reported {name!r}, which is not in the export")
                _fsync_file(tmp / name)
            fsync_dir(tmp)
            moved = _move_into(staging, tmp, outcome.written)
            removed: list[str] = []
            if full and outcome.expected is not None:
                removed = _remove_gone(staging, outcome.expected, set(outcome.gone))
        except (AipError, OSError) as exc:
            # The packager reports a full disk as an unwritable output (36), staging as a
            # staging error (59): both are the disk, and the operator's fix is to free space.
            if isinstance(exc, StopRequestedError) or not is_disk_full(exc):
                raise
            raise DiskFullError(key="export", path=str(staging)) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    result = StagingResult(full=full, updated_after=updated_after, staged=moved,
                           removed=tuple(removed), unchanged=outcome.unchanged,
                           bytes=outcome.bytes, seconds=time.monotonic() - started)
    log.info("staging.export.done", full=full, staged=len(result.staged),
             removed=len(result.removed), unchanged=result.unchanged, bytes=result.bytes,
             duration_s=round(result.seconds, 3))
    return result


def _move_into(staging: Path, tmp: Path, names: Collection[str]) -> SpillList[str]:
    """Rename each written package into staging (atomic per file); fsync the folder once.
    The names moved, in that order (past a few thousand in a temp file)."""
    moved: SpillList[str] = SpillList()
    containers: SpillList[str] = SpillList()
    name = ""
    try:
        # Items first, then collections, communities, the SITE last: the order a reader of
        # a half-moved staging folder would least mind (every file is whole either way).
        # The items move in one pass over the names, none sorted (a million stay where they
        # are); the containers, set aside in that pass, move one pass per rank.
        for name in names:
            if _move_rank(name):
                containers.append(name)
            else:
                os.replace(tmp / name, staging / name)
                moved.append(name)
        for rank in range(1, len(_MOVE_RANK) + 1):
            for name in containers:
                if _move_rank(name) == rank:
                    os.replace(tmp / name, staging / name)
                    moved.append(name)
    except OSError as exc:
        raise StagingError(path=str(staging),
                           detail=f"moving {name}: {exc.strerror or exc}") from exc
    finally:
        fsync_dir(staging)
    return moved


_MOVE_RANK = {C.TYPE_COLLECTION: 1, C.TYPE_COMMUNITY: 2, C.TYPE_SITE: 3}


def _move_rank(name: str) -> int:
    return _MOVE_RANK.get(name.partition("@")[0], 0)


def _remove_gone(staging: Path, expected: Container[str], confirmed: set[str]) -> list[str]:
    """After a full export: staged AIPs of objects that are gone leave staging
    (``confirmed``: those the repository itself said do not exist any more)."""
    gone = sorted(n for n in iter_staged_names(staging) if n not in expected)
    for name in gone:
        with contextlib.suppress(FileNotFoundError):
            (staging / name).unlink()
        log.info("staging.removed", file=name,
                 detail=("the repository says it does not exist" if name in confirmed
                         else "not in the full export (object deleted)")
                 + "; the target keeps it")
    if gone:
        fsync_dir(staging)
    return gone
