"""What the System page and API show of the running system: workers."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

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
