"""Accepting deliveries, and moving them into the task queue.

The webhook endpoint answers once the delivery is stored: one INSERT, one
commit. The stored row, still marked not queued (`queued_at` null), is the
durable record that processing is owed (an outbox). Workers move such rows
into the task queue in batches (`queue_received_deliveries`, a few times a
second), each batch one transaction that marks the rows and queues their
tasks; the request path never pays for a task row. A delivery whose task was
lost is put back (`queued_at` cleared) by the scheduler's sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import psycopg
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.github.models import Delivery, DeliveryStatus
from citriage.github.tasks import process_delivery_task

QUEUE_BATCH = 500
STUCK_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class Received:
    guid: str
    event: str
    action: str
    repository: str  # owner/name, or ""
    payload: str  # the body as received


@cache
def _insert() -> str:
    # ON CONFLICT ... RETURNING: PostgreSQL, and SQLite since 3.35. A repeated GUID
    # returns no row instead of raising, so there is no transaction to roll back.
    return f"""
        INSERT INTO {Delivery._meta.db_table}
            (guid, event, action, repository, payload, received_at, status, note)
        VALUES (%s, %s, %s, %s, %s, %s, %s, '')
        ON CONFLICT (guid) DO NOTHING
        RETURNING id
    """


def store_delivery(received: Received) -> int | None:
    """Store an accepted delivery; its id, or None when its GUID was received before."""
    if not connection.features.can_return_columns_from_insert:  # SQLite before 3.35
        return _store_with_the_orm(received)
    values = [
        received.guid,
        received.event,
        received.action,
        received.repository,
        received.payload,
        connection.ops.adapt_datetimefield_value(timezone.now()),
        DeliveryStatus.PENDING.value,
    ]
    if connection.vendor == "postgresql":
        row = _insert_prepared(values)
    else:
        with connection.cursor() as cursor:
            cursor.execute(_insert(), values)
            row = cursor.fetchone()
    return row[0] if row else None


def _insert_prepared(values: Sequence[object]) -> tuple[int] | None:
    """The INSERT as a server-side prepared statement: parsed and planned once per
    connection, with the values sent apart (Django's cursors bind them into the SQL text)."""
    try:
        return _execute_prepared(values)
    except OperationalError:
        # Django health-checks a kept connection only when it opens a cursor, and this
        # one is raw: a connection the database dropped (it restarted) shows up here.
        # Reconnect once; the INSERT is idempotent (ON CONFLICT DO NOTHING).
        if not connection.connection.closed:
            raise
        connection.close()
        return _execute_prepared(values)


def _execute_prepared(values: Sequence[object]) -> tuple[int] | None:
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as raw:
        return raw.execute(_insert(), values, prepare=True).fetchone()


def _store_with_the_orm(received: Received) -> int | None:
    try:
        with transaction.atomic():
            delivery = Delivery.objects.create(
                guid=received.guid,
                event=received.event,
                action=received.action,
                repository=received.repository,
                payload=received.payload,
            )
    except IntegrityError:
        return None
    return delivery.pk


def queue_received_deliveries(limit: int = QUEUE_BATCH) -> int:
    """Queue a processing task for up to `limit` deliveries not yet queued; how many.

    Rows another worker is queuing at the same moment are skipped (SKIP LOCKED on
    PostgreSQL; SQLite runs one writing transaction at a time), so each delivery
    gets one task.
    """
    waiting = Delivery.objects.filter(status=DeliveryStatus.PENDING, queued_at=None)
    if not waiting.exists():  # a read: no write lock taken when there is nothing to do
        return 0
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=DeliveryStatus.PENDING, queued_at=None)
            .order_by("received_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Delivery.objects.filter(pk__in=ids).update(queued_at=timezone.now())
            for delivery_id in ids:
                process_delivery_task.enqueue(delivery_id)
    return len(ids)


def requeue_stuck() -> int:
    """Deliveries still pending long after they were queued, with no task waiting or
    running for them (a task lost with a database restore, a try that failed): marked
    not queued, so that a worker queues them again."""
    old = timezone.now() - STUCK_AFTER
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
