"""``aipsync restore`` against real targets: moto's S3 server on 127.0.0.1 and a folder.

Each scenario backs up a seeded embedded repository with the real backup cycle, damages the
repository (or the backup), restores, and judges the result by ``repo dump --json`` (the
canonical dump) and the assetstore files: the equality oracle of the ingest tests.

The seeded site (``seeded_repo``): community 123456789/1 with collections 123456789/2 (three
items and one in the workflow, which AIPs never carry) and 123456789/3 (three items); the
tests map an item of /2 into /3 so that restoring /3 must also re-map an item it does not own.
"""

from __future__ import annotations

import io
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    PREFIX,
    RepoLocation,
    dangling_references,
    dump_text,
    make_repo,
    repo_cli,
    snapshot,
)
from restore_support import (
    SITE_FILE,
    BackupEnv,
    CutStream,
    aipsync,
    collections_with_items,
    corrupt,
    error_line,
    wait_for,
)

from aip import constants as C
from daemon.audit import run_audit
from daemon.core.config import Config
from daemon.core.errors import (
    DownloadChecksumError,
    RestoreDeclinedError,
    TargetUnreachableError,
)
from daemon.core.locks import Lock, LockName, read_holder
from daemon.core.state import open_state
from daemon.restore.run import RestoreRequest, run_restore
from daemon.source.base import ExportOutcome, IngestOutcome, IngestSpec
from daemon.source.embedded import EmbeddedSource
from daemon.sync.backup import run_cycle
from daemon.sync.snapshots import read_inventory

COLL = f"{PREFIX}/3"    # three items, nothing in the workflow: it comes back whole
OTHER = f"{PREFIX}/2"   # owns the item mapped into COLL


def map_one_item(env: BackupEnv) -> str:
    """Map the first item of OTHER into COLL; returns its handle."""
    item = collections_with_items(env)[OTHER][0]
    repo_cli(env.repo, "map-item", item, COLL)
    return item


def work_files(config: Config) -> list[str]:
    return sorted(p.name for p in config.restore_dir.rglob("*") if p.is_file())


# --- the main scenarios (both targets) --------------------------------------------------------
def test_a_deleted_collection_comes_back_exactly(env: BackupEnv) -> None:
    mapped = map_one_item(env)
    config_file = env.write_config()
    first = run_cycle(env.config())
    before = dump_text(env.repo)
    own_items = collections_with_items(env)[COLL]
    assert len(own_items) == 3
    env.delete(COLL)
    assert dump_text(env.repo) != before

    result = aipsync("restore", "--config", str(config_file), "--handle", COLL, expect=0)

    assert dump_text(env.repo) == before
    assert dangling_references(env.repo) == {}
    lines = result.out.splitlines()
    assert f"snapshot {first.snapshot_id}" in lines[0] and "mode restore" in lines[0]
    assert "every SHA-256 matched" in lines[1]
    assert any(line.split()[:2] == ["restored", COLL] for line in lines)
    for item in own_items:
        assert any(line.split()[:2] == ["restored", item] for line in lines), item
    assert any(line.split()[:2] == ["mapped", mapped] for line in lines)
    assert lines[-1] == "restore: 1 mapped, 4 restored"
    # the downloads are removed after a successful restore; the run is recorded
    assert work_files(env.config()) == []
    status = aipsync("status", "--config", str(config_file), "--json", expect=0).out
    assert '"status": "ok"' in status and COLL in status


def test_an_item_edited_after_a_snapshot_comes_back_as_it_was(env: BackupEnv) -> None:
    config_file = env.write_config()
    first = run_cycle(env.config())
    item = collections_with_items(env)[COLL][1]
    as_it_was = dump_text(env.repo, item)
    time.sleep(1.1)  # the edit gets a later last-modified second than the first export
    env.edit_item(item, "A title written after the first backup")
    second = run_cycle(env.config())
    item_key = f"ITEM@{item.replace('/', '-')}.zip"
    assert second.mirror is not None and tuple(second.mirror.uploaded) == (item_key,)
    assert env.snapshot_ids() == [second.snapshot_id, first.snapshot_id]
    assert dump_text(env.repo, item) != as_it_was
    first_created = read_inventory(env.target(), first.snapshot_id).created

    result = aipsync("restore", "--config", str(config_file), "--at",
                     first_created.strftime("%Y-%m-%dT%H:%M:%SZ"), "--handle", item,
                     "--mode", "replace", "--yes", expect=0)

    assert f"snapshot {first.snapshot_id}" in result.out
    assert dump_text(env.repo, item) == as_it_was
    assert result.out.splitlines()[-1] == "restore: 1 replaced"
    # the newest snapshot still has the edited version
    aipsync("restore", "--config", str(config_file), "--handle", item, "--mode", "replace",
            "--yes", expect=0)
    assert dump_text(env.repo, item) != as_it_was


