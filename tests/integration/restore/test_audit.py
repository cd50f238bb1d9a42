"""The fixity audit (``aipsync verify``, the scheduled audit) against moto S3 and a folder.

What it must find: a key gone from the target (missing, 82), bytes that changed (corrupted,
82: by size and stored SHA-256 without a download, by re-hashing with ``--deep``), an object
of the repository with no copy in the snapshot (not backed up, 102); and where its results go:
the state database (``status``), the metrics, the log.
"""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
import structlog
from helpers import PREFIX, repo_cli, wait_for
from restore_support import BackupEnv, aipsync, collections_with_items, remove

from aip import constants as C
from daemon.audit import run_audit
from daemon.core.errors import SnapshotNotFoundError
from daemon.core.state import open_state
from daemon.service.metrics import Metrics
from daemon.service.scheduler import AuditRunner
from daemon.sync.backup import run_cycle


def test_a_clean_backup_passes_every_check(env: BackupEnv) -> None:
    config_file = env.write_config()
    first = run_cycle(env.config())
    tgt = env.target()

    result = run_audit(env.config(), target=tgt)

    objects = len(env.staged())
    assert result.status == "ok" and result.exit_code == 0
    assert result.snapshot.id == first.snapshot_id
    assert result.counts.checked == objects and result.counts.downloaded == 0
    assert result.extent_checked and result.extent_objects == objects
    assert tgt.requests["GetObject"] == 1  # the inventory: metadata checks download nothing
    assert tgt.requests["HeadObject"] >= objects

    deep = json.loads(aipsync("verify", "--config", str(config_file), "--deep", "--json",
                              expect=0).out)
    assert deep["status"] == "ok" and deep["downloaded"] == objects
    assert deep["bytes_read"] == sum(p.stat().st_size for p in env.staging.glob("*.zip"))
    assert not list(env.config().restore_dir.rglob("*.zip")), "the audit's downloads are gone"


def test_missing_keys_and_objects_not_backed_up(env: BackupEnv) -> None:
    config_file = env.write_config()
    run_cycle(env.config())
    item = collections_with_items(env)[f"{PREFIX}/3"][0]
    key = f"ITEM@{item.replace('/', '-')}.zip"
    # a new item after the snapshot: the extent audit says it has no copy yet (a warning)
    new_item = repo_cli(env.repo, "create-item", "--collection", f"{PREFIX}/2", "--title",
                        "Made after the backup").last
    warned = aipsync("verify", "--config", str(config_file), expect=C.EXIT_WARN_AUDIT)
    new_key = f"ITEM@{new_item.replace('/', '-')}.zip"
    assert f"not_backed_up  {new_key}" in warned.out
    assert warned.out.splitlines()[-1].endswith(": warning")

    remove(env, key)
    failed = aipsync("verify", "--config", str(config_file), "--json",
                     expect=C.EXIT_AUDIT_FAILED)
    doc = json.loads(failed.out)
    assert doc["status"] == "failed" and doc["missing"] == 1 and doc["not_backed_up"] == 1
    assert {(p["kind"], p["key"]) for p in doc["problems"]} == {
        ("missing", key), ("not_backed_up", new_key)}
    with open_state(env.state_dir) as state:
        audit = state.last_audit()
    assert audit is not None and audit.status == "failed"
    assert audit.counts.missing == 1 and audit.counts.not_backed_up == 1
    assert {p["key"] for p in audit.problems} == {key, new_key}

    # the audit handed the missing key back to the mirror: the next cycle uploads it again
    # (and backs up the new item); the backup is whole again
    cycle = run_cycle(env.config())
    assert cycle.mirror is not None and {key, new_key} <= set(cycle.mirror.uploaded)
    again = run_audit(env.config(), deep=True)
    assert again.status == "ok", again.problems


