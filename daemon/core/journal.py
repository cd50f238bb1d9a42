"""The upload journal: where a multipart upload's progress is recorded so it can resume.

Owns: the ``UploadJournal`` protocol a target writes its multipart progress through, its
records (``PendingUpload``, ``PartRecord``) and ``MemoryJournal``, the in-memory journal for
callers without a state database.  ``daemon.core.state.StateDB`` is the durable journal.

Must not: do I/O (the state database persists; this module only declares).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["MemoryJournal", "PartRecord", "PendingUpload", "UploadJournal"]


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
