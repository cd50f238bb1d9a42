"""Inventory files: written as built, read back whole or key by key, old snapshots still read."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import daemon.sync.inventory as inventory_mod
from daemon.core.errors import InventoryFormatError
from daemon.sync.inventory import (
    INDEX_EVERY,
    FileRange,
    InventoryEntry,
    InventoryHeader,
    InventoryReader,
    InventoryWriter,
    entries_digest,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEX = "0123456789abcdef"


def header(versioning: str = "keys", sid: str = "20260301T120000Z-abc123") -> InventoryHeader:
    return InventoryHeader(id=sid, created=T0, root="s3://bucket/aips",
                           versioning=versioning)  # type: ignore[arg-type]


def entry(n: int, *, parent: str | None = "123456789/2") -> InventoryEntry:
    return InventoryEntry(key=f"ITEM@123456789-{n:07d}.zip", sha256=f"{n:064x}",
                          md5=f"{n:032x}", size=n * 7 + 1,
                          version=f"versions/ITEM@123456789-{n:07d}.zip/{n:064x}",
                          parent=parent)


def write(path: Path, entries: list[InventoryEntry], versioning: str = "keys") -> None:
    with InventoryWriter(path, header(versioning)) as writer:
        for e in entries:
            writer.add(e)
        writer.finish()


class CountingRange(FileRange):
    """A file that counts the bytes read from it (a target's range reads)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.bytes_read = 0
        self.reads = 0

    def read(self, start: int, end: int) -> bytes:
        self.reads += 1
        data = super().read(start, end)
        self.bytes_read += len(data)
        return data


keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
entries_strategy = st.dictionaries(
    keys, st.tuples(st.integers(0, 2**40), st.one_of(st.none(), keys),
                    st.one_of(st.none(), keys)), max_size=1200)


@settings(max_examples=40, deadline=None)
@given(entries_strategy, st.sampled_from(["keys", "bucket"]), st.lists(keys, max_size=20))
def test_written_entries_read_back_whole_and_by_key(
        tmp_path_factory: pytest.TempPathFactory,
        data: dict[str, tuple[int, str | None, str | None]], versioning: str,
        probes: list[str]) -> None:
    path = tmp_path_factory.mktemp("inv") / "snapshot.jsonl"
    entries = [InventoryEntry(key=k, sha256=HEX * 4, md5=HEX * 2, size=size, version=version,
                              parent=parent)
               for k, (size, version, parent) in sorted(data.items())]
    write(path, entries, versioning)
    reader = InventoryReader(FileRange(path), snapshot_id=header().id)
    assert reader.header == header(versioning)
    assert list(reader.entries()) == entries
    assert reader.object_count == len(entries)
    assert reader.total_size == sum(e.size for e in entries)
    assert reader.summary.entries_sha256 == entries_digest(entries, versioning)
    asked = set(probes) | {e.key for e in entries[::97]}
    assert reader.lookup(asked) == {e.key: e for e in entries if e.key in asked}


def test_the_same_entries_give_the_same_bytes(tmp_path: Path) -> None:
    entries = [entry(n) for n in range(1, 2000, 3)]
    write(tmp_path / "a", entries)
    write(tmp_path / "b", entries)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()
    lines = (tmp_path / "a").read_bytes().split(b"\n")
    assert json.loads(lines[0])["format"] == "aipsync-inventory/2"
    assert json.loads(lines[1]) == entries[0].as_json()


def test_a_lookup_reads_only_the_blocks_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    entries = [entry(n) for n in range(20 * INDEX_EVERY)]
    write(path, entries)
    total = path.stat().st_size
    source = CountingRange(path)
    reader = InventoryReader(source, index_offset=None)
    opened = source.bytes_read
    wanted = entries[7 * INDEX_EVERY + 3]
    assert reader.entry(wanted.key) == wanted
    assert reader.entry("ITEM@123456789-absent.zip") is None
    block = total // 20
    assert source.bytes_read - opened < 3 * block
    assert source.bytes_read < total / 3


def test_the_trailer_is_found_with_or_without_its_offset(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "inv.jsonl"
    entries = [entry(n) for n in range(3 * INDEX_EVERY)]
    write(path, entries)
    with_offset = InventoryReader(FileRange(path))
    offset = with_offset.summary.index_offset
    assert InventoryReader(FileRange(path), index_offset=offset).summary == with_offset.summary
    monkeypatch.setattr(inventory_mod, "_TAIL_GUESS", 100)  # the trailer is longer than that
    assert InventoryReader(FileRange(path)).summary == with_offset.summary


def test_an_empty_inventory(tmp_path: Path) -> None:
    write(tmp_path / "empty", [])
    reader = InventoryReader(FileRange(tmp_path / "empty"))
    assert list(reader.entries()) == []
    assert reader.lookup(["x"]) == {}
    assert (reader.object_count, reader.total_size) == (0, 0)


def test_entries_out_of_order_are_refused_and_leave_no_file(tmp_path: Path) -> None:
    path = tmp_path / "inv.jsonl"
    with pytest.raises(ValueError, match="out of order"), InventoryWriter(path, header()) as w:
        w.add(entry(2))
        w.add(entry(1))
    assert not path.exists()


@pytest.mark.parametrize("damage", ["flip", "drop-line", "swap-lines", "trailer", "header",
                                    "not-canonical"])
def test_a_damaged_inventory_is_refused(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "inv.jsonl"
    entries = [entry(n) for n in range(1, 1500)]
    write(path, entries)
    lines = path.read_bytes().split(b"\n")
    if damage == "flip":
        lines[5] = lines[5].replace(b'"size":36', b'"size":37')
    elif damage == "drop-line":
        del lines[9]
    elif damage == "swap-lines":
        lines[3], lines[4] = lines[4], lines[3]
    elif damage == "trailer":
        lines[-2] = lines[-2][:40]
    elif damage == "header":
        lines[0] = b'{"format":"aipsync-inventory/9"}'
    else:
        lines[7] = lines[7].replace(b'":', b'": ')
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(InventoryFormatError):
        reader = InventoryReader(FileRange(path))
        list(reader.entries())


def test_a_snapshot_that_names_another_id_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "inv", [entry(1)])
    with pytest.raises(InventoryFormatError, match="names itself"):
        InventoryReader(FileRange(tmp_path / "inv"), snapshot_id="20260301T120000Z-other")


def test_version_1_inventories_are_still_read(tmp_path: Path) -> None:
    """An inventory as aipsync wrote them before (one JSON document, no parents)."""
    old = [InventoryEntry(key=f"ITEM@1-{n}.zip", sha256=f"{n:064x}", md5=f"{n:032x}",
                          size=n, version=None) for n in (3, 1, 2)]
    ordered = sorted(old, key=lambda e: e.key)
    digest = hashlib.sha256(b"aipsync-inventory/1\0bucket\n")
    for e in ordered:
        digest.update(f"{e.key}\0{e.sha256}\0{e.md5}\0{e.size}\0\n".encode())
    doc = {"format": "aipsync-inventory/1", "id": "20260301T120000Z-abc123",
           "created": T0.isoformat(timespec="microseconds"), "root": "s3://b/p",
           "versioning": "bucket", "object_count": 3, "total_size": 6,
           "entries_sha256": digest.hexdigest(),
           "objects": [{"key": e.key, "sha256": e.sha256, "md5": e.md5, "size": e.size,
                        "version": None} for e in ordered]}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n")
    reader = InventoryReader(FileRange(path), snapshot_id="20260301T120000Z-abc123")
    assert reader.format == "aipsync-inventory/1"
    assert list(reader.entries()) == ordered
    assert reader.entry("ITEM@1-2.zip") == ordered[1]
    doc["entries_sha256"] = "0" * 64
    path.write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n")
    with pytest.raises(InventoryFormatError, match="damaged"):
        InventoryReader(FileRange(path))
