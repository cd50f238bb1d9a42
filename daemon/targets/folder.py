"""The ``file:///folder`` target: a plain folder (a NAS mount, or a folder another tool syncs).

Owns: the folder layout (``<root>/<key>`` for objects, the metadata of each object in a JSON
sidecar ``<root>/.aipsync-meta/<key>.json`` holding ``sha256``, ``md5``, ``part-size``),
atomic writes (``aip.files.atomic_write`` for whole files; a partial file written part by
part, fsynced and journalled, then renamed, for large ones so they resume after a crash),
server-side "copies" as hard links (falling back to a real copy), and the translation of
``OSError`` into the daemon's target errors.

Must not: create the root folder (a missing root usually means an unmounted disk: that is a
permanent error, not something to paper over), follow keys out of the root, or keep any
state of its own besides the files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from aip import constants as C
from aip.files import Digests, Hasher, atomic_write, fsync_dir, is_disk_full, is_temp_name
from daemon.core.errors import (
    PreconditionFailedError,
    SourceChangedError,
    StopRequestedError,
    TargetError,
    TargetNotFoundError,
    TargetPermanentError,
)
from daemon.core.journal import PartRecord, UploadJournal
from daemon.core.stop import StopFlag
from daemon.targets.base import (
    META_MD5,
    META_PART_SIZE,
    META_SHA256,
    PutResult,
    RemoteObject,
    RemoteVersion,
    Retention,
)
from daemon.targets.transfer import (
    BandwidthLimiter,
    check_stat_key,
    choose_part_size,
    download_resumable,
    read_range,
)

__all__ = ["FolderTarget"]

log = structlog.get_logger(__name__)

META_DIR = ".aipsync-meta"
_PART_SUFFIX = ".part"


class FolderTarget:
    """A ``Target`` on a local folder.

    Args:
        root: the folder (must exist).
        multipart_threshold: files larger than this are written part by part (resumable).
        multipart_chunksize: the part size.
        bandwidth_limit: bytes per second read from the source (0: none).
        display_url: how the target appears in logs.
    """

    def __init__(self, root: Path, *, multipart_threshold: int = 16 * C.MIB,
                 multipart_chunksize: int = 8 * C.MIB, bandwidth_limit: int = 0,
                 display_url: str | None = None) -> None:
        self.root = Path(root)
        self._threshold = multipart_threshold
        self._chunksize = multipart_chunksize
        self._limiter = BandwidthLimiter(bandwidth_limit) if bandwidth_limit else None
        self._display = display_url or f"file://{self.root}"
        self.requests: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    # --- protocol properties ------------------------------------------------------------------
    @property
    def display_url(self) -> str:
        return self._display

    @property
    def multipart_threshold(self) -> int:
        return self._threshold

    def bucket_versioning(self) -> bool:
        return False

    def object_lock_enabled(self) -> bool:
        return False

    def retention(self, key: str, *, version_id: str | None = None) -> Retention | None:
        return None

    def close(self) -> None:
        return None

    # --- helpers ------------------------------------------------------------------------------
    def _count(self, op: str) -> None:
        with self._count_lock:
            self.requests[op] += 1

    def _check_root(self, operation: str, key: str) -> None:
        if not self.root.is_dir():
            raise TargetPermanentError(
                target=self._display, operation=operation, key=key,
                detail="the target folder does not exist (is the disk mounted?)")

    def _path(self, key: str, operation: str) -> Path:
        parts = key.split("/")
        if (not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts)
                or parts[0] == META_DIR or "\\" in key):
            raise TargetError(target=self._display, operation=operation, key=key,
                              detail="unsafe key")
        return self.root.joinpath(*parts)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / (key + ".json")

    def _error(self, exc: OSError, operation: str, key: str) -> TargetError:
        detail = exc.strerror or str(exc)
        if isinstance(exc, PermissionError) or exc.errno in (errno.EROFS, errno.EACCES):
            return TargetPermanentError(target=self._display, operation=operation, key=key,
                                        detail=detail)
        if is_disk_full(exc):
            return TargetError(target=self._display, operation=operation, key=key,
                               detail="no space left in the target folder")
        return TargetError(target=self._display, operation=operation, key=key, detail=detail)

    def _write_meta(self, key: str, metadata: Mapping[str, str]) -> None:
        path = self._meta_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w", encoding="utf-8") as handle:
            json.dump(dict(metadata), handle, sort_keys=True)

    def _read_meta(self, key: str) -> dict[str, str]:
        try:
            data: Any = json.loads(self._meta_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _object(self, key: str, path: Path, metadata: Mapping[str, str]) -> RemoteObject:
        st = path.stat()
        return RemoteObject(key=key, size=st.st_size, etag=metadata.get(META_MD5),
                            last_modified=datetime.fromtimestamp(st.st_mtime, UTC),
                            metadata=dict(metadata))

    # --- writes -------------------------------------------------------------------------------
    def put_file(self, key: str, path: Path, digests: Digests, *,
                 journal: UploadJournal | None = None, stop: StopFlag | None = None,
                 stat_key: tuple[int, int, int] | None = None,
                 metadata: Mapping[str, str] | None = None) -> PutResult:
        self._check_root("put", key)
        dest = self._path(key, "put")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as src:
                check_stat_key(src.fileno(), path, digests, stat_key)
                if digests.size <= self._threshold:
                    result = self._put_whole(key, src, dest, digests, metadata)
                else:
                    result = self._put_parts(key, src, dest, digests, journal=journal, stop=stop,
                                             extra=metadata)
        except OSError as exc:
            raise self._error(exc, "put", key) from exc
        return result

    def _put_whole(self, key: str, src: Any, dest: Path, digests: Digests,
                   extra: Mapping[str, str] | None = None) -> PutResult:
        self._count("PutObject")
        hasher = Hasher()
        with atomic_write(dest, "wb") as out:
            while block := src.read(C.HASH_BLOCK_SIZE):
                if self._limiter is not None:
                    self._limiter.consume(len(block))
                hasher.update(block)
                out.write(block)
            if hasher.digests() != digests:
                raise SourceChangedError(path=str(src.name))
        metadata = {**(extra or {}), META_SHA256: digests.sha256, META_MD5: digests.md5,
                    META_PART_SIZE: "0"}
        self._write_meta(key, metadata)
        return PutResult(self._object(key, dest, metadata), bytes_sent=digests.size)

    def _put_parts(self, key: str, src: Any, dest: Path, digests: Digests, *,
                   journal: UploadJournal | None, stop: StopFlag | None,
                   extra: Mapping[str, str] | None = None) -> PutResult:
        part_size = choose_part_size(digests.size, self._chunksize)
        partial = dest.parent / f"{C.TEMP_PREFIX}{digests.sha256[:16]}-{dest.name}{_PART_SUFFIX}"
        pending = journal.load(key) if journal is not None else None
        done: dict[int, PartRecord] = {}
        if (pending is not None and pending.sha256 == digests.sha256
                and pending.part_size == part_size and pending.upload_id == partial.name
                and partial.exists()):
            # Keep only the leading run of parts the journal says were fsynced.
            number = 1
            while number in pending.parts:
                done[number] = pending.parts[number]
                number += 1
            log.info("target.multipart.resume", key=key, parts_done=len(done))
        else:
            if pending is not None:
                self._drop_partial(dest.parent / pending.upload_id)
            if journal is not None:
                journal.begin(key, partial.name, digests.sha256, digests.size, part_size)
            partial.unlink(missing_ok=True)
        count = -(-digests.size // part_size)
        sent = 0
        parts_sent = 0
        fd_src = src.fileno()
        flags = os.O_WRONLY | os.O_CREAT
        out = os.open(partial, flags, 0o644)
        try:
            os.ftruncate(out, sum(p.size for p in done.values()))
            for number in range(1, count + 1):
                if number in done:
                    continue
                if stop is not None and stop.is_set():
                    raise StopRequestedError(what=f"part {number} of {key}")
                offset = (number - 1) * part_size
                data = read_range(fd_src, offset, min(part_size, digests.size - offset),
                                  self._limiter)
                self._count("UploadPart")
                os.pwrite(out, data, offset)
                os.fsync(out)
                md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
                record = PartRecord(number, md5, md5, len(data))
                if journal is not None:
                    journal.part_done(key, record)
                done[number] = record
                sent += len(data)
                parts_sent += 1
        finally:
            os.close(out)
        self._count("CompleteMultipartUpload")
        with open(partial, "rb") as check:
            hasher = Hasher()
            while block := check.read(C.HASH_BLOCK_SIZE):
                hasher.update(block)
        if hasher.digests().sha256 != digests.sha256:
            self._drop_partial(partial)
            if journal is not None:
                journal.finish(key)
            raise SourceChangedError(path=str(src.name))
        os.replace(partial, dest)
        fsync_dir(dest.parent)
        metadata = {**(extra or {}), META_SHA256: digests.sha256, META_MD5: digests.md5,
                    META_PART_SIZE: str(part_size)}
        self._write_meta(key, metadata)
        if journal is not None:
            journal.finish(key)
        return PutResult(self._object(key, dest, metadata), bytes_sent=sent,
                         parts_sent=parts_sent, parts_resumed=count - parts_sent)

    @staticmethod
    def _drop_partial(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    def put_bytes(self, key: str, data: bytes, *,
                  metadata: Mapping[str, str] | None = None) -> RemoteObject:
        self._check_root("put", key)
        dest = self._path(key, "put")
        self._count("PutObject")
        meta = dict(metadata or {})
        meta.update({META_SHA256: hashlib.sha256(data).hexdigest(),
                     META_MD5: hashlib.md5(data, usedforsecurity=False).hexdigest(),
                     META_PART_SIZE: "0"})
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(dest, "wb") as out:
                out.write(data)
            self._write_meta(key, meta)
            return self._object(key, dest, meta)
        except OSError as exc:
            raise self._error(exc, "put", key) from exc

    def copy(self, src_key: str, dst_key: str, *, src_version_id: str | None = None,
             if_match: str | None = None, size: int | None = None) -> RemoteObject:
        self._check_root("copy", src_key)
        src = self._path(src_key, "copy")
        dst = self._path(dst_key, "copy")
        self._count("CopyObject")
        metadata = self._read_meta(src_key)
        if not src.is_file():
            raise TargetNotFoundError(target=self._display, operation="copy", key=src_key,
                                      version_note="")
        if if_match is not None and metadata.get(META_MD5) != if_match.strip('"'):
            raise PreconditionFailedError(target=self._display, operation="copy", key=src_key)
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.parent / f"{C.TEMP_PREFIX}link-{dst.name}"
            tmp.unlink(missing_ok=True)
            try:
                # A hard link keeps the old bytes alive when the source is replaced by a
                # rename (atomic_write), at no cost in space or time.
                os.link(src, tmp)
                os.replace(tmp, dst)
                fsync_dir(dst.parent)
            except OSError:
                tmp.unlink(missing_ok=True)
                with open(src, "rb") as inp, atomic_write(dst, "wb") as out:
                    shutil.copyfileobj(inp, out, C.HASH_BLOCK_SIZE)
            self._write_meta(dst_key, metadata)
            return self._object(dst_key, dst, metadata)
        except OSError as exc:
            raise self._error(exc, "copy", dst_key) from exc

    def delete(self, key: str, *, version_id: str | None = None) -> None:
        self._check_root("delete", key)
        path = self._path(key, "delete")
        self._count("DeleteObject")
        try:
            path.unlink(missing_ok=True)
            self._meta_path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise self._error(exc, "delete", key) from exc
        for folder in (path.parent, self._meta_path(key).parent):
            self._prune_empty(folder)

    def _prune_empty(self, folder: Path) -> None:
        stop_at = {self.root, self.root / META_DIR}
        while folder not in stop_at and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def abort_orphaned_uploads(self, known_upload_ids: set[str], *,
                               older_than: timedelta) -> int:
        self._check_root("abort", "")
        cutoff = time.time() - older_than.total_seconds()
        aborted = 0
        for path in _temp_files(self.root):
            if path.name in known_upload_ids:
                continue
            try:
                if path.stat().st_mtime <= cutoff:
                    path.unlink()
                    aborted += 1
                    log.info("target.multipart.aborted", key=str(path.relative_to(
                        self.root)), reason="orphaned")
            except OSError:
                continue
        return aborted

    # --- reads --------------------------------------------------------------------------------
    def head(self, key: str, *, version_id: str | None = None) -> RemoteObject | None:
        self._check_root("head", key)
        self._count("HeadObject")
        if version_id is not None:
            return None
        path = self._path(key, "head")
        if not path.is_file():
            return None
        return self._object(key, path, self._read_meta(key))

    def get_bytes(self, key: str, *, version_id: str | None = None,
                  byte_range: tuple[int, int] | None = None) -> bytes:
        self._check_root("get", key)
        self._count("GetObject")
        path = self._path(key, "get")
        try:
            if byte_range is None:
                return path.read_bytes()
            start, end = byte_range
            with open(path, "rb") as handle:
                handle.seek(start)
                return handle.read(max(0, end - start))
        except FileNotFoundError as exc:
            raise TargetNotFoundError(target=self._display, operation="get", key=key,
                                      version_note="") from exc
        except OSError as exc:
            raise self._error(exc, "get", key) from exc

    def get_file(self, key: str, dest: Path, *, sha256: str, size: int | None = None,
                 version_id: str | None = None, durable: bool = True) -> Digests:
        self._check_root("get", key)
        path = self._path(key, "get")

        def fetch(offset: int) -> Iterator[bytes]:
            self._count("GetObject")
            try:
                handle = open(path, "rb")  # noqa: SIM115 (closed in finally)
            except FileNotFoundError as exc:
                raise TargetNotFoundError(target=self._display, operation="get", key=key,
                                          version_note="") from exc
            except OSError as exc:
                raise self._error(exc, "get", key) from exc
            try:
                handle.seek(offset)
                while block := handle.read(C.HASH_BLOCK_SIZE):
                    yield block
            finally:
                handle.close()

        return download_resumable(key=key, dest=dest, sha256=sha256, size=size, fetch=fetch,
                                  max_attempts=1, limiter=self._limiter, durable=durable)

    def list_keys(self, prefix: str = "") -> Iterator[RemoteObject]:
        self._check_root("list", prefix)
        self._count("ListObjectsV2")
        base = prefix.rpartition("/")[0]
        start = self.root.joinpath(*base.split("/")) if base else self.root
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            folder = Path(dirpath)
            if folder == self.root:
                dirnames[:] = [d for d in dirnames if d != META_DIR]
            dirnames.sort()
            for name in sorted(filenames):
                if is_temp_name(name):
                    continue
                rel = (folder / name).relative_to(self.root).as_posix()
                if rel.startswith(prefix):
                    st = (folder / name).stat()
                    yield RemoteObject(key=rel, size=st.st_size,
                                       last_modified=datetime.fromtimestamp(st.st_mtime, UTC))

    def list_versions(self, prefix: str = "") -> Iterator[RemoteVersion]:
        return iter(())


def _temp_files(root: Path) -> Iterator[Path]:
    """Temp files anywhere under ``root``, read a directory entry at a time (``os.walk``
    lists each folder whole: a target of a million AIPs in one folder cost 120 MiB)."""
    folders = [root]
    while folders:
        try:
            with os.scandir(folders.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(Path(entry.path))
                    elif is_temp_name(entry.name) and entry.is_file(follow_symlinks=False):
                        yield Path(entry.path)
        except OSError:
            continue
