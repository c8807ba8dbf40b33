"""Every periodic sweep of `citriage scheduler`, in one registry.

A sweep only looks at the database and queues work; each lives in the app whose
data it reads and is listed here with its period (a setting, in seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from citriage.ci import sweeps as ci_sweeps
from citriage.failurelines import analysis as failure_lines
from citriage.failurelines.tasks import analyse_backlog_task
from citriage.flaky import tasks as flaky_tasks
from citriage.github import deliveries
from citriage.ops.queues import is_queued
from citriage.ops.tasks import retention_task
from citriage.ops.worker import recover_stale_tasks
from citriage.patterns import scanning
from citriage.patterns.tasks import refresh_stats_task, scan_backlog_task
from citriage.testresults.tasks import release_lost_listings, release_lost_test_fetches
from citriage.triage.tasks import release_lost_summaries


@dataclass(frozen=True)
class Sweep:
    name: str
    every: Callable[[], int]  # its period in seconds, read when the scheduler starts
    run: Callable[[], str]  # what it did, in a few words


def recover_and_scan() -> str:
    """Tasks of dead workers and lost work back in the queue; the scan backlog queued."""
    requeued = (
        recover_stale_tasks()
        + deliveries.requeue_stuck()
        + ci_sweeps.release_lost_fetches()
        + ci_sweeps.release_lost_config_reads()
        + release_lost_test_fetches()
        + release_lost_listings()
        + flaky_tasks.release_lost_checks()
        + release_lost_summaries()
    )
    behind = scanning.backlog().count()
    if behind and not is_queued(scan_backlog_task.module_path):
        transaction.on_commit(lambda: scan_backlog_task.enqueue())
        return f"requeued {requeued}; backlog {behind}: scan queued"
    return f"requeued {requeued}; backlog {behind}"


def failure_lines_backfill() -> str:
    behind = failure_lines.backlog().count()
    if behind and not is_queued(analyse_backlog_task.module_path):
        transaction.on_commit(lambda: analyse_backlog_task.enqueue())
        return f"{behind} logs without failure lines: backfill queued"
    return f"{behind} logs without failure lines"


def pattern_stats() -> str:
    refresh_stats_task.enqueue()
    return "pattern stats refresh queued"


def retention() -> str:
    """Queue the retention pass (citriage.ops.retention), once."""
    if is_queued(retention_task.module_path):
        return "retention already queued"
    transaction.on_commit(lambda: retention_task.enqueue())
    return "retention queued"


SWEEPS = [
    Sweep("recover-and-scan", lambda: settings.SCAN_SWEEP_SECONDS, recover_and_scan),
    Sweep("failure-lines-backfill", lambda: settings.SCAN_SWEEP_SECONDS, failure_lines_backfill),
    Sweep("backfill", lambda: settings.BACKFILL_SWEEP_SECONDS, ci_sweeps.backfill),
    Sweep("pattern-stats", lambda: settings.STATS_SWEEP_SECONDS, pattern_stats),
    Sweep("retention", lambda: settings.RETENTION_SWEEP_SECONDS, retention),
    Sweep("flaky-tests", lambda: settings.FLAKY_SWEEP_SECONDS, flaky_tasks.sweep),
]
