"""The state database: what the daemon knows without asking the disk's contents or the target.

Owns: the SQLite file ``<state.dir>/state.db`` (WAL) and its versioned schema, created on first
use: the stat-keyed hash cache of staged files (size, mtime_ns, inode -> SHA-256, MD5), the
record of every object uploaded (size, hashes, version, ETag, part size, time), the runs, the
pending multipart uploads with their completed parts (so a large upload resumes after a crash),
the upload failures, the snapshots written, the fixity audits and the restores run (schema 2),
and small named values (the incremental-export watermark, the newest complete snapshot, the
target the records belong to).

Must not: hash files, talk to a target, or decide anything; callers decide, this module
remembers.  One connection is shared by the threads of a run under a lock; every write is its
own short transaction, so a crash loses at most the write in flight.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

import structlog

from daemon.core.errors import StateError
from daemon.core.journal import PartRecord, PendingUpload

__all__ = [
    "SCHEMA_VERSION",
    "AuditCounts",
    "AuditRecord",
    "CachedHash",
    "Failure",
    "RemoteRecord",
    "RestoreRecord",
    "RunCounts",
    "RunRecord",
    "SnapshotRecord",
    "StateDB",
    "open_state",
]

log = structlog.get_logger(__name__)

#: The schema this code writes; an older file is migrated, a newer one refused.
SCHEMA_VERSION = 3
STATE_FILE_NAME = "state.db"

RunKind = Literal["full", "incremental", "mirror", "prune"]
RunStatus = Literal["running", "ok", "failed", "stopped"]

_SCHEMA_V1 = """
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- The hash cache: a staged file whose (size, mtime_ns, inode) is unchanged is not re-read.
CREATE TABLE staged_files (
    name      TEXT PRIMARY KEY,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    sha256    TEXT NOT NULL,
    md5       TEXT NOT NULL,
    hashed_at TEXT NOT NULL
);
-- The last copy uploaded under each key (relative to the target root).
CREATE TABLE remote_objects (
    key         TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    md5         TEXT NOT NULL,
    version_id  TEXT,
    version_key TEXT,
    etag        TEXT,
    part_size   INTEGER NOT NULL DEFAULT 0,
    uploaded_at TEXT NOT NULL,
    run_id      INTEGER
);
CREATE TABLE runs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL CHECK (kind IN ('full', 'incremental', 'mirror', 'prune')),
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'stopped')),
    updated_after    TEXT,
    objects_seen     INTEGER NOT NULL DEFAULT 0,
    objects_uploaded INTEGER NOT NULL DEFAULT 0,
    objects_skipped  INTEGER NOT NULL DEFAULT 0,
    objects_failed   INTEGER NOT NULL DEFAULT 0,
    bytes_uploaded   INTEGER NOT NULL DEFAULT 0,
    snapshot_id      TEXT,
    error            TEXT
);
CREATE TABLE multipart_uploads (
    key        TEXT PRIMARY KEY,
    upload_id  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    part_size  INTEGER NOT NULL,
    started_at TEXT NOT NULL
);
CREATE TABLE multipart_parts (
    key         TEXT NOT NULL REFERENCES multipart_uploads (key) ON DELETE CASCADE,
    part_number INTEGER NOT NULL,
    etag        TEXT NOT NULL,
    md5         TEXT NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (key, part_number)
);
CREATE TABLE failures (
    key      TEXT PRIMARY KEY,
    run_id   INTEGER,
    attempts INTEGER NOT NULL DEFAULT 1,
    error    TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE TABLE snapshots (
    id             TEXT PRIMARY KEY,
    created_at     TEXT NOT NULL,
    objects        INTEGER NOT NULL,
    bytes          INTEGER NOT NULL,
    entries_digest TEXT NOT NULL,
    run_id         INTEGER
);
"""

# Schema 2: the fixity audits and the restores, so ``status`` can show the last
# of each.  ``problems`` holds the first problems found, as JSON (key, kind, detail).
_SCHEMA_V2 = """
CREATE TABLE audits (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at     TEXT NOT NULL,
    finished_at    TEXT,
    status         TEXT NOT NULL
                   CHECK (status IN ('running', 'ok', 'warning', 'failed', 'error', 'stopped')),
    trigger        TEXT NOT NULL,
    snapshot_id    TEXT,
    deep           INTEGER NOT NULL DEFAULT 0,
    sample_percent REAL,
    seed           INTEGER,
    checked        INTEGER NOT NULL DEFAULT 0,
    downloaded     INTEGER NOT NULL DEFAULT 0,
    bytes_read     INTEGER NOT NULL DEFAULT 0,
    missing        INTEGER NOT NULL DEFAULT 0,
    corrupted      INTEGER NOT NULL DEFAULT 0,
    unverifiable   INTEGER NOT NULL DEFAULT 0,
    not_backed_up  INTEGER NOT NULL DEFAULT 0,
    problems       TEXT,
    error          TEXT
);
CREATE TABLE restores (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at       TEXT NOT NULL,
    finished_at      TEXT,
    status           TEXT NOT NULL
                     CHECK (status IN ('running', 'ok', 'warning', 'failed', 'dry-run',
                                       'stopped')),
    snapshot_id      TEXT,
    handle           TEXT,
    mode             TEXT NOT NULL,
    packages         INTEGER NOT NULL DEFAULT 0,
    bytes_downloaded INTEGER NOT NULL DEFAULT 0,
    summary          TEXT,
    error            TEXT
);
"""

# Schema 3: each staged AIP's parent (read from its manifest when it was hashed) and the
# parent of each uploaded copy, so a snapshot names every object's parent.  NULL: not read
# yet; '': the package names none (a SITE, or a package the light reader refused).
_SCHEMA_V3 = """
ALTER TABLE staged_files ADD COLUMN parent TEXT;
ALTER TABLE remote_objects ADD COLUMN parent TEXT;
"""

_MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3}
#: Rows read per query when a whole table is walked (the lock is released between pages).
PAGE = 2000

# Names in the meta table.
_META_TARGET = "target"
_META_WATERMARK = "export_watermark"
_META_NEWEST_SNAPSHOT = "newest_snapshot"
_META_VERSIONING = "versioning"
_META_BOOTSTRAPPED = "bootstrapped"
_META_LAST_FULL = "last_full_export"
_META_FINGERPRINT = "staging_fingerprint"
_META_EXPORT_TOKEN = "export_token"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class CachedHash:
    """A staged file's stat key and the digests computed when it had that key."""

    name: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str
    md5: str
    parent: str | None = None  # None: not read yet; "": the package names no parent

    def matches(self, size: int, mtime_ns: int, inode: int) -> bool:
        """True when the file still has the stat key these digests were computed for."""
        return (self.size, self.mtime_ns, self.inode) == (size, mtime_ns, inode)


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """The last copy uploaded under ``key`` (relative to the target root)."""

    key: str
    size: int
    sha256: str
    md5: str
    version_id: str | None = None
    version_key: str | None = None
    etag: str | None = None
    part_size: int = 0
    uploaded_at: str = ""
    parent: str | None = None

    @property
    def version(self) -> str | None:
        """The S3 VersionId (bucket versioning) or the versioned key (keys mode)."""
        return self.version_id or self.version_key


@dataclass(frozen=True, slots=True)
class RunCounts:
    """What a run did, in objects and bytes."""

    seen: int = 0
    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_uploaded: int = 0


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of the runs table."""

    id: int
    kind: str
    started_at: str
    finished_at: str | None
    status: str
    updated_after: str | None
    counts: RunCounts
    snapshot_id: str | None
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """The run as ``status --json`` shows it (``objects_seen``: AIPs exported by a
        cycle, staged files seen by a mirror run)."""
        return {"id": self.id, "kind": self.kind, "status": self.status,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "updated_after": self.updated_after, "objects_seen": self.counts.seen,
                "uploaded": self.counts.uploaded, "unchanged": self.counts.skipped,
                "failed": self.counts.failed, "bytes_uploaded": self.counts.bytes_uploaded,
                "snapshot_id": self.snapshot_id, "error": self.error}


@dataclass(frozen=True, slots=True)
class Failure:
    """A key whose last upload attempt failed, and why."""

    key: str
    run_id: int | None
    attempts: int
    error: str
    failed_at: str

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "attempts": self.attempts, "error": self.error,
                "failed_at": self.failed_at}


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """A snapshot this state wrote, with the digest of its entries (for no-op detection)."""

    id: str
    created_at: str
    objects: int
    bytes: int
    entries_digest: str


@dataclass(frozen=True, slots=True)
class AuditCounts:
    """What a fixity audit found: keys checked by metadata, objects downloaded and re-hashed,
    bytes read, and the problems by kind."""

    checked: int = 0
    downloaded: int = 0
    bytes_read: int = 0
    missing: int = 0
    corrupted: int = 0
    unverifiable: int = 0
    not_backed_up: int = 0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audits table."""

    id: int
    started_at: str
    finished_at: str | None
    status: str
    trigger: str
    snapshot_id: str | None
    deep: bool
    sample_percent: float | None
    seed: int | None
    counts: AuditCounts
    problems: tuple[dict[str, str], ...]
    error: str | None

    def as_json(self) -> dict[str, Any]:
        """The audit as ``status --json`` shows it (the first ten problems)."""
        c = self.counts
        return {"id": self.id, "status": self.status, "trigger": self.trigger,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "snapshot_id": self.snapshot_id, "deep": self.deep,
                "sample_percent": self.sample_percent, "seed": self.seed,
                "checked": c.checked, "downloaded": c.downloaded, "bytes_read": c.bytes_read,
                "missing": c.missing, "corrupted": c.corrupted,
                "unverifiable": c.unverifiable, "not_backed_up": c.not_backed_up,
                "problems": list(self.problems[:10]), "error": self.error}


@dataclass(frozen=True, slots=True)
class RestoreRecord:
    """One row of the restores table (``summary``: action -> count)."""

    id: int
    started_at: str
    finished_at: str | None
    status: str
    snapshot_id: str | None
    handle: str | None
    mode: str
    packages: int
    bytes_downloaded: int
    summary: dict[str, int]
    error: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "started_at": self.started_at,
                "finished_at": self.finished_at, "snapshot_id": self.snapshot_id,
                "handle": self.handle, "mode": self.mode, "packages": self.packages,
                "bytes_downloaded": self.bytes_downloaded, "summary": self.summary,
                "error": self.error}


