"""Background work of triage: summarizing stale commits (see citriage.triage.refresh)."""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from citriage import queueing
from citriage.triage import summary
from citriage.triage.models import PendingSummary


@task()
def summarize_commit_task(repository_id: int, sha: str) -> str:
    return summary.summarize(repository_id, sha)


def queue_due_summaries() -> int:
    """Queue a summarize task for each commit due one (one per commit at a time)."""
    due = PendingSummary.objects.filter(next_at__lte=timezone.now())
    return queueing.queue_due(
        due, "task", summarize_commit_task, lambda row: (row.repository_id, row.sha)
    )


def release_lost_summaries() -> int:
    return queueing.release_lost(PendingSummary, "task")
