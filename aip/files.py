"""Atomic local files and streamed hashing: the one way aipsync writes a file.

Owns: ``atomic_write`` (temp name in the same folder, fsync, ``os.replace``, fsync the
folder), ``hash_file``/``Hasher`` (every digest in one pass, fixed block size) and the
temporary-name convention that watchers and scans skip.  Must not know about AIPs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from aip import constants as C


def is_temp_name(name: str) -> bool:
    """True for names ``atomic_write`` uses while a file is being written."""
    return name.startswith(C.TEMP_PREFIX)


#: The errors that mean "the disk (or the user's quota) is full".
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, is ENOSPC or EDQUOT."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in DISK_FULL_ERRNOS:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it survives a crash (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


_TEMP_NUMBERS = itertools.count()


def create_temp(path: Path, permissions: int | None = None) -> tuple[int, Path]:
    """Create and open (read-write) a new temporary file for ``path``, in its folder.

    Named ``<TEMP_PREFIX><pid>-<n>-<name>`` and created with ``O_EXCL``, so it is never an
    existing file or a symlink; a leftover of the same name (from a crashed process that had
    this pid) is stepped over.  The file gets ``permissions`` exactly, or what ``open()``
    would give it under the process umask.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    prefix = f"{C.TEMP_PREFIX}{os.getpid()}-"
    suffix = "-" + path.name[:40]
    while True:
        tmp = path.parent / f"{prefix}{next(_TEMP_NUMBERS)}{suffix}"
        try:
            fd = os.open(tmp, flags, 0o666 if permissions is None else permissions)
        except FileExistsError:
            continue
        break
    if permissions is not None:
        try:
            os.fchmod(fd, permissions)  # exactly, whatever the umask took away
        except BaseException:
            os.close(fd)
            tmp.unlink()
            raise
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "wb", *, fsync: bool = True,
                 encoding: str | None = None,
                 permissions: int | None = None) -> Iterator[IO[Any]]:
    """Write ``path`` so that it either appears whole or not at all.

    Yields a file open on a temporary name in the same folder; on a clean exit the file is
    flushed, fsynced and renamed over ``path`` (and the folder fsynced); on an exception the
    temporary file is removed and ``path`` is untouched.  The file gets ``permissions``, or
    what ``open()`` would give it under the process umask (not mkstemp's private 0600);
    pass ``0o600`` for files that hold secrets.
    """
    path = Path(path)
    folder = path.parent
    fd, tmp_path = create_temp(path, permissions)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
    if fsync:
        fsync_dir(folder)


@dataclass(frozen=True, slots=True)
class Digests:
    """Size and hex digests of a byte stream."""

    size: int
    md5: str
    sha256: str


class Hasher:
    """MD5 and SHA-256 of a stream, fed in blocks."""

    __slots__ = ("_md5", "_sha256", "size")

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        self.size = 0

    def update(self, block: bytes | memoryview) -> None:
        self._md5.update(block)
        self._sha256.update(block)
        self.size += len(block)

    def digests(self) -> Digests:
        return Digests(size=self.size, md5=self._md5.hexdigest(),
                       sha256=self._sha256.hexdigest())


def copy_hashing(src: BinaryIO, dst: IO[bytes] | None,
                 block_size: int = C.HASH_BLOCK_SIZE) -> Digests:
    """Copy ``src`` to ``dst`` (if given) in blocks, hashing as it goes."""
    hasher = Hasher()
    while True:
        block = src.read(block_size)
        if not block:
            break
        hasher.update(block)
        if dst is not None:
            dst.write(block)
    return hasher.digests()


def hash_file(path: Path, block_size: int = C.HASH_BLOCK_SIZE) -> Digests:
    """Size, MD5 and SHA-256 of a file, in one streamed pass."""
    with open(path, "rb") as handle:
        return copy_hashing(handle, None, block_size)


def sha256_file(path: Path, block_size: int = C.HASH_BLOCK_SIZE) -> str:
    """SHA-256 of a file, streamed (cheaper than ``hash_file`` when MD5 is not needed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(block_size):
            digest.update(block)
    return digest.hexdigest()


class BatchWriter:
    """Many files that appear atomically and become durable together.

    ``create(path)`` yields a file open on a temporary name beside ``path``; ``commit()``
    makes every file written since the last commit durable (one ``os.sync()`` for a big
    batch, an fsync per file for a small one), then renames each into place and fsyncs the
    folders.  ``abort()`` removes the temporary files of the current batch.  A final name
    therefore never holds bytes that a crash could lose, and writing ten thousand files
    costs a handful of flushes instead of ten thousand.  ``create`` may be called from
    several threads; ``commit`` and ``abort`` only when no ``create`` is under way.
    """

    SYNC_ALL_ABOVE = 8

    def __init__(self, *, permissions: int | None = None) -> None:
        self.pending: list[tuple[Path, Path]] = []
        self.bytes_pending = 0
        self._permissions = permissions
        self._lock = threading.Lock()  # create() may run on several threads at once

    @contextlib.contextmanager
    def create(self, path: Path) -> Iterator[IO[bytes]]:
        fd, tmp_path = create_temp(Path(path), self._permissions)
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                size = handle.tell()
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_path.unlink()
            raise
        with self._lock:
            self.pending.append((tmp_path, path))
            self.bytes_pending += size

    def adopt(self, tmp: Path, path: Path, size: int) -> None:
        """Take a temp file written elsewhere (another process) into this batch."""
        with self._lock:
            self.pending.append((tmp, path))
            self.bytes_pending += size

    def commit(self) -> list[Path]:
        """Make the batch durable and give every file its final name; returns the names."""
        if not self.pending:
            return []
        if len(self.pending) > self.SYNC_ALL_ABOVE:
            os.sync()
        else:
            for tmp, _ in self.pending:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        done = []
        for tmp, final in self.pending:
            try:
                os.replace(tmp, final)
            except OSError as exc:  # name the file that failed, not its temp name
                exc.filename, exc.filename2 = str(final), None
                raise
            done.append(final)
        for folder in {final.parent for _, final in self.pending}:
            fsync_dir(folder)
        self.pending.clear()
        self.bytes_pending = 0
        return done

    def abort(self) -> None:
        for tmp, _ in self.pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        self.pending.clear()
        self.bytes_pending = 0
