"""The state database: schema, hash cache, remote records, journal, runs."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from daemon.core.errors import StateError
from daemon.core.journal import PartRecord
from daemon.core.state import SCHEMA_VERSION, CachedHash, RemoteRecord, RunCounts, open_state


def test_created_on_first_use_private_and_wal(tmp_path: Path) -> None:
    with open_state(tmp_path / "state") as state:
        assert state.schema_version == SCHEMA_VERSION
    mode = stat.S_IMODE(os.stat(tmp_path / "state" / "state.db").st_mode)
    assert mode & 0o077 == 0
    conn = sqlite3.connect(tmp_path / "state" / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    with open_state(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / "state.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError, match="newer"):
        open_state(tmp_path)


def test_not_a_database_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError):
        open_state(tmp_path)


def test_hash_cache_and_remote_records_survive_reopen(tmp_path: Path) -> None:
    with open_state(tmp_path) as state:
        state.record_hashes([CachedHash("A.zip", 10, 123, 7, "s" * 64, "m" * 32)])
        state.record_upload(RemoteRecord("A.zip", 10, "s" * 64, "m" * 32, etag='"e"'))
        state.record_failure("B.zip", None, "boom")
    with open_state(tmp_path) as state:
        hit = state.cached_hashes(["A.zip", "X.zip"])["A.zip"]
        assert hit.matches(10, 123, 7) and not hit.matches(10, 124, 7)
        assert state.remote_record("A.zip").etag == '"e"'  # type: ignore[union-attr]
        assert [f.key for f in state.failures()] == ["B.zip"]
        state.record_upload(RemoteRecord("B.zip", 1, "x", "y"))
        assert state.failures() == []


def test_multipart_journal(tmp_path: Path) -> None:
    with open_state(tmp_path) as state:
        state.begin("BIG.zip", "up-1", "s" * 64, 100, 50)
        state.part_done("BIG.zip", PartRecord(1, '"e1"', "m1", 50))
        pending = state.load("BIG.zip")
        assert pending is not None and pending.upload_id == "up-1"
        assert pending.parts[1].etag == '"e1"'
        assert state.known_upload_ids() == {"up-1"}
        state.begin("BIG.zip", "up-2", "t" * 64, 100, 50)  # replaces, parts dropped
        assert state.load("BIG.zip").parts == {}  # type: ignore[union-attr]
        state.finish("BIG.zip")
        assert state.load("BIG.zip") is None


def test_runs_and_target_binding(tmp_path: Path) -> None:
    with open_state(tmp_path) as state:
        assert state.bind_target("s3://a/p")
        run = state.start_run("mirror")
        state.finish_run(run, "ok", RunCounts(seen=3, uploaded=1, skipped=2, bytes_uploaded=5))
        state.record_upload(RemoteRecord("A.zip", 1, "x", "y"))
        assert state.last_success("mirror").counts.uploaded == 1  # type: ignore[union-attr]
        assert not state.bind_target("s3://a/p")
        assert state.bind_target("s3://other/p")  # another target: its records are not ours
        assert state.remote_records(["A.zip"]) == {}
        assert state.last_run() is not None  # history is kept


def test_a_schema_2_state_gains_parents_and_keeps_its_rows(tmp_path: Path) -> None:
    """A state written before parents were recorded: opened, migrated, rows kept, parents
    unknown (NULL) so that the next scan reads them."""
    import sqlite3

    from daemon.core import state as state_mod

    path = tmp_path / state_mod.STATE_FILE_NAME
    with sqlite3.connect(path) as db:
        db.executescript(state_mod._SCHEMA_V1 + state_mod._SCHEMA_V2 + "PRAGMA user_version = 2;")
        db.execute("INSERT INTO staged_files VALUES ('A.zip', 10, 123, 7, 's', 'm', 'now')")
        db.execute("INSERT INTO remote_objects (key, size, sha256, md5, uploaded_at)"
                   " VALUES ('A.zip', 10, 's', 'm', 'now')")
    with open_state(tmp_path) as state:
        assert state.schema_version == state_mod.SCHEMA_VERSION == 3
        assert state.cached_hashes(["A.zip"])["A.zip"].parent is None
        assert state.remote_records(["A.zip"])["A.zip"].parent is None
        state.scan_begin()
        state.scan_add([("A.zip", 10, 123, 7)])
        assert [r[0] for r in state.scan_stale()] == ["A.zip"], "its parent is to be read"
        state.record_hashes([CachedHash("A.zip", 10, 123, 7, "s", "m", "1/2")])
        assert state.scan_stale() == []


@pytest.mark.parametrize("round_", range(60))
def test_openers_racing_on_a_new_file_migrate_it_once(tmp_path: Path, round_: int) -> None:
    """The service and its first cycle open a new state file at the same moment.

    One round lost the race about one time in ten when the switch to WAL mode was made
    outside the openers' lock (SQLite refused it at once with "database is locked"), hence
    the rounds.
    """
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def open_it() -> None:
        start.wait()
        try:
            open_state(tmp_path).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_state(tmp_path) as state:
        assert state.schema_version == SCHEMA_VERSION
        assert state._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
