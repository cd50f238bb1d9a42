"""Snapshots in the target: writing one, listing them, choosing one, reading its inventory.

Owns: ``SnapshotInfo`` (a complete snapshot as listed), ``write_inventory`` (upload an
inventory file, the run's commit point, with its summary as object metadata),
``list_snapshots`` (newest first; one listing plus a metadata read each), ``open_inventory``
(read one through byte ranges: a lookup reads only the blocks it needs) and
``fetch_inventory`` (download one whole, verified, for callers that walk every entry), the
choice of a snapshot by id or time (``--at``), and the retention rule (which snapshots a
prune keeps).  The inventory format is ``daemon.sync.inventory``; where snapshots live and how
ids look is ``daemon.sync.layout``.

An inventory is written after every upload of its run succeeded (ocfl-py's root inventory,
written last): a run that dies earlier leaves the previous snapshot the newest complete one.
Versions: with bucket versioning an entry's ``version`` is the S3 VersionId; otherwise
("keys" mode) it is ``versions/<key>/<sha256>``, the content-addressed key the old bytes are
copied to just before the mirror overwrites ``<key>``; until then they are at ``<key>``
itself (``daemon.sync.download.download_object`` looks in both).

Must not: upload AIPs or decide what to upload (``daemon.sync.mirror``), or delete anything
(``daemon.sync.prune``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from aip.files import Digests
from daemon.core.errors import InventoryFormatError, SnapshotNotFoundError, TargetNotFoundError
from daemon.sync.inventory import (
    INVENTORY_FORMAT,
    META_INDEX_OFFSET,
    FileRange,
    InventoryHeader,
    InventoryReader,
    InventorySummary,
)
from daemon.sync.layout import SNAPSHOTS_DIR, snapshot_id_of, snapshot_key
from daemon.targets import Target

__all__ = [
    "SnapshotInfo",
    "TargetRange",
    "fetch_inventory",
    "list_snapshots",
    "open_inventory",
    "read_inventory",
    "retained_snapshots",
    "select_snapshot",
    "write_inventory",
]

log = structlog.get_logger(__name__)

_META_CREATED = "created"
_META_OBJECTS = "objects"
_META_BYTES = "bytes"
_META_FORMAT = "format"
#: Objects up to this size are read whole, once (some four thousand entries).
_READ_WHOLE = 1024 * 1024
#: Bytes a streamed read asks the target for at a time.
_STREAM_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A complete snapshot as listed: id, time, object count and total size, and where its
    inventory is (key, size, the trailer's offset, the SHA-256 stored with it)."""

    id: str
    created: datetime
    objects: int
    bytes: int
    key: str = ""
    size: int = 0
    index_offset: int | None = None
    sha256: str | None = None

    def as_json(self) -> dict[str, Any]:
        """id, created (ISO-8601), objects and bytes."""
        return {"id": self.id, "created": self.created.isoformat(), "objects": self.objects,
                "bytes": self.bytes}


class TargetRange:
    """An object in the target as a ``RangeSource``: ranged GETs, or one GET of the whole
    object when it is small (most inventories: one request then serves every read)."""

    def __init__(self, target: Target, key: str, size: int) -> None:
        self._target = target
        self._key = key
        self._size = size
        self._whole: bytes | None = None

    @property
    def size(self) -> int:
        return self._size

    def read(self, start: int, end: int) -> bytes:
        end = min(end, self._size)
        if end <= start:
            return b""
        if self._size <= _READ_WHOLE:
            if self._whole is None:
                self._whole = self._target.get_bytes(self._key)
            return self._whole[start:end]
        return self._target.get_bytes(self._key, byte_range=(start, end))

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        while start < min(end, self._size):
            block = self.read(start, min(end, start + _STREAM_CHUNK))
            if not block:
                return
            start += len(block)
            yield block


def write_inventory(target: Target, path: Path, header: InventoryHeader,
                    summary: InventorySummary, digests: Digests) -> SnapshotInfo:
    """Upload the inventory file at ``path`` (the run's commit point) with its summary as
    object metadata, streamed from the file.

    Raises:
        TargetError: the upload failed (the snapshot then does not exist).
    """
    key = snapshot_key(header.id)
    created = header.created.astimezone(UTC)
    metadata = {_META_CREATED: created.isoformat(), _META_OBJECTS: str(summary.object_count),
                _META_BYTES: str(summary.total_size), _META_FORMAT: INVENTORY_FORMAT,
                META_INDEX_OFFSET: str(summary.index_offset)}
    target.put_file(key, path, digests, metadata=metadata)
    log.info("mirror.snapshot.written", snapshot=header.id, objects=summary.object_count,
             bytes=summary.total_size)
    return SnapshotInfo(header.id, created, summary.object_count, summary.total_size, key,
                        digests.size, summary.index_offset, digests.sha256)


def open_inventory(target: Target, snapshot: SnapshotInfo) -> InventoryReader:
    """The snapshot's inventory, read through byte ranges as far as needed.

    Raises:
        SnapshotNotFoundError: the inventory is gone (pruned meanwhile).
        InventoryFormatError: it is damaged.
        TargetError: the target failed.
    """
    try:
        return InventoryReader(TargetRange(target, snapshot.key, snapshot.size),
                               snapshot_id=snapshot.id, index_offset=snapshot.index_offset)
    except TargetNotFoundError as exc:
        raise SnapshotNotFoundError(detail=f"with id {snapshot.id!r} (gone)") from exc


