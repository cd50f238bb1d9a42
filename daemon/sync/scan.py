"""What staging holds: the finished AIPs, with digests computed only for what changed.

Owns: ``StagedFile`` (a staged AIP with the stat key its digests belong to), ``staged_names``
(the names alone, no hashing) and ``scan_staging``, which hashes (MD5 and SHA-256 in one pass)
only the files whose (size, mtime, inode) differ from the state database's cache.

Must not: write into staging, or decide what to upload (``daemon.sync.mirror`` does).
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import structlog

from aip.files import Digests, copy_hashing
from aip.progress import Meter
from daemon.core.errors import StagingError
from daemon.core.state import CachedHash, StateDB
from daemon.sync.layout import is_staged_name

__all__ = ["StagedFile", "scan_staging", "staged_names"]

log = structlog.get_logger(__name__)


# --- the pure part ----------------------------------------------------------------------------
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


# --- scanning ---------------------------------------------------------------------------------
def staged_names(staging_dir: Path) -> set[str]:
    """Names of the finished AIPs in staging (no hashing)."""
    try:
        with os.scandir(staging_dir) as it:
            return {e.name for e in it if is_staged_name(e.name) and e.is_file()}
    except FileNotFoundError:
        return set()


def _stat_key(st: os.stat_result) -> tuple[bool, int, int, int]:
    return stat.S_ISREG(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino


def _hash_open(path: Path) -> tuple[os.stat_result, Digests]:
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        return st, copy_hashing(handle, None)


def scan_staging(staging_dir: Path, state: StateDB, *, names: Iterable[str] | None = None,
                 workers: int = 4) -> list[StagedFile]:
    """The finished AIPs in staging with their digests, hashing only what changed.

    A file whose (size, mtime_ns, inode) equals the cached key costs one ``stat``; the others
    are hashed (MD5 and SHA-256 in one pass, ``workers`` at a time) and the cache updated.

    Args:
        staging_dir: the staging folder.
        state: the state database (hash cache).
        names: only these file names (the watcher's hint); default: every file.
        workers: concurrent hashing threads.

    Returns:
        The staged files, sorted by name.

    Raises:
        StagingError: the folder is missing or unreadable.
    """
    # (name, (regular file?, size, mtime_ns, inode)): a tuple, not the whole stat result
    # (some 700 bytes a file, at a hundred thousand files).
    entries: list[tuple[str, tuple[bool, int, int, int]]] = []
    try:
        if names is None:
            with os.scandir(staging_dir) as it:
                entries = [(e.name, _stat_key(e.stat())) for e in it if is_staged_name(e.name)]
        else:
            for n in sorted(set(names)):
                if is_staged_name(n) and Path(n).name == n:
                    with contextlib.suppress(FileNotFoundError):
                        entries.append((n, _stat_key(os.stat(staging_dir / n))))
    except FileNotFoundError as exc:
        raise StagingError(path=str(staging_dir), detail="does not exist") from exc
    except OSError as exc:
        raise StagingError(path=str(staging_dir), detail=exc.strerror or str(exc)) from exc
    candidates = [name for name, _ in entries]
    cache = state.cached_hashes()
    found: list[StagedFile] = []
    to_hash: list[str] = []
    for name, (regular, size, mtime_ns, inode) in entries:
        if not regular:
            continue
        hit = cache.get(name)
        if hit is not None and hit.matches(size, mtime_ns, inode):
            found.append(StagedFile(name, staging_dir, hit.size, hit.mtime_ns, hit.inode,
                                    hit.sha256, hit.md5))
        else:
            to_hash.append(name)
    fresh: list[CachedHash] = []
    if to_hash:
        started = time.monotonic()
        meter = Meter("hash", label="hashing", unit="AIPs", objects_total=len(to_hash))
        with ThreadPoolExecutor(max_workers=max(1, workers),
                                thread_name_prefix="aipsync-hash") as pool:
            futures = {pool.submit(_hash_open, staging_dir / n): n for n in to_hash}
            for future in as_completed(futures):
                name = futures[future]
                try:
                    st, dig = future.result()
                except FileNotFoundError:
                    continue
                fresh.append(CachedHash(name, dig.size, st.st_mtime_ns, st.st_ino, dig.sha256,
                                        dig.md5))
                found.append(StagedFile(name, staging_dir, dig.size, st.st_mtime_ns,
                                        st.st_ino, dig.sha256, dig.md5))
                meter.advance(nbytes=dig.size, current=name)
        meter.finish()
        state.record_hashes(fresh)
        log.info("mirror.hash.done", files=len(fresh), bytes=sum(c.size for c in fresh),
                 duration_s=round(time.monotonic() - started, 3))
    if names is None:
        gone = set(cache) - set(candidates)
        if gone:
            state.forget_hashes(gone)
    return sorted(found, key=lambda f: f.name)
