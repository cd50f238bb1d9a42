"""When backup cycles run: APScheduler 3.x in the background, one cycle at a time.

Owns: ``schedule_zone`` (``schedule.timezone``, or the server's zone), ``build_trigger``
(``schedule.cron``, five fields read in that zone, or every ``schedule.interval_minutes``),
``CycleRunner`` (runs ``daemon.sync.backup.run_cycle`` with
the current configuration, the injected clock and the service's stop event; a call while a
cycle is running is skipped with a ``schedule.run.skipped`` line, never queued), and
``Scheduler`` (a ``BackgroundScheduler`` whose backup job has ``max_instances=1`` and
``coalesce=True``, so a run that would overlap the previous one is skipped and runs missed
while the machine slept collapse into one late run; ``misfire_grace_time=None`` because a
late backup is better than none).  A cycle runs at start-up when none ever succeeded (the
first full site export) or when a scheduled one was missed while the daemon was down
(``missed_run``, which reads the cron expression in the same zone as the trigger, so a
server not on UTC neither runs a spurious catch-up cycle nor misses one); later ones follow
the trigger.  ``schedule_interval`` is the time between the trigger's last two fire times
(the metrics serve it; the staleness alert doubles it).

Each cycle and audit runs inside the service's ``Monitor`` step (its progress proves it is
not stuck, and shows in the log and in ``STATUS=``) and tells the ``[notify]`` hooks
(``daemon.service.hooks``).

The fixity audit (``schedule.audit_cron``) runs as a second job: ``AuditRunner`` calls
``daemon.audit.run_audit`` with ``schedule.audit_deep`` and ``schedule.audit_sample_percent``
on the current configuration (one audit at a time; a run that would overlap is skipped with a
log line) and reports the outcome to the service (metrics); the audit itself records its
result in the state database (``status``) and the log.

Must not: sleep or read the wall clock for decisions (``daemon.sync.backup`` decides with the
injected ``Clock``), or let an exception from a cycle escape into APScheduler (each is logged
and counted; the next run tries again).
"""

from __future__ import annotations

import contextlib
import threading
import zoneinfo
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

import structlog
import tzlocal
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aip import constants as C
from aip.errors import AipError
from daemon.audit import AuditResult, run_audit
from daemon.core.clock import Clock, SystemClock
from daemon.core.config import Config, ScheduleConfig
from daemon.core.cron import cron_fields
from daemon.core.errors import LockedError
from daemon.service.health import Monitor
from daemon.service.hooks import Hooks
from daemon.source import open_source
from daemon.source.base import Source
from daemon.sync.backup import CycleResult, run_cycle

__all__ = [
    "AUDIT_JOB",
    "BACKUP_JOB",
    "AuditRunner",
    "Clock",
    "CycleRunner",
    "Scheduler",
    "SystemClock",
    "build_trigger",
    "missed_run",
    "schedule_interval",
    "schedule_zone",
]

log = structlog.get_logger(__name__)

BACKUP_JOB = "backup"
AUDIT_JOB = "audit"
#: How often a waiting cycle checks the stop event while another job holds the work lock.
_WAIT_STEP = 0.5


def schedule_zone(schedule: ScheduleConfig) -> tzinfo:
    """The zone cron expressions are read in: ``schedule.timezone``, else the server's
    (``TZ``, else ``/etc/localtime``; what ``tzlocal`` finds, as APScheduler itself does)."""
    if schedule.timezone:
        return zoneinfo.ZoneInfo(schedule.timezone)
    zone: tzinfo = tzlocal.get_localzone()
    return zone


def build_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """The backup job's trigger: the cron expression (in ``schedule_zone``), or the
    interval."""
    if schedule.cron:
        return CronTrigger(**cron_fields(schedule.cron, "schedule.cron"),
                           timezone=schedule_zone(schedule))
    return IntervalTrigger(minutes=schedule.interval_minutes)


def missed_run(schedule: ScheduleConfig, last_success: datetime | None,
               now: datetime) -> bool:
    """True when a scheduled cycle should have run since ``last_success`` (e.g. the daemon
    was down), so the service runs one at start-up instead of waiting for the next slot.
    Pure.

    Args:
        schedule: the ``[schedule]`` table.
        last_success: start of the last successful cycle (None: never, which counts as
            missed).
        now: the current time (timezone-aware).
    """
    if last_success is None:
        return True
    if schedule.cron:
        # The trigger's own zone: read in UTC (``now``'s zone), "02:15" would be another hour
        # than the one the trigger fires at.
        due = build_trigger(schedule).get_next_fire_time(None, last_success)
        return due is not None and due <= now
    return now - last_success >= timedelta(minutes=schedule.interval_minutes)


