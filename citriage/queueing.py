"""Work owed is a row; a task is queued for it at most once; a lost task is noticed.

Fetching a job's logs, summarizing a commit: each is recorded as state on a row
(what is owed, and from when) before any task exists. Workers look for due rows
a few times a second and queue a task for each, writing the task's id on the row
in the same transaction; a row with a task id is not queued again, so repeated
or late events join the work already queued instead of starting another chain.
The task clears the id when it ends (and says when to try again, if it must).
A task that crashed or vanished leaves its id behind: `release_lost` finds those
rows (their task is neither waiting nor running) and frees them for the next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

Row = TypeVar("Row", bound=models.Model)

POLL_BATCH = 200


def queue_due(
    due: QuerySet[Row],
    field: str,
    task: Task[Any, Any],
    args_of: Callable[[Row], tuple[Any, ...]],
    *,
    limit: int = POLL_BATCH,
) -> int:
    """Queue `task` for up to `limit` rows of `due` (rows whose `field`, a task id, is
    empty); returns how many. Rows being queued by another worker are skipped."""
    if not due.filter(**{f"{field}__isnull": True}).exists():  # a read: no write lock when idle
        return 0
    with transaction.atomic():
        rows = list(
            due.filter(**{f"{field}__isnull": True})
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")[:limit]
        )
        for row in rows:
            result = task.enqueue(*args_of(row))
            type(row)._default_manager.filter(pk=row.pk).update(**{field: result.id})
    return len(rows)


def finished(model: type[models.Model], pk: Any, field: str, **changes: Any) -> None:
    """The row's task ended: free the row for the next poll, with these changes."""
    model._default_manager.filter(pk=pk).update(**{field: None}, **changes)


def release_lost(model: type[models.Model], field: str) -> int:
    """Rows whose task crashed or is gone (neither waiting nor running): freed, so that a
    worker queues them again. Returns how many."""
    alive = DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
    ).values("id")
    lost = model._default_manager.filter(**{f"{field}__isnull": False}).exclude(
        **{f"{field}__in": alive}
    )
    return lost.update(**{field: None})


def backoff(attempts: int, *, first: float = 30.0, most: float = 3600.0) -> float:
    """Seconds to wait before try number `attempts + 1`: doubling, capped."""
    return float(min(most, first * 2 ** max(0, attempts - 1)))


def retry_at(attempts: int, limit: int) -> datetime | None:
    """Work owed to the outside failed `attempts` times in a row for a transient reason:
    when to try again (after a growing delay), or None once `limit` tries have failed."""
    if attempts >= limit:
        return None
    return timezone.now() + timedelta(seconds=backoff(attempts))
