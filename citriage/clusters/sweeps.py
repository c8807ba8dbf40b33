"""The scheduler's sweep that queues the failure-line backfill."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from citriage.ops.scheduler import is_queued, sweep


@sweep("failure-lines-backfill", lambda: settings.SCAN_SWEEP_SECONDS)
def failure_lines_backfill() -> str:
    from citriage.clusters import analysis
    from citriage.clusters.tasks import analyse_backlog_task

    behind = analysis.backlog().count()
    if behind and not is_queued(analyse_backlog_task.module_path):
        transaction.on_commit(lambda: analyse_backlog_task.enqueue())
        return f"{behind} logs without failure lines: backfill queued"
    return f"{behind} logs without failure lines"
