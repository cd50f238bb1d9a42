"""Prometheus metrics of the running daemon, on a loopback HTTP endpoint by default.

Owns: the metric names (``aipsync_*``), a private registry (never prometheus-client's global
one, so two services in one test process do not collide), the counters the service bumps
after each cycle and mirror run (each labelled counter's known labels start at 0, so a
``rate()`` or ``increase()`` sees the first failure too), the gauges computed at scrape time
from ``collect_status`` (snapshot age, last success and what it uploaded, pending and failed
uploads; the state database is the truth, so a restarted daemon reports the right figures at
once), from the staging folder (one ``stat`` per staged AIP, as ``collect_status`` already
does) and from the schedule (through the function the service passes in, so that the interval
is the scheduler's own), and the HTTP server's start and stop.

The dashboard and the alerting rules in ``deploy/grafana/`` and ``deploy/prometheus/`` are
written against these names; ``tests/integration/service/test_monitoring_assets.py`` checks
that every name they use is served.

Metrics (names are part of the interface):

=============================================  =========  =====================================
``aipsync_runs_total{kind,status}``            counter    cycles and mirror runs finished
``aipsync_uploaded_bytes_total``               counter    bytes sent to the target
``aipsync_uploaded_objects_total``             counter    objects uploaded
``aipsync_exported_objects_total``             counter    AIPs written into staging
``aipsync_failures_total{stage}``              counter    failed cycles/mirror runs, by stage
``aipsync_last_success_timestamp_seconds``     gauge      end of the last successful cycle
``aipsync_snapshot_age_seconds``               gauge      age of the newest complete snapshot
``aipsync_pending_uploads``                    gauge      staged AIPs not yet uploaded
``aipsync_failed_uploads``                     gauge      uploads whose last attempt failed
``aipsync_up``                                 gauge      1 while the daemon runs
``aipsync_audits_total{status}``               counter    scheduled audits finished, by status
``aipsync_audit_last_timestamp_seconds``       gauge      end of the last audit (any trigger)
``aipsync_audit_objects_checked``              gauge      keys the last audit checked
``aipsync_audit_failures``                     gauge      keys the last audit found missing or
                                                          corrupted (0: the backup is whole)
``aipsync_last_success_uploaded_objects``      gauge      objects the last successful cycle
                                                          uploaded
``aipsync_last_success_uploaded_bytes``        gauge      bytes the last successful cycle
                                                          uploaded
``aipsync_staged_objects``                     gauge      AIPs the staging folder holds
``aipsync_staged_bytes``                       gauge      their size in bytes
``aipsync_schedule_interval_seconds``          gauge      time between the last two scheduled
                                                          cycles (``daemon.service.scheduler.
                                                          schedule_interval``)
=============================================  =========  =====================================

Each counter is also served as ``<name>_created`` (prometheus-client's creation time of the
series, a standard companion of every counter).

Must not: bind anything but the configured address (127.0.0.1 by default), or expose a secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server
from prometheus_client.registry import Collector

from daemon.core.config import Config, ScheduleConfig
from daemon.service.status import collect_status
from daemon.sync.scan import staged_stats

__all__ = ["METRIC_NAMES", "Metrics", "ScheduleInterval"]

log = structlog.get_logger(__name__)

METRIC_NAMES = (
    "aipsync_runs_total",
    "aipsync_uploaded_bytes_total",
    "aipsync_uploaded_objects_total",
    "aipsync_exported_objects_total",
    "aipsync_failures_total",
    "aipsync_last_success_timestamp_seconds",
    "aipsync_snapshot_age_seconds",
    "aipsync_pending_uploads",
    "aipsync_failed_uploads",
    "aipsync_up",
    "aipsync_audits_total",
    "aipsync_audit_last_timestamp_seconds",
    "aipsync_audit_objects_checked",
    "aipsync_audit_failures",
    "aipsync_last_success_uploaded_objects",
    "aipsync_last_success_uploaded_bytes",
    "aipsync_staged_objects",
    "aipsync_staged_bytes",
    "aipsync_schedule_interval_seconds",
)

#: The label values each labelled counter starts with at 0 (a series born at its first event
#: would hide that event from ``increase()``): the stages ``observe_*`` count failures of,
#: and the statuses ``daemon.service.scheduler.AuditRunner`` reports.
_FAILURE_STAGES = ("cycle", "mirror", "audit")
_AUDIT_STATUSES = ("ok", "warning", "failed", "error", "stopped")

#: Seconds between the last two scheduled cycles before a time, or None (the schedule never
#: fired twice); the service passes ``daemon.service.scheduler.schedule_interval``.
ScheduleInterval = Callable[[ScheduleConfig, datetime], "float | None"]


def _staging_size(staging_dir: Path) -> tuple[int, int]:
    """(AIPs, bytes) in the staging folder; a file removed while counting is skipped."""
    if not staging_dir.is_dir():
        return 0, 0
    count = size = 0
    for _, nbytes, _, _ in staged_stats(staging_dir):
        count += 1
        size += nbytes
    return count, size


class _StateCollector(Collector):
    """Gauges read from the state database, the staging folder and the schedule at each
    scrape."""

    def __init__(self, config: Callable[[], Config],
                 schedule_interval: ScheduleInterval | None) -> None:
        self._config = config
        self._schedule_interval = schedule_interval

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        config = self._config()
        try:
            status = collect_status(config, now=now)
            staged, staged_bytes = _staging_size(config.staging.dir)
            interval = (self._schedule_interval(config.schedule, now)
                        if self._schedule_interval is not None else None)
        except Exception as exc:  # a scrape must never take the daemon down
            log.warning("metrics.collect.failed", error=str(exc), msgid=type(exc).__qualname__)
            return
        success = GaugeMetricFamily("aipsync_last_success_timestamp_seconds",
                                    "Unix time the last successful backup cycle finished")
        last = status.last_success
        if last is not None and last.finished_at:
            success.add_metric([], datetime.fromisoformat(last.finished_at).timestamp())
        yield success
        uploaded = GaugeMetricFamily("aipsync_last_success_uploaded_objects",
                                     "Objects the last successful backup cycle uploaded")
        sent = GaugeMetricFamily("aipsync_last_success_uploaded_bytes",
                                 "Bytes the last successful backup cycle uploaded")
        if last is not None:
            uploaded.add_metric([], float(last.counts.uploaded))
            sent.add_metric([], float(last.counts.bytes_uploaded))
        yield uploaded
        yield sent
        yield GaugeMetricFamily("aipsync_staged_objects", "AIPs the staging folder holds",
                                value=float(staged))
        yield GaugeMetricFamily("aipsync_staged_bytes", "Size of the AIPs in staging, bytes",
                                value=float(staged_bytes))
        schedule = GaugeMetricFamily("aipsync_schedule_interval_seconds",
                                     "Time between the last two scheduled backup cycles")
        if interval is not None:
            schedule.add_metric([], interval)
        yield schedule
        age = GaugeMetricFamily("aipsync_snapshot_age_seconds",
                                "Age of the newest complete snapshot (the recovery point)")
        point = status.recovery_point
        if point is not None and point.age_seconds is not None:
            age.add_metric([], point.age_seconds)
        yield age
        yield GaugeMetricFamily("aipsync_pending_uploads", "Staged AIPs not yet uploaded",
                                value=float(status.pending_count))
        yield GaugeMetricFamily("aipsync_failed_uploads", "Uploads whose last attempt failed",
                                value=float(status.failed_count))
        audit = status.last_audit
        stamp = GaugeMetricFamily("aipsync_audit_last_timestamp_seconds",
                                  "Unix time the last fixity audit finished")
        checked = GaugeMetricFamily("aipsync_audit_objects_checked",
                                    "Keys of the snapshot the last fixity audit checked")
        failures = GaugeMetricFamily("aipsync_audit_failures",
                                     "Keys the last fixity audit found missing or corrupted")
        if audit is not None and audit.finished_at:
            stamp.add_metric([], datetime.fromisoformat(audit.finished_at).timestamp())
            checked.add_metric([], float(audit.counts.checked))
            failures.add_metric([], float(audit.counts.missing + audit.counts.corrupted))
        yield stamp
        yield checked
        yield failures


class Metrics:
    """The daemon's metrics: counters fed by the service, gauges read from the state.

    Args:
        config: returns the current configuration (it changes on reload).
        schedule_interval: the schedule's interval at a time (the service passes
            ``daemon.service.scheduler.schedule_interval``); None: no
            ``aipsync_schedule_interval_seconds`` value.
    """

    def __init__(self, config: Callable[[], Config], *,
                 schedule_interval: ScheduleInterval | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter("aipsync_runs", "Backup cycles and mirror runs finished",
                            ["kind", "status"], registry=self.registry)
        self.uploaded_bytes = Counter("aipsync_uploaded_bytes", "Bytes sent to the target",
                                      registry=self.registry)
        self.uploaded_objects = Counter("aipsync_uploaded_objects", "Objects uploaded",
                                        registry=self.registry)
        self.exported_objects = Counter("aipsync_exported_objects",
                                        "AIPs written into staging", registry=self.registry)
        self.failures = Counter("aipsync_failures", "Failed cycles and mirror runs, by stage",
                                ["stage"], registry=self.registry)
        self.up = Gauge("aipsync_up", "1 while the daemon runs", registry=self.registry)
        self.audits = Counter("aipsync_audits", "Scheduled fixity audits finished, by status",
                              ["status"], registry=self.registry)
        for stage in _FAILURE_STAGES:
            self.failures.labels(stage=stage)
        for status in _AUDIT_STATUSES:
            self.audits.labels(status=status)
        self.registry.register(_StateCollector(config, schedule_interval))
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    # --- feeding ------------------------------------------------------------------------------
    def observe_cycle(self, kind: str, status: str, *, exported: int = 0, uploaded: int = 0,
                      bytes_uploaded: int = 0) -> None:
        """Count a finished backup cycle."""
        self.runs.labels(kind=kind, status=status).inc()
        self.exported_objects.inc(exported)
        self.uploaded_objects.inc(uploaded)
        self.uploaded_bytes.inc(bytes_uploaded)
        if status == "failed":
            self.failures.labels(stage="cycle").inc()

    def observe_mirror(self, status: str, *, uploaded: int = 0, bytes_uploaded: int = 0) -> None:
        """Count a finished watcher-triggered mirror run."""
        self.runs.labels(kind="mirror", status=status).inc()
        self.uploaded_objects.inc(uploaded)
        self.uploaded_bytes.inc(bytes_uploaded)
        if status == "failed":
            self.failures.labels(stage="mirror").inc()

    def observe_audit(self, status: str) -> None:
        """Count a finished scheduled audit (``ok``, ``warning``, ``failed``, ``error``...)."""
        self.audits.labels(status=status).inc()
        if status in ("failed", "error"):
            self.failures.labels(stage="audit").inc()

    # --- serving ------------------------------------------------------------------------------
    def start_server(self, address: str, port: int) -> int:
        """Serve ``/metrics`` on ``address:port`` (port 0: any free port); returns the port.

        Raises:
            OSError: the address cannot be bound.
        """
        server, thread = start_http_server(port, addr=address, registry=self.registry)
        self._server, self._thread = server, thread
        self.port = int(server.server_address[1])
        self.up.set(1)
        log.info("metrics.listening", address=address, port=self.port)
        return self.port

    def stop_server(self) -> None:
        """Stop the HTTP server and join its thread (idempotent)."""
        server, self._server = self._server, None
        self.up.set(0)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
