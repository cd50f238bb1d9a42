"""Scheduling decisions with a fake clock: first run full, then incremental from the watermark
minus the overlap, a periodic full export, a failed run keeps the watermark, an overlapping
run is skipped.  Nothing here sleeps: the clock moves when a test says so.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import structlog
from service_fakes import T0, FakeClock, FakeSource, folder_config

from daemon.core.errors import LockedError, SourceError
from daemon.core.locks import Lock, LockName
from daemon.core.state import open_state
from daemon.service.scheduler import CycleRunner
from daemon.sync.backup import CyclePlan, plan_cycle, run_cycle

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
OVERLAP = timedelta(seconds=300)


# --- the pure rule ------------------------------------------------------------------------------
@pytest.mark.parametrize(("watermark", "last_full", "force", "expected"), [
    (None, None, False, CyclePlan(True, None, "")),
    (T0, None, False, CyclePlan(True, None, "")),            # never a successful full one
    (T0, T0, False, CyclePlan(False, T0 - OVERLAP, "")),
    (T0 + 6 * DAY, T0, False, CyclePlan(False, T0 + 6 * DAY - OVERLAP, "")),
    (T0 + 7 * DAY, T0, False, CyclePlan(True, None, "")),     # weekly full due
    (T0, T0, True, CyclePlan(True, None, "")),
])
def test_plan_cycle(watermark: object, last_full: object, force: bool,
                    expected: CyclePlan) -> None:
    now = (watermark or T0) + HOUR  # type: ignore[operator]
    plan = plan_cycle(now=now, watermark=watermark, last_full=last_full,  # type: ignore[arg-type]
                      overlap=OVERLAP, full_every=7 * DAY, force_full=force)
    assert (plan.full, plan.updated_after) == (expected.full, expected.updated_after)
    assert plan.reason


def test_full_every_never_only_the_first_is_full() -> None:
    plan = plan_cycle(now=T0 + 400 * DAY, watermark=T0 + 399 * DAY, last_full=T0,
                      overlap=OVERLAP, full_every=None)
    assert not plan.full


# --- cycles on a fake clock ---------------------------------------------------------------------
def test_first_run_full_then_incremental_from_the_watermark_minus_overlap_then_weekly_full(
        tmp_path: Path) -> None:
    cfg = folder_config(tmp_path, schedule={"overlap_seconds": 300,
                                            "full_export_every": "weekly"})
    clock, source = FakeClock(), FakeSource()

    first = run_cycle(cfg, source=source, clock=clock)
    assert first.plan.full and source.calls == [None]

    clock.advance(HOUR)
    source.items["ITEM@123456789-3.zip"] = b"item 3 v2"
    source.changed = {"ITEM@123456789-3.zip"}
    second = run_cycle(cfg, source=source, clock=clock)
    assert not second.plan.full
    assert source.calls[1] == T0 - OVERLAP  # the first run's start, minus the overlap
    assert second.mirror is not None and tuple(second.mirror.uploaded) == ("ITEM@123456789-3.zip",)
    assert second.staging is not None and second.staging.unchanged == 1

    clock.advance(HOUR)
    run_cycle(cfg, source=source, clock=clock)
    assert source.calls[2] == T0 + HOUR - OVERLAP  # moved with the last success

    clock.advance(7 * DAY)
    weekly = run_cycle(cfg, source=source, clock=clock)
    assert weekly.plan.full and source.calls[3] is None
    clock.advance(HOUR)
    run_cycle(cfg, source=source, clock=clock)
    assert source.calls[4] == T0 + 2 * HOUR + 7 * DAY - OVERLAP
    with open_state(cfg.state.dir) as state:
        assert state.last_full_export == (T0 + 2 * HOUR + 7 * DAY).isoformat()
        assert [r.kind for r in state.runs(kind=None, limit=50) if r.kind != "mirror"] == [
            "incremental", "full", "incremental", "incremental", "full"]
        assert state.runs(kind="incremental")[0].updated_after == "2026-03-09T04:10:00Z"


def test_a_failed_cycle_keeps_the_watermark(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    clock, source = FakeClock(), FakeSource()
    run_cycle(cfg, source=source, clock=clock)
    clock.advance(HOUR)
    source.fail = "the DSpace CLI exited 1"
    with pytest.raises(SourceError):
        run_cycle(cfg, source=source, clock=clock)
    clock.advance(HOUR)
    source.fail = None
    run_cycle(cfg, source=source, clock=clock)
    assert source.calls == [None, T0 - OVERLAP, T0 - OVERLAP]
    with open_state(cfg.state.dir) as state:
        statuses = [r.status for r in state.runs(kind="incremental")]
        assert statuses == ["ok", "failed"]


def test_a_failed_first_full_export_is_retried_as_full(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    clock, source = FakeClock(), FakeSource()
    source.fail = "boom"
    with pytest.raises(SourceError):
        run_cycle(cfg, source=source, clock=clock)
    source.fail = None
    clock.advance(HOUR)
    assert run_cycle(cfg, source=source, clock=clock).plan.full
    assert source.calls == [None, None]


# --- one cycle at a time ------------------------------------------------------------------------
def test_an_overlapping_run_is_skipped_with_a_log_line(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    source = FakeSource()
    source.gate = threading.Event()
    done: list[str] = []
    runner = CycleRunner(lambda: cfg, clock=FakeClock(), source_factory=lambda c: source,
                         on_done=lambda kind, status, result: done.append(f"{kind} {status}"))
    first = threading.Thread(target=runner.run, name="first-cycle")
    first.start()
    try:
        assert source.entered.wait(10), "the first cycle never started"
        assert runner.running
        with structlog.testing.capture_logs() as logs:
            assert runner.run(trigger="schedule") is None
        assert runner.skipped == 1
        assert [e["event"] for e in logs] == ["schedule.run.skipped"]
        assert logs[0]["log_level"] == "warning"
    finally:
        source.gate.set()
        first.join(30)
    assert not first.is_alive()
    assert source.calls == [None], "the skipped run must not have exported"
    assert done == ["full ok"]
    assert runner.wait_idle(0) and not runner.running


def test_a_cycle_of_another_process_makes_the_runner_skip(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    source = FakeSource()
    runner = CycleRunner(lambda: cfg, clock=FakeClock(), source_factory=lambda c: source)
    with Lock(cfg.state.dir, LockName.CYCLE, purpose="aipsync backup (another process)"):
        with pytest.raises(LockedError):
            run_cycle(cfg, source=source, clock=FakeClock())
        assert runner.run() is None
    assert runner.skipped == 1 and source.calls == []


def test_a_failed_cycle_is_reported_and_does_not_raise(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    source = FakeSource()
    source.fail = "exited 1"
    done: list[tuple[str, str]] = []
    runner = CycleRunner(lambda: cfg, clock=FakeClock(), source_factory=lambda c: source,
                         on_done=lambda kind, status, result: done.append((kind, status)))
    assert runner.run() is None
    assert done == [("cycle", "failed")]
    source.fail = None
    assert runner.run() is not None
    assert done[-1] == ("full", "ok")


def test_a_stop_request_leaves_staging_and_watermark_alone(tmp_path: Path) -> None:
    cfg = folder_config(tmp_path)
    source = FakeSource()
    stop = threading.Event()
    stop.set()
    result = run_cycle(cfg, source=source, clock=FakeClock(), stop=stop)
    assert result.status == "stopped"
    assert not any(cfg.staging.dir.iterdir())
    with open_state(cfg.state.dir) as state:
        assert state.export_watermark is None
        assert state.last_run("full").status == "stopped"  # type: ignore[union-attr]


# --- the scheduled fixity audit ---------------------------------------------------------------
class FakeAudit:
    """Stands in for ``run_audit``: records its arguments, can block, fail or be busy."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.error: Exception | None = None

    def __call__(self, config: object, **kwargs: object) -> object:
        self.calls.append(kwargs)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30)
        if self.error is not None:
            raise self.error

        class Result:
            status = "ok"

        return Result()


