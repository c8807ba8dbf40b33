"""What `/metrics` says (Prometheus' text format), and how.

Two kinds of figures:

- Counters and histograms of events, counted where they happen, in every process
  (webhook deliveries in the web processes; HTTP calls, jobs recorded, logs stored and
  scanned, GitHub posts and rate limits, task latencies in the workers). They are kept
  with prometheus-client's multiprocess mode: each process writes its own file in
  CITRIAGE_METRICS_DIR (PROMETHEUS_MULTIPROC_DIR) and a scrape adds up the files of
  every process on the machine, gunicorn's workers included; the counts of a process
  that ended stay in the sum. Processes on other machines need their own folder and a
  web process (or a scrape of one) there.
- Gauges of state, read from the database at scrape time (a few indexed queries): the
  task queue by task, the scan backlog, logs and reports owed, deliveries waiting,
  live workers, and GitHub's budget of every identity.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import DatabaseError
from django.db.models import Count
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished
from django_tasks_db.models import DBTaskResult, get_date_max
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from citriage.ci.models import LOGS_OWED, JobAttempt, RateBudget
from citriage.github.models import Delivery, DeliveryStatus
from citriage.ops import health
from citriage.patterns import scanning
from citriage.triage.models import PendingSummary

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
TASK_WAIT = Histogram(
    "citriage_task_wait_seconds",
    "From a task's enqueueing (or its run-after time) to a worker starting it",
    ["task"],
    buckets=LATENCY_BUCKETS,
)
TASK_RUN = Histogram(
    "citriage_task_run_seconds", "How long tasks ran", ["task"], buckets=LATENCY_BUCKETS
)
TASKS_FINISHED = Counter(
    "citriage_tasks_finished", "Tasks finished, by outcome", ["task", "status"]
)


def _name(task_path: str) -> str:
    return task_path.rsplit(".", 1)[-1]


def _task_finished(sender: Any, task_result: Any, **_: Any) -> None:
    """A worker finished a task: how long it waited, how long it ran."""
    name = _name(task_result.task.module_path)
    TASKS_FINISHED.labels(name, str(task_result.status).lower()).inc()
    started, finished, ready = task_result.started_at, task_result.finished_at, None
    if task_result.enqueued_at:
        ready = task_result.enqueued_at
        run_after = getattr(getattr(task_result, "db_result", None), "run_after", None)
        if run_after is not None and ready < run_after < get_date_max():
            ready = run_after  # it was not due before then
    if started and ready:
        TASK_WAIT.labels(name).observe(max(0.0, (started - ready).total_seconds()))
    if started and finished:
        TASK_RUN.labels(name).observe(max(0.0, (finished - started).total_seconds()))


def connect() -> None:
    task_finished.connect(_task_finished, dispatch_uid="ops-task-latency")


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class DatabaseCollector(Collector):
    """Gauges of what the database holds, read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        up = _gauge("citriage_database_up", "The database answered this scrape")
        try:
            families = list(self._state())
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _state(self) -> Iterator[Metric]:
        tasks = _gauge(
            "citriage_tasks", "Tasks waiting (ready) or running, by task", ["task", "state"]
        )
        active = [TaskResultStatus.READY, TaskResultStatus.RUNNING]
        rows = (
            DBTaskResult.objects.filter(status__in=active)
            .values_list("task_path", "status")
            .annotate(n=Count("id"))
        )
        for path, status, n in rows:
            tasks.add_metric([_name(path), str(status).lower()], n)
        yield tasks
        waited = _gauge("citriage_tasks_oldest_ready_seconds", "How long the oldest due task waits")
        waited.add_metric([], health.oldest_wait())
        yield waited

        backlog = _gauge(
            "citriage_scan_backlog_logs", "Stored logs not yet scanned with every pattern"
        )
        backlog.add_metric([], scanning.backlog().count())
        yield backlog
        owed = _gauge("citriage_logs_owed", "Failed jobs whose logs are owed, by state", ["state"])
        counts = dict(
            JobAttempt.objects.filter(log_state__in=LOGS_OWED)
            .values_list("log_state")
            .annotate(n=Count("id"))
        )
        for state in LOGS_OWED:
            owed.add_metric([str(state)], counts.get(state, 0))
        yield owed
        reports = _gauge(
            "citriage_reports_owed",
            "Commits whose GitHub report is owed (failing: tried and failed)",
            ["state"],
        )
        pending = PendingSummary.objects.exclude(report_at=None)
        reports.add_metric(["owed"], pending.count())
        reports.add_metric(["failing"], pending.filter(report_attempts__gt=0).count())
        yield reports
        waiting = _gauge(
            "citriage_deliveries_pending", "Webhook deliveries stored, not yet processed"
        )
        waiting.add_metric([], Delivery.objects.filter(status=DeliveryStatus.PENDING).count())
        yield waiting
        workers = _gauge("citriage_workers_alive", "Workers whose heartbeat is recent")
        workers.add_metric([], health.live_workers())
        yield workers

        remaining = _gauge(
            "citriage_github_rate_limit_remaining",
            "GitHub calls left in the hour",
            ["identity", "resource"],
        )
        limit = _gauge(
            "citriage_github_rate_limit", "GitHub calls per hour", ["identity", "resource"]
        )
        reset = _gauge(
            "citriage_github_rate_limit_reset_timestamp_seconds",
            "When the budget is full again",
            ["identity", "resource"],
        )
        for row in RateBudget.objects.all():
            labels = [row.identity, row.resource]
            remaining.add_metric(labels, row.remaining)
            limit.add_metric(labels, row.limit)
            reset.add_metric(labels, row.resets_at.timestamp() if row.resets_at else 0)
        yield from (remaining, limit, reset)


def exposition() -> bytes:
    """The text a scrape gets: every process's counters, and the database's gauges."""
    registry = CollectorRegistry()
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and os.path.isdir(folder):
        MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    registry.register(DatabaseCollector())
    return generate_latest(registry)


def forget_counts() -> None:
    """Empty the counters' folder (when every process of the machine starts afresh)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder and os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))
