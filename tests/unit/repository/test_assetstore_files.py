"""The assetstore on a temp folder: layout, streamed hashing, atomic writes, the journal."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from aip import constants as C
from aip.errors import AssetstoreCorruptError, StoreError
from aip.repository.assetstore import JOURNAL_PREFIX, Assetstore, Journal


class _Exploding(io.RawIOBase):
    """A source that fails after some bytes, like a dropped upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("source went away")
        chunk = b"x" * min(self.left, size if size > 0 else self.left)
        self.left -= len(chunk)
        return chunk


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_write_hashes_while_streaming_and_places_the_file(tmp_path: Path) -> None:
    store = Assetstore(tmp_path / "as")
    data = bytes(range(256)) * 1000
    stored = store.write(io.BytesIO(data), block_size=4096)
    assert stored.size == len(data)
    assert stored.md5 == hashlib.md5(data).hexdigest()
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    key = stored.key
    assert store.path(key) == tmp_path / "as" / key[0:2] / key[2:4] / key
    assert store.path(key).read_bytes() == data
    with store.open(key) as handle:
        assert handle.read() == data
    assert _all_files(tmp_path / "as") == [store.path(key)]  # no temp file left
    assert list(store.iter_keys()) == [key]


def test_empty_file(tmp_path: Path) -> None:
    stored = Assetstore(tmp_path).write_bytes(b"")
    assert (stored.size, stored.md5) == (0, hashlib.md5(b"").hexdigest())


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    store = Assetstore(tmp_path / "as")
    journal = store.journal()
    with pytest.raises(OSError, match="source went away"):
        store.write(_Exploding(10_000), journal, block_size=1024)  # type: ignore[arg-type]
    assert len(list(journal.keys())) == 1  # recorded before the file was created
    assert not store.exists(next(journal.keys()))
    files = [p.name for p in _all_files(tmp_path / "as")]
    assert files == [journal.path.name]  # only the journal: no temp, no final file
    journal.close()
    assert _all_files(tmp_path / "as") == []


def test_journal_of_many_keys_reads_them_back_from_its_file(tmp_path: Path) -> None:
    """Past BULK_SYNC_THRESHOLD keys the journal keeps none in memory; its keys (a worker's
    appended ones included) come back from the file, and deleting them leaves no file."""
    from aip.repository.assetstore import BULK_SYNC_THRESHOLD, KeyAppender

    store = Assetstore(tmp_path / "as")
    journal = store.journal()
    written = [store.write_bytes(b"x%d" % i, journal).key for i in range(BULK_SYNC_THRESHOLD)]
    assert not journal.many and list(journal.keys()) == written
    worker = KeyAppender(journal.open())
    extra = store.new_key()
    worker.record(extra)
    worker.close()
    store.path(extra).parent.mkdir(parents=True, exist_ok=True)
    store.path(extra).write_bytes(b"ahead")
    journal.adopt([extra])
    written.append(store.write_bytes(b"last", journal).key)
    assert journal.many and journal._keys is None
    assert list(journal.keys()) == [*written[:-1], extra, *written[-1:]]
    store.sync_journal(journal)
    store.delete(journal.keys())
    journal.close()
    assert _all_files(tmp_path / "as") == []


@pytest.mark.parametrize("key", ["", "../etc", "a/b", ".hidden"])
def test_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError):
        Assetstore(tmp_path).path(key)


def test_missing_file_is_corruption(tmp_path: Path) -> None:
    with pytest.raises(AssetstoreCorruptError) as info:
        Assetstore(tmp_path).open("0123456789abcdef")
    assert info.value.exit_code == C.EXIT_ASSETSTORE_CORRUPT


def test_journal_lists_keys_until_closed(tmp_path: Path) -> None:
    store = Assetstore(tmp_path)
    journal = store.journal()
    assert journal.path.name.startswith(JOURNAL_PREFIX)
    first = store.write_bytes(b"one", journal)
    second = store.write_bytes(b"two", journal)
    assert Journal.read(journal.path) == [first.key, second.key]
    assert store.pending_journals() == [journal.path]
    journal.close()
    assert not journal.path.exists()
    assert Journal.read(journal.path) == []
    assert store.pending_journals() == []


def test_delete_sync_and_temp_clean_up(tmp_path: Path) -> None:
    store = Assetstore(tmp_path)
    kept = store.write_bytes(b"kept")
    gone = store.write_bytes(b"gone")
    store.sync([kept.key, gone.key])
    stray = store.path(kept.key).parent / f"{C.TEMP_PREFIX}half-written"
    stray.write_bytes(b"half")
    assert sorted(store.iter_keys()) == sorted([kept.key, gone.key])  # temp files skipped
    store.delete([gone.key, "feedfacefeedface"])  # missing keys are fine
    assert store.remove_temp_files() == 1
    assert [p.name for p in _all_files(tmp_path)] == [kept.key]


def test_delete_removes_folders_it_empties_and_keeps_the_others(tmp_path: Path) -> None:
    store = Assetstore(tmp_path / "as")
    kept = store.write(io.BytesIO(b"kept"))
    # A new folder for the next keys (as after KEYS_PER_FOLDER keys).
    store._folder_uses = 10**9
    gone = [store.write(io.BytesIO(b"gone")).key for _ in range(3)]
    assert store.path(gone[0]).parent != store.path(kept.key).parent
    store.delete(gone)
    assert _all_files(store.root) == [store.path(kept.key)]
    assert sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*")
                  if p.is_dir()) == [kept.key[:2], f"{kept.key[:2]}/{kept.key[2:4]}"]
    # The store still writes into a folder it had made and a rollback removed.
    store._folder = gone[0][:4]
    store._folder_uses = 0
    again = store.write(io.BytesIO(b"again"))
    assert store.path(again.key).read_bytes() == b"again"


def test_a_rolled_back_restore_leaves_no_empty_folder(tmp_path: Path) -> None:
    """The transaction's files are removed at rollback, and so are the folders they made."""
    from aip.repository.setup import initialise
    from aip.repository.store import Repository

    repo = Repository.open(tmp_path / "repo", create=True)
    initialise(repo, handle_prefix="123456789", admin_email="admin@example.org")
    before = sorted(p for p in repo.assetstore.root.rglob("*"))
    with pytest.raises(RuntimeError), repo.transaction() as tx:
        for _ in range(3):
            tx.assetstore.write(io.BytesIO(b"x"), tx.journal)
        raise RuntimeError("the ingest failed")
    assert sorted(p for p in repo.assetstore.root.rglob("*")) == before
