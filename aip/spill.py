"""Per-object records of a run, kept in memory while few and in a temp file past that.

Owns the records a run that may touch a million objects keeps about each one (a few hundred
bytes apiece in memory, a quarter of a gigabyte at a million):

- ``SpillList``: append and iterate (an ingest's outcomes).  Entries past ``keep`` go,
  ``keep`` at a time, to an anonymous temp file (unlinked at creation, so it is gone when the
  list is closed or the process ends, however it ends) as length-prefixed pickles;
  iterating reads them back a chunk at a time, then the entries still in memory.  The file
  is this process's own scratch: only what this list wrote is ever unpickled from it.
- ``SpillMap``: text key -> text value, set and looked up (the packages an ingest has
  visited, and the handle each got).  Past ``keep`` entries it moves to a private temporary
  SQLite database (the standard library's ``sqlite3`` with an empty file name: SQLite makes
  an unnamed file and deletes it when the connection closes), looked up by its primary key.
"""

from __future__ import annotations

import os
import pickle
import struct
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, TypeVar

from aip.lazy import LazyCollection

if TYPE_CHECKING:
    import sqlite3

T = TypeVar("T")

#: Entries kept in memory before a chunk is written to the temp file (SpillList), or before
#: the whole map moves to its temp database (SpillMap).
KEEP = 4096

_LENGTH = struct.Struct("<Q")


class SpillList(LazyCollection[T]):
    """Append, count and iterate (in the order appended); nothing else.  Equal to a
    sequence of the same entries (``LazyCollection``); not hashable, as it grows.

    Memory holds at most ``keep`` entries; the temp file is made at the first spill only, so
    a small run never touches the disk.  Iterating while appending is allowed: an iterator
    reads the file by offset (``os.pread``), never through the shared file position, and
    goes on to what was appended before it reached the end.
    """

    __slots__ = ("__weakref__", "_closer", "_count", "_end", "_file", "_keep", "_memory",
                 "_offsets")

    def __init__(self, items: Iterable[T] = (), *, keep: int = KEEP) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._keep = keep
        self._memory: list[T] = []
        self._file: IO[bytes] | None = None
        self._closer: weakref.finalize[[], SpillList[T]] | None = None
        #: where each chunk starts in the file (a million entries: 245 offsets)
        self._offsets: list[int] = []
        self._end = 0
        self._count = 0
        self.extend(items)

    def append(self, item: T) -> None:
        self._memory.append(item)
        self._count += 1
        if len(self._memory) >= self._keep:
            self._spill()

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Iterator[T]:
        done = 0
        while done < self._count:
            spilled = self._count - len(self._memory)
            if done < spilled:
                # Every chunk holds exactly ``keep`` entries: entry n is in chunk n // keep.
                index = done // self._keep
                chunk = self._chunk(index)
                for item in chunk[done - index * self._keep:]:
                    yield item
                    done += 1
            else:
                yield self._memory[done - spilled]
                done += 1

    def close(self) -> None:
        """Drop every entry and the temp file."""
        self._memory = []
        self._count = 0
        self._offsets = []
        self._end = 0
        if self._closer is not None:
            self._closer()
        self._file = self._closer = None

    def _chunk(self, index: int) -> list[T]:
        assert self._file is not None
        fd, offset = self._file.fileno(), self._offsets[index]
        (size,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, offset))
        chunk: list[T] = pickle.loads(_read_exactly(fd, size, offset + _LENGTH.size))
        return chunk

    def __repr__(self) -> str:
        return f"SpillList({self._count} entries, {len(self._memory)} in memory)"

    def _spill(self) -> None:
        if self._file is None:
            # Lives as long as the list: closed by close(), or when the list is collected.
            self._file = tempfile.TemporaryFile(prefix="aipsync-spill-")  # noqa: SIM115
            self._closer = weakref.finalize(self, self._file.close)
        data = pickle.dumps(self._memory, protocol=pickle.HIGHEST_PROTOCOL)
        written = os.pwrite(self._file.fileno(), _LENGTH.pack(len(data)) + data, self._end)
        if written != _LENGTH.size + len(data):
            raise OSError(f"short write to the spill file ({written} bytes)")
        self._offsets.append(self._end)
        self._end += written
        self._memory = []


def _read_exactly(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    while len(data) < size:
        more = os.pread(fd, size - len(data), offset + len(data))
        if not more:
            raise OSError(f"the spill file ended early at byte {offset + len(data)}")
        data += more
    return data


class SpillMap:
    """Text key -> text value: set, get, test, count, and iterate the keys in order (code
    point order, as ``sorted`` gives); no removal.

    In memory up to ``keep`` entries; then every entry moves to a private temp database and
    stays there (iterating then reads its primary key in order, a row at a time).  Not for
    sharing between threads.
    """

    __slots__ = ("__weakref__", "_closer", "_db", "_keep", "_memory")

    def __init__(self, *, keep: int = KEEP) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self._keep = keep
        self._memory: dict[str, str] = {}
        self._db: sqlite3.Connection | None = None
        self._closer: weakref.finalize[[], SpillMap] | None = None

    def get(self, key: str) -> str | None:
        if self._db is None:
            return self._memory.get(key)
        row = self._db.execute("SELECT value FROM entry WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def __setitem__(self, key: str, value: str) -> None:
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO entry (key, value) VALUES (?, ?)",
                             (key, value))
            return
        self._memory[key] = value
        if len(self._memory) > self._keep:
            self._spill()

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __len__(self) -> int:
        if self._db is None:
            return len(self._memory)
        return int(self._db.execute("SELECT count(*) FROM entry").fetchone()[0])

    def __iter__(self) -> Iterator[str]:
        """The keys in order."""
        if self._db is None:
            yield from sorted(self._memory)
            return
        for (key,) in self._db.execute("SELECT key FROM entry ORDER BY key"):
            yield str(key)

    @property
    def spilled(self) -> bool:
        """Whether the entries are in the temp database."""
        return self._db is not None

    def close(self) -> None:
        """Drop every entry and the temp database."""
        self._memory = {}
        if self._closer is not None:
            self._closer()
        self._db = self._closer = None

    def _spill(self) -> None:
        # Autocommit off by hand (isolation_level=None) and one transaction never committed:
        # nothing here needs to outlive the process, so nothing is synced; pages past
        # SQLite's cache go to its temp file.
        # check_same_thread off: the finalizer may close it from whatever thread collects it.
        import sqlite3  # here: a worker process, which never spills a map, need not load it

        db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._closer = weakref.finalize(self, db.close)
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("CREATE TABLE entry (key TEXT PRIMARY KEY, value TEXT NOT NULL) "
                   "WITHOUT ROWID")
        db.execute("BEGIN")
        db.executemany("INSERT INTO entry (key, value) VALUES (?, ?)", self._memory.items())
        self._db = db
        self._memory = {}
