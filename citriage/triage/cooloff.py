"""Per-commit cool-off: bursts of events for one commit coalesce into one summary.

Every event for a commit pushes its summary's due time back; a summarize task
is queued only when none is queued for the commit yet. When the task runs
early (a later event moved the due time), it re-queues itself for the new due
time instead of summarizing.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from citriage.ci.models import Repository
from citriage.triage.models import PendingSummary


def touch(repository: Repository, sha: str) -> PendingSummary:
    """Note an event for this commit; its summary runs COOL_OFF_SECONDS after the last one."""
    from citriage.triage.tasks import summarize_commit_task

    now = timezone.now()
    due = now + timedelta(seconds=settings.COOL_OFF_SECONDS)
    with transaction.atomic():
        pending, _ = PendingSummary.objects.select_for_update().get_or_create(
            repository=repository, sha=sha, defaults={"due_at": due}
        )
        pending.due_at = due
        pending.last_event_at = now
        pending.events += 1
        if not pending.queued:
            summarize_commit_task.using(run_after=due).enqueue(repository.pk, sha)
            pending.queued = True
        pending.save()
    return pending


def claim(repository_id: int, sha: str) -> bool:
    """Called by the summarize task: True when it is time to summarize, False when the
    due time moved (the task has then been queued again for it)."""
    from citriage.triage.tasks import summarize_commit_task

    with transaction.atomic():
        pending = (
            PendingSummary.objects.select_for_update()
            .filter(repository_id=repository_id, sha=sha)
            .first()
        )
        if pending is None:
            return True
        if pending.due_at > timezone.now():
            summarize_commit_task.using(run_after=pending.due_at).enqueue(repository_id, sha)
            return False
        pending.queued = False
        pending.save(update_fields=["queued"])
    return True


def done(repository_id: int, sha: str) -> None:
    PendingSummary.objects.filter(repository_id=repository_id, sha=sha).update(
        summarized_at=timezone.now()
    )
