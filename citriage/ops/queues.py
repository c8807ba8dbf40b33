"""Looking at the task queue (django-tasks-db's table)."""

from __future__ import annotations

from django.db.models import Count
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult


def is_queued(task_path: str) -> bool:
    return DBTaskResult.objects.filter(task_path=task_path, status=TaskResultStatus.READY).exists()


def depth() -> dict[str, int]:
    """Tasks by status (ready, running, successful, failed)."""
    rows = DBTaskResult.objects.values_list("status").annotate(n=Count("id"))
    return {status.lower(): n for status, n in rows}