def test_the_audit_runner_uses_the_schedule_and_reports(tmp_path: Path) -> None:
    from daemon.service.scheduler import AuditRunner

    deep = folder_config(tmp_path, schedule={"audit_cron": "30 4 * * 0", "audit_deep": True,
                                             "audit_sample_percent": 10.0})
    fake = FakeAudit()
    done: list[str] = []
    runner = AuditRunner(lambda: deep, on_done=lambda s, _r: done.append(s), audit=fake)
    assert runner.run() is not None and done == ["ok"]
    assert fake.calls[0]["deep"] is True and fake.calls[0]["sample_percent"] == 10.0
    assert fake.calls[0]["trigger"] == "schedule"
    shallow = folder_config(tmp_path / "b", schedule={"audit_cron": "30 4 * * 0"})
    runner = AuditRunner(lambda: shallow, audit=fake)
    runner.run()
    assert fake.calls[1]["deep"] is False and fake.calls[1]["sample_percent"] is None


def test_the_audit_runner_skips_overlaps_and_swallows_errors(tmp_path: Path) -> None:
    from daemon.service.scheduler import AuditRunner

    config = folder_config(tmp_path)
    fake = FakeAudit()
    fake.gate = threading.Event()
    done: list[str] = []
    runner = AuditRunner(lambda: config, on_done=lambda s, _r: done.append(s), audit=fake)
    first = threading.Thread(target=runner.run)
    first.start()
    try:
        assert fake.entered.wait(10)
        with structlog.testing.capture_logs() as logs:
            assert runner.run() is None
        assert runner.skipped == 1
        assert any(e["event"] == "schedule.audit.skipped" for e in logs)
    finally:
        fake.gate.set()
        first.join(10)
    fake.gate = None
    fake.error = LockedError(path="audit.lock", holder="someone")
    assert runner.run() is None and runner.skipped == 2
    fake.error = SourceError(source="x", detail="boom")
    assert runner.run() is None and done[-1] == "error"
    fake.error = RuntimeError("a bug")
    assert runner.run() is None and done[-1] == "error"
    stop = threading.Event()
    stop.set()
    calls = len(fake.calls)
    assert AuditRunner(lambda: config, stop=stop, audit=fake).run() is None
    assert len(fake.calls) == calls


def test_the_scheduler_adds_the_audit_job_only_with_audit_cron(tmp_path: Path) -> None:
    from daemon.service.scheduler import AUDIT_JOB, Scheduler

    config = folder_config(tmp_path, schedule={"audit_cron": "30 4 * * 0"})
    runner = CycleRunner(lambda: config, source_factory=lambda c: FakeSource())  # type: ignore[arg-type,return-value]
    calls: list[int] = []
    sched = Scheduler(runner, config.schedule, audit=lambda: calls.append(1))
    sched.start()
    try:
        job = sched.job(AUDIT_JOB)
        assert job is not None and job.name == "fixity audit"
        job.func()
        assert calls == [1]
        without = folder_config(tmp_path / "b").schedule
        sched.reschedule(without)
        assert sched.job(AUDIT_JOB) is None
    finally:
        sched.shutdown(wait=True)
