"""Backup cycles end to end against real targets: moto's S3 server on 127.0.0.1 and a folder.

Every test here runs against both targets (the ``env`` fixture).  Request counts come from the
targets' ``requests`` counters (for S3: HTTP requests actually sent), so "lists nothing"
means no listing left the process.  The repository is a real, seeded embedded repository
exported by the real packager; edits go through the ``repo`` CLI.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from helpers import PROJECT_ROOT, wait_for
from service_support import SITE_FILE, BackupEnv, handle_of

from daemon.core.state import open_state
from daemon.sync.backup import run_cycle


def test_first_run_uploads_every_aip(env: BackupEnv) -> None:
    result = run_cycle(env.config())

    assert result.status == "ok" and result.plan.full
    staged = env.staged()
    assert SITE_FILE in staged and len(staged) >= 10
    assert set(result.staging.staged) == set(staged)
    assert set(result.mirror.uploaded) == set(staged)
    for name, sha in staged.items():
        assert env.remote_sha256(name) == sha, name
    assert env.snapshot_ids() == [result.snapshot_id]
    assert env.snapshot_entries(result.snapshot_id) == staged
    assert not list(env.staging.glob(".aipsync-tmp-*")), "the export folder was left behind"
    with open_state(env.state_dir) as state:
        assert state.export_watermark is not None
        assert state.last_full_export == state.export_watermark
        run = state.last_run("full")
        assert run is not None and run.status == "ok"
        assert run.counts.uploaded == len(staged) and run.snapshot_id == result.snapshot_id


def test_editing_one_item_uploads_exactly_that_aip(env: BackupEnv) -> None:
    first = run_cycle(env.config())
    before = env.staged()
    item = env.staged_items()[2]
    env.edit_item(handle_of(item), "A title changed after the first backup")

    tgt = env.target()
    result = run_cycle(env.config(), target=tgt)

    assert not result.plan.full and result.plan.updated_after is not None
    assert item in result.staging.staged
    # Containers were exported again (updatedAfter only filters Items) but hash the same.
    assert any(n.startswith("COLLECTION@") for n in result.staging.staged)
    assert tuple(result.mirror.uploaded) == (item,)
    after = env.staged()
    assert {n for n in after if after[n] != before[n]} == {item}
    assert env.remote_sha256(item) == after[item]
    assert tgt.requests["PutObject"] == 2, dict(tgt.requests)  # the AIP and the inventory
    assert result.snapshot_id != first.snapshot_id
    assert env.snapshot_ids()[0] == result.snapshot_id
    assert env.snapshot_entries(result.snapshot_id) == after


def test_restart_with_nothing_changed_uploads_nothing_and_lists_nothing(env: BackupEnv) -> None:
    first = run_cycle(env.config())

    tgt = env.target()  # a new process opens a new client
    result = run_cycle(env.config(), target=tgt)

    assert result.status == "ok" and not result.plan.full
    assert tuple(result.mirror.uploaded) == ()
    assert not result.mirror.snapshot_written
    assert result.snapshot_id == first.snapshot_id
    assert sum(tgt.requests.values()) == 0, dict(tgt.requests)
    assert env.snapshot_ids() == [first.snapshot_id]


def test_full_export_removes_staged_aips_of_deleted_objects_incremental_never(
        env: BackupEnv) -> None:
    first = run_cycle(env.config())
    gone = env.staged_items()[0]
    env.delete(handle_of(gone))

    incremental = run_cycle(env.config())
    assert not incremental.plan.full
    assert gone in env.staged(), "an incremental run must never remove a staged AIP"
    assert incremental.staging.removed == ()

    full = run_cycle(env.config(), force_full=True)
    assert full.plan.full and full.staging.removed == (gone,)
    assert gone not in env.staged()
    # The target keeps it (a backup never deletes by default); it drops out of the snapshot.
    assert env.remote_sha256(gone) is not None
    assert gone in env.snapshot_entries(first.snapshot_id)
    assert gone not in env.snapshot_entries(full.snapshot_id)
    assert set(env.snapshot_entries(full.snapshot_id)) == set(env.staged())


def test_weekly_full_export_follows_the_schedule(env: BackupEnv) -> None:
    cfg = env.config(schedule={"full_export_every": "1d"})
    assert run_cycle(cfg).plan.full
    assert not run_cycle(cfg).plan.full
    with open_state(env.state_dir) as state:  # pretend the last full export is 2 days old
        state.set_meta("last_full_export", "2000-01-01T00:00:00+00:00")
    assert run_cycle(cfg).plan.full


def test_kill_9_mid_run_keeps_the_previous_snapshot_and_the_next_run_completes_it(
        env: BackupEnv) -> None:
    first = run_cycle(env.config())
    items = env.staged_items()[:4]
    for n, item in enumerate(items):
        env.edit_item(handle_of(item), f"Edited before the killed run {n}")
    old = {item: env.remote_sha256(item) for item in items}
    # A slow link (2 KB/s, one transfer at a time) so the run is surely mid-way when killed.
    slow = env.write_config(env.root / "slow.toml",
                            target={"bandwidth_limit": 2000, "transfers": 1})
    proc = subprocess.Popen([sys.executable, "-m", "daemon", "backup", "--config", str(slow)],
                            cwd=PROJECT_ROOT, env=env.subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        def one_uploaded() -> bool:
            return any(env.remote_sha256(i) not in (None, old[i]) for i in items)

        wait_for(one_uploaded, timeout=60, what="the first upload of the killed run")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            stream.close()

    changed = [i for i in items if env.remote_sha256(i) != old[i]]
    assert 1 <= len(changed) < len(items), "the kill did not land mid-run"
    assert env.snapshot_ids()[0] == first.snapshot_id, "a killed run must not commit"
    with open_state(env.state_dir) as state:
        assert state.newest_snapshot == first.snapshot_id

    result = run_cycle(env.config())

    assert result.status == "ok" and not result.plan.full
    staged = env.staged()
    # The rest of the edited items, and nothing else.  An item the killed run had sent but
    # not yet recorded (killed between the PUT and the state write) is sent again: the state
    # database, not the target, is what a run trusts.
    assert set(items) - set(changed) <= set(result.mirror.uploaded) <= set(items)
    assert env.snapshot_ids()[0] == result.snapshot_id != first.snapshot_id
    assert env.snapshot_entries(result.snapshot_id) == staged
    with open_state(env.state_dir) as state:
        cycles = state.runs(kind="incremental")
        assert [r.status for r in cycles] == ["ok", "failed"]  # the killed one, closed
        assert "interrupted" in (cycles[1].error or "")
        assert state.runs(kind="mirror")[1].status == "failed"


def test_an_unchanged_repository_is_not_exported_again(env: BackupEnv) -> None:
    """An incremental cycle over a repository nothing wrote to since the last export skips
    the export (its change counter is the one the export saw); an edit brings it back."""
    run_cycle(env.config())
    stat_before = {p.name: p.stat().st_mtime_ns for p in env.staging.glob("*.zip")}
    quiet = run_cycle(env.config())
    assert not quiet.plan.full and list(quiet.staging.staged) == []
    assert {p.name: p.stat().st_mtime_ns for p in env.staging.glob("*.zip")} == stat_before
    item = env.staged_items()[1]
    env.edit_item(handle_of(item), "Edited after a quiet cycle")
    edited = run_cycle(env.config())
    assert item in edited.staging.staged and tuple(edited.mirror.uploaded) == (item,)


def test_an_export_that_does_not_reach_staging_is_exported_again(env: BackupEnv) -> None:
    """The counter is forgotten when the export fails on its way into staging, so the next
    incremental cycle exports again instead of trusting staging."""
    run_cycle(env.config())
    item = env.staged_items()[0]
    env.edit_item(handle_of(item), "Edited before a failed cycle")
    blocker = env.staging / item
    blocker.unlink()
    blocker.mkdir()  # the move into staging fails on a folder of that name
    try:
        run_cycle(env.config())
    except Exception:
        pass
    else:
        raise AssertionError("the cycle should have failed")
    blocker.rmdir()
    again = run_cycle(env.config())
    assert item in again.staging.staged
