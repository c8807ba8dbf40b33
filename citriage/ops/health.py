"""Is this citriage able to work? The database, the log store and the task queue, each
checked for real (a query, a write and read-back, a worker's heartbeat). Used by
`/readyz` and `citriage check` (deployment health checks)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from citriage import logstore
from citriage.ops.models import WorkerHeartbeat

PROBE_KEY = "readiness-probe"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Check("database", False, f"{type(exc).__name__}: {exc}"[:300])
    return Check("database", True, connection.vendor)


def log_store() -> Check:
    try:
        store = logstore.log_store()
        probe = f"{time.time():.6f}".encode()
        store.put(PROBE_KEY, probe)
        if store.get(PROBE_KEY) != probe:
            return Check("log store", False, "what was written did not read back")
    except Exception as exc:  # fsspec backends raise their own kinds
        return Check("log store", False, f"{type(exc).__name__}: {exc}"[:300])
    return Check("log store", True, settings.LOG_STORE_URL.split("?", 1)[0])


def queue() -> Check:
    """A worker has been seen recently (else nothing that is queued will run)."""
    try:
        recent = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
        alive = WorkerHeartbeat.objects.filter(last_seen__gte=recent, stopped=None).count()
    except DatabaseError as exc:
        return Check("queue", False, f"{type(exc).__name__}: {exc}"[:300])
    if not alive:
        return Check(
            "queue", False, f"no worker seen in the last {settings.WORKER_STALE_SECONDS} s"
        )
    return Check("queue", True, f"{alive} worker(s) alive")


def readiness(*, with_queue: bool) -> list[Check]:
    checks = [database(), log_store()]
    if with_queue:
        checks.append(queue() if checks[0].ok else Check("queue", False, "no database"))
    return checks
