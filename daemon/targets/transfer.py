"""The transfer machinery both targets share: part sizes, back-off, pacing and downloads.

Owns: ``choose_part_size`` (stay within the store's part limit), ``backoff_delay`` (capped
exponential back-off with jitter), ``check_stat_key`` (is the open file the one whose digests
we hold?), the token-bucket ``BandwidthLimiter`` shared by a target's transfers,
``read_range`` (a paced read of part of a file) and ``download_resumable``, the one download
loop: through a partial file that survives a crash, resumed by range, verified, then renamed.

Must not: import boto3/botocore (``daemon.targets.s3`` owns them), decide what to transfer,
or log a credential.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from aip import constants as C
from aip.files import Digests, Hasher, fsync_dir, is_disk_full
from daemon.core.config import S3_MAX_PARTS
from daemon.core.errors import (
    DiskFullError,
    DownloadChecksumError,
    DownloadError,
    SourceChangedError,
    StopRequestedError,
    TargetError,
)
from daemon.core.stop import StopFlag

__all__ = [
    "BandwidthLimiter",
    "backoff_delay",
    "check_stat_key",
    "choose_part_size",
    "download_resumable",
    "partial_path",
    "read_range",
]

log = structlog.get_logger(__name__)

_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 20.0


# --- pure helpers -----------------------------------------------------------------------------
def choose_part_size(size: int, chunksize: int, max_parts: int = S3_MAX_PARTS) -> int:
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
    return -(-needed // C.MIB) * C.MIB


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
