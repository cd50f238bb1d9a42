"""The assetstore: a folder of bitstream files, written streamed and atomically.

Owns: where a bitstream's bytes live (``<root>/ab/cd/<key>``), writing them (temp name in
the same folder, hashed while written, renamed into place), reading them, and the crash
journal that lets an interrupted transaction's files be removed on the next open.  Must not
know about the database: the store decides when files are committed or thrown away.

Durability: files are fsynced when the owning transaction commits (each file for small
transactions, one ``os.sync()`` for bulk ones), before the database commit, so a committed
row never points at bytes still in the page cache only.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from aip import constants as C
from aip.errors import AssetstoreCorruptError, StoreError
from aip.files import Hasher, fsync_dir, is_temp_name

#: Above this many new files in one transaction, one os.sync() replaces per-file fsyncs.
BULK_SYNC_THRESHOLD = 64
#: New keys share their folder (first four hex digits) for this many keys in a row.
KEYS_PER_FOLDER = 1000
JOURNAL_PREFIX = ".journal-"


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file written to the assetstore, with its digests."""

    key: str
    size: int
    md5: str
    sha256: str


class Assetstore:
    """Bitstream files under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)
        self._made: set[Path] = set()  # folders known to exist (saves a mkdir per file)
        self._folder = ""
        self._folder_uses = 0

    def _location(self, key: str) -> str:
        # A string join: an export opens every bitstream, and Path joins cost more.
        if not key or "/" in key or key.startswith("."):
            raise StoreError(f"bad assetstore key {key!r}")
        return f"{self._root_text}/{key[0:2]}/{key[2:4]}/{key}"

    def path(self, key: str) -> Path:
        """Where the bytes of ``key`` live."""
        return Path(self._location(key))

    def open(self, key: str) -> BinaryIO:
        """Open the bytes of ``key`` for reading."""
        try:
            return open(self._location(key), "rb")
        except FileNotFoundError as exc:
            raise AssetstoreCorruptError(
                what=f"assetstore file {key}", algorithm="presence",
                expected="a file", found="nothing") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def new_key(self) -> str:
        """A new random key (32 hex digits).

        Its first four digits, which name its two folder levels, stay the same for
        ``KEYS_PER_FOLDER`` keys in a row: a restore of ten thousand files creates ten
        folders, not ten thousand (creating a folder costs more than writing a small file),
        and no folder grows past a few thousand entries.
        """
        if self._folder_uses >= KEYS_PER_FOLDER or not self._folder:
            self._folder = secrets.token_hex(2)
            self._folder_uses = 0
        self._folder_uses += 1
        return self._folder + secrets.token_hex(14)

    def write(self, src: BinaryIO, journal: KeyRecorder | None = None,
              block_size: int = C.HASH_BLOCK_SIZE) -> StoredFile:
        """Stream ``src`` into a new file; hash while writing; no file on failure.

        The file gets its final name only after every byte is written; the caller's
        transaction fsyncs it at commit (see ``sync``).
        """
        key = self.new_key()
        final = self.path(key)
        if final.parent not in self._made:
            final.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(final.parent)
        if journal is not None:
            journal.record(key)
        tmp = final.parent / f"{C.TEMP_PREFIX}{key}"
        hasher = Hasher()
        try:
            with _create(tmp) as out:
                while True:
                    block = src.read(block_size)
                    if not block:
                        break
                    hasher.update(block)
                    out.write(block)
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        digests = hasher.digests()
        return StoredFile(key=key, size=digests.size, md5=digests.md5, sha256=digests.sha256)

    def write_bytes(self, data: bytes, journal: Journal | None = None) -> StoredFile:
        return self.write(io.BytesIO(data), journal)

    def sync_journal(self, journal: Journal) -> None:
        """Make the files a transaction wrote durable (before the commit that names them):
        one by one while few, else all at once."""
        if journal.many:
            os.sync()
        else:
            self.sync(journal.keys())

    def sync(self, keys: Iterable[str]) -> None:
        """Make the files of ``keys`` durable (before the database commit that names them)."""
        keys = list(keys)
        if not keys:
            return
        if len(keys) > BULK_SYNC_THRESHOLD:
            os.sync()
            return
        folders: set[Path] = set()
        for key in keys:
            path = self.path(key)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            folders.add(path.parent)
        for folder in folders:
            fsync_dir(folder)

    def delete(self, keys: Iterable[str], *, with_temp: bool = False) -> None:
        """Remove files (already unreferenced); missing files are fine.

        ``with_temp`` also removes a half-written temp file of the same key (recovery).
        """
        folders: set[Path] = set()
        for key in keys:
            path = self.path(key)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            if with_temp and path.parent.is_dir():
                for temp in path.parent.glob(f"{C.TEMP_PREFIX}{key}*"):
                    with contextlib.suppress(FileNotFoundError):
                        temp.unlink()
            folders.add(path.parent)
        self._prune(folders)

    def _prune(self, folders: Iterable[Path]) -> None:
        """Remove the folders (and their parents below the root) that are now empty, so a
        rolled-back restore leaves no trace; a folder still holding anything stays."""
        for folder in sorted(folders, reverse=True):
            for level in (folder, folder.parent):
                if level == self.root or self.root not in level.parents:
                    break
                try:
                    level.rmdir()
                except OSError:  # not empty (or already gone): leave it and its parent
                    break
                self._made.discard(level)

    def iter_keys(self) -> Iterator[str]:
        """Every stored key (for audits and garbage collection)."""
        if not self.root.is_dir():
            return
        for dirpath, _dirs, files in os.walk(self.root):
            if dirpath == str(self.root):
                continue
            for name in files:
                if not is_temp_name(name) and not name.startswith(JOURNAL_PREFIX):
                    yield name

    def remove_temp_files(self) -> int:
        """Delete temp files left by a killed writer; returns how many."""
        count = 0
        if not self.root.is_dir():
            return 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if is_temp_name(name):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(dirpath, name))
                        count += 1
        return count

    def journal(self) -> Journal:
        self.root.mkdir(parents=True, exist_ok=True)
        return Journal(self.root / f"{JOURNAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}")

    def pending_journals(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.name.startswith(JOURNAL_PREFIX))


class KeyAppender:
    """A worker process's side of a transaction's journal: each key appended (one
    ``O_APPEND`` write, whole lines never interleave) before its file is created.  The
    journal's owner keeps it created and locked (``Journal.open``), so recovery leaves it
    alone while the transaction lives, and finds the workers' keys in it if it dies."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    def record(self, key: str) -> None:
        os.write(self._fd, key.encode("ascii") + b"\n")

    def close(self) -> None:
        os.close(self._fd)


