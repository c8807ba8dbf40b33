"""Is this citriage able to work? The database, the log store and the task queue, each
checked for real (a query, a write and read-back, a worker's heartbeat, the oldest due
task's wait). Used by `/readyz` and `citriage check` (deployment health checks), which
can also check one process: this machine's worker, the scheduler, a web server."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Max, Min
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from citriage import logstore
from citriage.ops.models import PeriodicRun, WorkerHeartbeat

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


def live_workers(hostname: str | None = None) -> int:
    """Workers whose heartbeat is recent (on this host, when named)."""
    recent = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    alive = WorkerHeartbeat.objects.filter(last_seen__gte=recent, stopped=None)
    if hostname is not None:
        alive = alive.filter(hostname=hostname)
    return alive.count()


def oldest_wait() -> float:
    """Seconds the oldest task that is due has been waiting for a worker."""
    oldest = DBTaskResult.objects.ready().aggregate(at=Min("enqueued_at"))["at"]
    return (timezone.now() - oldest).total_seconds() if oldest else 0.0


def queue() -> Check:
    """A worker has been seen recently (else nothing that is queued will run), and the
    oldest due task has not waited longer than CITRIAGE_QUEUE_STALE_SECONDS (else the
    workers do not keep up)."""
    try:
        alive = live_workers()
        waited = oldest_wait()
    except DatabaseError as exc:
        return Check("queue", False, f"{type(exc).__name__}: {exc}"[:300])
    if not alive:
        return Check(
            "queue", False, f"no worker seen in the last {settings.WORKER_STALE_SECONDS} s"
        )
    if waited > settings.QUEUE_STALE_SECONDS:
        return Check("queue", False, f"the oldest due task has waited {waited:.0f} s")
    return Check("queue", True, f"{alive} worker(s) alive; oldest due task waited {waited:.0f} s")


def this_worker() -> Check:
    """A worker of this machine (container) keeps its heartbeat."""
    host = socket.gethostname()
    try:
        alive = live_workers(host)
    except DatabaseError as exc:
        return Check("worker", False, f"{type(exc).__name__}: {exc}"[:300])
    return Check("worker", bool(alive), f"{alive} live worker(s) on {host}")


def scheduler() -> Check:
    """The scheduler ran a sweep within three periods of the most frequent one."""
    try:
        last = PeriodicRun.objects.aggregate(at=Max("ran_at"))["at"]
    except DatabaseError as exc:
        return Check("scheduler", False, f"{type(exc).__name__}: {exc}"[:300])
    limit = 3 * settings.SCAN_SWEEP_SECONDS
    if last is None or (timezone.now() - last).total_seconds() > limit:
        return Check("scheduler", False, f"no sweep ran in the last {limit} s")
    return Check("scheduler", True, f"last sweep at {last:%H:%M:%S}")


def web(url: str) -> Check:
    """The web server at `url` answers 200."""
    try:
        status = httpx.get(url, timeout=5).status_code
    except httpx.HTTPError as exc:
        return Check("web", False, f"{url}: {type(exc).__name__}: {exc}"[:300])
    return Check("web", status == 200, f"{url}: HTTP {status}")


def readiness(*, with_queue: bool) -> list[Check]:
    checks = [database(), log_store()]
    if with_queue:
        checks.append(queue() if checks[0].ok else Check("queue", False, "no database"))
    return checks
