"""The long-running service, ``aipsync daemon --config FILE``: wiring, signals, lifecycle.

Owns: start-up (load the configuration, configure logging once with ``[log]`` unless
``--log-level``/``--log-format`` say otherwise, take the ``daemon`` lock so one service runs
per state folder, start the metrics endpoint, the scheduler and the watcher, then tell
systemd ``READY=1``), the main loop (the only place that sends ``WATCHDOG=1`` and
``STATUS=`` lines, and that applies a reload), the watchdog's meaning (``WATCHDOG=1`` only
while APScheduler's thread and the watcher's mirror worker are alive and no worker has been
stuck in one step longer than ``[watchdog] stuck_seconds``: ``daemon.service.health``), the
signals
(SIGTERM/SIGINT: stop after the upload in flight and exit 0, because systemd asked; SIGHUP:
reload), shutdown (every thread stopped and joined) and the mapping of a top-level error to a
log line and an exit code (docs/style.md E5): configuration errors give 10/11 (listed in the unit's
``RestartPreventExitStatus=``), a busy lock 44, anything unexpected 2 with a traceback.

Reload (SIGHUP; ``systemctl reload``): a new ``Config`` is built and validated first; a bad
one is logged (``service.reload.failed``) and the old one kept.  A good one is swapped in:
schedule, watch settings, staging folder, target, source and log level apply from the next
run.  ``state.dir`` and ``[metrics]`` need a restart (the lock and the listening socket
belong to the process); their old values are kept and ``service.reload.restart_needed`` says so.

Source: one ``Source`` for the service's life (made again only when a reload changes
``[repository]``, staging or state), checked at start-up with ``Source.describe`` before
``READY=1`` (a DSpace source reads ``dspace version`` there, once; an unsupported version is
exit 10, a DSpace that cannot be run 56) and handed to every cycle and scheduled audit.

Threads: APScheduler's (the backup cycle and the scheduled fixity audit run on its pool
threads), the watcher's observer and mirror worker, the metrics HTTP server, the ``[notify]``
hooks' senders.  ``STATUS=`` shows what a running step does and how far it is (``backup
cycle: exporting 41,200 of 100,011 objects, ETA 4 min``), at most once a second.  A
process-wide ``work`` lock serialises a cycle and a watcher-triggered mirror, so an export
being moved into staging is never half-mirrored.

Must not: run anything but wiring on the main thread, or read the environment anywhere but
``Service.__init__`` (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``/``WATCHDOG_PID``).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import structlog

from aip import constants as C
from aip import logconfig
from aip.errors import AipError
from daemon.audit import AuditResult, run_audit
from daemon.core.clock import Clock, SystemClock
from daemon.core.config import Config, load_config
from daemon.core.errors import ConfigError, LockedError
from daemon.core.locks import Lock, LockName
from daemon.core.state import open_state
from daemon.service.health import Monitor, stuck_bound
from daemon.service.metrics import Metrics
from daemon.service.scheduler import (
    AuditRunner,
    CycleRunner,
    Scheduler,
    missed_run,
    schedule_interval,
)
from daemon.service.systemd import Notifier, watchdog_interval
from daemon.service.watcher import Watcher
from daemon.source import open_source
from daemon.source.base import Source
from daemon.sync.backup import CycleResult
from daemon.sync.mirror import pending_uploads, run_mirror

__all__ = ["Service", "run_service"]

log = structlog.get_logger(__name__)

_TICK = 0.5
#: Staged files the watcher's healing scan hands to one mirror run at most.
_HEAL_AT_ONCE = 1000
#: Seconds between two ``STATUS=`` lines that only move a progress count.
_STATUS_EVERY = 1.0
MIRROR_WORKER = "mirror worker"


class Service:
    """One daemon process.

    Args:
        config_path: the TOML file (re-read on SIGHUP).
        environ: the process environment (systemd's notify socket and watchdog).
        clock: the clock for backup decisions.
        source_factory: builds the repository source from a configuration.
        log_stream: where logs go (default stderr).
        install_signals: install SIGTERM/SIGINT/SIGHUP handlers (main thread only).
        log_level, log_format: ``--log-level``/``--log-format`` (win over ``[log]``).
    """

    def __init__(self, config_path: Path, *, environ: Mapping[str, str],
                 clock: Clock | None = None,
                 source_factory: Callable[[Config], Source] = open_source,
                 log_stream: TextIO | None = None, install_signals: bool = True,
                 log_level: str | None = None, log_format: str | None = None) -> None:
        self.config_path = Path(config_path)
        self.notifier = Notifier.from_environ(environ)
        self.watchdog_every = watchdog_interval(environ)
        usec = environ.get("WATCHDOG_USEC", "")
        self._watchdog_usec = float(usec) if self.watchdog_every and usec.isdigit() else None
        self._log_level = log_level
        self._log_format = log_format
        self.monitor = Monitor(progress_interval=10.0)
        self._withheld: tuple[str, ...] = ()
        self._status_sent_at = 0.0
        self.clock = clock or SystemClock()
        self.source_factory = source_factory
        self.log_stream = log_stream or sys.stderr
        self.install_signals = install_signals
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self._work = threading.Lock()
        self._config: Config | None = None
        self._source: Source | None = None
        self._source_key: tuple[object, ...] | None = None
        self._source_lock = threading.Lock()
        self._metrics: Metrics | None = None
        self._scheduler: Scheduler | None = None
        self._runner: CycleRunner | None = None
        self._auditor: AuditRunner | None = None
        self._watcher: Watcher | None = None
        self._status = "starting"
        self._sent_status = ""
        self._next_ping = 0.0
        self._last_cycle = "no backup cycle yet"

    # --- public -------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        assert self._config is not None, "the service has not loaded its configuration"
        return self._config

    def request_stop(self) -> None:
        """Stop after the unit of work in flight (what SIGTERM does)."""
        self.stop_event.set()

    def request_reload(self) -> None:
        """Reload the configuration at the next tick (what SIGHUP does)."""
        self.reload_event.set()

    def run(self) -> int:
        """Run until stopped; the process exit code (0 after SIGTERM/SIGINT)."""
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            return self._fatal("service.config.invalid", exc)
        self._configure_logging(config)
        self._config = config
        try:
            with Lock(config.state.dir, LockName.DAEMON, wait=0, purpose="aipsync daemon"):
                return self._serve()
        except LockedError as exc:
            return self._fatal("service.locked", exc)
        except AipError as exc:
            return self._fatal("service.failed", exc)
        except Exception as exc:
            log.exception("service.crashed", error=str(exc), msgid=type(exc).__qualname__,
                          exit_code=C.EXIT_UNEXPECTED)
            return C.EXIT_UNEXPECTED

    def _fatal(self, event: str, exc: AipError) -> int:
        log.error(event, error=str(exc), msgid=type(exc).__qualname__,
                  exit_code=exc.exit_code, config=str(self.config_path))
        self.notifier.status(f"failed: {exc}")
        return exc.exit_code

    # --- lifecycle ----------------------------------------------------------------------------
    def _serve(self) -> int:
        config = self.config
        previous = self._install_signals()
        try:
            self._start_metrics(config)
            self._source_for(config)
            with open_state(config.state.dir) as state:
                watermark = state.export_watermark
            last = datetime.fromisoformat(watermark) if watermark else None
            run_now = missed_run(config.schedule, last, self.clock.now())
            self._runner = CycleRunner(lambda: self.config, clock=self.clock,
                                       stop=self.stop_event, work_lock=self._work,
                                       source_factory=self._source_for,
                                       on_done=self._on_cycle, monitor=self.monitor)
            self._auditor = AuditRunner(lambda: self.config, stop=self.stop_event,
                                        on_done=self._on_audit, monitor=self.monitor,
                                        audit=self._audit)
            self._scheduler = Scheduler(self._runner, config.schedule, run_now=run_now,
                                        audit=self._auditor.run)
            self._scheduler.start()
            scheduler = self._scheduler
            self.monitor.watch_thread("scheduler", lambda: scheduler.alive)
            self._start_watcher(config)
            log.info("service.ready", config=str(self.config_path),
                     target=config.target.display_url, staging=str(config.staging.dir),
                     next_run=self._scheduler.next_run_iso(), watch=config.watch.enabled,
                     cycle_now=run_now)
            self._status = self._idle_status()
            self.notifier.ready(self._status)
            self._sent_status = self._status
            self._next_ping = time.monotonic()
            self._loop()
            return self._shutdown()
        finally:
            self._stop_threads()
            self._restore_signals(previous)
            if self._metrics is not None:
                self._metrics.stop_server()

    def _source_for(self, config: Config) -> Source:
        """The service's source: made, and checked with ``describe`` (logged), on first use
        and again only after a reload changed what it is built from."""
        key = (config.repository, config.staging, config.state)
        with self._source_lock:
            if self._source is None or self._source_key != key:
                source = self.source_factory(config)
                facts = source.describe()
                log.info("service.source", source=source.name, facts=dict(facts))
                self._source, self._source_key = source, key
            return self._source

    def _audit(self, config: Config, **kwargs: Any) -> AuditResult:
        """A scheduled audit, asking the service's source what the repository holds."""
        return run_audit(config, source=self._source_for(config), **kwargs)

    def _stop_threads(self) -> None:
        """Stop whatever is still running (after an error in start-up; idempotent)."""
        self.stop_event.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher.join(10)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            self._ping()
            if self.reload_event.is_set():
                self.reload_event.clear()
                self._reload()
            status = self._idle_status()
            now = time.monotonic()
            if status != self._sent_status and (now - self._status_sent_at >= _STATUS_EVERY
                                                or not self.monitor.status_line()):
                self.notifier.status(status)
                self._sent_status = status
                self._status_sent_at = now
            self.stop_event.wait(self._tick())

    def _tick(self) -> float:
        return max(0.05, min(_TICK, self._next_ping - time.monotonic()))

    def _ping(self) -> None:
        """``WATCHDOG=1``, unless a thread the service needs died or a worker is stuck: then
        systemd's watchdog fires (and restarts the service) instead."""
        if time.monotonic() < self._next_ping:
            return
        bound = stuck_bound(self.config.watchdog.stuck_seconds, self._watchdog_usec)
        problems = tuple(self.monitor.problems(bound))
        if problems != self._withheld:
            self._withheld = problems
            if problems:
                log.error("service.watchdog.withheld", problems=list(problems),
                          stuck_after_s=bound,
                          detail="no WATCHDOG=1 until this clears: systemd's watchdog will "
                                 "restart the service")
                self.notifier.status(f"unhealthy: {'; '.join(problems)}")
            else:
                log.info("service.watchdog.resumed")
        if self.watchdog_every is None:
            self._next_ping = time.monotonic() + _TICK
            return
        if not problems:
            self.notifier.watchdog()
        self._next_ping = time.monotonic() + self.watchdog_every

    def _wait(self, done: Callable[[], bool]) -> None:
        """Wait for ``done()`` (which blocks up to a tick itself), keeping the watchdog fed."""
        while not done():
            self._ping()

    def _shutdown(self) -> int:
        # Threads stopped on purpose are not dead: the watchdog stays fed while they end.
        self.monitor.forget_thread("scheduler")
        self.monitor.forget_thread(MIRROR_WORKER)
        log.info("service.stopping", detail="finishing the upload in flight")
        self.notifier.stopping("stopping: finishing the upload in flight")
        if self._scheduler is not None:
            self._scheduler.pause()
        if self._watcher is not None:
            self._watcher.stop()
        runner = self._runner
        if runner is not None:
            self._wait(lambda: runner.wait_idle(_TICK))
        watcher = self._watcher
        if watcher is not None:
            self._wait(lambda: watcher.join(_TICK))
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)  # no job runs any more: joins its threads
        log.info("service.stopped")
        return C.EXIT_OK

    # --- signals ------------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if not self.install_signals:
            return {}

        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("service.signal", signal=signal.Signals(signum).name)
            self.request_stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.request_reload()

        previous: dict[int, Any] = {}
        for signum, handler in ((signal.SIGTERM, on_stop), (signal.SIGINT, on_stop),
                                (signal.SIGHUP, on_hup)):
            previous[signum] = signal.signal(signum, handler)
        return previous

    @staticmethod
    def _restore_signals(previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    # --- components ---------------------------------------------------------------------------
    def _start_metrics(self, config: Config) -> None:
        if not config.metrics.enabled:
            return
        metrics = Metrics(lambda: self.config, schedule_interval=schedule_interval)
        try:
            metrics.start_server(config.metrics.address, config.metrics.port)
        except OSError as exc:
            # Metrics are secondary: a taken port must not stop the backups.
            log.error("metrics.failed", address=config.metrics.address,
                      port=config.metrics.port, error=str(exc))
            return
        self._metrics = metrics

    def _start_watcher(self, config: Config) -> None:
        if not config.watch.enabled:
            self._watcher = None
            return
        watcher = Watcher(config.staging.dir, mirror=self._mirror_files, scan=self._scan,
                          debounce_seconds=config.watch.debounce_seconds,
                          scan_interval_seconds=config.watch.scan_interval_seconds)
        watcher.start()
        self._watcher = watcher
        self.monitor.watch_thread(MIRROR_WORKER, lambda: watcher.alive)

    def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        self.monitor.forget_thread(MIRROR_WORKER)
        if watcher is not None:
            watcher.stop()
            self._wait(lambda: watcher.join(_TICK))

    def _scan(self) -> set[str]:
        config = self.config
        with self.monitor.step(MIRROR_WORKER, "staging scan"), \
                open_state(config.state.dir) as state:
            # The first names only: the watcher's healing uploads go in bounded runs (a
            # backup cycle mirrors everything anyway).
            pending = pending_uploads(config.staging.dir, state, hash_changed=True,
                                      listed=_HEAL_AT_ONCE)
            return set(pending.names)

    def _mirror_files(self, names: set[str]) -> None:
        """The watcher's upload: a mirror run for ``names`` (after any running cycle)."""
        with self.monitor.step(MIRROR_WORKER, "mirror"):
            self._mirror_locked(names)

    def _mirror_locked(self, names: set[str]) -> None:
        while not self._work.acquire(timeout=_TICK):
            if self.stop_event.is_set():
                return
            self.monitor.beat(MIRROR_WORKER)  # waiting for a backup cycle to end
        try:
            if self.stop_event.is_set():
                return
            config = self.config
            try:
                result = run_mirror(config, files=sorted(names), stop=self.stop_event,
                                    lock_wait=float(config.schedule.run_lock_timeout))
            except AipError:
                if self._metrics is not None:
                    self._metrics.observe_mirror("failed")
                raise
            if self._metrics is not None:
                self._metrics.observe_mirror("stopped" if result.stopped else "ok",
                                             uploaded=len(result.uploaded),
                                             bytes_uploaded=result.bytes_uploaded)
            log.info("watch.mirror.done", files=len(names), uploaded=len(result.uploaded),
                     snapshot=result.snapshot_id)
        finally:
            self._work.release()

    def _on_cycle(self, kind: str, status: str, result: CycleResult | None) -> None:
        when = datetime.now(UTC).isoformat(timespec="seconds")
        self._last_cycle = f"last cycle {kind} {status} at {when}"
        if result is not None and result.snapshot_id:
            self._last_cycle += f", snapshot {result.snapshot_id}"
        if self._metrics is not None:
            staged = result.staging if result is not None else None
            mirrored = result.mirror if result is not None else None
            self._metrics.observe_cycle(
                kind, status, exported=len(staged.staged) if staged else 0,
                uploaded=len(mirrored.uploaded) if mirrored else 0,
                bytes_uploaded=mirrored.bytes_uploaded if mirrored else 0)

    def _on_audit(self, status: str, result: Any) -> None:
        if self._metrics is not None:
            self._metrics.observe_audit(status)

    def _idle_status(self) -> str:
        if self._withheld:
            return f"unhealthy: {'; '.join(self._withheld)}"
        running = self._runner is not None and self._runner.running
        head = self.monitor.status_line() or ("backup cycle running" if running else "idle")
        next_run = self._scheduler.next_run_iso() if self._scheduler else None
        return f"{head}; {self._last_cycle}; next run {next_run or 'not scheduled'}"

    # --- reload -------------------------------------------------------------------------------
    def _reload(self) -> None:
        self.notifier.reloading(time.monotonic_ns() // 1000)
        log.info("service.reload.start", config=str(self.config_path))
        old = self.config
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("service.reload.failed", error=str(exc), msgid=type(exc).__qualname__,
                      exit_code=exc.exit_code,
                      detail="the old configuration stays in effect")
            self.notifier.ready("reload failed; the old configuration stays in effect")
            return
        kept = []
        if new.state.dir != old.state.dir:
            new = dataclasses.replace(new, state=old.state)
            kept.append("state.dir")
        if new.metrics != old.metrics:
            new = dataclasses.replace(new, metrics=old.metrics)
            kept.append("metrics")
        if kept:
            log.warning("service.reload.restart_needed", keys=kept,
                        detail="these keys keep their old values until a restart")
        self._config = new
        self._configure_logging(new)
        if self._scheduler is not None:
            self._scheduler.reschedule(new.schedule)
        if new.watch != old.watch or new.staging != old.staging:
            self._stop_watcher()
            self._start_watcher(new)
        log.info("service.reloaded", config=str(self.config_path))
        self.notifier.ready(self._idle_status())


    def _configure_logging(self, config: Config) -> None:
        logconfig.configure(self._log_level or config.log.level,
                            self._log_format or config.log.format, self.log_stream)
        self.monitor.set_progress_interval(config.log.progress_interval_seconds)


def run_service(config_path: Path, *, environ: Mapping[str, str],
                log_level: str | None = None, log_format: str | None = None) -> int:
    """``aipsync daemon --config FILE``: run the service in the foreground.

    Args:
        config_path: the configuration file.
        environ: the process environment (``NOTIFY_SOCKET``, ``WATCHDOG_USEC``).

    Returns:
        The exit code: 0 after SIGTERM/SIGINT, 10/11 for a bad configuration, 44 when
        another daemon holds the state folder, 2 for an unexpected error.
    """
    return Service(config_path, environ=environ, log_level=log_level,
                   log_format=log_format).run()