class KeyRecorder(Protocol):
    """Where ``Assetstore.write`` records a key before its file exists."""

    def record(self, key: str) -> None: ...


def _create(tmp: Path) -> BinaryIO:
    """Open a new temp file for writing; its folder is made again if a rollback elsewhere
    removed it (emptied) since this store made it."""
    try:
        return open(tmp, "wb")
    except FileNotFoundError:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return open(tmp, "wb")


class Journal:
    """The keys a transaction has written, so a crash before commit leaves no orphan.

    Each key is appended (and flushed) before its file is created; the journal is removed
    after the transaction commits or rolls back.  The writer holds an exclusive ``flock`` on
    its journal for its whole life, so recovery can tell a live transaction's journal
    (locked) from one whose process died (lockable): only dead journals are recovered,
    their keys that no database row names deleted with any temp files.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        #: The keys, while few; past ``BULK_SYNC_THRESHOLD`` (commit syncs everything at
        #: once then) they are read back from the file when needed: a restore of a whole
        #: site writes hundreds of thousands.
        self._keys: list[str] | None = []
        self._handle: BinaryIO | None = None

    def open(self) -> Path:
        """Create and lock the journal now (``record`` does on its first key); returns its
        path, for worker processes to append their keys to (``KeyAppender``)."""
        if self._handle is None:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._handle = os.fdopen(fd, "ab")
        return self.path

    def record(self, key: str) -> None:
        self.open()
        assert self._handle is not None
        self._handle.write(key.encode("ascii") + b"\n")
        self._handle.flush()
        self._add([key])

    def adopt(self, keys: Iterable[str]) -> None:
        """Keys a worker process appended to this journal (``KeyAppender``) whose files
        belong to this transaction now: synced at commit, deleted at rollback."""
        self._add(keys)

    def _add(self, keys: Iterable[str]) -> None:
        if self._keys is not None:
            self._keys.extend(keys)
            if len(self._keys) > BULK_SYNC_THRESHOLD:
                self._keys = None

    def forget(self, keys: Iterable[str]) -> None:
        """Keys whose files were deleted before the end of the transaction."""
        gone = set(keys)
        if gone and self._keys is not None:
            self._keys = [k for k in self._keys if k not in gone]

    @property
    def many(self) -> bool:
        """More keys than are worth syncing one by one (``Assetstore.sync_journal``)."""
        return self._keys is None

    def keys(self) -> Iterator[str]:
        """The transaction's keys: from memory while few, else streamed from the file (which
        may also name files a worker stored ahead and the transaction did not take: deleting
        those at rollback is what recovery would do)."""
        if self._keys is not None:
            return iter(list(self._keys))
        return self.all_keys()

    def all_keys(self) -> Iterator[str]:
        """Every key the file holds, those worker processes appended included, streamed."""
        try:
            with open(self.path, "rb") as handle:
                for line in handle:
                    key = line.strip().decode("ascii", errors="replace")
                    if key:
                        yield key
        except FileNotFoundError:
            return

    def close(self) -> None:
        # Unlink while still holding the lock, so recovery never claims a finished journal.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @staticmethod
    def claim(path: Path) -> tuple[list[str], int] | None:
        """Lock a journal left behind; ``None`` if its writer is still alive.

        Returns the keys and the locked descriptor (close it after removing the journal).
        """
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            text = handle.read().decode("ascii", errors="replace")
        keys = [line.strip() for line in text.splitlines() if line.strip()]
        return keys, fd

    @staticmethod
    def read(path: Path) -> list[str]:
        try:
            text = path.read_text("ascii", errors="replace")
        except FileNotFoundError:
            return []
        return [line.strip() for line in text.splitlines() if line.strip()]
