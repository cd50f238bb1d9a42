"""Snapshot inventories as files: written as they are built, read as far as needed.

Owns: ``InventoryEntry`` (one object of a snapshot), the inventory format and its digest,
``InventoryWriter`` (entries in key order to a local file, never all in memory) and
``InventoryReader`` (the header and trailer at once; the entries streamed, or looked up by key
through the trailer's index, reading only the blocks that hold them), over any
``RangeSource``: a local file, or an object in the target read by byte ranges.

Format ``aipsync-inventory/2``: UTF-8 JSON Lines.  The first line is the header (``format``,
``id``, ``created``, ``root``, ``versioning``); then one line per object, sorted by key (``key``,
``sha256``, ``md5``, ``size``, ``version``, ``parent``: the handle of the object's parent as
its AIP names it, when known); the last line is the trailer (``object_count``, ``total_size``,
``entries_sha256``: the SHA-256 of the format, the versioning mode and every entry line, and
``index``: the key and byte offset of every 512th entry).  Each line is canonical JSON (sorted
keys, no spaces), so the same entries always give the same bytes.  The trailer's offset is
kept in the object's metadata (``index-offset``); without it the trailer is found by reading
the file's tail.

Format ``aipsync-inventory/1`` (written before): one JSON document holding every entry; still
read (entirely, as it was written), never written.

Must not: talk to the target itself (a ``RangeSource`` reads for it), or hold every entry of a
version 2 inventory in memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

from aip.files import Digests, Hasher, fsync_dir
from daemon.core.config import VERSIONING_MODES, Versioning
from daemon.core.errors import InventoryFormatError

__all__ = [
    "INVENTORY_FORMAT",
    "LEGACY_INVENTORY_FORMAT",
    "META_INDEX_OFFSET",
    "FileRange",
    "InventoryEntry",
    "InventoryHeader",
    "InventoryReader",
    "InventorySummary",
    "InventoryWriter",
    "RangeSource",
    "entries_digest",
]

INVENTORY_FORMAT = "aipsync-inventory/2"
LEGACY_INVENTORY_FORMAT = "aipsync-inventory/1"
#: Object metadata: the byte offset of the trailer line.
META_INDEX_OFFSET = "index-offset"
#: Entries per index block: a lookup reads one block (some 120 KB) per key's block.
INDEX_EVERY = 512
#: Index blocks a reader keeps decoded (a restore looks up a level of the tree at a time).
_BLOCKS_KEPT = 8
#: Bytes read from the end when the trailer's offset is not known.
_TAIL_GUESS = 256 * 1024


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    """One object of a snapshot: its key (relative to the root), digests, size, version, and
    the handle of its parent (the owning collection of an item, the parent of a container)."""

    key: str
    sha256: str
    md5: str
    size: int
    version: str | None = None
    parent: str | None = None

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"key": self.key, "sha256": self.sha256, "md5": self.md5,
                               "size": self.size, "version": self.version}
        if self.parent is not None:
            doc["parent"] = self.parent
        return doc

    def line(self) -> bytes:
        """The entry's line in a version 2 inventory (canonical JSON, newline-terminated)."""
        return _canonical(self.as_json())

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> InventoryEntry:
        """Raises KeyError, TypeError or ValueError on a malformed entry."""
        version, parent = doc.get("version"), doc.get("parent")
        size = doc["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f"size {size!r} is not a byte count")
        return cls(key=_text(doc["key"]), sha256=_text(doc["sha256"]), md5=_text(doc["md5"]),
                   size=size, version=None if version is None else _text(version),
                   parent=None if parent is None else _text(parent))


@dataclass(frozen=True, slots=True)
class InventoryHeader:
    """What an inventory says about itself before its entries."""

    id: str
    created: datetime
    root: str
    versioning: Versioning
    format: str = INVENTORY_FORMAT

    def as_json(self) -> dict[str, Any]:
        return {"format": self.format, "id": self.id,
                "created": self.created.astimezone(UTC).isoformat(timespec="microseconds"),
                "root": self.root, "versioning": self.versioning}


@dataclass(frozen=True, slots=True)
class InventorySummary:
    """What an inventory says about itself after its entries (its trailer)."""

    object_count: int
    total_size: int
    entries_sha256: str
    index: tuple[tuple[str, int], ...] = ()
    index_offset: int = 0


def _canonical(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            + "\n").encode("utf-8")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not a string")
    return value


def _digest_start(versioning: str) -> Any:
    return hashlib.sha256(f"{INVENTORY_FORMAT}\0{versioning}\n".encode())


def entries_digest(entries: Iterable[InventoryEntry], versioning: str) -> str:
    """The ``entries_sha256`` of a version 2 inventory holding ``entries`` (in key order).

    Two runs with the same digest would write the same snapshot (apart from id and time).
    """
    digest = _digest_start(versioning)
    for entry in entries:
        digest.update(entry.line())
    return str(digest.hexdigest())


# --- writing ----------------------------------------------------------------------------------
class InventoryWriter:
    """A version 2 inventory written to a local file as its entries come, in key order.

    Use as a context manager: the file is removed if the block raises; ``finish`` writes the
    trailer, flushes and fsyncs (the file then has its final name: it is the caller's to
    upload and remove); ``digests`` are then the whole file's.
    """

    def __init__(self, path: Path, header: InventoryHeader) -> None:
        if header.versioning not in VERSIONING_MODES:
            raise ValueError(f"unknown versioning {header.versioning!r}")
        self.path = path
        self.header = header
        self._out = open(path, "wb")  # noqa: SIM115 (closed by finish or __exit__)
        self._hasher = Hasher()  # of the whole file, for its upload
        self._offset = self._write(_canonical(header.as_json()))
        self._digest = _digest_start(header.versioning)
        self._count = 0
        self._size = 0
        self._last: str | None = None
        self._index: list[tuple[str, int]] = []
        self.summary: InventorySummary | None = None
        self.digests: Digests | None = None

    def _write(self, data: bytes) -> int:
        self._hasher.update(data)
        return self._out.write(data)

    def add(self, entry: InventoryEntry) -> None:
        """Append one entry; keys must come in strictly increasing order."""
        if self._last is not None and entry.key <= self._last:
            raise ValueError(f"inventory entries out of order: {entry.key!r} after "
                             f"{self._last!r}")
        if self._count % INDEX_EVERY == 0:
            self._index.append((entry.key, self._offset))
        line = entry.line()
        self._write(line)
        self._digest.update(line)
        self._offset += len(line)
        self._count += 1
        self._size += entry.size
        self._last = entry.key

    def finish(self) -> InventorySummary:
        """Write the trailer and make the file durable; returns the summary."""
        summary = InventorySummary(self._count, self._size, str(self._digest.hexdigest()),
                                   tuple(self._index), self._offset)
        self._write(_canonical({
            "object_count": summary.object_count, "total_size": summary.total_size,
            "entries_sha256": summary.entries_sha256,
            "index": [list(pair) for pair in summary.index]}))
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        fsync_dir(self.path.parent)
        self.summary = summary
        self.digests = self._hasher.digests()
        return summary

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self._out.closed:
            self._out.close()
        if kind is not None:
            self.path.unlink(missing_ok=True)


# --- reading ----------------------------------------------------------------------------------
class RangeSource(Protocol):
    """Bytes of one file or object, by range."""

    @property
    def size(self) -> int:
        """The total size in bytes."""

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` (fewer only at the end of the file)."""

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in chunks, in order."""


class FileRange:
    """A local file as a ``RangeSource``."""

    _CHUNK = 1024 * 1024

    def __init__(self, path: Path) -> None:
        self.path = path
        self._size = path.stat().st_size

    @property
    def size(self) -> int:
        return self._size

    def read(self, start: int, end: int) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))

    def stream(self, start: int, end: int) -> Iterator[bytes]:
        with open(self.path, "rb") as handle:
            handle.seek(start)
            left = end - start
            while left > 0 and (block := handle.read(min(self._CHUNK, left))):
                left -= len(block)
                yield block


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Complete lines (with their newline) from a stream of chunks."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        start = 0
        while (nl := rest.find(b"\n", start)) >= 0:
            yield rest[start:nl + 1]
            start = nl + 1
        rest = rest[start:]
    if rest:
        yield rest


class InventoryReader:
    """An inventory of either format, read through a ``RangeSource``.

    Opening reads the header and the trailer (two small reads for version 2; the whole
    document for version 1).  ``entries`` streams every entry and checks the count, the total
    size and the digest at the end; ``lookup`` reads only the index blocks holding the keys
    asked for.

    Raises (on open, and from ``entries`` at the end):
        InventoryFormatError: not an inventory, or damaged.
    """

    def __init__(self, source: RangeSource, *, snapshot_id: str = "?",
                 index_offset: int | None = None) -> None:
        self._source = source
        self._snapshot = snapshot_id
        self._legacy: dict[str, InventoryEntry] | None = None
        self._blocks: dict[int, list[InventoryEntry]] = {}
        head = self._first_line()
        if head.strip() == b"{":  # a version 1 document is pretty-printed: "{" alone first
            self._open_legacy()
            fmt: str = LEGACY_INVENTORY_FORMAT
        else:
            doc = self._json(head, "header")
            fmt = str(doc.get("format")) if isinstance(doc, dict) else ""
        if fmt == LEGACY_INVENTORY_FORMAT:
            if self._legacy is None:
                raise self._bad("a version 1 header outside a version 1 document")
        elif fmt == INVENTORY_FORMAT:
            self.header = self._header(doc)
            self._entries_start = len(head)
            self.summary = self._trailer(index_offset)
        else:
            raise self._bad(f"not an {INVENTORY_FORMAT} (or {LEGACY_INVENTORY_FORMAT}) "
                            "document")
        if snapshot_id not in ("?", self.header.id):
            raise self._bad(f"names itself {self.header.id!r}")

    # --- the parts ------------------------------------------------------------------------
    def _bad(self, detail: str) -> InventoryFormatError:
        return InventoryFormatError(snapshot=self._snapshot, detail=detail)

    def _json(self, line: bytes, what: str) -> Any:
        try:
            return json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._bad(f"the {what} is not valid JSON") from exc

    def _first_line(self) -> bytes:
        size = self._source.size
        start, chunk, step = 0, b"", 1024  # a header is some 200 bytes
        while start < size:
            block = self._source.read(start, min(size, start + step))
            if not block:
                break
            chunk += block
            start += len(block)
            step *= 4
            nl = chunk.find(b"\n")
            if nl >= 0:
                return chunk[:nl + 1]
        return chunk

    def _header(self, doc: Mapping[str, Any]) -> InventoryHeader:
        try:
            created = datetime.fromisoformat(_text(doc["created"]))
            header = InventoryHeader(id=_text(doc["id"]), created=created,
                                     root=_text(doc.get("root", "")),
                                     versioning=doc["versioning"], format=_text(doc["format"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"malformed header ({type(exc).__name__}: {exc})") from exc
        if header.versioning not in VERSIONING_MODES:
            raise self._bad(f"unknown versioning {header.versioning!r}")
        if created.tzinfo is None:
            raise self._bad("created time has no time zone")
        return header

    def _trailer(self, index_offset: int | None) -> InventorySummary:
        size = self._source.size
        if index_offset is not None and self._entries_start <= index_offset < size:
            tail, tail_start = self._source.read(index_offset, size), index_offset
        else:
            tail_start = max(self._entries_start, size - _TAIL_GUESS)
            tail = self._source.read(tail_start, size)
            while True:
                body = tail[:-1] if tail.endswith(b"\n") else tail
                nl = body.rfind(b"\n")
                if nl >= 0 or tail_start == self._entries_start:
                    break
                more = max(self._entries_start, tail_start - _TAIL_GUESS)
                tail = self._source.read(more, tail_start) + tail
                tail_start = more
            body = tail[:-1] if tail.endswith(b"\n") else tail
            nl = body.rfind(b"\n")
            if nl >= 0:
                tail_start += nl + 1
                tail = tail[nl + 1:]
        doc = self._json(tail, "trailer")
        try:
            index = tuple((_text(k), int(o)) for k, o in doc["index"])
            summary = InventorySummary(int(doc["object_count"]), int(doc["total_size"]),
                                       _text(doc["entries_sha256"]), index, tail_start)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"malformed trailer ({type(exc).__name__}: {exc})") from exc
        if any(not self._entries_start <= o < tail_start for _, o in index) or any(
                a[0] >= b[0] or a[1] >= b[1] for a, b in itertools.pairwise(index)):
            raise self._bad("the trailer's index does not fit the file")
        return summary

    def _open_legacy(self) -> None:
        data = self._source.read(0, self._source.size)
        doc = self._json(data, "document")
        try:
            header = self._header(doc)
            entries = [InventoryEntry.from_json(o) for o in doc["objects"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"missing or malformed field ({type(exc).__name__}: {exc})") from exc
        entries.sort(key=lambda e: e.key)
        by_key = {e.key: e for e in entries}
        if len(by_key) != len(entries):
            raise self._bad("a key appears twice")
        count, total = len(entries), sum(e.size for e in entries)
        if doc.get("object_count") != count or doc.get("total_size") != total:
            raise self._bad("object_count or total_size do not match the objects")
        if doc.get("entries_sha256") != _legacy_digest(entries, header.versioning):
            raise self._bad("entries_sha256 does not match the objects (damaged inventory)")
        self.header = header
        self._legacy = by_key
        self.summary = InventorySummary(count, total, _text(doc["entries_sha256"]))

    # --- what callers use -----------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.header.id

    @property
    def versioning(self) -> Versioning:
        return self.header.versioning

    @property
    def created(self) -> datetime:
        return self.header.created

    @property
    def object_count(self) -> int:
        return self.summary.object_count

    @property
    def total_size(self) -> int:
        return self.summary.total_size

    @property
    def format(self) -> str:
        return self.header.format

    def entries(self) -> Iterator[InventoryEntry]:
        """Every entry, in key order; the count, size and digest are checked at the end."""
        if self._legacy is not None:
            yield from sorted(self._legacy.values(), key=lambda e: e.key)
            return
        digest = _digest_start(self.header.versioning)
        count = total = 0
        last: str | None = None
        for line in _lines(self._source.stream(self._entries_start,
                                               self.summary.index_offset)):
            entry = self._entry(line)
            if last is not None and entry.key <= last:
                raise self._bad(f"entries out of order at {entry.key!r}")
            digest.update(line)
            count += 1
            total += entry.size
            last = entry.key
            yield entry
        if (count, total) != (self.summary.object_count, self.summary.total_size):
            raise self._bad("object_count or total_size do not match the objects")
        if digest.hexdigest() != self.summary.entries_sha256:
            raise self._bad("entries_sha256 does not match the objects (damaged inventory)")

    def _entry(self, line: bytes) -> InventoryEntry:
        doc = self._json(line, "entry")
        try:
            entry = InventoryEntry.from_json(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"malformed entry ({type(exc).__name__}: {exc})") from exc
        if entry.line() != line:
            raise self._bad(f"entry {entry.key!r} is not in canonical form")
        return entry

    def lookup(self, keys: Iterable[str]) -> dict[str, InventoryEntry]:
        """The entries of those ``keys`` that the inventory names (reads only their blocks)."""
        wanted = set(keys)
        if self._legacy is not None:
            return {k: self._legacy[k] for k in wanted if k in self._legacy}
        index = self.summary.index
        if not index or not wanted:
            return {}
        starts = [k for k, _ in index]
        blocks: dict[int, set[str]] = {}
        for key in wanted:
            i = bisect_right(starts, key) - 1
            if i >= 0:
                blocks.setdefault(i, set()).add(key)
        found: dict[str, InventoryEntry] = {}
        for i, keys_here in sorted(blocks.items()):
            for entry in self._block(i):
                if entry.key in keys_here:
                    found[entry.key] = entry
        return found

    def _block(self, i: int) -> list[InventoryEntry]:
        """The entries of index block ``i`` (the last few blocks read are kept)."""
        cached = self._blocks.pop(i, None)
        if cached is None:
            index = self.summary.index
            start = index[i][1]
            end = index[i + 1][1] if i + 1 < len(index) else self.summary.index_offset
            cached = [self._entry(line) for line in _lines([self._source.read(start, end)])]
        self._blocks[i] = cached  # most recently used last
        while len(self._blocks) > _BLOCKS_KEPT:
            del self._blocks[next(iter(self._blocks))]
        return cached

    def entry(self, key: str) -> InventoryEntry | None:
        """The entry of ``key``, or None."""
        return self.lookup([key]).get(key)


def _legacy_digest(entries: Iterable[InventoryEntry], versioning: str) -> str:
    """The ``entries_sha256`` of a version 1 inventory (entries sorted by key)."""
    digest = hashlib.sha256(f"{LEGACY_INVENTORY_FORMAT}\0{versioning}\n".encode())
    for e in entries:
        digest.update(f"{e.key}\0{e.sha256}\0{e.md5}\0{e.size}\0{e.version or ''}\n"
                      .encode())
    return digest.hexdigest()