def test_the_whole_site_restores_into_a_fresh_repository(env: BackupEnv, tmp_path: Path
                                                         ) -> None:
    map_one_item(env)
    passwords = {"repository": {"dspace_options": ["passwords=true"]}}
    run_cycle(env.config(**passwords))
    fresh = make_repo(RepoLocation(tmp_path / "fresh"))
    fresh_file = env.write_config(tmp_path / "fresh.toml", repository={
        "path": str(fresh.folder), "dspace_options": ["passwords=true"]},
        state={"dir": str(tmp_path / "fresh-state")})

    # replace needs a confirmation; there is no terminal here, so --yes is required
    refused = aipsync("restore", "--config", str(fresh_file), "--site", expect=C.EXIT_USAGE)
    assert "--yes" in error_line(refused) and refused.out == ""
    assert not (tmp_path / "fresh-state" / "restore").exists(), "nothing was downloaded"

    result = aipsync("restore", "--config", str(fresh_file), "--site", "--yes", "--json",
                     expect=0)

    assert dump_text(fresh) == dump_text(env.repo)
    assert dangling_references(fresh) == {}
    import json

    doc = json.loads(result.out)
    assert doc["mode"] == "replace" and doc["type"] == "SITE" and doc["package"] == SITE_FILE
    assert doc["summary"]["replaced"] == 1 and doc["packages"] == len(env.staged())
    assert doc["downloaded"] == len(env.staged()) and doc["reused"] == 0


def test_a_corrupted_object_fails_the_restore_before_any_change_and_verify_finds_it(
        env: BackupEnv) -> None:
    config_file = env.write_config()
    run_cycle(env.config())
    rotten, truncated = (f"ITEM@{h.replace('/', '-')}.zip"
                         for h in collections_with_items(env)[COLL][:2])
    corrupt(env, rotten, same_size=True)       # only a download can see this
    corrupt(env, truncated, same_size=False)   # the size says it
    env.delete(COLL)
    before = snapshot(env.repo)

    with pytest.raises(DownloadChecksumError) as caught:
        run_restore(env.config(), RestoreRequest(handle=COLL))
    assert caught.value.exit_code == C.EXIT_CHECKSUM
    assert snapshot(env.repo) == before
    # nothing half-written under a final name: only verified AIPs (kept for a rerun)
    config = env.config()
    run_dir = next(config.restore_dir.iterdir())
    assert rotten not in work_files(config) and truncated not in work_files(config)
    assert not [p for p in run_dir.iterdir() if p.name.startswith(C.TEMP_PREFIX)
                and p.name.endswith(f"{rotten}.part")]
    failed = aipsync("restore", "--config", str(config_file), "--handle", COLL, expect=80)
    line = error_line(failed)
    assert line.startswith("aipsync: error: ITEM@") and "mismatch" in line
    assert snapshot(env.repo) == before

    plain = aipsync("verify", "--config", str(config_file), expect=C.EXIT_AUDIT_FAILED)
    assert f"corrupted      {truncated}: size" in plain.out
    assert rotten not in plain.out  # same size, same stored SHA-256: HEAD cannot tell
    deep = aipsync("verify", "--config", str(config_file), "--deep",
                   expect=C.EXIT_AUDIT_FAILED)
    assert f"corrupted      {rotten}: downloaded and re-hashed: SHA-256" in deep.out
    assert f"corrupted      {truncated}: size" in deep.out
    assert "2 corrupted" in deep.out.splitlines()[-1]
    with open_state(env.state_dir) as state:
        audit = state.last_audit()
    assert audit is not None and audit.status == "failed" and audit.counts.corrupted == 2
    status = aipsync("status", "--config", str(config_file), expect=0).out
    assert "last audit:      #2 failed (deep, cli)" in status


