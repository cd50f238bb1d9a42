"""What every mirror target offers: the ``Target`` protocol and the records it returns.

Owns: the ``Target`` protocol (put a file with its known digests, resumably; head; get to a
local path, streamed, resumable by range, SHA-256 verified; list keys and versions; delete;
copy) and its records (``RemoteObject``, ``RemoteVersion``, ``PutResult``) and object
metadata keys.  The machinery both implementations share is in ``daemon.targets.transfer``;
the journal a target records multipart progress in is ``daemon.core.journal``.

Keys given to a target are relative to its root (the S3 prefix or the folder); a target never
sees absolute keys from callers.  Object metadata keys: ``sha256``, ``md5`` (hex, whole file)
and ``part-size`` (0 for a single PUT); S3 stores them as ``x-amz-meta-*``.

Must not: import boto3/botocore (``daemon.targets.s3`` owns them), decide what to upload,
or do I/O of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import structlog

from aip.files import Digests
from daemon.core.journal import UploadJournal
from daemon.core.stop import StopFlag

__all__ = [
    "META_MD5",
    "META_PART_SIZE",
    "META_SHA256",
    "PutResult",
    "RemoteObject",
    "RemoteVersion",
    "Retention",
    "Target",
]

log = structlog.get_logger(__name__)

META_SHA256 = "sha256"
META_MD5 = "md5"
META_PART_SIZE = "part-size"

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
class Retention:
    """An object version's S3 Object Lock: its retention (mode and end) and legal hold.

    While either holds, the store refuses to delete the version (Amazon S3 User Guide,
    "Locking objects with Object Lock": a version under a retention period or a legal hold
    cannot be deleted; a DeleteObject with its VersionId answers 403 AccessDenied).
    """

    mode: str | None = None
    until: datetime | None = None
    legal_hold: bool = False

    def locked(self, now: datetime) -> bool:
        """True while the store refuses to delete the version."""
        return self.legal_hold or (self.until is not None and self.until > now)

    def describe(self) -> str:
        """``locked until 2027-01-06T04:09:55+00:00 (COMPLIANCE)``, or the legal hold."""
        if self.legal_hold:
            return "locked by a legal hold"
        until = self.until.isoformat(timespec="seconds") if self.until else "?"
        return f"locked until {until} ({self.mode or 'retention'})"


@dataclass(frozen=True, slots=True)
class PutResult:
    """The outcome of ``put_file``: the stored object and what actually crossed the wire."""

    remote: RemoteObject
    bytes_sent: int
    parts_sent: int = 0
    parts_resumed: int = 0


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

    def object_lock_enabled(self) -> bool:
        """True when the store may lock object versions (an S3 bucket with Object Lock)."""

    def retention(self, key: str, *, version_id: str | None = None) -> Retention | None:
        """The Object Lock of one object version (None: none, or no such object)."""

    def put_file(self, key: str, path: Path, digests: Digests, *,
                 journal: UploadJournal | None = None, stop: StopFlag | None = None,
                 stat_key: tuple[int, int, int] | None = None,
                 metadata: Mapping[str, str] | None = None) -> PutResult:
        """Store the file ``path`` (whose size and digests are known) under ``key``.

        Large files go in parts recorded in ``journal``; a pending upload of the same bytes
        and part size resumes without re-sending completed parts.  ``stop`` is honoured
        between parts (``StopRequestedError``; the upload stays resumable).
        Raises ``SourceChangedError`` if the open file no longer has ``digests.size`` or
        the (size, mtime_ns, inode) ``stat_key`` its digests were computed for.
        ``metadata`` is stored with the object besides its digests.
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

    def get_bytes(self, key: str, *, version_id: str | None = None,
                  byte_range: tuple[int, int] | None = None) -> bytes:
        """The whole (small) object, or with ``byte_range`` its bytes ``[start, end)``
        (fewer at the end of the object)."""

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




