"""Snapshot inventories: the commit point of a mirror run, their listing and selection.

Owns: the inventory format (``aipsync-inventory/1``: id, created time, target root, versioning
mode, and every key with SHA-256, MD5, size and version, plus a digest of the entries so a
reader can check it), its (de)serialisation, listing the complete snapshots newest first,
choosing one by id or time (``--at``), and the retention rule (which snapshots a prune keeps).
Where an inventory lives and how ids look is ``daemon.sync.layout``.

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

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from daemon.core.config import VERSIONING_MODES, Versioning
from daemon.core.errors import InventoryFormatError, SnapshotNotFoundError, TargetNotFoundError
from daemon.sync.layout import SNAPSHOTS_DIR, snapshot_id_of, snapshot_key
from daemon.targets import Target
from daemon.targets.base import RemoteObject

__all__ = [
    "INVENTORY_FORMAT",
    "Inventory",
    "InventoryEntry",
    "SnapshotInfo",
    "build_inventory",
    "entries_digest",
    "list_snapshots",
    "read_inventory",
    "retained_snapshots",
    "select_snapshot",
    "snapshot_key",
    "write_inventory",
]

log = structlog.get_logger(__name__)

INVENTORY_FORMAT = "aipsync-inventory/1"

_META_CREATED = "created"
_META_OBJECTS = "objects"
_META_BYTES = "bytes"


# --- the inventory ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One object of a snapshot: its key (relative to the root), digests, size and version."""

    key: str
    sha256: str
    md5: str
    size: int
    version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "md5": self.md5, "size": self.size,
                "version": self.version}


def entries_digest(entries: Iterable[InventoryEntry], versioning: str) -> str:
    """SHA-256 over the canonical JSON of the entries (sorted by key) and the versioning mode.

    Two runs with the same digest would write the same snapshot (apart from id and time).
    """
    digest = hashlib.sha256(f"{INVENTORY_FORMAT}\0{versioning}\n".encode())
    # One line per entry, fields NUL-separated (no field holds a NUL): cheap enough that a
    # no-op mirror of ten thousand AIPs does not spend its time here; fed a thousand lines
    # at a time, so a big site's inventory is never one string.
    ordered = sorted(entries, key=lambda e: e.key)
    for start in range(0, len(ordered), 1000):
        digest.update("".join(
            f"{e.key}\0{e.sha256}\0{e.md5}\0{e.size}\0{e.version or ''}\n"
            for e in ordered[start:start + 1000]).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Inventory:
    """A complete snapshot: every object the target held for the staged AIPs at ``created``."""

    id: str
    created: datetime
    root: str
    versioning: Versioning
    entries: tuple[InventoryEntry, ...]

    @property
    def object_count(self) -> int:
        return len(self.entries)

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)

    @property
    def digest(self) -> str:
        return entries_digest(self.entries, self.versioning)

    def entry(self, key: str) -> InventoryEntry | None:
        """The entry for ``key``, or None."""
        for e in self.entries:
            if e.key == key:
                return e
        return None

    def by_key(self) -> dict[str, InventoryEntry]:
        return {e.key: e for e in self.entries}

    def to_json(self) -> bytes:
        """Deterministic JSON (sorted keys, entries sorted by key, UTF-8)."""
        doc = {
            "format": INVENTORY_FORMAT,
            "id": self.id,
            "created": self.created.astimezone(UTC).isoformat(timespec="microseconds"),
            "root": self.root,
            "versioning": self.versioning,
            "object_count": self.object_count,
            "total_size": self.total_size,
            "entries_sha256": self.digest,
            "objects": [e.as_dict() for e in self.entries],
        }
        return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, *, snapshot_id: str = "?") -> Inventory:
        """Parse and check an inventory.

        Args:
            data: the JSON bytes.
            snapshot_id: the id expected (for messages; checked when not ``"?"``).

        Returns:
            The inventory.

        Raises:
            InventoryFormatError: not JSON, wrong format, bad fields, counts or digest.
        """
        def bad(detail: str) -> InventoryFormatError:
            return InventoryFormatError(snapshot=snapshot_id, detail=detail)

        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad("not valid JSON") from exc
        if not isinstance(doc, dict) or doc.get("format") != INVENTORY_FORMAT:
            raise bad(f"not an {INVENTORY_FORMAT} document")
        try:
            created = datetime.fromisoformat(str(doc["created"]))
            entries = tuple(
                InventoryEntry(key=str(o["key"]), sha256=str(o["sha256"]), md5=str(o["md5"]),
                               size=int(o["size"]),
                               version=None if o.get("version") is None else str(o["version"]))
                for o in doc["objects"])
            inv = cls(id=str(doc["id"]), created=created, root=str(doc.get("root", "")),
                      versioning=doc["versioning"], entries=entries)
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"missing or malformed field ({type(exc).__name__}: {exc})") from exc
        if inv.versioning not in VERSIONING_MODES:
            raise bad(f"unknown versioning {inv.versioning!r}")
        if created.tzinfo is None:
            raise bad("created time has no time zone")
        if snapshot_id not in ("?", inv.id):
            raise bad(f"names itself {inv.id!r}")
        if doc.get("object_count") != inv.object_count or doc.get("total_size") != inv.total_size:
            raise bad("object_count or total_size do not match the objects")
        if doc.get("entries_sha256") != inv.digest:
            raise bad("entries_sha256 does not match the objects (damaged inventory)")
        if len({e.key for e in entries}) != len(entries):
            raise bad("a key appears twice")
        return inv