def fetch_inventory(target: Target, snapshot: SnapshotInfo, dest: Path) -> InventoryReader:
    """The snapshot's inventory downloaded whole (streamed, verified when the target stored
    its SHA-256) to ``dest`` (the caller's to remove), for a caller that reads every entry.

    Raises:
        SnapshotNotFoundError, InventoryFormatError, TargetError: as ``open_inventory``.
    """
    try:
        if snapshot.sha256:
            target.get_file(snapshot.key, dest, sha256=snapshot.sha256, size=snapshot.size,
                            durable=False)
        else:  # an inventory written before aipsync stored digests: read it as it is
            dest.write_bytes(target.get_bytes(snapshot.key))
    except TargetNotFoundError as exc:
        raise SnapshotNotFoundError(detail=f"with id {snapshot.id!r} (gone)") from exc
    return InventoryReader(FileRange(dest), snapshot_id=snapshot.id,
                           index_offset=snapshot.index_offset)


def read_inventory(target: Target, snapshot_id: str) -> InventoryReader:
    """The inventory of the snapshot ``snapshot_id`` (either format), read as needed.

    Raises:
        SnapshotNotFoundError: no such snapshot.
        InventoryFormatError: it is damaged.
        TargetError: the target failed.
    """
    for key in (snapshot_key(snapshot_id), snapshot_key(snapshot_id, legacy=True)):
        head = target.head(key)
        if head is not None:
            info = _info_from_metadata(snapshot_id, key, head.size, head.metadata)
            return InventoryReader(TargetRange(target, key, head.size),
                                   snapshot_id=snapshot_id,
                                   index_offset=info.index_offset if info else None)
    raise SnapshotNotFoundError(detail=f"with id {snapshot_id!r}")


def list_snapshots(target: Target) -> list[SnapshotInfo]:
    """Every complete snapshot in the target, newest first.

    One listing of ``snapshots/`` plus one metadata read per snapshot (the inventory itself
    is read only when its metadata lacks the summary).

    Raises:
        TargetError: the target failed.
    """
    found: list[SnapshotInfo] = []
    for obj in target.list_keys(f"{SNAPSHOTS_DIR}/"):
        snapshot_id = snapshot_id_of(obj.key)
        if snapshot_id is None:
            continue
        head = target.head(obj.key)
        if head is None:
            continue
        info = _info_from_metadata(snapshot_id, obj.key, head.size, head.metadata)
        if info is None:
            try:
                inv = InventoryReader(TargetRange(target, obj.key, head.size),
                                      snapshot_id=snapshot_id)
            except InventoryFormatError as exc:
                log.warning("snapshot.damaged", snapshot=snapshot_id, error=str(exc))
                continue
            info = SnapshotInfo(inv.id, inv.header.created, inv.object_count, inv.total_size,
                                obj.key, head.size, None, head.sha256)
        found.append(info)
    return sorted(found, key=lambda s: (s.created, s.id), reverse=True)


def _info_from_metadata(snapshot_id: str, key: str, size: int,
                        meta: Mapping[str, str]) -> SnapshotInfo | None:
    try:
        created = datetime.fromisoformat(meta[_META_CREATED])
        offset = meta.get(META_INDEX_OFFSET)
        return SnapshotInfo(snapshot_id, created, int(meta[_META_OBJECTS]),
                            int(meta[_META_BYTES]), key, size,
                            int(offset) if offset is not None else None, meta.get("sha256"))
    except (KeyError, ValueError):
        return None


# --- selection and retention (pure) -----------------------------------------------------------
def select_snapshot(snapshots: Sequence[SnapshotInfo], *, snapshot_id: str | None = None,
                    at: datetime | None = None) -> SnapshotInfo:
    """The snapshot named ``snapshot_id``, or the newest not newer than ``at``, or the newest.

    Args:
        snapshots: the complete snapshots (any order).
        snapshot_id: pick this one.
        at: pick the newest created at or before this time (timezone-aware).

    Returns:
        The chosen snapshot.

    Raises:
        SnapshotNotFoundError: nothing matches.
        ValueError: ``at`` has no time zone.
    """
    ordered = sorted(snapshots, key=lambda s: (s.created, s.id), reverse=True)
    if snapshot_id is not None:
        for snap in ordered:
            if snap.id == snapshot_id:
                return snap
        raise SnapshotNotFoundError(detail=f"with id {snapshot_id!r}")
    if at is not None:
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        for snap in ordered:
            if snap.created <= at:
                return snap
        raise SnapshotNotFoundError(detail=f"at or before {at.isoformat()}")
    if not ordered:
        raise SnapshotNotFoundError(detail="in the target")
    return ordered[0]


def retained_snapshots(snapshots: Sequence[SnapshotInfo], *, keep_snapshots: int,
                       keep_days: int, now: datetime) -> set[str]:
    """Ids of the snapshots a retention policy keeps.

    A snapshot is kept when it is among the ``keep_snapshots`` newest, or younger than
    ``keep_days`` days; the newest is always kept.  Pure.
    """
    ordered = sorted(snapshots, key=lambda s: (s.created, s.id), reverse=True)
    cutoff = now - timedelta(days=keep_days)
    keep = {s.id for s in ordered[:max(1, keep_snapshots)]}
    keep |= {s.id for s in ordered if s.created >= cutoff}
    return keep


