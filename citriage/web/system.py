"""What the System page and API show of the running system: workers, GitHub's budgets."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from citriage.ci.models import RateBudget
from citriage.ops.models import WorkerHeartbeat


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
