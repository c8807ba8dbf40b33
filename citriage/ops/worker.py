"""`citriage worker`: the django-tasks database worker, with a heartbeat and an outbox poll.

django-tasks-db marks a task RUNNING when a worker claims it; a worker that
dies (SIGKILL, lost machine) would leave it RUNNING for ever. Each citriage
worker therefore keeps a heartbeat row fresh, and `recover_stale_tasks` (run by
workers at start and by the scheduler) puts the tasks of silent workers back
in the queue. citriage's tasks are idempotent, so running one again is safe.

Work owed is recorded as rows before any task exists (webhook deliveries, log
fetches, commit summaries); each worker looks for due rows a few times a second
and queues their tasks (`OUTBOXES`). A worker outlives a database outage: it logs
it, waits with a growing delay, reconnects and carries on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from citriage.ci.tasks import queue_due_config_reads, queue_due_fetches
from citriage.flaky.tasks import queue_due_checks
from citriage.github.deliveries import QUEUE_BATCH, queue_received_deliveries
from citriage.github.tasks import process_delivery_task
from citriage.ops.models import WorkerHeartbeat
from citriage.testresults.tasks import queue_due_listings, queue_due_test_fetches
from citriage.triage.tasks import queue_due_summaries

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
INTAKE_SECONDS = 0.25  # how often a worker looks for owed work to queue
MAX_OUTAGE_WAIT = 30.0  # longest wait between reconnection tries

# Rows of owed work, and the function that queues tasks for the due ones.
OUTBOXES: list[Callable[[], int]] = [
    queue_received_deliveries,
    queue_due_fetches,
    queue_due_config_reads,
    queue_due_listings,
    queue_due_test_fetches,
    queue_due_checks,
    queue_due_summaries,
]


def queue_owed_work() -> int:
    """Queue tasks for every kind of owed work that is due; how many were queued."""
    return sum(queue() for queue in OUTBOXES)


def recover_stale_tasks() -> int:
    """Requeue RUNNING tasks whose worker stopped beating; returns how many."""
    stale_before = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    alive = set(
        WorkerHeartbeat.objects.filter(last_seen__gte=stale_before, stopped=None).values_list(
            "worker_id", flat=True
        )
    )
    requeued = 0
    with transaction.atomic():
        for task in DBTaskResult.objects.select_for_update().filter(
            status=TaskResultStatus.RUNNING
        ):
            owner = task.worker_ids[-1] if task.worker_ids else None
            if owner in alive:
                continue
            if owner is None and task.started_at and task.started_at > stale_before:
                continue
            task.status = TaskResultStatus.READY
            task.started_at = None
            task.save(update_fields=["status", "started_at"])
            requeued += 1
    if requeued:
        logger.warning("requeued %d task(s) of workers that stopped", requeued)
    return requeued


class _Heartbeat(threading.Thread):
    def __init__(self, worker_id: str) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.worker_id = worker_id
        self.stop = threading.Event()

    def beat(self) -> None:
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "last_seen": timezone.now(),
                "stopped": None,
            },
        )

    def run(self) -> None:
        while not self.stop.wait(HEARTBEAT_SECONDS):
            try:
                self.beat()
            except Exception:  # the database may be briefly away; try again next beat
                logger.exception("heartbeat failed")
            finally:
                close_old_connections()


class _Intake(threading.Thread):
    """Moves owed work (deliveries, log and test fetches, summaries) into the task queue."""

    def __init__(self) -> None:
        super().__init__(name="intake", daemon=True)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                queued = queue_owed_work()
            except Exception:  # the database may be briefly away; try again
                logger.exception("queuing owed work failed")
                queued = 0
            finally:
                close_old_connections()
            if queued < QUEUE_BATCH:
                self.stop.wait(INTAKE_SECONDS)


def _requeue_own(worker_id: str) -> int:
    """After an outage: the task this worker was running when the database went away is
    not finished; it goes back in the queue."""
    own = [
        task.pk
        for task in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)
        if task.worker_ids and task.worker_ids[-1] == worker_id
    ]
    return DBTaskResult.objects.filter(pk__in=own).update(
        status=TaskResultStatus.READY, started_at=None
    )


def _through_outages(action: Callable[[], object], running: Callable[[], bool]) -> None:
    """Do `action` until it ends without the database failing under it: on a failure, log
    it, wait (1 s, doubling up to MAX_OUTAGE_WAIT), reconnect, and do it again."""
    wait = 1.0
    while running():
        try:
            action()
            return
        except DatabaseError as exc:
            logger.error("the database is not reachable (%s); trying again in %.0fs", exc, wait)
            connections.close_all()
            time.sleep(wait)
            wait = min(MAX_OUTAGE_WAIT, wait * 2)


def _run_through_outages(worker: Worker, worker_id: str) -> None:
    """Run the worker; when the database goes away, wait and carry on (never exit). The
    task it was running then is not finished: it goes back in the queue."""
    first = True

    def run() -> None:
        nonlocal first
        if not first and _requeue_own(worker_id):
            logger.warning("requeued the task that was running during the outage")
        first = False
        worker.run()

    _through_outages(run, lambda: worker.running)


def run_worker(*, queues: list[str], interval: float = 1.0, batch: bool = False) -> None:
    worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(6)}"
    heartbeat = _Heartbeat(worker_id)
    _wait_for_database(heartbeat)
    recover_stale_tasks()
    heartbeat.start()
    # Owed work is queued by workers of the default queue: others leave it.
    takes_deliveries = "*" in queues or process_delivery_task.queue_name in queues
    intake = _Intake()
    if takes_deliveries and not batch:
        intake.start()
    worker = Worker(
        queue_names=queues,
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=not batch,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
    worker.configure_signals()
    try:
        if batch:  # owed work queued, then every task; until nothing due is left
            queued = True
            while queued and worker.running:
                queued = takes_deliveries and queue_owed_work() > 0
                worker.run()
        else:
            _run_through_outages(worker, worker_id)
    finally:
        intake.stop.set()
        heartbeat.stop.set()
        close_old_connections()
        try:
            WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped=timezone.now())
        except DatabaseError:
            logger.warning("could not record that worker %s stopped", worker_id)


def _wait_for_database(heartbeat: _Heartbeat) -> None:
    """A worker started while the database is away waits for it."""
    _through_outages(heartbeat.beat, lambda: True)