#: How far back ``schedule_interval`` looks for the last two fire times of a cron schedule,
#: the shortest window first (an every-minute cron costs 60 steps, a monthly one a few).
_LOOKBACK = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=62),
             timedelta(days=400))


def schedule_interval(schedule: ScheduleConfig, now: datetime) -> float | None:
    """The time between the last two scheduled backup cycles before ``now``, in seconds.

    ``schedule.interval_minutes`` as it is; for ``schedule.cron``, the gap between the two
    latest fire times of ``build_trigger``'s trigger, so a cron of weekdays only gives three
    days on Monday and one day on Tuesday: the alert "recovery point older than twice the
    schedule" (``deploy/prometheus/aipsync-rules.yml``) then neither fires every weekend nor
    waits a week on a Wednesday.  Pure.

    Args:
        schedule: the ``[schedule]`` table.
        now: the current time (timezone-aware).

    Returns:
        Seconds, or None when the cron expression fired fewer than twice in the last 400 days.
    """
    if not schedule.cron:
        return float(schedule.interval_minutes * 60)
    trigger = build_trigger(schedule)
    for window in _LOOKBACK:
        last: deque[datetime] = deque(maxlen=2)
        fire = trigger.get_next_fire_time(None, now - window)
        while fire is not None and fire <= now:
            last.append(fire)
            fire = trigger.get_next_fire_time(fire, fire)
        if len(last) == 2:
            return (last[1] - last[0]).total_seconds()
    return None


AuditCallback = Callable[[str, AuditResult | None], None]
#: The service's workers as ``Monitor`` knows them.
BACKUP_WORKER = "backup"
AUDIT_WORKER = "audit"


def _step(monitor: Monitor | None, worker: str, what: str
          ) -> contextlib.AbstractContextManager[None]:
    return monitor.step(worker, what) if monitor is not None else contextlib.nullcontext()


class AuditRunner:
    """Runs the scheduled fixity audit, one at a time; never lets an error escape.

    Args:
        config: returns the current configuration (it changes on reload).
        stop: the service's stop event (the audit stops between objects when it is set).
        on_done: called with (status, result) after each audit; status is the audit's
            (``ok``, ``warning``, ``failed``, ``stopped``) or ``error`` when it could not run.
        audit: the audit function (tests inject a fake).
        monitor: the service's ``Monitor`` (each audit is a step of the ``audit`` worker).
    """

    def __init__(self, config: Callable[[], Config], *, stop: threading.Event | None = None,
                 on_done: AuditCallback | None = None,
                 audit: Callable[..., AuditResult] | None = None,
                 monitor: Monitor | None = None) -> None:
        self._config = config
        self._monitor = monitor
        self._stop = stop or threading.Event()
        self._on_done = on_done
        self._audit = audit or run_audit
        self._guard = threading.Lock()
        self.skipped = 0
        self.completed = 0

    def run(self) -> AuditResult | None:
        """Audit the newest snapshot now (skipped, returning None, if one is running)."""
        if not self._guard.acquire(blocking=False):
            self.skipped += 1
            log.warning("schedule.audit.skipped", reason="the previous audit is still running")
            return None
        try:
            if self._stop.is_set():
                return None
            config = self._config()
            schedule = config.schedule
            try:
                with _step(self._monitor, AUDIT_WORKER, "fixity audit"), \
                        Hooks(config.notify).watch("audit") as hook:
                    result = self._audit(
                        config, deep=schedule.audit_deep,
                        sample_percent=schedule.audit_sample_percent if schedule.audit_deep
                        else None, trigger="schedule", stop=self._stop)
                    hook.finish(result)
            except LockedError as exc:
                self.skipped += 1
                log.warning("schedule.audit.skipped", reason=str(exc))
                return None
            except AipError as exc:  # logged by run_audit (audit.failed)
                log.debug("schedule.audit.failed", exit_code=exc.exit_code)
                self._done("error", None)
                return None
            except Exception as exc:
                log.exception("audit.crashed", error=str(exc), msgid=type(exc).__qualname__,
                              exit_code=C.EXIT_UNEXPECTED)
                self._done("error", None)
                return None
            self.completed += 1
            self._done(result.status, result)
            return result
        finally:
            self._guard.release()

    def _done(self, status: str, result: AuditResult | None) -> None:
        if self._on_done is None:
            return
        try:
            self._on_done(status, result)
        except Exception as exc:
            log.warning("schedule.callback.failed", error=str(exc))


