"""Background work of operations: the retention pass."""

from __future__ import annotations

from django_tasks import task

from citriage.ops import retention

PASS_SECONDS = 600.0  # one task's share of the work; what is left is queued again


@task()
def retention_task() -> str:
    report = retention.run(budget=PASS_SECONDS)
    if not report.finished:
        retention_task.enqueue()
    return str(report)
