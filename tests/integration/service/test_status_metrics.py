"""``status --json`` (its shape, and that it reads without side effects) and the Prometheus
endpoint on 127.0.0.1 (real HTTP, the metric names, figures read from the state database).
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from helpers import wait_for
from service_support import BackupEnv

from aip import cli as aip_cli
from daemon.cli import add_daemon_commands
from daemon.core.config import ScheduleConfig
from daemon.core.state import STATE_FILE_NAME
from daemon.service.metrics import METRIC_NAMES, Metrics
from daemon.service.scheduler import CycleRunner, Scheduler, schedule_interval
from daemon.service.status import STATUS_FORMAT
from daemon.sync.backup import run_cycle

RUN_KEYS = {"id", "kind", "status", "started_at", "finished_at", "updated_after",
            "objects_seen", "uploaded", "unchanged", "failed", "bytes_uploaded", "snapshot_id",
            "error"}


def status_json(config_file: Path) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    rc = aip_cli.run(["status", "--config", str(config_file), "--json"], out=out, err=err,
                     extra=add_daemon_commands)
    assert rc == 0, err.getvalue()
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_status_json_shape(folder_env: BackupEnv) -> None:
    cfg_file = folder_env.write_config()
    before = status_json(cfg_file)
    assert not (folder_env.state_dir / STATE_FILE_NAME).exists(), "status must not create state"
    assert before["format"] == STATUS_FORMAT and before["last_run"] is None
    assert before["recovery_point"] is None and before["daemon"]["running"] is False

    first = run_cycle(folder_env.config())
    (folder_env.staging / "ITEM@123456789-99.zip").write_bytes(b"not uploaded yet")
    doc = status_json(cfg_file)

    assert set(doc) == {"format", "generated_at", "config", "target", "staging_dir",
                        "state_dir", "daemon", "last_run", "last_success",
                        "last_mirror_success", "export_watermark", "last_full_export",
                        "recovery_point", "pending", "failed", "staged", "last_audit",
                        "last_restore", "source"}
    assert doc["last_audit"] is None and doc["last_restore"] is None
    assert doc["source"] == {}  # the embedded repository: nothing to tell (DSpace: its version)
    assert set(doc["last_run"]) == RUN_KEYS and set(doc["last_success"]) == RUN_KEYS
    assert doc["last_success"]["kind"] == "full" and doc["last_success"]["status"] == "ok"
    assert doc["last_success"]["snapshot_id"] == first.snapshot_id
    rp = doc["recovery_point"]
    assert set(rp) == {"snapshot_id", "created_at", "age_seconds", "objects", "bytes"}
    assert rp["snapshot_id"] == first.snapshot_id and rp["age_seconds"] >= 0
    assert rp["objects"] == len(first.mirror.uploaded)
    assert doc["pending"] == {"count": 1, "files": ["ITEM@123456789-99.zip"]}
    assert doc["failed"] == {"count": 0, "uploads": []}
    assert doc["staged"] == rp["objects"] + 1
    assert doc["target"] == folder_env.url and doc["export_watermark"]


def test_status_never_shows_a_secret(folder_env: BackupEnv) -> None:
    cfg = folder_env.tables()
    cfg["target"] = {"url": "s3://bucket/prefix", "access_key_id": "AKIAEXAMPLEKEY",
                     "secret_access_key": "wJalrXUtnFEMI-very-secret"}
    from service_support import to_toml

    path = folder_env.root / "secret.toml"
    path.write_text(to_toml(cfg))
    path.chmod(0o600)
    text = json.dumps(status_json(path))
    assert "very-secret" not in text and "AKIAEXAMPLEKEY" not in text


def test_metrics_endpoint_on_loopback(folder_env: BackupEnv) -> None:
    cfg = folder_env.config()
    metrics = Metrics(lambda: cfg, schedule_interval=schedule_interval)
    port = metrics.start_server("127.0.0.1", 0)
    try:
        result = run_cycle(cfg)
        metrics.observe_cycle(result.plan.kind, result.status,
                              exported=len(result.staging.staged),
                              uploaded=len(result.mirror.uploaded),
                              bytes_uploaded=result.mirror.bytes_uploaded)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                      timeout=10).read().decode()
    finally:
        metrics.stop_server()
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in text, name
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("aipsync_") and " " in line}
    assert samples['aipsync_runs_total{kind="full",status="ok"}'] == 1
    assert samples["aipsync_uploaded_objects_total"] == len(result.mirror.uploaded)
    assert samples["aipsync_uploaded_bytes_total"] == result.mirror.bytes_uploaded
    assert samples["aipsync_pending_uploads"] == 0 and samples["aipsync_failed_uploads"] == 0
    assert 0 <= samples["aipsync_snapshot_age_seconds"] < 600
    assert samples["aipsync_last_success_timestamp_seconds"] > 1.7e9
    assert samples["aipsync_up"] == 1
    # what the last successful cycle uploaded, read back from the state database
    assert samples["aipsync_last_success_uploaded_objects"] == len(result.mirror.uploaded) > 0
    assert samples["aipsync_last_success_uploaded_bytes"] == result.mirror.bytes_uploaded > 0
    staged = [p for p in folder_env.staging.iterdir() if p.name.endswith(".zip")]
    assert samples["aipsync_staged_objects"] == len(staged) > 0
    assert samples["aipsync_staged_bytes"] == sum(p.stat().st_size for p in staged)
    assert samples["aipsync_schedule_interval_seconds"] == cfg.schedule.interval_minutes * 60
    # each known label starts at 0, so increase() sees the first failure (and audit)
    for stage in ("cycle", "mirror", "audit"):
        assert samples[f'aipsync_failures_total{{stage="{stage}"}}'] == 0
    for status in ("ok", "warning", "failed", "error", "stopped"):
        assert samples[f'aipsync_audits_total{{status="{status}"}}'] == 0


def test_schedule_interval_is_the_gap_before_now() -> None:
    """The interval the staleness alert doubles: the configured minutes, or the gap between
    the cron expression's last two fire times (local time, as the scheduler fires)."""
    def local(*args: int) -> datetime:
        return datetime(*args).astimezone()  # type: ignore[arg-type]

    day = 86400.0
    assert schedule_interval(ScheduleConfig(interval_minutes=90), local(2026, 6, 9)) == 5400
    weekdays = ScheduleConfig(cron="15 2 * * mon-fri")
    assert schedule_interval(weekdays, local(2026, 6, 9, 3, 0)) == day  # Tuesday
    assert schedule_interval(weekdays, local(2026, 6, 8, 3, 0)) == 3 * day  # Monday
    assert schedule_interval(weekdays, local(2026, 6, 8, 2, 0)) == day  # Monday, before 02:15
    assert schedule_interval(ScheduleConfig(cron="*/5 * * * *"), local(2026, 6, 9, 3, 2)) == 300
    monthly = ScheduleConfig(cron="0 3 1 * *")
    assert schedule_interval(monthly, local(2026, 6, 9)) == 31 * day  # 1 May to 1 June
    # a cron that never fired twice in the last 400 days has no interval (no alert from it)
    assert schedule_interval(ScheduleConfig(cron="0 0 29 2 *"), local(2026, 6, 9)) is None