def test_dry_run_downloads_and_verifies_but_changes_nothing(env: BackupEnv) -> None:
    mapped = map_one_item(env)
    run_cycle(env.config())
    env.delete(COLL)
    before = snapshot(env.repo)
    tgt = env.target()

    result = run_restore(env.config(), RestoreRequest(handle=COLL, dry_run=True), target=tgt)

    assert snapshot(env.repo) == before
    assert result.dry_run and result.objects == ()
    actions = {p.handle: (p.exists, p.action) for p in result.planned}
    assert actions[COLL] == (False, "restore")
    assert actions[mapped] == (True, "map")
    assert sum(1 for a in actions.values() if a == (False, "restore")) == 4
    assert result.stats.downloaded == result.packages == 5
    gets = tgt.requests["GetObject"]

    # the real run reuses the verified downloads (re-hashed, not fetched again)
    real = run_restore(env.config(), RestoreRequest(handle=COLL), target=tgt)
    assert real.stats.reused == 5 and real.stats.downloaded == 0
    assert tgt.requests["GetObject"] == gets + 1  # the inventory only
    assert {o.action for o in real.objects} == {"restored", "mapped"}

    # a dry run on the restored repository says the restore mode would refuse
    again = run_restore(env.config(), RestoreRequest(handle=COLL, dry_run=True))
    assert {p.action for p in again.planned if p.handle != mapped} == {"fail"}
    keep = run_restore(env.config(), RestoreRequest(handle=COLL, dry_run=True,
                                                    mode="keep-existing"))
    assert [p.action for p in keep.planned][:1] == ["skip"]
    assert {p.detail for p in keep.planned[1:]} == {"its parent is skipped"}