class StateDB:
    """The state database of one ``state.dir``; also the ``UploadJournal`` of the targets.

    Open with ``open_state(dir)`` (or ``StateDB(path)``) and close it, or use it as a context
    manager.  Safe to share between the threads of one process.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create it private: later sessions may record things an operator considers
            # sensitive (keys, handles); it never holds a credential.  Another opener may
            # create it first; then it is that one's file.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                         check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(path=str(self.path), detail=str(exc)) from exc
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StateError(path=str(self.path), detail=f"cannot open: {exc}") from exc
        log.debug("state.opened", path=str(self.path), schema=SCHEMA_VERSION)

    # --- lifecycle ----------------------------------------------------------------------------
    def _version(self) -> int:
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise StateError(path=str(self.path),
                             detail=f"schema {version} is newer than this aipsync "
                                    f"({SCHEMA_VERSION}); upgrade aipsync")
        return version

    def _prepare(self) -> None:
        """Put the file in WAL mode and migrate it to this schema, once among all openers.

        Both change the file, and two openers of a new (or old) file, in two processes or two
        threads, must not both do so: switching to WAL needs the file to itself, and SQLite
        answers a second opener that already holds a read lock "database is locked" at once,
        without waiting out the busy timeout (that wait could deadlock).  So the mode and the
        version are read, and changed, under a lock of the state folder's own; an opener of a
        file that is ready takes no lock at all.
        """
        if self._ready():
            return
        guard = self.path.with_name(self.path.name + ".migrate")
        with open(os.open(guard, os.O_RDWR | os.O_CREAT, 0o600), "r+b") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            self._conn.execute("PRAGMA journal_mode=WAL")
            for target in range(self._version() + 1, SCHEMA_VERSION + 1):
                with self._tx() as conn:
                    conn.executescript("BEGIN IMMEDIATE;" + _MIGRATIONS[target]
                                       + f"; PRAGMA user_version = {target}; COMMIT;")
                log.info("state.migrated", path=str(self.path), schema=target)

    def _ready(self) -> bool:
        """Whether the file is in WAL mode at this schema (reads only)."""
        mode = str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        return self._version() == SCHEMA_VERSION and mode == "wal"

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock; for plain statements, wrap them in one transaction."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StateError(path=str(self.path), detail=str(exc)) from exc

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._tx() as conn:
            return conn.execute(sql, tuple(params))

    def _many(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        with self._tx() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, (tuple(r) for r in rows))
            conn.execute("COMMIT")

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._tx() as conn:
            return conn.execute(sql, tuple(params)).fetchall()

    def _each(self, sql: str, params: Iterable[Any] = ()) -> Iterator[sqlite3.Row]:
        """Rows one at a time, for whole-table reads (never all rows as Row objects at once);
        holds the lock until the caller has read them all."""
        with self._tx() as conn:
            yield from conn.execute(sql, tuple(params))

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._rows("PRAGMA user_version")[0][0])

    # --- meta ---------------------------------------------------------------------------------
    def get_meta(self, name: str) -> str | None:
        """A named value, or None."""
        rows = self._rows("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0]["value"]) if rows else None

    def set_meta(self, name: str, value: str | None) -> None:
        """Set (or with None, remove) a named value."""
        if value is None:
            self._write("DELETE FROM meta WHERE name = ?", (name,))
        else:
            self._write("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                        "DO UPDATE SET value = excluded.value", (name, value))

    @property
    def export_watermark(self) -> str | None:
        """ISO-8601 start time of the last successful export (for ``updatedAfter``)."""
        return self.get_meta(_META_WATERMARK)

    def set_export_watermark(self, when: datetime) -> None:
        """Record the start time of a successful export run."""
        self.set_meta(_META_WATERMARK, when.astimezone(UTC).isoformat())

    @property
    def last_full_export(self) -> str | None:
        """ISO-8601 start time of the last successful full export (for the periodic full)."""
        return self.get_meta(_META_LAST_FULL)

    def set_last_full_export(self, when: datetime) -> None:
        """Record the start time of a successful full export run."""
        self.set_meta(_META_LAST_FULL, when.astimezone(UTC).isoformat())

    @property
    def newest_snapshot(self) -> str | None:
        """The id of the newest complete snapshot this state wrote, or None."""
        return self.get_meta(_META_NEWEST_SNAPSHOT)

    def bind_target(self, target_url: str) -> bool:
        """Tie the remote records to ``target_url``; forget them if they were for another.

        Args:
            target_url: the (redacted) target URL of this run.

        Returns:
            True when the records were for another target (or none) and were cleared.
        """
        current = self.get_meta(_META_TARGET)
        if current == target_url:
            return False
        with self._tx() as conn:
            conn.execute("BEGIN IMMEDIATE")
            for table in ("remote_objects", "multipart_uploads", "failures", "snapshots"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("DELETE FROM meta WHERE name IN (?, ?, ?, ?)",
                         (_META_NEWEST_SNAPSHOT, _META_VERSIONING, _META_BOOTSTRAPPED,
                          _META_FINGERPRINT))
            conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                         "DO UPDATE SET value = excluded.value", (_META_TARGET, target_url))
            conn.execute("COMMIT")
        if current is not None:
            log.warning("state.target.changed", old=current, new=target_url)
        return True

    @property
    def versioning(self) -> str | None:
        """The versioning mode last detected for the target (``bucket`` or ``keys``)."""
        return self.get_meta(_META_VERSIONING)

    def set_versioning(self, mode: str) -> None:
        """Remember the detected versioning mode."""
        self.set_meta(_META_VERSIONING, mode)

    @property
    def bootstrapped(self) -> bool:
        """True once the target's existing keys were reconciled with this state."""
        return self.get_meta(_META_BOOTSTRAPPED) == "1"

    def set_bootstrapped(self) -> None:
        """Mark the target as reconciled (no listing needed any more)."""
        self.set_meta(_META_BOOTSTRAPPED, "1")

    # --- hash cache ---------------------------------------------------------------------------
    def cached_hashes(self, names: Iterable[str]) -> dict[str, CachedHash]:
        """The cached stat keys and digests of those staged files that have them."""
        found: dict[str, CachedHash] = {}
        for batch in _batches(names):
            marks = ", ".join("?" for _ in batch)
            for r in self._rows(f"SELECT * FROM staged_files WHERE name IN ({marks})", batch):
                found[r["name"]] = _cached(r)
        return found

    def record_hashes(self, rows: Iterable[CachedHash]) -> None:
        """Store digests (and parents) for staged files (one transaction)."""
        now = _now()
        self._many(
            "INSERT INTO staged_files (name, size, mtime_ns, inode, sha256, md5, parent,"
            " hashed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " size = excluded.size, mtime_ns = excluded.mtime_ns, inode = excluded.inode,"
            " sha256 = excluded.sha256, md5 = excluded.md5, parent = excluded.parent,"
            " hashed_at = excluded.hashed_at",
            ((r.name, r.size, r.mtime_ns, r.inode, r.sha256, r.md5, r.parent, now)
             for r in rows))

    def staged_count(self) -> int:
        """How many staged files the cache knows (as of the last scan)."""
        return int(self._rows("SELECT count(*) FROM staged_files")[0][0])

    # --- a scan of staging: the names go through a temporary table, never all in memory ---
    def scan_begin(self) -> None:
        """Start a scan: an empty temporary table of (name, size, mtime_ns, inode)."""
        with self._tx() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS scan (name TEXT PRIMARY KEY,"
                         " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
                         " inode INTEGER NOT NULL)")
            conn.execute("DELETE FROM temp.scan")

    def scan_add(self, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Add what a scan found (name and stat key) to the scan table."""
        self._many("INSERT OR REPLACE INTO temp.scan (name, size, mtime_ns, inode)"
                   " VALUES (?, ?, ?, ?)", rows)

    def scan_stale(self, after: str = "", limit: int = PAGE) -> list[tuple[str, int, int, int]]:
        """Scanned files to (re)hash, in name order after ``after``: not cached, cached with
        another stat key, or cached before parents were recorded."""
        return [(r[0], r[1], r[2], r[3]) for r in self._rows(
            "SELECT s.name, s.size, s.mtime_ns, s.inode" + _STALE
            + " AND s.name > ? ORDER BY s.name LIMIT ?", (after, limit))]

    def scan_stale_totals(self) -> tuple[int, int]:
        """(files, bytes) of what ``scan_stale`` pages through, for the hashing's progress."""
        row = self._rows("SELECT count(*), coalesce(sum(s.size), 0)" + _STALE)[0]
        return int(row[0]), int(row[1])

    def scan_keep_only(self, names: Iterable[str]) -> None:
        """Keep only ``names`` in the scan table (a mirror run limited to a watcher's hint)."""
        with self._tx() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS hint (name TEXT PRIMARY KEY)")
            conn.execute("DELETE FROM temp.hint")
        self._many("INSERT OR IGNORE INTO temp.hint (name) VALUES (?)", ((n,) for n in names))
        self._write("DELETE FROM temp.scan WHERE name NOT IN (SELECT name FROM temp.hint)")

    def scan_forget_gone(self) -> int:
        """Drop the cache rows of files the (full) scan did not find; returns how many."""
        cur = self._write("DELETE FROM staged_files WHERE name NOT IN"
                          " (SELECT name FROM temp.scan)")
        return int(cur.rowcount or 0)

    def staged_page(self, after: str = "", limit: int = PAGE, *, scanned_only: bool = False
                    ) -> list[tuple[CachedHash, RemoteRecord | None]]:
        """Staged files (with the last upload under their key, if any) in name order after
        ``after``; ``scanned_only``: only those in the scan table."""
        join = "JOIN temp.scan s ON s.name = c.name " if scanned_only else ""
        rows = self._rows(
            "SELECT c.name, c.size, c.mtime_ns, c.inode, c.sha256, c.md5, c.parent,"
            " r.key AS r_key, r.size AS r_size, r.sha256 AS r_sha256, r.md5 AS r_md5,"
            " r.version_id, r.version_key, r.etag, r.part_size, r.uploaded_at,"
            " r.parent AS r_parent"
            f" FROM staged_files c {join}LEFT JOIN remote_objects r ON r.key = c.name"
            " WHERE c.name > ? ORDER BY c.name LIMIT ?", (after, limit))
        return [(_cached(r), None if r["r_key"] is None else RemoteRecord(
            key=r["r_key"], size=r["r_size"], sha256=r["r_sha256"], md5=r["r_md5"],
            version_id=r["version_id"], version_key=r["version_key"], etag=r["etag"],
            part_size=r["part_size"], uploaded_at=r["uploaded_at"], parent=r["r_parent"]))
            for r in rows]

    # --- the uploads of a run, largest first, in a temporary table ----------------------------
    def plan_begin(self) -> None:
        """Start a plan: an empty table of the names to upload."""
        with self._tx() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS plan (name TEXT PRIMARY KEY,"
                         " size INTEGER NOT NULL)")
            conn.execute("DELETE FROM temp.plan")
            conn.execute("DROP TABLE IF EXISTS temp.plan_order")

    def plan_add(self, rows: Iterable[tuple[str, int]]) -> None:
        """Add uploads (name, size) to the plan."""
        self._many("INSERT OR REPLACE INTO temp.plan (name, size) VALUES (?, ?)", rows)

    def plan_seal(self) -> None:
        """Fix the plan's order: largest first (big transfers start early), then by name."""
        with self._tx() as conn:
            conn.execute("DROP TABLE IF EXISTS temp.plan_order")
            conn.execute("CREATE TEMP TABLE plan_order AS SELECT name, size FROM temp.plan"
                         " ORDER BY size DESC, name")

    def plan_page(self, after: int = 0, limit: int = PAGE
                  ) -> list[tuple[int, CachedHash, RemoteRecord | None]]:
        """Sealed uploads after position ``after``: (position, staged file, last upload)."""
        rows = self._rows(
            "SELECT p.rowid AS pos, c.name, c.size, c.mtime_ns, c.inode, c.sha256, c.md5,"
            " c.parent, r.key AS r_key, r.size AS r_size, r.sha256 AS r_sha256,"
            " r.md5 AS r_md5, r.version_id, r.version_key, r.etag, r.part_size,"
            " r.uploaded_at, r.parent AS r_parent FROM temp.plan_order p"
            " JOIN staged_files c ON c.name = p.name"
            " LEFT JOIN remote_objects r ON r.key = p.name"
            " WHERE p.rowid > ? ORDER BY p.rowid LIMIT ?", (after, limit))
        return [(r["pos"], _cached(r), None if r["r_key"] is None else RemoteRecord(
            key=r["r_key"], size=r["r_size"], sha256=r["r_sha256"], md5=r["r_md5"],
            version_id=r["version_id"], version_key=r["version_key"], etag=r["etag"],
            part_size=r["part_size"], uploaded_at=r["uploaded_at"], parent=r["r_parent"]))
            for r in rows]

    # --- sets of names too large for memory (a prune's kept keys), in temporary tables ----
    def name_set(self, name: str) -> None:
        """Start the empty temporary set ``name`` (a plain identifier)."""
        if not name.isidentifier():
            raise ValueError(f"not a table name: {name!r}")
        with self._tx() as conn:
            conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS set_{name} (v TEXT PRIMARY KEY)")
            conn.execute(f"DELETE FROM temp.set_{name}")

    def name_set_add(self, name: str, values: Iterable[str]) -> None:
        """Add ``values`` to the set ``name`` (streamed, a page at a time)."""
        batch: list[tuple[str]] = []
        for value in values:
            batch.append((value,))
            if len(batch) >= PAGE:
                self._many(f"INSERT OR IGNORE INTO temp.set_{name} (v) VALUES (?)", batch)
                batch = []
        self._many(f"INSERT OR IGNORE INTO temp.set_{name} (v) VALUES (?)", batch)

    def name_set_members(self, name: str, values: Iterable[str]) -> set[str]:
        """Which of ``values`` are in the set ``name``."""
        found: set[str] = set()
        for batch in _batches(values):
            marks = ", ".join("?" for _ in batch)
            found.update(r[0] for r in self._rows(
                f"SELECT v FROM temp.set_{name} WHERE v IN ({marks})", batch))
        return found

    # --- the source's export token: "staging holds the repository as of this" ---------------
    @property
    def export_token(self) -> str | None:
        """What the source said of the repository at its last export (the embedded source:
        its change counter), so an incremental export of an unchanged repository is skipped."""
        return self.get_meta(_META_EXPORT_TOKEN)

    def set_export_token(self, token: str | None) -> None:
        """Record (or, with None, forget: an export that did not reach staging) the token."""
        self.set_meta(_META_EXPORT_TOKEN, token)

    # --- the staging fingerprint: a cycle with nothing changed reads no per-file row ------
    @property
    def staging_fingerprint(self) -> str | None:
        """The fingerprint of staging when the newest snapshot was known to cover it."""
        return self.get_meta(_META_FINGERPRINT)

    def set_staging_fingerprint(self, fingerprint: str | None) -> None:
        """Record (or, with None, forget) the fingerprint the newest snapshot covers."""
        self.set_meta(_META_FINGERPRINT, fingerprint)

    # --- remote objects -----------------------------------------------------------------------
    def remote_records(self, keys: Iterable[str]) -> dict[str, RemoteRecord]:
        """The last upload under each of ``keys`` that has one."""
        found: dict[str, RemoteRecord] = {}
        for batch in _batches(keys):
            marks = ", ".join("?" for _ in batch)
            for r in self._rows(f"SELECT * FROM remote_objects WHERE key IN ({marks})", batch):
                found[r["key"]] = _remote(r)
        return found

    def snapshot_page(self, after: str = "", limit: int = PAGE) -> list[RemoteRecord]:
        """What a snapshot names, in key order after ``after``: the last upload under each
        staged file's key (a staged file never uploaded is not named)."""
        return [_remote(r) for r in self._rows(
            "SELECT r.* FROM remote_objects r JOIN staged_files c ON c.name = r.key"
            " WHERE r.key > ? ORDER BY r.key LIMIT ?", (after, limit))]

    def remote_record(self, key: str) -> RemoteRecord | None:
        """The last upload under ``key``, or None."""
        rows = self._rows("SELECT * FROM remote_objects WHERE key = ?", (key,))
        return _remote(rows[0]) if rows else None

    def record_upload(self, record: RemoteRecord, run_id: int | None = None) -> None:
        """Remember a verified upload (and clear any failure of that key)."""
        with self._tx() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO remote_objects (key, size, sha256, md5, version_id, version_key,"
                " etag, part_size, uploaded_at, run_id, parent)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET size = excluded.size,"
                " sha256 = excluded.sha256, md5 = excluded.md5,"
                " version_id = excluded.version_id, version_key = excluded.version_key,"
                " etag = excluded.etag, part_size = excluded.part_size,"
                " uploaded_at = excluded.uploaded_at, run_id = excluded.run_id,"
                " parent = excluded.parent",
                (record.key, record.size, record.sha256, record.md5, record.version_id,
                 record.version_key, record.etag, record.part_size,
                 record.uploaded_at or _now(), run_id, record.parent))
            conn.execute("DELETE FROM failures WHERE key = ?", (record.key,))
            conn.execute("COMMIT")

    def forget_remote(self, keys: Iterable[str]) -> None:
        """Drop records of keys deleted from the target (by prune) or found damaged there
        (by an audit): the next mirror run must look at staging again."""
        self._many("DELETE FROM remote_objects WHERE key = ?", ((k,) for k in keys))
        self.set_staging_fingerprint(None)

    # --- runs ---------------------------------------------------------------------------------
    def start_run(self, kind: RunKind, updated_after: str | None = None) -> int:
        """Open a run record with status ``running``; returns its id."""
        cur = self._write("INSERT INTO runs (kind, started_at, status, updated_after) "
                          "VALUES (?, ?, 'running', ?)", (kind, _now(), updated_after))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: RunStatus, counts: RunCounts,
                   *, snapshot_id: str | None = None, error: str | None = None) -> None:
        """Close a run record with its outcome."""
        self._write(
            "UPDATE runs SET finished_at = ?, status = ?, objects_seen = ?,"
            " objects_uploaded = ?, objects_skipped = ?, objects_failed = ?,"
            " bytes_uploaded = ?, snapshot_id = ?, error = ? WHERE id = ?",
            (_now(), status, counts.seen, counts.uploaded, counts.skipped, counts.failed,
             counts.bytes_uploaded, snapshot_id, error, run_id))

    def close_stale_runs(self, kinds: Iterable[str],
                         error: str = "interrupted: the process ended before the run did"
                         ) -> int:
        """Mark runs of ``kinds`` still ``running`` as ``failed`` (their process is gone).

        Only call it while holding the lock that every run of those kinds holds (``cycle``
        for full/incremental, ``mirror`` for mirror runs): then no live run can be among them.

        Returns:
            How many runs were closed.
        """
        names = sorted(set(kinds))
        if not names:
            return 0
        marks = ", ".join("?" for _ in names)
        cur = self._write(f"UPDATE runs SET status = 'failed', finished_at = ?, error = ? "
                          f"WHERE status = 'running' AND kind IN ({marks})",
                          (_now(), error, *names))
        count = int(cur.rowcount or 0)
        if count:
            log.warning("state.runs.interrupted", runs=count, kinds=names)
        return count

    def runs(self, *, kind: str | None = None, status: str | None = None,
             limit: int = 20) -> list[RunRecord]:
        """The newest runs first, optionally of one kind and status."""
        sql = "SELECT * FROM runs WHERE 1 = 1"
        params: list[Any] = []
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_run(r) for r in self._rows(sql, params)]

    def last_run(self, kind: str | None = None) -> RunRecord | None:
        """The newest run (of ``kind``), or None."""
        found = self.runs(kind=kind, limit=1)
        return found[0] if found else None

    def last_success(self, kind: str | None = None) -> RunRecord | None:
        """The newest successful run (of ``kind``), or None."""
        found = self.runs(kind=kind, status="ok", limit=1)
        return found[0] if found else None

    # --- multipart uploads (the UploadJournal protocol) ---------------------------------------
    def load(self, key: str) -> PendingUpload | None:
        """The pending multipart upload of ``key`` with its completed parts, or None."""
        with self._tx() as conn:
            head = conn.execute("SELECT * FROM multipart_uploads WHERE key = ?",
                                (key,)).fetchone()
            if head is None:
                return None
            parts = conn.execute("SELECT * FROM multipart_parts WHERE key = ?",
                                 (key,)).fetchall()
        return PendingUpload(
            key=key, upload_id=head["upload_id"], sha256=head["sha256"], size=head["size"],
            part_size=head["part_size"],
            parts={p["part_number"]: PartRecord(p["part_number"], p["etag"], p["md5"],
                                                p["size"]) for p in parts})

    def begin(self, key: str, upload_id: str, sha256: str, size: int, part_size: int) -> None:
        """Record a new multipart upload of ``key`` (replacing any older one)."""
        with self._tx() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM multipart_uploads WHERE key = ?", (key,))
            conn.execute("INSERT INTO multipart_uploads (key, upload_id, sha256, size,"
                         " part_size, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (key, upload_id, sha256, size, part_size, _now()))
            conn.execute("COMMIT")

    def part_done(self, key: str, part: PartRecord) -> None:
        """Record one completed part (its ETag and MD5)."""
        self._write("INSERT OR REPLACE INTO multipart_parts (key, part_number, etag, md5, size)"
                    " VALUES (?, ?, ?, ?, ?)", (key, part.number, part.etag, part.md5,
                                                part.size))

    def finish(self, key: str) -> None:
        """Forget the multipart upload of ``key`` (completed or aborted)."""
        self._write("DELETE FROM multipart_uploads WHERE key = ?", (key,))

    def known_upload_ids(self) -> set[str]:
        """Upload ids of every pending multipart upload (the rest are orphans)."""
        return {r["upload_id"] for r in self._rows("SELECT upload_id FROM multipart_uploads")}

    def pending_uploads(self) -> list[PendingUpload]:
        """Every pending multipart upload."""
        keys = [r["key"] for r in self._rows("SELECT key FROM multipart_uploads ORDER BY key")]
        return [p for k in keys if (p := self.load(k)) is not None]

    # --- failures -----------------------------------------------------------------------------
    def record_failure(self, key: str, run_id: int | None, error: str) -> None:
        """Remember that the upload of ``key`` failed (``error`` must hold no secret)."""
        self._write("INSERT INTO failures (key, run_id, attempts, error, failed_at) VALUES"
                    " (?, ?, 1, ?, ?) ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id,"
                    " attempts = failures.attempts + 1, error = excluded.error,"
                    " failed_at = excluded.failed_at", (key, run_id, error, _now()))

    def failures(self) -> list[Failure]:
        """Keys whose last upload failed."""
        return [Failure(r["key"], r["run_id"], r["attempts"], r["error"], r["failed_at"])
                for r in self._rows("SELECT * FROM failures ORDER BY key")]

    # --- snapshots ----------------------------------------------------------------------------
    def record_snapshot(self, record: SnapshotRecord, run_id: int | None = None) -> None:
        """Remember a snapshot written by this state and make it the newest."""
        with self._tx() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO snapshots (id, created_at, objects, bytes,"
                         " entries_digest, run_id) VALUES (?, ?, ?, ?, ?, ?)",
                         (record.id, record.created_at, record.objects, record.bytes,
                          record.entries_digest, run_id))
            conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) "
                         "DO UPDATE SET value = excluded.value",
                         (_META_NEWEST_SNAPSHOT, record.id))
            conn.execute("COMMIT")

    def snapshot(self, snapshot_id: str) -> SnapshotRecord | None:
        """A snapshot this state wrote, or None."""
        rows = self._rows("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,))
        if not rows:
            return None
        r = rows[0]
        return SnapshotRecord(r["id"], r["created_at"], r["objects"], r["bytes"],
                              r["entries_digest"])

    def forget_snapshots(self, ids: Iterable[str]) -> None:
        """Drop records of pruned snapshots."""
        self._many("DELETE FROM snapshots WHERE id = ?", ((i,) for i in ids))


    # --- audits -------------------------------------------------------------------------------
    def start_audit(self, *, trigger: str, snapshot_id: str | None, deep: bool,
                    sample_percent: float | None, seed: int | None) -> int:
        """Open an audit record with status ``running``; returns its id."""
        cur = self._write("INSERT INTO audits (started_at, status, trigger, snapshot_id, deep,"
                          " sample_percent, seed) VALUES (?, 'running', ?, ?, ?, ?, ?)",
                          (_now(), trigger, snapshot_id, int(deep), sample_percent, seed))
        return int(cur.lastrowid or 0)

    def finish_audit(self, audit_id: int, status: str, counts: AuditCounts, *,
                     snapshot_id: str | None = None,
                     problems: Iterable[dict[str, str]] = (),
                     error: str | None = None) -> None:
        """Close an audit record with what it found (``problems``: the first few, as dicts)."""
        self._write(
            "UPDATE audits SET finished_at = ?, status = ?, snapshot_id = COALESCE(?, "
            "snapshot_id), checked = ?, downloaded = ?, bytes_read = ?, missing = ?,"
            " corrupted = ?, unverifiable = ?, not_backed_up = ?, problems = ?, error = ?"
            " WHERE id = ?",
            (_now(), status, snapshot_id, counts.checked, counts.downloaded, counts.bytes_read,
             counts.missing, counts.corrupted, counts.unverifiable, counts.not_backed_up,
             json.dumps(list(problems)), error, audit_id))

    def close_stale_audits(self) -> int:
        """Mark audits still ``running`` as ``error`` (call while holding the audit lock)."""
        cur = self._write("UPDATE audits SET status = 'error', finished_at = ?, error = ? "
                          "WHERE status = 'running'",
                          (_now(), "interrupted: the process ended before the audit did"))
        return int(cur.rowcount or 0)

    def last_audit(self) -> AuditRecord | None:
        """The newest finished audit, or None."""
        rows = self._rows("SELECT * FROM audits WHERE status != 'running' "
                          "ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        r = rows[0]
        try:
            problems = tuple(json.loads(r["problems"] or "[]"))
        except ValueError:
            problems = ()
        return AuditRecord(
            id=r["id"], started_at=r["started_at"], finished_at=r["finished_at"],
            status=r["status"], trigger=r["trigger"], snapshot_id=r["snapshot_id"],
            deep=bool(r["deep"]), sample_percent=r["sample_percent"], seed=r["seed"],
            counts=AuditCounts(r["checked"], r["downloaded"], r["bytes_read"], r["missing"],
                               r["corrupted"], r["unverifiable"], r["not_backed_up"]),
            problems=problems, error=r["error"])

    # --- restores -----------------------------------------------------------------------------
    def start_restore(self, *, snapshot_id: str | None, handle: str | None, mode: str) -> int:
        """Open a restore record with status ``running``; returns its id."""
        cur = self._write("INSERT INTO restores (started_at, status, snapshot_id, handle, mode)"
                          " VALUES (?, 'running', ?, ?, ?)",
                          (_now(), snapshot_id, handle, mode))
        return int(cur.lastrowid or 0)

    def finish_restore(self, restore_id: int, status: str, *, packages: int = 0,
                       bytes_downloaded: int = 0, summary: dict[str, int] | None = None,
                       snapshot_id: str | None = None, error: str | None = None) -> None:
        """Close a restore record with its outcome."""
        self._write(
            "UPDATE restores SET finished_at = ?, status = ?, packages = ?,"
            " bytes_downloaded = ?, summary = ?, snapshot_id = COALESCE(?, snapshot_id),"
            " error = ? WHERE id = ?",
            (_now(), status, packages, bytes_downloaded, json.dumps(summary or {}),
             snapshot_id, error, restore_id))

    def close_stale_restores(self) -> int:
        """Mark restores still ``running`` as ``failed`` (call while holding the restore lock)."""
        cur = self._write("UPDATE restores SET status = 'failed', finished_at = ?, error = ? "
                          "WHERE status = 'running'",
                          (_now(), "interrupted: the process ended before the restore did"))
        return int(cur.rowcount or 0)

    def last_restore(self) -> RestoreRecord | None:
        """The newest finished restore (dry runs included), or None."""
        rows = self._rows("SELECT * FROM restores WHERE status != 'running' "
                          "ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        r = rows[0]
        try:
            summary = {str(k): int(v) for k, v in json.loads(r["summary"] or "{}").items()}
        except (ValueError, AttributeError):
            summary = {}
        return RestoreRecord(id=r["id"], started_at=r["started_at"],
                             finished_at=r["finished_at"], status=r["status"],
                             snapshot_id=r["snapshot_id"], handle=r["handle"], mode=r["mode"],
                             packages=r["packages"], bytes_downloaded=r["bytes_downloaded"],
                             summary=summary, error=r["error"])


def _remote(r: sqlite3.Row) -> RemoteRecord:
    return RemoteRecord(key=r["key"], size=r["size"], sha256=r["sha256"], md5=r["md5"],
                        version_id=r["version_id"], version_key=r["version_key"],
                        etag=r["etag"], part_size=r["part_size"], uploaded_at=r["uploaded_at"],
                        parent=r["parent"])


def _cached(r: sqlite3.Row) -> CachedHash:
    return CachedHash(r["name"], r["size"], r["mtime_ns"], r["inode"], r["sha256"], r["md5"],
                      r["parent"])


def _batches(values: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size`` (SQLite's bound-parameter limit is 999 on
    old builds)."""
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run(r: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=r["id"], kind=r["kind"], started_at=r["started_at"], finished_at=r["finished_at"],
        status=r["status"], updated_after=r["updated_after"],
        counts=RunCounts(r["objects_seen"], r["objects_uploaded"], r["objects_skipped"],
                         r["objects_failed"], r["bytes_uploaded"]),
        snapshot_id=r["snapshot_id"], error=r["error"])


#: The scanned files whose cached hashes are missing or stale (``scan_stale``'s rows).
_STALE = (" FROM temp.scan s LEFT JOIN staged_files c ON c.name = s.name WHERE ("
          " c.name IS NULL OR c.size != s.size OR c.mtime_ns != s.mtime_ns"
          " OR c.inode != s.inode OR c.parent IS NULL)")


def open_state(state_dir: Path) -> StateDB:
    """Open (creating on first use) the state database of ``state_dir``.

    Args:
        state_dir: the ``[state] dir`` folder; created with mode 0700 if missing.

    Returns:
        The open database; close it, or use it as a context manager.

    Raises:
        StateError: the file cannot be created or opened, or has a newer schema.
    """
    return StateDB(Path(state_dir) / STATE_FILE_NAME)

