"""What names mean: staged files, target keys, kept versions and snapshot inventories.

Owns, in one place, the backup's naming rules:

- a **staged AIP** is a finished ``*.zip`` in the staging folder: no temporary name (see
  ``aip.files.is_temp_name``), no hidden name; its target key is its file name;
- an **AIP key** is named like an AIP (``<TYPE>@<prefix>-<suffix>.zip``); only those are ever
  pruned;
- in "keys" versioning the old bytes of an overwritten key live at the content-addressed
  ``versions/<key>/<sha256>``; with bucket versioning the store keeps them (``Versioning``);
- a snapshot's inventory is ``snapshots/<id>.jsonl`` (``.json`` for the format 1 inventories
  written before); an id is ``YYYYMMDDTHHMMSSZ-<token>`` (UTC, so ids sort by time).

Pure: no I/O.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from aip import constants as C
from aip.files import is_temp_name

__all__ = [
    "SNAPSHOTS_DIR",
    "VERSIONS_DIR",
    "is_aip_key",
    "is_snapshot_id",
    "is_staged_name",
    "new_snapshot_id",
    "snapshot_id_of",
    "snapshot_key",
    "version_owner",
    "versioned_key",
]

#: Folder (relative to the target root) holding the old bytes of overwritten keys.
VERSIONS_DIR = "versions"
#: Folder (relative to the target root) holding the snapshot inventories.
SNAPSHOTS_DIR = "snapshots"

_SNAPSHOT_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-z]+")
_INVENTORY_SUFFIX = ".jsonl"
_INVENTORY_SUFFIXES = (".jsonl", ".json")


def is_staged_name(name: str) -> bool:
    """True for the names the mirror uploads (finished ``*.zip``, no temp or hidden name)."""
    return (not is_temp_name(name) and not name.startswith(".")
            and name.endswith("." + C.PACKAGE_EXTENSION))


def is_aip_key(key: str) -> bool:
    """True for keys named like an AIP; anything else under the root is never pruned."""
    match = C.PACKAGE_NAME_RE.match(key)
    return match is not None and match["ext"] == C.PACKAGE_EXTENSION


def versioned_key(key: str, sha256: str) -> str:
    """Where the bytes of ``key`` with digest ``sha256`` are kept once ``key`` is overwritten.

    Content-addressed, so writing it twice is harmless and a snapshot can name it before it
    exists (keys mode: old bytes are copied there just before an overwrite).
    """
    return f"{VERSIONS_DIR}/{key}/{sha256}"


def version_owner(key: str) -> str | None:
    """The key whose old bytes ``key`` holds (``versions/<key>/<sha256>``), or None."""
    if not key.startswith(f"{VERSIONS_DIR}/"):
        return None
    owner, sep, _ = key[len(VERSIONS_DIR) + 1:].rpartition("/")
    return owner if sep else None


def new_snapshot_id(now: datetime, token: str | None = None) -> str:
    """A sortable snapshot id: ``20261126T155700Z-1a2b3c`` (UTC second + random token).

    Args:
        now: the creation time.
        token: the suffix (default: 6 random hex digits).

    Returns:
        The id.
    """
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{token or secrets.token_hex(3)}"


def is_snapshot_id(name: str) -> bool:
    """True when ``name`` has the form ``new_snapshot_id`` gives."""
    return _SNAPSHOT_ID.fullmatch(name) is not None


def snapshot_key(snapshot_id: str, *, legacy: bool = False) -> str:
    """The key of a snapshot's inventory, relative to the target root (``legacy``: where a
    format 1 inventory was written)."""
    return f"{SNAPSHOTS_DIR}/{snapshot_id}{_INVENTORY_SUFFIXES[1] if legacy else _INVENTORY_SUFFIX}"


def snapshot_id_of(key: str) -> str | None:
    """The snapshot id whose inventory ``key`` is (``snapshots/<id>.jsonl`` or ``.json``), or
    None."""
    prefix = f"{SNAPSHOTS_DIR}/"
    if not key.startswith(prefix):
        return None
    for suffix in _INVENTORY_SUFFIXES:
        if key.endswith(suffix):
            name = key[len(prefix):-len(suffix)]
            return name if name and "/" not in name else None
    return None
