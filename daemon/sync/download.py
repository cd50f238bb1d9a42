"""Downloads of snapshot entries: the bytes a snapshot names, verified, to a local file.

Owns: ``download_object`` (one object as an inventory entry names it: an S3 VersionId, a
versioned key, or the current object) and ``download_entry`` (the same for a key of an
inventory).  Used by restore and by the deep audit.

Must not: write anything but the destination file (through its partial file).
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path

import structlog

from aip.files import Digests
from daemon.core.config import Config
from daemon.core.errors import (
    DownloadChecksumError,
    NotInSnapshotError,
    ObjectMissingError,
    TargetNotFoundError,
)
from daemon.sync.inventory import InventoryReader
from daemon.sync.layout import VERSIONS_DIR
from daemon.targets import open_target
from daemon.targets.base import Target

__all__ = ["download_entry", "download_object"]

log = structlog.get_logger(__name__)


# --- downloads (for restore) ------------------------------------------------------------------
def download_object(config: Config, key: str, version: str | None, dest: Path, *,
                    sha256: str, size: int | None = None,
                    target: Target | None = None, durable: bool = True,
                    archived: Container[str] | None = None) -> Digests:
    """Download one object as a snapshot names it, verified, to ``dest`` (atomically).

    ``version`` is what the inventory entry says: an S3 VersionId (bucket versioning), a
    versioned key ``versions/<key>/<sha256>`` (keys mode: tried first, then ``<key>`` itself
    when its stored SHA-256 is the one wanted), or None (the current object).  The download
    goes through a partial file next to ``dest`` that a later call resumes with a range
    read; ``dest`` appears only after size and SHA-256 matched.

    Args:
        config: the configuration (for the target).
        key: the object key relative to the root (``ITEM@123456789-42.zip``).
        version: the entry's version, as above.
        dest: the final local path.
        sha256: the SHA-256 the inventory records.
        size: the size the inventory records.
        target: an open target (default: opened from the configuration and closed).
        durable: fsync the file (off for scratch files re-hashed before any later use).
        archived: keys mode: the versioned keys that exist (one listing of ``versions/``
            made by a caller that downloads many objects).  A version not in it is fetched
            from ``<key>`` at once (one GET instead of a failed GET, a HEAD and a GET); if
            ``<key>`` was overwritten since the listing, its checksum fails and the general
            path, which tries the versioned key first, runs.

    Returns:
        The digests of the file at ``dest``.

    Raises:
        ObjectMissingError: neither the version nor a matching current object exists.
        DownloadChecksumError: the bytes are not the ones recorded (nothing is renamed).
        DiskFullError, DownloadError, TargetError: as their names say.
    """
    own = target is None
    tgt = target if target is not None else open_target(config.target)
    try:
        if version is not None and version.startswith(f"{VERSIONS_DIR}/"):
            if archived is not None and version not in archived:
                try:
                    return tgt.get_file(key, dest, sha256=sha256, size=size, durable=durable)
                except (DownloadChecksumError, TargetNotFoundError):
                    log.info("download.version.fallback", key=key, version=version,
                             detail="the key changed since the listing of versions/")
            try:
                return tgt.get_file(version, dest, sha256=sha256, size=size,
                                    durable=durable)
            except TargetNotFoundError:
                head = tgt.head(key)
                if head is None or (head.sha256 is not None and head.sha256 != sha256):
                    raise ObjectMissingError(key=key, target=tgt.display_url,
                                             operation="get", version_note="") from None
                return tgt.get_file(key, dest, sha256=sha256, size=size, durable=durable)
        try:
            return tgt.get_file(key, dest, sha256=sha256, size=size, version_id=version,
                                durable=durable)
        except TargetNotFoundError as exc:
            raise ObjectMissingError(key=key, target=tgt.display_url, operation="get",
                                     version_note="") from exc
    finally:
        if own:
            tgt.close()


def download_entry(config: Config, inventory: InventoryReader, key: str, dest: Path, *,
                   target: Target | None = None) -> Digests:
    """``download_object`` for the entry ``key`` of ``inventory``.

    Raises:
        NotInSnapshotError: the inventory does not name ``key``.
    """
    entry = inventory.entry(key)
    if entry is None:
        raise NotInSnapshotError(key=key, snapshot=inventory.id)
    return download_object(config, entry.key, entry.version, dest, sha256=entry.sha256,
                           size=entry.size, target=target)
