"""Background work on failure lines: the backfill of logs stored before (or without) a scan."""

from __future__ import annotations

import time

from django_tasks import task

from citriage.failurelines import analysis


@task(queue_name="scan")
def analyse_backlog_task(time_budget: float = 120.0) -> int:
    """Analyse stored logs that have no failure lines yet, until done or out of time."""
    deadline = time.monotonic() + time_budget
    done = 0
    while time.monotonic() < deadline:
        batch = analysis.analyse_backlog()
        if not batch:
            return done
        done += batch
    if analysis.backlog().exists():
        analyse_backlog_task.enqueue()  # out of time: carry on in a fresh task
    return done
