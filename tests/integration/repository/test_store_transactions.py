"""Transactions: a failed change leaves no row and no file; a killed writer's files are
removed on the next open; deletes remove files only once they commit.  Both backends."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from helpers import (
    ADMIN,
    PREFIX,
    RepoLocation,
    asset_files,
    console_env,
    dangling_references,
    drop_database,
    make_repo,
    snapshot,
)

from aip import constants as C
from aip.errors import StoreError
from aip.model import MetadataValue
from aip.repository import objects
from aip.repository import tables as T
from aip.repository.assetstore import BULK_SYNC_THRESHOLD, JOURNAL_PREFIX, Assetstore
from aip.repository.store import Repository


def _item(repo: Repository, title: str = "An item", files: int = 1) -> tuple[int, str]:
    """A community, a collection and an archived item with ``files`` bitstreams."""
    with repo.transaction() as tx:
        com, _ = objects.create_community(
            tx, parent_id=None, metadata_values=[MetadataValue("dc", "title", None, "C")])
        coll, _ = objects.create_collection(
            tx, parent_ids=[com], metadata_values=[MetadataValue("dc", "title", None, "K")])
        iid, _ = objects.create_item(tx, collection_id=coll, submitter_id=None,
                                     mint_handle=False, in_archive=False)
        objects.add_metadata(tx, C.TYPE_ITEM, iid, [MetadataValue("dc", "title", None, title)])
        for n in range(files):
            objects.add_bitstream(tx, iid, "ORIGINAL", io.BytesIO(b"kept %d" % n),
                                  name=f"kept{n}.txt")
        return iid, objects.install_item(tx, iid)


def _next_suffix(repo: Repository) -> int:
    with repo.transaction(write=False) as tx:
        return int(tx.scalar(sa.select(T.handle_sequence.c.next_suffix)
                             .where(T.handle_sequence.c.prefix == PREFIX)))


def _keys_of(repo: Repository, handle: str) -> list[str]:
    with repo.transaction(write=False) as tx:
        item = objects.item_model(tx, objects.item_id(tx, handle))
    return [bs.key for b in item.bundles for bs in b.bitstreams if bs.key]


@pytest.mark.parametrize("files", [3, BULK_SYNC_THRESHOLD + 2], ids=["few", "bulk"])
def test_failed_transaction_leaves_no_rows_and_no_files(
        repo_location: RepoLocation, repo: Repository, files: int) -> None:
    iid, _ = _item(repo)
    before = snapshot(repo_location)
    suffix = _next_suffix(repo)
    written: list[str] = []
    with pytest.raises(RuntimeError, match="boom"), repo.transaction() as tx:
        other, _ = objects.create_item(tx, collection_id=objects.item_row(tx, iid)
                                       .owning_collection_id, submitter_id=None)
        for n in range(files):
            objects.add_bitstream(tx, other if n % 2 else iid, "ORIGINAL",
                                  io.BytesIO(b"doomed %d" % n), name=f"doomed{n}.txt")
        written = list(tx.journal.keys())
        assert len(written) == files
        assert all(repo.assetstore.exists(k) for k in written)  # the bytes really were there
        raise RuntimeError("boom")
    assert not any(repo.assetstore.exists(k) for k in written)
    assert snapshot(repo_location) == before
    assert _next_suffix(repo) == suffix
    assert repo.assetstore.pending_journals() == []


@pytest.mark.parametrize("files", [2, BULK_SYNC_THRESHOLD + 2], ids=["few", "bulk"])
def test_commit_keeps_files_and_drops_the_journal(repo_location: RepoLocation,
                                                  repo: Repository, files: int) -> None:
    _, handle = _item(repo, files=files)
    keys = _keys_of(repo, handle)
    assert len(keys) == files
    assert all(repo.assetstore.exists(k) for k in keys)
    assert repo.assetstore.pending_journals() == []
    assert dangling_references(repo_location) == {}


def test_rolled_back_delete_keeps_files_and_committed_delete_removes_them(
        repo_location: RepoLocation, repo: Repository) -> None:
    _, handle = _item(repo, files=2)
    keys = _keys_of(repo, handle)
    before = snapshot(repo_location)
    with pytest.raises(RuntimeError), repo.transaction() as tx:
        objects.delete_object(tx, handle)
        raise RuntimeError("changed my mind")
    assert all(repo.assetstore.exists(k) for k in keys)
    assert snapshot(repo_location) == before
    with repo.transaction() as tx:
        objects.delete_object(tx, handle)
    assert not any(repo.assetstore.exists(k) for k in keys)
    assert dangling_references(repo_location) == {}


def test_database_conflict_is_a_store_error_and_rolls_back(repo_location: RepoLocation,
                                                           repo: Repository) -> None:
    before = snapshot(repo_location)
    with pytest.raises(StoreError, match="conflicts with existing data") as info, \
            repo.transaction() as tx:
        objects.create_community(tx, parent_id=None,
                                 metadata_values=[MetadataValue("dc", "title", None, "C")])
        key = tx.assetstore.write_bytes(b"logo", tx.journal).key
        tx.execute(sa.insert(T.eperson).values(id=99, email=ADMIN))  # e-mail is unique
    assert info.value.exit_code == C.EXIT_STORE
    assert not repo.assetstore.exists(key)
    assert snapshot(repo_location) == before


def test_open_removes_files_of_an_unfinished_transaction(repo_location: RepoLocation,
                                                         repo: Repository) -> None:
    """A writer died after writing files and before committing (its journal is on disk)."""
    _, handle = _item(repo, files=1)
    kept = _keys_of(repo, handle)[0]
    committed = snapshot(repo_location)
    repo.close()

    store = Assetstore(repo_location.assetstore)
    orphan = store.write_bytes(b"written, never committed")
    temp = store.path(orphan.key).parent / f"{C.TEMP_PREFIX}{orphan.key}-half"
    temp.write_bytes(b"half a file")
    journal = repo_location.assetstore / f"{JOURNAL_PREFIX}99999-deadbeef"
    # the dead writer's journal names its new file, a referenced key (a bug must not lose
    # it) and a key whose file it never got to create
    journal.write_text(f"{orphan.key}\n{kept}\nfeedfacefeedfacefeedfacefeedface\n")
    assert store.exists(orphan.key)

    Repository.open(repo_location.folder, db_url=repo_location.db_url,
                    assetstore=repo_location.assetstore).close()
    assert not store.exists(orphan.key)
    assert not temp.exists()
    assert not journal.exists()
    assert store.exists(kept)
    assert snapshot(repo_location) == committed


KILLED_WRITER = r"""
import io, os, signal, sys
from pathlib import Path
from aip.repository import objects
from aip.repository.store import Repository

