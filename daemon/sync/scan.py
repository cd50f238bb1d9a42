"""What staging holds: the finished AIPs, with digests computed only for what changed.

Owns: ``StagedFile`` (a staged AIP with the stat key its digests belong to, and its parent),
``StagedNames`` (the names alone, read from the folder when asked), ``fingerprint_staging``
(one number for the names and stat keys of every staged file, in one pass and constant
memory) and
``scan_staging``, which brings the state database's hash cache up to date with staging:
files whose (size, mtime, inode) differ from the cache are hashed (MD5 and SHA-256 in one
pass) and their parent read from their manifest; files that left staging leave the cache.

Memory stays bounded however large staging is: the names go through a temporary table of
the state database, never into one Python collection.

Must not: write into staging, or decide what to upload (``daemon.sync.mirror`` does).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import structlog

from aip.files import Digests, copy_hashing
from aip.packager.reader import package_parent
from aip.progress import Meter, listening
from daemon.core.errors import StagingError
from daemon.core.state import PAGE, CachedHash, StateDB
from daemon.sync.layout import is_staged_name

__all__ = ["ScanResult", "StagedFile", "StagedNames", "count_staged", "fingerprint_staging",
           "iter_staged_names", "scan_staging", "staged_stats"]

log = structlog.get_logger(__name__)

_FINGERPRINT_MOD = 1 << 128


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A finished AIP in staging, with the stat key its digests belong to."""

    name: str
    folder: Path  # the staging folder (one object shared by every file of a scan)
    size: int
    mtime_ns: int
    inode: int
    sha256: str
    md5: str
    parent: str | None = None

    @classmethod
    def from_cache(cls, folder: Path, row: CachedHash) -> StagedFile:
        return cls(row.name, folder, row.size, row.mtime_ns, row.inode, row.sha256, row.md5,
                   row.parent or None)

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def key(self) -> str:
        """The target key (relative to the root): the file name."""
        return self.name

    @property
    def digests(self) -> Digests:
        return Digests(size=self.size, md5=self.md5, sha256=self.sha256)

    @property
    def stat_key(self) -> tuple[int, int, int]:
        return (self.size, self.mtime_ns, self.inode)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan found: files and bytes staged, files hashed, the staging fingerprint, and
    whether staging was as the fingerprint the state remembers said (then nothing was read
    from the state database at all)."""

    files: int
    bytes: int
    hashed: int
    fingerprint: str
    unchanged: bool = False


def iter_staged_names(staging_dir: Path) -> Iterator[str]:
    """Names of the finished AIPs in staging, in directory order (none if it is missing)."""
    try:
        with os.scandir(staging_dir) as it:
            for entry in it:
                if is_staged_name(entry.name) and entry.is_file():
                    yield entry.name
    except FileNotFoundError:
        return


class StagedNames(Collection[str]):
    """The finished AIPs in a staging folder as a collection of names, read from the folder
    when asked (membership is one ``stat``): a source that never looks costs nothing, and
    none holds a million names because it was handed them."""

    def __init__(self, staging_dir: Path) -> None:
        self._folder = staging_dir

    def __contains__(self, name: object) -> bool:
        return (isinstance(name, str) and is_staged_name(name)
                and (self._folder / name).is_file())

    def __iter__(self) -> Iterator[str]:
        return iter_staged_names(self._folder)

    def __len__(self) -> int:
        return count_staged(self._folder)


def count_staged(staging_dir: Path) -> int:
    """How many finished AIPs staging holds (none if it is missing)."""
    return sum(1 for _ in iter_staged_names(staging_dir))


def staged_stats(staging_dir: Path) -> Iterator[tuple[str, int, int, int]]:
    """(name, size, mtime_ns, inode) of every finished AIP in staging, in directory order.

    Raises:
        StagingError: the folder is missing or unreadable.
    """
    try:
        with os.scandir(staging_dir) as it:
            for entry in it:
                if not is_staged_name(entry.name):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    yield entry.name, st.st_size, st.st_mtime_ns, st.st_ino
    except FileNotFoundError as exc:
        raise StagingError(path=str(staging_dir), detail="does not exist") from exc
    except OSError as exc:
        raise StagingError(path=str(staging_dir), detail=exc.strerror or str(exc)) from exc


def fingerprint_staging(stats: Iterable[tuple[str, int, int, int]]) -> tuple[str, int, int]:
    """A fingerprint of (name, size, mtime_ns, inode) of every file, whatever their order.

    The sum of a 128-bit hash per file: any file added, removed, rewritten or replaced
    changes it.  Returns (fingerprint, files, bytes).
    """
    total = count = size = 0
    for name, nbytes, mtime_ns, inode in stats:
        line = f"{name}\0{nbytes}\0{mtime_ns}\0{inode}".encode()
        total = (total + int.from_bytes(hashlib.blake2b(line, digest_size=16).digest(),
                                        "big")) % _FINGERPRINT_MOD
        count += 1
        size += nbytes
    return f"{count}:{total:032x}", count, size


def _hash(folder: Path, name: str) -> CachedHash | None:
    """Digests and parent of one staged file (None if it went away meanwhile)."""
    path = folder / name
    try:
        with open(path, "rb") as handle:
            st = os.fstat(handle.fileno())
            digests = copy_hashing(handle, None)
    except FileNotFoundError:
        return None
    return CachedHash(name, digests.size, st.st_mtime_ns, st.st_ino, digests.sha256,
                      digests.md5, package_parent(path) or "")


def scan_staging(staging_dir: Path, state: StateDB, *, names: Iterable[str] | None = None,
                 workers: int = 4, known: str | None = None) -> ScanResult:
    """Bring the hash cache up to date with staging, hashing only what changed.

    A file whose (size, mtime_ns, inode) equals the cached key costs one ``stat``; the others
    are hashed, ``workers`` at a time, and the cache updated.  When ``known`` (a fingerprint
    the caller trusts, such as the one the newest snapshot covers) equals staging's, nothing
    else is done: not one row of the state database is read.

    Args:
        staging_dir: the staging folder.
        state: the state database (hash cache).
        names: only these file names (the watcher's hint): files outside them are neither
            hashed nor dropped from the cache.
        workers: concurrent hashing threads.
        known: the fingerprint below which nothing needs doing.

    Returns:
        What the scan found; the scan table of the state database holds the scanned names.

    Raises:
        StagingError: the folder is missing or unreadable.
    """
    fingerprint, files, size = fingerprint_staging(staged_stats(staging_dir))
    if known is not None and fingerprint == known:
        return ScanResult(files, size, 0, fingerprint, unchanged=True)
    wanted = None if names is None else {n for n in names if Path(n).name == n}
    state.scan_begin()
    batch: list[tuple[str, int, int, int]] = []
    for row in staged_stats(staging_dir):
        if wanted is not None and row[0] not in wanted:
            continue
        batch.append(row)
        if len(batch) >= PAGE:
            state.scan_add(batch)
            batch = []
    state.scan_add(batch)
    hashed = _hash_stale(staging_dir, state, workers)
    if wanted is None:
        gone = state.scan_forget_gone()
        if gone:
            log.info("mirror.scan.gone", files=gone)
    return ScanResult(files, size, hashed, fingerprint)


#: Hashing threads at most: the files were just written by the export (in the page cache), so
#: hashing and reading their parent is CPU work; threads beyond the cores only contend for
#: the interpreter lock, and each keeps a heap of its own.  (``target.transfers`` still sets
#: how many uploads run at once.)
HASH_THREADS_MAX = max(2, os.cpu_count() or 2)


def _hash_stale(folder: Path, state: StateDB, workers: int) -> int:
    """Hash the scanned files the cache does not know as they are now; returns how many."""
    workers = min(workers, HASH_THREADS_MAX)
    started = time.monotonic()
    # The totals up front, so the progress says "of 1,000,011" from the start, not the pages
    # read so far (one query, made only when someone is listening).
    files, total = state.scan_stale_totals() if listening() else (None, None)
    meter = Meter("hash", label="hashing", unit="AIPs", objects_total=files,
                  bytes_total=total)
    hashed = nbytes = 0
    after = ""
    with ThreadPoolExecutor(max_workers=max(1, workers),
                            thread_name_prefix="aipsync-hash") as pool:
        while page := state.scan_stale(after):
            after = page[-1][0]
            fresh: list[CachedHash] = []
            for row in pool.map(lambda r: _hash(folder, r[0]), page):
                if row is not None:
                    fresh.append(row)
                    meter.advance(nbytes=row.size, current=row.name)
            state.record_hashes(fresh)
            hashed += len(fresh)
            nbytes += sum(r.size for r in fresh)
    meter.finish()
    if hashed:
        log.info("mirror.hash.done", files=hashed, bytes=nbytes,
                 duration_s=round(time.monotonic() - started, 3))
    return hashed