def test_apscheduler_skips_a_run_that_would_overlap(folder_env: BackupEnv) -> None:
    """The real BackgroundScheduler with a 0.2 s interval and a cycle held open."""
    from apscheduler.triggers.interval import IntervalTrigger

    cfg = folder_env.config()
    gate, entered = threading.Event(), threading.Event()

    class Held:
        name = "held source"

        def export(self, out_dir: Path, *, updated_after: Any, stop: Any = None,
                   staged: Any = ()) -> Any:
            entered.set()
            assert gate.wait(30)
            from daemon.source.embedded import EmbeddedSource

            return EmbeddedSource(cfg).export(out_dir, updated_after=updated_after)

        def ingest(self, spec: Any, *, stop: Any = None) -> Any:
            raise NotImplementedError

    runner = CycleRunner(lambda: cfg, source_factory=lambda c: Held())  # type: ignore[arg-type,return-value]
    sched = Scheduler(runner, cfg.schedule, run_now=True,
                      trigger=IntervalTrigger(seconds=0.2))
    sched.start()
    try:
        job = sched.job("backup")
        assert job.max_instances == 1 and job.coalesce is True
        assert entered.wait(20), "the first cycle never started"
        wait_for(lambda: sched.skipped >= 1, timeout=20, what="a skipped overlapping run")
    finally:
        gate.set()
        sched.shutdown(wait=True)
    assert runner.completed >= 1