CycleCallback = Callable[[str, str, CycleResult | None], None]


class CycleRunner:
    """Runs one backup cycle at a time; an overlapping call is skipped with a log line.

    Args:
        config: returns the current configuration (it changes on reload).
        clock: the clock handed to each cycle.
        stop: the service's stop event (a set event stops the cycle at a safe point).
        work_lock: held for the whole cycle, shared with the watcher's mirror runs so an
            export and a watcher-triggered mirror never interleave.
        source_factory: makes the source for a configuration (tests inject fakes).
        on_done: called with (kind, status, result) after each cycle; status is ``ok``,
            ``stopped`` or ``failed``.
        monitor: the service's ``Monitor`` (each cycle, its wait for the work lock included,
            is a step of the ``backup`` worker).
    """

    def __init__(self, config: Callable[[], Config], *, clock: Clock | None = None,
                 stop: threading.Event | None = None,
                 work_lock: threading.Lock | None = None,
                 source_factory: Callable[[Config], Source] = open_source,
                 on_done: CycleCallback | None = None,
                 monitor: Monitor | None = None) -> None:
        self._config = config
        self._monitor = monitor
        self._clock = clock or SystemClock()
        self._stop = stop or threading.Event()
        self._work = work_lock or threading.Lock()
        self._source_factory = source_factory
        self._on_done = on_done
        self._guard = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self.skipped = 0
        self.completed = 0

    @property
    def running(self) -> bool:
        return not self._idle.is_set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no cycle runs; True when idle."""
        return self._idle.wait(timeout)

    def _take_work_lock(self) -> bool:
        while not self._work.acquire(timeout=_WAIT_STEP):
            if self._stop.is_set():
                return False
            if self._monitor is not None:
                self._monitor.beat(BACKUP_WORKER)  # waiting for the watcher's mirror
        return True

    def run(self, *, force_full: bool = False, trigger: str = "schedule") -> CycleResult | None:
        """Run a cycle now, unless one is running (then skip and return None).

        Never raises for a failed cycle: the failure is logged (``backup.cycle.failed``),
        recorded in the state database and passed to ``on_done``.
        """
        if not self._guard.acquire(blocking=False):
            self.skipped += 1
            log.warning("schedule.run.skipped", trigger=trigger,
                        reason="the previous backup cycle is still running")
            return None
        self._idle.clear()
        try:
            with _step(self._monitor, BACKUP_WORKER, "backup cycle"):
                if self._stop.is_set() or not self._take_work_lock():
                    return None
                try:
                    return self._run(force_full, trigger)
                finally:
                    self._work.release()
        finally:
            self._guard.release()
            self._idle.set()

    def _run(self, force_full: bool, trigger: str) -> CycleResult | None:
        config = self._config()
        kind = "cycle"
        try:
            with Hooks(config.notify).watch("backup") as hook:
                result = run_cycle(config, source=self._source_factory(config),
                                   clock=self._clock, stop=self._stop, force_full=force_full)
                hook.finish(result)
        except LockedError as exc:
            self.skipped += 1
            log.warning("schedule.run.skipped", trigger=trigger, reason=str(exc))
            return None
        except AipError as exc:  # logged by run_cycle with msgid and exit code
            self._done(kind, "failed", None)
            log.debug("schedule.run.failed", trigger=trigger, exit_code=exc.exit_code)
            return None
        except Exception as exc:
            log.exception("backup.cycle.crashed", error=str(exc), msgid=type(exc).__qualname__,
                          exit_code=C.EXIT_UNEXPECTED)
            self._done(kind, "failed", None)
            return None
        self.completed += 1
        self._done(result.plan.kind, result.status, result)
        return result

    def _done(self, kind: str, status: str, result: CycleResult | None) -> None:
        if self._on_done is None:
            return
        try:
            self._on_done(kind, status, result)
        except Exception as exc:
            log.warning("schedule.callback.failed", error=str(exc))


class Scheduler:
    """APScheduler's ``BackgroundScheduler`` running ``CycleRunner.run`` on a trigger.

    Args:
        runner: the cycle runner.
        schedule: the ``[schedule]`` table.
        run_now: run a cycle at start-up (none ever succeeded, or one was missed).
        trigger: a trigger to use instead of the schedule's (tests).
        audit: what runs on ``schedule.audit_cron`` (the service passes ``AuditRunner.run``);
            None: no audit job, even with ``audit_cron`` set (logged).
    """

    def __init__(self, runner: CycleRunner, schedule: ScheduleConfig, *, run_now: bool = False,
                 trigger: BaseTrigger | None = None,
                 audit: Callable[[], object] | None = None) -> None:
        self.runner = runner
        self._schedule = schedule
        self._run_now = run_now
        self._trigger_override = trigger
        self._audit = audit
        self._sched = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=2)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._sched.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.skipped = 0

    def _on_event(self, event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MAX_INSTANCES:
            self.skipped += 1
            log.warning("schedule.run.skipped", job=event.job_id,
                        reason="the previous run is still going (max_instances=1)",
                        scheduled_for=str(event.scheduled_run_time))
        else:
            log.warning("schedule.run.missed", job=event.job_id,
                        scheduled_for=str(event.scheduled_run_time))

    def _job(self) -> None:
        self.runner.run(trigger="schedule")

    def _trigger(self, schedule: ScheduleConfig) -> BaseTrigger:
        return self._trigger_override or build_trigger(schedule)

    def start(self) -> None:
        """Start the scheduler thread and add the jobs."""
        kwargs: dict[str, Any] = {}
        if self._run_now:
            kwargs["next_run_time"] = datetime.now().astimezone()
        self._sched.add_job(self._job, self._trigger(self._schedule), id=BACKUP_JOB,
                            name="backup cycle", replace_existing=True, **kwargs)
        self._set_audit(self._schedule)
        self._sched.start()
        log.info("schedule.started", next_run=self.next_run_iso(),
                 cron=self._schedule.cron,
                 interval_minutes=None if self._schedule.cron else
                 self._schedule.interval_minutes)

    def _set_audit(self, schedule: ScheduleConfig) -> None:
        if self._sched.get_job(AUDIT_JOB) is not None:
            self._sched.remove_job(AUDIT_JOB)
        if schedule.audit_cron and self._audit is None:
            log.warning("schedule.audit.unavailable",
                        detail="schedule.audit_cron is set but no audit runner was given")
        elif schedule.audit_cron:
            self._sched.add_job(self._audit, CronTrigger(
                **cron_fields(schedule.audit_cron, "schedule.audit_cron"),
                timezone=schedule_zone(schedule)),
                                id=AUDIT_JOB, name="fixity audit", replace_existing=True)
            job = self._sched.get_job(AUDIT_JOB)
            log.info("schedule.audit.set", cron=schedule.audit_cron, deep=schedule.audit_deep,
                     sample_percent=schedule.audit_sample_percent if schedule.audit_deep
                     else None, next_run=str(getattr(job, "next_run_time", None)))

    def reschedule(self, schedule: ScheduleConfig) -> None:
        """Apply a reloaded ``[schedule]`` (takes effect from the next run)."""
        if schedule == self._schedule:
            return
        self._schedule = schedule
        self._sched.reschedule_job(BACKUP_JOB, trigger=self._trigger(schedule))
        self._set_audit(schedule)
        log.info("schedule.changed", next_run=self.next_run_iso())

    @property
    def alive(self) -> bool:
        """True while APScheduler's thread runs (it starts the jobs)."""
        thread = getattr(self._sched, "_thread", None)
        return bool(self._sched.running and thread is not None and thread.is_alive())

    def next_run_time(self) -> datetime | None:
        job = self._sched.get_job(BACKUP_JOB)
        return None if job is None else job.next_run_time

    def next_run_iso(self) -> str | None:
        when = self.next_run_time()
        return when.isoformat() if when else None

    def job(self, job_id: str) -> Any:
        """The APScheduler job (for inspection)."""
        return self._sched.get_job(job_id)

    def pause(self) -> None:
        """Start no new job (a running one goes on); ``shutdown`` later joins the threads."""
        if self._sched.running:
            self._sched.pause()

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with ``wait``, also wait for a running job to end."""
        if self._sched.running:
            self._sched.shutdown(wait=wait)
