"""What every mirror target offers, and the pieces the S3 and folder targets share.

Owns: the ``Target`` protocol (put a file with its known digests, resumably; head; get to a
local path, streamed, resumable by range, SHA-256 verified; list keys and versions; delete;
copy), the records it returns (``RemoteObject``, ``RemoteVersion``, ``PutResult``), the
``UploadJournal`` protocol through which a target records multipart progress (the state
database implements it; ``MemoryJournal`` is the in-memory stand-in), the pure helpers
(``choose_part_size``, ``backoff_delay``, ``versioned_key``), the shared token-bucket
``BandwidthLimiter`` and ``download_resumable``, the one download loop both targets use.

Keys given to a target are relative to its root (the S3 prefix or the folder); a target never
sees absolute keys from callers.  Object metadata keys: ``sha256``, ``md5`` (hex, whole file)
and ``part-size`` (0 for a single PUT); S3 stores them as ``x-amz-meta-*``.

Must not: import boto3/botocore (``s3.py`` owns them), decide what to upload, or log a
credential.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import structlog

from aip import constants as C
from aip.files import Digests, Hasher, fsync_dir, is_disk_full
from daemon.core.errors import (
    DiskFullError,
    DownloadChecksumError,
    DownloadError,
    SourceChangedError,
    StopRequestedError,
    TargetError,
)

__all__ = [
    "META_MD5",
    "META_PART_SIZE",
    "META_SHA256",
    "BandwidthLimiter",
    "MemoryJournal",
    "PartRecord",
    "PendingUpload",
    "PutResult",
    "RemoteObject",
    "RemoteVersion",
    "StopFlag",
    "Target",
    "UploadJournal",
    "backoff_delay",
    "check_stat_key",
    "choose_part_size",
    "download_resumable",
    "partial_path",
    "versioned_key",
]

log = structlog.get_logger(__name__)

META_SHA256 = "sha256"
META_MD5 = "md5"
META_PART_SIZE = "part-size"

#: Folder (relative to the target root) holding the old bytes of overwritten keys.
VERSIONS_DIR = "versions"
#: Folder (relative to the target root) holding the snapshot inventories.
SNAPSHOTS_DIR = "snapshots"

_MAX_PARTS = 10_000
_MiB = 1024 * 1024
_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 20.0


# --- records ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RemoteObject:
    """What a target says about one stored object (or one version of it)."""

    key: str
    size: int
    etag: str | None = None
    version_id: str | None = None
    last_modified: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        """The whole-file SHA-256 stored with the object, if any."""
        return self.metadata.get(META_SHA256)

    @property
    def md5(self) -> str | None:
        """The whole-file MD5 stored with the object, if any (never the multipart ETag)."""
        return self.metadata.get(META_MD5)

    @property
    def part_size(self) -> int:
        """The part size the object was uploaded with (0 for a single PUT)."""
        try:
            return int(self.metadata.get(META_PART_SIZE, "0"))
        except ValueError:
            return 0


@dataclass(frozen=True, slots=True)
class RemoteVersion:
    """One entry of a version listing (bucket versioning)."""

    key: str
    version_id: str
    size: int
    is_latest: bool
    is_delete_marker: bool = False
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class PartRecord:
    """One completed part of a multipart upload."""

    number: int
    etag: str
    md5: str
    size: int


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A multipart upload started but not completed, with the parts already sent."""

    key: str
    upload_id: str
    sha256: str
    size: int
    part_size: int
    parts: Mapping[int, PartRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PutResult:
    """The outcome of ``put_file``: the stored object and what actually crossed the wire."""

    remote: RemoteObject
    bytes_sent: int
    parts_sent: int = 0
    parts_resumed: int = 0


# --- protocols --------------------------------------------------------------------------------
class StopFlag(Protocol):
    """Anything with ``is_set()`` (a ``threading.Event``, or a flag combining several)."""

    def is_set(self) -> bool:
        """True when work should stop at the next safe point."""


@runtime_checkable
class UploadJournal(Protocol):
    """Where a target records multipart progress so an interrupted upload resumes."""

    def load(self, key: str) -> PendingUpload | None:
        """The pending upload of ``key``, or None."""

    def begin(self, key: str, upload_id: str, sha256: str, size: int, part_size: int) -> None:
        """A new multipart upload of ``key`` started."""

    def part_done(self, key: str, part: PartRecord) -> None:
        """One part of ``key`` completed."""

    def finish(self, key: str) -> None:
        """The upload of ``key`` completed or was given up."""

    def known_upload_ids(self) -> set[str]:
        """Upload ids that are not orphans."""


class MemoryJournal:
    """An ``UploadJournal`` in memory (tests, and callers without a state database)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uploads: dict[str, PendingUpload] = {}

    def load(self, key: str) -> PendingUpload | None:
        with self._lock:
            return self._uploads.get(key)

    def begin(self, key: str, upload_id: str, sha256: str, size: int, part_size: int) -> None:
        with self._lock:
            self._uploads[key] = PendingUpload(key, upload_id, sha256, size, part_size, {})

    def part_done(self, key: str, part: PartRecord) -> None:
        with self._lock:
            old = self._uploads[key]
            parts = dict(old.parts)
            parts[part.number] = part
            self._uploads[key] = PendingUpload(old.key, old.upload_id, old.sha256, old.size,
                                               old.part_size, parts)

    def finish(self, key: str) -> None:
        with self._lock:
            self._uploads.pop(key, None)

    def known_upload_ids(self) -> set[str]:
        with self._lock:
            return {u.upload_id for u in self._uploads.values()}


@runtime_checkable
class Target(Protocol):
    """A place the mirror writes to: an S3 bucket prefix or a local folder.

    Every method raises ``TargetPermanentError`` (fail fast: credentials, access, no such
    bucket/folder), ``TargetUnreachableError`` (retryable failures that outlived every retry),
    or another ``TargetError``; reads of missing objects return None (``head``) or raise
    ``TargetNotFoundError``.  ``requests`` counts operations sent (by name) since creation.
    """

    requests: Counter[str]

    @property
    def display_url(self) -> str:
        """The target URL for logs (never with a credential)."""

    @property
    def multipart_threshold(self) -> int:
        """Files larger than this are sent in parts (resumable)."""

    def bucket_versioning(self) -> bool:
        """True when the store keeps every version itself (S3 bucket versioning enabled)."""

    def put_file(self, key: str, path: Path, digests: Digests, *,
                 journal: UploadJournal | None = None, stop: StopFlag | None = None,
                 stat_key: tuple[int, int, int] | None = None) -> PutResult:
        """Store the file ``path`` (whose size and digests are known) under ``key``.

        Large files go in parts recorded in ``journal``; a pending upload of the same bytes
        and part size resumes without re-sending completed parts.  ``stop`` is honoured
        between parts (``StopRequestedError``; the upload stays resumable).
        Raises ``SourceChangedError`` if the open file no longer has ``digests.size`` or
        the (size, mtime_ns, inode) ``stat_key`` its digests were computed for.
        """

    def put_bytes(self, key: str, data: bytes, *,
                  metadata: Mapping[str, str] | None = None) -> RemoteObject:
        """Store small ``data`` under ``key`` (sha256/md5 metadata are added)."""

    def head(self, key: str, *, version_id: str | None = None) -> RemoteObject | None:
        """The object's size, metadata and version, or None when it does not exist."""

    def get_file(self, key: str, dest: Path, *, sha256: str, size: int | None = None,
                 version_id: str | None = None, durable: bool = True) -> Digests:
        """Download to ``dest`` via a resumable partial file, verified before renaming.

        ``durable=False`` skips the fsyncs (for scratch files that are re-hashed before any
        later use, such as a restore's downloads).
        """

    def get_bytes(self, key: str, *, version_id: str | None = None) -> bytes:
        """The whole (small) object."""

    def list_keys(self, prefix: str = "") -> Iterator[RemoteObject]:
        """Every current object under ``prefix`` (no metadata)."""

    def list_versions(self, prefix: str = "") -> Iterator[RemoteVersion]:
        """Every version under ``prefix`` (only meaningful with bucket versioning)."""

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        """Remove ``key`` (or one version of it); a missing object is not an error."""

    def copy(self, src_key: str, dst_key: str, *, src_version_id: str | None = None,
             if_match: str | None = None, size: int | None = None) -> RemoteObject:
        """Copy an object inside the target (metadata kept), server-side.

        ``if_match`` (an ETag) makes the copy fail with ``PreconditionFailedError`` when the
        source changed; ``size`` (if known) lets very large objects be copied in parts.  The
        result's size is -1 when it is not known.
        """

    def abort_orphaned_uploads(self, known_upload_ids: set[str], *,
                               older_than: timedelta) -> int:
        """Abort multipart uploads under the root that are unknown and older than given."""

    def close(self) -> None:
        """Release connections."""


# --- pure helpers -----------------------------------------------------------------------------
def choose_part_size(size: int, chunksize: int, max_parts: int = _MAX_PARTS) -> int:
    """The part size for a file: ``chunksize``, raised (to whole MiB) to stay within max parts.

    Args:
        size: the file size in bytes.
        chunksize: the configured part size.
        max_parts: the store's limit on parts (S3: 10,000).

    Returns:
        The part size to use.
    """
    if size <= chunksize * max_parts:
        return chunksize
    needed = -(-size // max_parts)
    return -(-needed // _MiB) * _MiB


def backoff_delay(attempt: int, *, base: float = _BACKOFF_BASE, cap: float = _BACKOFF_CAP,
                  rand: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with jitter ("equal jitter"), in seconds.

    Args:
        attempt: the attempt that just failed (1 for the first).
        base: the first delay.
        cap: the largest delay.
        rand: a source of floats in [0, 1) (injectable for tests).

    Returns:
        A delay in [d/2, d) with d = min(cap, base * 2 ** (attempt - 1)).
    """
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return float(delay / 2 + delay / 2 * rand())


def versioned_key(key: str, sha256: str) -> str:
    """Where the bytes of ``key`` with digest ``sha256`` are kept once ``key`` is overwritten.

    Content-addressed, so writing it twice is harmless and a snapshot can name it before it
    exists (keys mode: old bytes are copied there just before an overwrite).
    """
    return f"{VERSIONS_DIR}/{key}/{sha256}"


def partial_path(dest: Path, sha256: str) -> Path:
    """The resumable partial file of a download (a temporary name scans skip)."""
    return dest.parent / f"{C.TEMP_PREFIX}{sha256[:16]}-{dest.name}.part"


def check_stat_key(fd: int, path: Path, digests: Digests,
                   stat_key: tuple[int, int, int] | None) -> None:
    """Raise ``SourceChangedError`` unless the open file is the one the digests describe."""
    st = os.fstat(fd)
    if st.st_size != digests.size or (
            stat_key is not None and (st.st_size, st.st_mtime_ns, st.st_ino) != stat_key):
        raise SourceChangedError(path=str(path))


# --- bandwidth --------------------------------------------------------------------------------
class BandwidthLimiter:
    """A token bucket shared by all transfers of a target; ``rate`` 0 means no limit.

    ``consume(n)`` takes ``n`` tokens (bytes), sleeping while the bucket is in debt; the
    burst is one second's worth of tokens.
    """

    def __init__(self, rate: int, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(rate)
        self._stamp = clock()

    def consume(self, amount: int) -> None:
        """Take ``amount`` bytes' worth of tokens, waiting if needed."""
        if self.rate <= 0 or amount <= 0:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.rate), self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= amount
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def read_range(fd: int, offset: int, length: int, limiter: BandwidthLimiter | None) -> bytes:
    """Read ``length`` bytes at ``offset`` of an open file, paced by ``limiter``."""
    chunks: list[bytes] = []
    done = 0
    while done < length:
        want = min(C.HASH_BLOCK_SIZE, length - done)
        block = os.pread(fd, want, offset + done)
        if not block:
            break
        if limiter is not None:
            limiter.consume(len(block))
        chunks.append(block)
        done += len(block)
    return b"".join(chunks)


# --- downloads --------------------------------------------------------------------------------
def _hash_existing(path: Path) -> Hasher:
    hasher = Hasher()
    with open(path, "rb") as handle:
        while block := handle.read(C.HASH_BLOCK_SIZE):
            hasher.update(block)
    return hasher


def download_resumable(*, key: str, dest: Path, sha256: str, size: int | None,
                       fetch: Callable[[int], Iterator[bytes]], max_attempts: int,
                       limiter: BandwidthLimiter | None = None,
                       sleep: Callable[[float], None] = time.sleep,
                       stop: StopFlag | None = None, durable: bool = True) -> Digests:
    """Download through a partial file that survives crashes, verify, then rename.

    The partial file (``partial_path``) is appended to from its current size with
    ``fetch(offset)`` (a range read); a retryable ``TargetError`` during the stream resumes
    from the bytes already written.  Only when the whole file has ``size`` bytes and the
    SHA-256 ``sha256`` is it fsynced and renamed to ``dest`` (then the folder is fsynced).

    Args:
        key: the object key (for messages).
        dest: the final path.
        sha256: the expected SHA-256 (from the snapshot inventory).
        size: the expected size, if known.
        fetch: yields the object's bytes from an offset.
        max_attempts: attempts for retryable failures.
        limiter: paces the bytes written.
        sleep: waits between attempts (injectable).
        stop: honoured between attempts.
        durable: fsync the file and its folder (off for scratch files that are re-hashed
            before any later use: a crash then costs a re-download, never a wrong byte).

    Returns:
        The digests of the downloaded file.

    Raises:
        DownloadChecksumError: size or SHA-256 differ; the partial file is removed.
        DiskFullError: the disk filled up; the partial file is removed.
        DownloadError: the folder cannot be written.
        TargetError: the target failed (permanently, or after every retry).
    """
    part = partial_path(dest, sha256)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(key=key, path=str(dest), detail=exc.strerror or str(exc)) from exc
    attempt = 0
    while True:
        attempt += 1
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            part.unlink()
            offset = 0
        try:
            hasher = _hash_existing(part) if offset else Hasher()
            if size is None or offset < size:
                if offset:
                    log.info("download.resume", key=key, offset=offset)
                with open(part, "ab") as out:
                    for chunk in fetch(offset):
                        if limiter is not None:
                            limiter.consume(len(chunk))
                        out.write(chunk)
                        hasher.update(chunk)
                    out.flush()
                    if durable:
                        os.fsync(out.fileno())
            break
        except TargetError as exc:
            if not exc.retryable or attempt >= max_attempts:
                if part.exists() and part.stat().st_size == 0:
                    part.unlink()
                raise
            if stop is not None and stop.is_set():
                raise StopRequestedError(what=f"resuming the download of {key}") from exc
            log.warning("download.retry", key=key, attempt=attempt, error=str(exc))
            sleep(backoff_delay(attempt))
        except OSError as exc:
            if is_disk_full(exc):
                part.unlink(missing_ok=True)
                raise DiskFullError(key=key, path=str(dest)) from exc
            raise DownloadError(key=key, path=str(dest),
                                detail=exc.strerror or str(exc)) from exc
    digests = hasher.digests()
    if (size is not None and digests.size != size) or digests.sha256 != sha256:
        part.unlink(missing_ok=True)
        what = "size" if size is not None and digests.size != size else "SHA-256"
        expected = str(size) if what == "size" else sha256
        found = str(digests.size) if what == "size" else digests.sha256
        log.error("download.checksum.mismatch", key=key, expected=expected, found=found,
                  algorithm=what)
        raise DownloadChecksumError(what=key, algorithm=what, expected=expected, found=found)
    os.replace(part, dest)
    if durable:
        fsync_dir(dest.parent)
    return digests