class Terminal(io.StringIO):
    """A stdin that says it is a terminal and answers with ``answer``."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer + "\n")

    def isatty(self) -> bool:
        return True


def test_replace_asks_on_a_terminal(folder_env: BackupEnv) -> None:
    env = folder_env
    config_file = env.write_config()
    run_cycle(env.config())
    item = collections_with_items(env)[COLL][0]
    as_it_was = dump_text(env.repo, item)
    env.edit_item(item, "Edited")
    edited = snapshot(env.repo)

    declined = aipsync("restore", "--config", str(config_file), "--handle", item, "--mode",
                       "replace", expect=C.EXIT_RESTORE_DECLINED, stdin=Terminal("n"))
    assert "restore declined" in error_line(declined)
    assert snapshot(env.repo) == edited
    asked: list[str] = []
    with pytest.raises(RestoreDeclinedError):
        run_restore(env.config(), RestoreRequest(handle=item, mode="replace"),
                    confirm=lambda q: bool(asked.append(q)))
    assert "Replace 1 existing object(s) (123456789/" in asked[0]
    assert asked[0].endswith("[y/N] ")

    aipsync("restore", "--config", str(config_file), "--handle", item, "--mode", "replace",
            expect=0, stdin=Terminal("yes"))
    assert dump_text(env.repo, item) == as_it_was


def test_handle_and_snapshot_errors(env: BackupEnv) -> None:
    config_file = env.write_config()
    none_yet = aipsync("restore", "--config", str(config_file), "--handle", COLL, expect=53)
    assert error_line(none_yet) == "aipsync: error: no complete snapshot in the target"
    run_cycle(env.config())
    before = snapshot(env.repo)
    for argv, code, fragment in (
            (["--handle", f"{PREFIX}/999"], 54, f"{PREFIX}/999 is not in snapshot"),
            (["--handle", COLL, "--snapshot", "20000101T000000Z-000000"], 53,
             "no complete snapshot with id"),
            (["--handle", COLL, "--at", "2000-01-01T00:00:00Z"], 53, "at or before 2000"),
            (["--handle", "not-a-handle"], 3, "is not a handle"),
            (["--handle", COLL, "--mode", "submit"], 3, "needs --parent"),
            (["--handle", COLL], 42, f"{COLL!r} already exists")):
        failed = aipsync("restore", "--config", str(config_file), *argv, expect=code)
        assert fragment in error_line(failed), (argv, failed.err)
        assert failed.out == ""
    assert snapshot(env.repo) == before


# --- concurrency with the backup cycle (one target is enough) ---------------------------------
class GatedEmbeddedSource(EmbeddedSource):
    """The embedded source, but its export (or ingest) waits for a gate: a slow DSpace."""

    def __init__(self, config: Config, *, gate_export: bool = False,
                 gate_ingest: bool = False) -> None:
        super().__init__(config)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self._gate_export = gate_export
        self._gate_ingest = gate_ingest

    def export(self, out_dir: Path, *, updated_after: Any,
               stop: Any = None, staged: Any = ()) -> ExportOutcome:
        if self._gate_export:
            self.entered.set()
            assert self.gate.wait(60), "the test never opened the gate"
        return super().export(out_dir, updated_after=updated_after, stop=stop, staged=staged)

    def ingest(self, spec: IngestSpec, *, stop: Any = None) -> IngestOutcome:
        if self._gate_ingest:
            self.entered.set()
            assert self.gate.wait(60), "the test never opened the gate"
        return super().ingest(spec, stop=stop)


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=body, name="test-worker")
    thread.start()
    return thread, box


def test_a_restore_started_during_an_export_waits_then_succeeds(folder_env: BackupEnv) -> None:
    env = folder_env
    run_cycle(env.config())
    before = dump_text(env.repo)
    env.delete(COLL)
    config = env.config(restore={"lock_timeout": 60})
    slow = GatedEmbeddedSource(config, gate_export=True)
    cycle, cycle_box = _in_thread(lambda: run_cycle(config, source=slow))
    try:
        assert slow.entered.wait(30)
        holder = read_holder(env.state_dir / f"{LockName.REPOSITORY}.lock")
        assert holder.get("purpose") == "export"
        restore, restore_box = _in_thread(lambda: run_restore(config, RestoreRequest(
            handle=COLL)))
        # it downloads and verifies, then waits for the repository lock
        wait_for(lambda: len(work_files(config)) == 4, timeout=30, what="the downloads")
        time.sleep(0.5)
        assert restore.is_alive() and "result" not in restore_box
        assert COLL not in dump_text(env.repo)
    finally:
        slow.gate.set()
    cycle.join(60)
    restore.join(60)
    assert "error" not in cycle_box and "error" not in restore_box, (cycle_box, restore_box)
    assert cycle_box["result"].status == "ok"
    result = restore_box["result"]
    assert result.lock_wait_seconds >= 0.5
    assert dump_text(env.repo) == before

    # and the other way round: an export started during a restore waits for it
    env.delete(COLL)
    slow_ingest = GatedEmbeddedSource(config, gate_ingest=True)
    restore, restore_box = _in_thread(lambda: run_restore(
        config, RestoreRequest(handle=COLL), source=slow_ingest))
    try:
        assert slow_ingest.entered.wait(30)
        cycle, cycle_box = _in_thread(lambda: run_cycle(config))
        time.sleep(0.5)
        assert cycle.is_alive(), "the export must wait for the restore"
    finally:
        slow_ingest.gate.set()
    restore.join(60)
    cycle.join(60)
    assert "error" not in cycle_box and "error" not in restore_box, (cycle_box, restore_box)
    assert cycle_box["result"].status == "ok"
    assert dump_text(env.repo) == before
    # the cycle after the restore backed up the restored collection again
    staged = env.staged()
    assert f"COLLECTION@{COLL.replace('/', '-')}.zip" in staged


def test_a_restore_gives_up_after_lock_timeout_with_a_clear_message(folder_env: BackupEnv
                                                                    ) -> None:
    env = folder_env
    run_cycle(env.config())
    env.delete(COLL)
    before = snapshot(env.repo)
    config_file = env.write_config(restore={"lock_timeout": 1})
    with Lock(env.state_dir, LockName.REPOSITORY, purpose="export"):
        started = time.monotonic()
        failed = aipsync("restore", "--config", str(config_file), "--handle", COLL,
                         expect=C.EXIT_LOCKED)
        assert time.monotonic() - started >= 1
    line = error_line(failed)
    assert "repository.lock is locked by pid" in line and "(export)" in line
    assert "waited 1 s for it (restore.lock_timeout)" in line
    assert snapshot(env.repo) == before
    # the verified downloads wait for the next attempt, which needs no download
    result = run_restore(env.config(), RestoreRequest(handle=COLL))
    assert result.stats.downloaded == 0 and result.stats.reused == 4


# --- resumable downloads (S3: range reads) ----------------------------------------------------
def _big_item(env: BackupEnv, size: int) -> str:
    item = collections_with_items(env)[COLL][0]
    blob = env.root / "big.bin"
    blob.write_bytes(random.Random(6).randbytes(size))  # incompressible, like a PDF
    repo_cli(env.repo, "add-bitstream", item, str(blob), "--bundle", "ORIGINAL")
    return item


def test_an_interrupted_download_resumes_from_the_partial_file(s3_env: BackupEnv) -> None:
    env = s3_env
    MiB = 1024 * 1024
    item = _big_item(env, 12 * MiB)
    key = f"ITEM@{item.replace('/', '-')}.zip"
    run_cycle(env.config())
    before = dump_text(env.repo)
    env.delete(item)
    config = env.config(target={"max_attempts": 1})

    # 1. the connection drops after 5 MiB and the single attempt gives up: exit 51, the
    #    partial file (a temporary name) keeps what arrived
    cut = CutStream(after=5 * MiB, min_size=10 * MiB)
    tgt = env.target(config)
    cut.install(tgt)
    with pytest.raises(TargetUnreachableError):
        run_restore(config, RestoreRequest(handle=item), target=tgt)
    assert dump_text(env.repo) != before
    run_dir = config.restore_dir / env.snapshot_ids()[0]
    parts = [p for p in run_dir.iterdir() if p.name.endswith(f"-{key}.part")]
    assert len(parts) == 1 and parts[0].name.startswith(C.TEMP_PREFIX)
    assert parts[0].stat().st_size == 5 * MiB
    assert not (run_dir / key).exists()

    # 2. the next run asks only for the rest
    watch = CutStream(after=0, min_size=10 * MiB, times=0)
    tgt2 = env.target(config)
    watch.install(tgt2)
    result = run_restore(config, RestoreRequest(handle=item), target=tgt2)
    assert watch.ranges == [None, f"bytes={5 * MiB}-"]  # the inventory, then the rest
    assert result.stats.downloaded == 1 and result.stats.bytes > 10 * MiB
    assert dump_text(env.repo) == before

    # 3. with retries, a drop in the middle resumes within the same run
    env.delete(item)
    config3 = env.config(target={"max_attempts": 3})
    cut3 = CutStream(after=3 * MiB, min_size=10 * MiB)
    tgt3 = env.target(config3)
    cut3.install(tgt3)
    run_restore(config3, RestoreRequest(handle=item), target=tgt3)
    assert cut3.cut == 1 and cut3.ranges[-2:] == [None, f"bytes={3 * MiB}-"]
    assert dump_text(env.repo) == before


def test_bucket_versioning_point_in_time(s3_env: BackupEnv) -> None:
    """With S3 bucket versioning the inventory names VersionIds, and the old version of an
    overwritten key is what comes back."""
    env = s3_env
    from restore_support import boto_client

    boto_client(env).put_bucket_versioning(Bucket=env.bucket,
                                           VersioningConfiguration={"Status": "Enabled"})
    first = run_cycle(env.config())
    item = collections_with_items(env)[COLL][0]
    as_it_was = dump_text(env.repo, item)
    time.sleep(1.1)
    env.edit_item(item, "Edited after the first backup")
    run_cycle(env.config())
    inv = read_inventory(env.target(), first.snapshot_id)
    assert inv.versioning == "bucket"
    entry = inv.entry(f"ITEM@{item.replace('/', '-')}.zip")
    assert entry is not None and entry.version and not entry.version.startswith("versions/")

    run_restore(env.config(), RestoreRequest(handle=item, snapshot_id=first.snapshot_id,
                                             mode="replace", yes=True))
    assert dump_text(env.repo, item) == as_it_was
    audit = run_audit(env.config(), snapshot_id=first.snapshot_id, deep=True)
    assert audit.status == "ok" and audit.counts.downloaded == inv.object_count