folder, db_url, assetstore, handle = sys.argv[1:5]
repo = Repository.open(None if db_url else Path(folder), db_url=db_url or None,
                       assetstore=Path(assetstore))
with repo.transaction() as tx:
    iid = objects.item_id(tx, handle)
    for n in range(3):
        objects.add_bitstream(tx, iid, "ORIGINAL", io.BytesIO(b"doomed %d" % n),
                              name=f"doomed{n}.txt")
    print(" ".join(tx.journal.keys()), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_writer_leaves_nothing_after_reopen(repo_location: RepoLocation,
                                                   repo: Repository) -> None:
    _, handle = _item(repo)
    repo.close()
    committed = snapshot(repo_location)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(repo_location.folder),
         repo_location.db_url or "", str(repo_location.assetstore), handle],
        capture_output=True, text=True, env=console_env(), timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    doomed = proc.stdout.split()
    assert len(doomed) == 3
    store = Assetstore(repo_location.assetstore)
    assert all(store.exists(k) for k in doomed)  # the crash left them behind...
    assert store.pending_journals()              # ...with the journal that names them
    # ...and opening the repository (which the dump does) cleans up
    assert snapshot(repo_location) == committed
    assert not any(store.exists(k) for k in doomed)
    assert store.pending_journals() == []
    assert asset_files(repo_location) == set(committed.files)