def build_inventory(snapshot_id: str, created: datetime, root: str, versioning: Versioning,
                    entries: Iterable[InventoryEntry]) -> Inventory:
    """An ``Inventory`` with entries sorted by key.  Pure."""
    return Inventory(id=snapshot_id, created=created, root=root, versioning=versioning,
                     entries=tuple(sorted(entries, key=lambda e: e.key)))


# --- reading and writing ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A complete snapshot as listed: id, time, object count and total size."""

    id: str
    created: datetime
    objects: int
    bytes: int

    @property
    def key(self) -> str:
        return snapshot_key(self.id)

    def as_json(self) -> dict[str, Any]:
        """id, created (ISO-8601), objects and bytes."""
        return {"id": self.id, "created": self.created.isoformat(), "objects": self.objects,
                "bytes": self.bytes}


def write_inventory(target: Target, inventory: Inventory) -> RemoteObject:
    """Upload the inventory (the run's commit point) with its summary as object metadata.

    Raises:
        TargetError: the upload failed (the snapshot then does not exist).
    """
    metadata = {_META_CREATED: inventory.created.astimezone(UTC).isoformat(),
                _META_OBJECTS: str(inventory.object_count),
                _META_BYTES: str(inventory.total_size)}
    remote = target.put_bytes(snapshot_key(inventory.id), inventory.to_json(), metadata=metadata)
    log.info("mirror.snapshot.written", snapshot=inventory.id, objects=inventory.object_count,
             bytes=inventory.total_size)
    return remote


def read_inventory(target: Target, snapshot_id: str) -> Inventory:
    """Download and check one snapshot's inventory.

    Raises:
        SnapshotNotFoundError: no such snapshot.
        InventoryFormatError: the inventory is damaged.
        TargetError: the target failed.
    """
    try:
        data = target.get_bytes(snapshot_key(snapshot_id))
    except TargetNotFoundError as exc:
        raise SnapshotNotFoundError(detail=f"with id {snapshot_id!r}") from exc
    return Inventory.from_json(data, snapshot_id=snapshot_id)


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
        info = _info_from_metadata(snapshot_id, head.metadata)
        if info is None:
            try:
                inv = read_inventory(target, snapshot_id)
            except InventoryFormatError as exc:
                log.warning("snapshot.damaged", snapshot=snapshot_id, error=str(exc))
                continue
            info = SnapshotInfo(inv.id, inv.created, inv.object_count, inv.total_size)
        found.append(info)
    return sorted(found, key=lambda s: (s.created, s.id), reverse=True)


def _info_from_metadata(snapshot_id: str, meta: Mapping[str, str]) -> SnapshotInfo | None:
    try:
        created = datetime.fromisoformat(meta[_META_CREATED])
        return SnapshotInfo(snapshot_id, created, int(meta[_META_OBJECTS]),
                            int(meta[_META_BYTES]))
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


