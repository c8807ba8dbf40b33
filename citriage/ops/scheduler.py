"""`citriage scheduler`: periodic sweeps that only enqueue tasks.

Each sweep claims its time slot by inserting a PeriodicRun row (unique per
name and slot) in the same transaction as its enqueues, so when two
schedulers run, one of them does the sweep and the other finds the slot taken.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.ops.models import PeriodicRun
from citriage.ops.worker import recover_stale_tasks

logger = logging.getLogger(__name__)

Sweep = Callable[[], str]
SWEEPS: dict[str, tuple[Callable[[], int], Sweep]] = {}


def sweep(name: str, every: Callable[[], int]) -> Callable[[Sweep], Sweep]:
    """Register a periodic sweep; `every` gives its period in seconds (read at start)."""

    def register(function: Sweep) -> Sweep:
        SWEEPS[name] = (every, function)
        return function

    return register


def is_queued(task_path: str) -> bool:
    return DBTaskResult.objects.filter(task_path=task_path, status=TaskResultStatus.READY).exists()


def run_once(name: str, period: int, now: float | None = None) -> str | None:
    """Run sweep `name` for the current slot unless another scheduler already did."""
    slot = int((now if now is not None else time.time()) // period * period)
    _every, function = SWEEPS[name]
    try:
        with transaction.atomic():
            run = PeriodicRun.objects.create(name=name, slot=slot)
            result = function()
            run.result = result[:500]
            run.save(update_fields=["result"])
    except IntegrityError:
        return None  # another scheduler has this slot
    logger.info("sweep %s: %s", name, result)
    return result


def requeue_stuck_deliveries() -> int:
    """Deliveries still pending long after they were queued, with no task queued or
    running for them (a task lost with a database restore, or one that failed): mark
    them not queued, so that a worker queues them again."""
    from datetime import timedelta

    from django.utils import timezone

    from citriage.github.models import Delivery, DeliveryStatus
    from citriage.github.tasks import process_delivery_task

    old = timezone.now() - timedelta(minutes=5)
    queued = {
        args["args"][0]
        for args in DBTaskResult.objects.filter(
            task_path=process_delivery_task.module_path,
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        ).values_list("args_kwargs", flat=True)
        if args.get("args")
    }
    stuck = Delivery.objects.filter(status=DeliveryStatus.PENDING, queued_at__lt=old).exclude(
        pk__in=queued
    )
    return Delivery.objects.filter(pk__in=list(stuck.values_list("pk", flat=True)[:1000])).update(
        queued_at=None
    )


@sweep("recover-and-scan", lambda: settings.SCAN_SWEEP_SECONDS)
def recover_and_scan() -> str:
    from citriage.patterns import scanning
    from citriage.patterns.tasks import scan_backlog_task

    requeued = recover_stale_tasks() + requeue_stuck_deliveries()
    behind = scanning.backlog().count()
    if behind and not is_queued(scan_backlog_task.module_path):
        transaction.on_commit(lambda: scan_backlog_task.enqueue())
        return f"requeued {requeued}; backlog {behind}: scan queued"
    return f"requeued {requeued}; backlog {behind}"


def _tick(name: str, period: int) -> None:
    try:
        run_once(name, period)
    except Exception:  # a failed sweep is logged; the next tick tries again
        logger.exception("sweep %s failed", name)
    finally:
        close_old_connections()


SWEEP_MODULES = ["citriage.ci.sweeps"]


def run_scheduler() -> None:
    import importlib

    for module in SWEEP_MODULES:
        importlib.import_module(module)  # registers its sweeps
    scheduler = BlockingScheduler(timezone="UTC")
    for name, (every, _function) in SWEEPS.items():
        period = every()
        scheduler.add_job(
            _tick,
            "interval",
            seconds=period,
            args=[name, period],
            id=name,
            max_instances=1,
            coalesce=True,
        )
        _tick(name, period)  # once at start, then on every tick
    logger.info("scheduler started: %s", ", ".join(SWEEPS))
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