@pytest.mark.postgres
def test_open_during_a_running_transaction_keeps_its_files(tmp_path: Path,
                                                           pg_url: str) -> None:
    location = make_repo(RepoLocation(tmp_path / "pg", pg_url))
    try:
        with location.opened() as repo:
            iid, _ = _item(repo)
            with repo.transaction() as tx:
                objects.add_bitstream(tx, iid, "ORIGINAL", io.BytesIO(b"live"), name="l.txt")
                key = next(tx.journal.keys())
                location.open().close()  # e.g. `aipsync repo tree` in another process
                assert repo.assetstore.exists(key)
    finally:
        drop_database(pg_url)


def test_the_change_counter_moves_only_when_a_transaction_changes_a_row(
        repo: Repository) -> None:
    before = repo.generation()
    with repo.transaction() as tx:  # a write transaction that only reads
        objects.site_model(tx)
    with repo.transaction(write=False) as tx:
        objects.site_model(tx)
    assert repo.generation() == before
    iid, _ = _item(repo)
    changed = repo.generation()
    assert changed > before
    with pytest.raises(RuntimeError), repo.transaction() as tx:  # rolled back: no change
        objects.add_metadata(tx, "ITEM", iid, [])
        objects.create_item(tx, collection_id=objects.item_row(tx, iid).owning_collection_id,
                            submitter_id=None)
        raise RuntimeError("boom")
    assert repo.generation() == changed


def test_insert_ids_are_the_rows_own_in_the_order_given(repo: Repository) -> None:
    """``Tx.insert_ids`` (SQLite: consecutive ids worked out from the last one; PostgreSQL:
    RETURNING): each id names the row given at its place, also after the table's last row
    was deleted in the same transaction, and for a single row."""
    iid, _ = _item(repo, files=0)
    with repo.transaction() as tx:
        first = tx.insert_ids(T.bundle, [{"item_id": iid, "name": f"A{n}", "position": n}
                                         for n in range(3)])
        tx.execute(sa.delete(T.bundle).where(T.bundle.c.id == first[-1]))
        more = tx.insert_ids(T.bundle, [{"item_id": iid, "name": f"B{n}", "position": 10 + n}
                                        for n in range(4)])
        one = tx.insert_ids(T.bundle, [{"item_id": iid, "name": "C", "position": 20}])
        assert tx.insert_ids(T.bundle, []) == []
        names = {int(i): str(n) for i, n in tx.execute(
            sa.select(T.bundle.c.id, T.bundle.c.name).where(T.bundle.c.item_id == iid))}
    ids = first[:2] + more + one
    assert [names[i] for i in ids] == ["A0", "A1", "B0", "B1", "B2", "B3", "C"]
    assert len(names) == 7


def test_insert_rows_conflict_is_a_store_error_and_rolls_back(repo_location: RepoLocation,
                                                               repo: Repository) -> None:
    """``Tx.insert_rows`` (run by SQLite's driver itself for plain columns): a transaction of
    its rows alone moves the change counter, a row that breaks a constraint fails the
    transaction with ``StoreError`` as SQLAlchemy's own statements do, and nothing of that
    transaction stays; rows it inserted are there after a commit."""
    row = {"handle": f"{PREFIX}/9001", "prefix": PREFIX, "resource_type": None,
           "resource_id": None}
    generation = repo.generation()
    with repo.transaction() as tx:
        tx.insert_rows(T.handle, [row, {**row, "handle": f"{PREFIX}/9002"}])
    assert repo.generation() == generation + 1  # (its cursor events fired: a change)
    before = snapshot(repo_location)
    with pytest.raises(StoreError, match="conflicts"), repo.transaction() as tx:
        tx.insert_rows(T.handle, [{**row, "handle": f"{PREFIX}/9003"}, row])
    assert snapshot(repo_location) == before
    with repo.transaction(write=False) as tx:
        found = set(tx.execute(sa.select(T.handle.c.handle)
                               .where(T.handle.c.handle.like(f"{PREFIX}/900%"))).scalars())
    assert found == {f"{PREFIX}/9001", f"{PREFIX}/9002"}
