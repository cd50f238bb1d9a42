"""Snapshot inventories in the target: parents recorded, old snapshots still restored, a
one-object restore that reads only what it needs, and a cycle with nothing changed that reads
no row of the state database."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from restore_support import BackupEnv, collections_with_items

import daemon.sync.inventory as inventory_mod
import daemon.sync.snapshots as snapshots_mod
from aip import constants as C
from aip.model import package_file_name
from daemon.audit import run_audit
from daemon.core.state import STATE_FILE_NAME
from daemon.restore.run import RestoreRequest, run_restore
from daemon.sync.backup import run_cycle
from daemon.sync.inventory import LEGACY_INVENTORY_FORMAT
from daemon.sync.layout import snapshot_key
from daemon.sync.mirror import run_mirror
from daemon.sync.snapshots import list_snapshots, read_inventory


def test_every_entry_names_its_parent(env: BackupEnv) -> None:
    cycle = run_cycle(env.config())
    inventory = read_inventory(env.target(), cycle.snapshot_id or "")
    parents = {e.key: e.parent for e in inventory.entries()}
    owned = collections_with_items(env)
    assert owned and any(owned.values())
    for collection, items in owned.items():
        for item in items:
            # An item's parent is its owning collection, not a collection it is mapped into.
            assert parents[package_file_name(C.TYPE_ITEM, item, "zip")] == collection
        assert parents[package_file_name(C.TYPE_COLLECTION, collection, "zip")] is not None
    assert [p for k, p in parents.items() if k.startswith("SITE@")] == [None]


def _rewrite_as_format_1(env: BackupEnv, snapshot_id: str) -> None:
    """Turn a snapshot's inventory into the one document aipsync wrote before (format 1)."""
    folder = Path(env.url.removeprefix("file://"))
    new_key = snapshot_key(snapshot_id)
    entries = list(read_inventory(env.target(), snapshot_id).entries())
    header = json.loads((folder / new_key).read_bytes().split(b"\n", 1)[0])
    digest = hashlib.sha256(f"{LEGACY_INVENTORY_FORMAT}\0{header['versioning']}\n".encode())
    for e in entries:
        digest.update(f"{e.key}\0{e.sha256}\0{e.md5}\0{e.size}\0{e.version or ''}\n".encode())
    doc = {"format": LEGACY_INVENTORY_FORMAT, "id": snapshot_id, "created": header["created"],
           "root": header["root"], "versioning": header["versioning"],
           "object_count": len(entries), "total_size": sum(e.size for e in entries),
           "entries_sha256": digest.hexdigest(),
           "objects": [{"key": e.key, "sha256": e.sha256, "md5": e.md5, "size": e.size,
                        "version": e.version} for e in entries]}
    tgt = env.target()
    tgt.put_bytes(snapshot_key(snapshot_id, legacy=True),
                  (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode(),
                  metadata={"created": header["created"], "objects": str(len(entries)),
                            "bytes": str(doc["total_size"])})
    tgt.delete(new_key)


def test_a_snapshot_written_in_format_1_is_listed_restored_and_audited(
        folder_env: BackupEnv) -> None:
    env = folder_env
    cycle = run_cycle(env.config())
    sid = cycle.snapshot_id or ""
    _rewrite_as_format_1(env, sid)
    assert [s.id for s in list_snapshots(env.target())] == [sid]
    assert read_inventory(env.target(), sid).format == LEGACY_INVENTORY_FORMAT
    collection, items = next(iter(collections_with_items(env).items()))
    env.delete(collection)
    result = run_restore(env.config(), RestoreRequest(handle=collection))
    assert result.exit_code == 0
    assert {o.handle for o in result.objects} >= {collection, *items}
    audit = run_audit(env.config(), deep=True)
    assert audit.status == "ok" and audit.counts.downloaded == audit.counts.checked > 0


def test_restoring_one_item_reads_its_block_not_the_inventory(s3_env: BackupEnv,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A snapshot too large to read whole: the restore of one item asks for the trailer and
    the block that names the item, by range."""
    env = s3_env
    monkeypatch.setattr(inventory_mod, "INDEX_EVERY", 2)  # many blocks in a small snapshot
    cycle = run_cycle(env.config())
    info = next(s for s in list_snapshots(env.target()) if s.id == cycle.snapshot_id)
    monkeypatch.setattr(snapshots_mod, "_READ_WHOLE", 0)
    _, items = next(iter(collections_with_items(env).items()))
    env.delete(items[0])
    tgt = env.target()
    reads: list[tuple[int, int] | None] = []
    real = tgt.get_bytes

    def counting(key: str, **kwargs: object) -> bytes:
        if key == info.key:
            reads.append(kwargs.get("byte_range"))  # type: ignore[arg-type]
        return real(key, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tgt, "get_bytes", counting)
    result = run_restore(env.config(), RestoreRequest(handle=items[0]), target=tgt)
    assert [o.handle for o in result.objects] == [items[0]]
    assert reads and None not in reads, "never the whole inventory"
    ranges = [r for r in reads if r is not None]
    assert len(ranges) == len(set(ranges)), "no block is read twice"
    blocks = [r for r in ranges if r[0] != 0 and r[1] != info.size]  # not header or trailer
    assert blocks and len(blocks) <= 4  # the item's, and those its candidate keys fall in
    assert all(end - start < info.size / 3 for start, end in blocks)


def test_a_cycle_with_nothing_changed_reads_no_row(folder_env: BackupEnv,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """After a backup, a mirror run over the same staging compares one fingerprint: the state
    database's per-file tables are not read (SQLite's authorizer sees every table a statement
    reads)."""
    env = folder_env
    run_cycle(env.config())
    touched: set[str] = set()
    real_connect = sqlite3.connect

    def watching(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        if str(args[0]).endswith(STATE_FILE_NAME):
            def authorizer(action: int, table: str | None, *_: object) -> int:
                if action == sqlite3.SQLITE_READ and table:
                    touched.add(table)
                return sqlite3.SQLITE_OK

            conn.set_authorizer(authorizer)
        return conn

    monkeypatch.setattr(sqlite3, "connect", watching)
    result = run_mirror(env.config())
    assert tuple(result.uploaded) == () and not result.snapshot_written
    assert not touched & {"staged_files", "remote_objects"}, touched
    # A file changed: the next run reads them again, and uploads it.
    item = next(p for p in env.staging.glob("ITEM@*.zip"))
    item.write_bytes(item.read_bytes() + b"\0")
    touched.clear()
    again = run_mirror(env.config())
    assert tuple(again.uploaded) == (item.name,) and again.snapshot_written
    assert {"staged_files", "remote_objects"} <= touched
