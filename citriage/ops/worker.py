"""`citriage worker`: the django-tasks database worker, with a heartbeat.

django-tasks-db marks a task RUNNING when a worker claims it; a worker that
dies (SIGKILL, lost machine) would leave it RUNNING for ever. Each citriage
worker therefore keeps a heartbeat row fresh, and `recover_stale_tasks` (run by
workers at start and by the scheduler) puts the tasks of silent workers back
in the queue. citriage's tasks are idempotent, so running one again is safe.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from citriage.github.intake import QUEUE_BATCH, queue_received_deliveries
from citriage.github.tasks import process_delivery_task
from citriage.ops.models import WorkerHeartbeat

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
INTAKE_SECONDS = 0.25  # how often a worker looks for deliveries to queue


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


class _DeliveryIntake(threading.Thread):
    """Moves newly stored webhook deliveries into the task queue (see github.intake)."""

    def __init__(self) -> None:
        super().__init__(name="delivery-intake", daemon=True)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                queued = queue_received_deliveries()
            except Exception:  # the database may be briefly away; try again
                logger.exception("queuing received deliveries failed")
                queued = 0
            finally:
                close_old_connections()
            if queued < QUEUE_BATCH:
                self.stop.wait(INTAKE_SECONDS)


def run_worker(*, queues: list[str], interval: float = 1.0, batch: bool = False) -> None:
    worker_id = f"{socket.gethostname()[:40]}-{os.getpid()}-{get_random_string(6)}"
    heartbeat = _Heartbeat(worker_id)
    heartbeat.beat()
    recover_stale_tasks()
    heartbeat.start()
    # Delivery tasks go to the default queue: a worker of other queues leaves them.
    takes_deliveries = "*" in queues or process_delivery_task.queue_name in queues
    intake = _DeliveryIntake()
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
        if batch:  # a batch of deliveries, then every task; until no delivery is left
            queued = True
            while queued and worker.running:
                queued = takes_deliveries and queue_received_deliveries() > 0
                worker.run()
        else:
            worker.run()
    finally:
        intake.stop.set()
        heartbeat.stop.set()
        close_old_connections()
        WorkerHeartbeat.objects.filter(worker_id=worker_id).update(stopped=timezone.now())