def test_sampling_is_deterministic_per_seed(folder_env: BackupEnv) -> None:
    env = folder_env
    run_cycle(env.config())
    objects = len(env.staged())
    a = run_audit(env.config(), sample_percent=30, seed=7)
    b = run_audit(env.config(), sample_percent=30, seed=7)
    assert a.deep and a.seed == 7 and a.counts.downloaded == -(-objects * 30 // 100)
    assert a.counts.bytes_read == b.counts.bytes_read
    c = run_audit(env.config(), sample_percent=30)
    assert c.seed != 7 and c.counts.downloaded == a.counts.downloaded


def test_an_unknown_snapshot_and_a_busy_audit(folder_env: BackupEnv) -> None:
    env = folder_env
    config_file = env.write_config()
    aipsync("verify", "--config", str(config_file), expect=C.EXIT_SNAPSHOT_NOT_FOUND)
    run_cycle(env.config())
    with pytest.raises(SnapshotNotFoundError):
        run_audit(env.config(), snapshot_id="20000101T000000Z-000000")
    aipsync("verify", "--config", str(config_file), "--sample", "0", expect=C.EXIT_USAGE)
    from daemon.core.locks import Lock, LockName

    with Lock(env.state_dir, LockName.AUDIT):
        aipsync("verify", "--config", str(config_file), expect=C.EXIT_LOCKED)


def test_the_scheduled_audit_feeds_status_and_metrics(folder_env: BackupEnv,
                                                      all_log_levels: None) -> None:
    env = folder_env
    config = env.config(schedule={"audit_cron": "30 4 * * 0", "audit_deep": True,
                                  "audit_sample_percent": 50.0})
    run_cycle(config)
    metrics = Metrics(lambda: config)
    seen: list[str] = []

    def done(status: str, _result: object) -> None:
        seen.append(status)
        metrics.observe_audit(status)

    runner = AuditRunner(lambda: config, stop=threading.Event(), on_done=done)
    with structlog.testing.capture_logs() as logs:
        result = runner.run()
    assert result is not None and result.trigger == "schedule" and result.deep
    assert result.sample_percent == 50.0 and seen == ["ok"]
    events = [e["event"] for e in logs]
    assert "audit.start" in events and "audit.done" in events

    # a damaged key: the next scheduled audit fails, and says so everywhere
    key = sorted(env.staged())[0]
    remove(env, key)
    with structlog.testing.capture_logs() as logs:
        failed = runner.run()
    assert failed is not None and failed.status == "failed" and seen == ["ok", "failed"]
    missing = [e for e in logs if e["event"] == "audit.object.missing"]
    assert missing and missing[0]["key"] == key and missing[0]["log_level"] == "error"

    status = json.loads(aipsync("status", "--config", str(env.write_config()), "--json",
                                expect=0).out)
    last = status["last_audit"]
    assert last["status"] == "failed" and last["trigger"] == "schedule"
    assert last["missing"] == 1 and last["checked"] == len(env.staged())
    assert last["problems"][0]["key"] == key

    port = metrics.start_server("127.0.0.1", 0)
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=10).read().decode()
    finally:
        metrics.stop_server()
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("aipsync_") and " " in line}
    assert samples["aipsync_audit_failures"] == 1
    assert samples["aipsync_audit_objects_checked"] == len(env.staged())
    assert samples["aipsync_audit_last_timestamp_seconds"] > 1.7e9
    assert samples['aipsync_audits_total{status="failed"}'] == 1
    assert samples['aipsync_audits_total{status="ok"}'] == 1


def test_the_daemon_schedules_the_audit_and_counts_it(folder_env: BackupEnv) -> None:
    """The service wires ``schedule.audit_cron`` to the real audit: its job audits the newest
    snapshot and the metrics count it (the job is run by hand here: cron fires at most once
    a minute)."""
    import io
    import socket

    from daemon.service.lifecycle import Service
    from daemon.service.scheduler import AUDIT_JOB

    env = folder_env
    run_cycle(env.config())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg_file = env.write_config(schedule={"audit_cron": "30 4 * * 0"},
                                metrics={"enabled": True, "port": port})
    service = Service(cfg_file, environ={}, install_signals=False, log_stream=io.StringIO())
    thread = threading.Thread(target=service.run, name="test-service")
    thread.start()
    try:
        job = wait_for(lambda: service._scheduler is not None
                       and service._scheduler.job(AUDIT_JOB), timeout=20,
                       what="the audit job")
        assert job.name == "fixity audit" and job.next_run_time is not None
        job.func()
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=10).read().decode()
    finally:
        service.request_stop()
        thread.join(30)
    assert not thread.is_alive()
    assert 'aipsync_audits_total{status="ok"} 1.0' in text
    assert "aipsync_audit_failures 0.0" in text
    with open_state(env.state_dir) as state:
        audit = state.last_audit()
    assert audit is not None and audit.trigger == "schedule" and audit.status == "ok"
