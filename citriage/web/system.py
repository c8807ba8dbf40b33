"""What the System page and API show of the running system: workers, GitHub's budgets,
what is owed and when, and what failed, with its error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Min
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.ci.models import JobAttempt, LogState, RateBudget
from citriage.github.models import Delivery, DeliveryStatus
from citriage.ops.models import WorkerHeartbeat
from citriage.triage.models import PendingSummary

SHOWN = 20


def worker_rows() -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {
            "worker": w.worker_id,
            "host": w.hostname,
            "pid": w.pid,
            "seconds_since_heartbeat": int((now - w.last_seen).total_seconds()),
            "current_task": w.current_task,
            "stopped": w.stopped is not None,
        }
        for w in WorkerHeartbeat.objects.order_by("-last_seen")[:20]
    ]


def rate_budget_rows() -> list[dict[str, Any]]:
    """GitHub's budget of each identity citriage calls as, as the last answer gave it."""
    now = timezone.now()
    return [
        {
            "identity": row.identity,
            "resource": row.resource,
            "limit": row.limit,
            "remaining": row.remaining,
            "resets_at": row.resets_at.isoformat() if row.resets_at else None,
            "held_until": row.held_until.isoformat()
            if row.held_until and row.held_until > now
            else None,
            "seconds_since_update": int((now - row.updated).total_seconds()),
        }
        for row in RateBudget.objects.order_by("identity", "resource")[:50]
    ]


@dataclass
class Owed:
    """Summaries owed: verdicts to recompute, reports waiting out their cool-off (not
    stuck: due later), reports due now, reports that failed and wait to be tried again."""

    stale: int
    cooling_off: int
    cooling_until: datetime | None
    due: int


def owed() -> Owed:
    now = timezone.now()
    rows = PendingSummary.objects.filter(next_at__isnull=False)
    cooling = rows.filter(report_at__gt=now, report_attempts=0)
    return Owed(
        stale=rows.filter(refresh_at__isnull=False).count(),
        cooling_off=cooling.count(),
        cooling_until=cooling.aggregate(last=Min("report_at"))["last"],
        due=rows.filter(report_at__lte=now).count(),
    )


def failing_reports() -> list[PendingSummary]:
    """Reports to GitHub that failed and are owed still, with their error."""
    return list(
        PendingSummary.objects.filter(report_attempts__gt=0)
        .exclude(report_error="")
        .select_related("repository")
        .order_by("-last_event_at")[:SHOWN]
    )


def failed_tasks() -> list[dict[str, Any]]:
    """Tasks that raised, newest first, with the exception's last line."""
    rows = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).order_by("-finished_at")
    return [
        {
            "task": row.task_path.rsplit(".", 1)[-1],
            "path": row.task_path,
            "finished": row.finished_at,
            "error": _last_line(row.traceback) or row.exception_class_path,
        }
        for row in rows[:SHOWN]
    ]


def _last_line(traceback: str) -> str:
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def failed_deliveries() -> list[Delivery]:
    return list(
        Delivery.objects.filter(status=DeliveryStatus.FAILED)
        .only("guid", "event", "action", "repository", "received_at", "note", "attempts")
        .order_by("-received_at")[:SHOWN]
    )


def failed_fetches() -> list[JobAttempt]:
    """Log fetches that gave up, with the provider's answer."""
    return list(
        JobAttempt.objects.filter(log_state=LogState.ERROR)
        .select_related("repository")
        .only(
            "id", "name", "attempt", "repository__owner", "repository__name", "log_error", "updated"
        )
        .order_by("-updated")[:SHOWN]
    )
