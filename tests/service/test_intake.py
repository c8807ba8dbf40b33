"""Accepted deliveries are stored in one statement; workers queue their tasks, each once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.github.deliveries import (
    Received,
    queue_received_deliveries,
    requeue_stuck,
    store_delivery,
)
from citriage.github.models import Delivery, DeliveryStatus
from citriage.github.tasks import process_delivery_task
from citriage.ops.worker import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def received(guid: str, event: str = "ping") -> Received:
    return Received(guid=guid, event=event, action="", repository="", payload='{"zen": "x"}')


def delivery_tasks() -> list[int]:
    """The delivery ids of the queued processing tasks, in queue order."""
    rows = DBTaskResult.objects.filter(task_path=process_delivery_task.module_path)
    return [row.args_kwargs["args"][0] for row in rows.order_by("enqueued_at")]


def test_storing_writes_the_delivery_only_and_refuses_a_repeated_guid() -> None:
    first = store_delivery(received("guid-1"))
    assert first is not None
    assert store_delivery(received("guid-1")) is None
    delivery = Delivery.objects.get()
    assert (delivery.pk, delivery.status, delivery.queued_at) == (
        first,
        DeliveryStatus.PENDING,
        None,
    )
    assert delivery.payload == '{"zen": "x"}' and delivery.received_at is not None
    assert delivery_tasks() == []  # the request path writes no task row


def test_without_insert_returning_the_orm_stores_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SQLite before 3.35 has no INSERT ... RETURNING: the ORM path takes over.
    if connection.vendor != "sqlite":
        pytest.skip("only SQLite may lack INSERT ... RETURNING")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    first = store_delivery(received("guid-1"))
    assert first is not None and store_delivery(received("guid-1")) is None
    assert Delivery.objects.get().pk == first


def test_a_connection_the_database_dropped_is_opened_again() -> None:
    # The stored INSERT runs on the raw connection, past Django's check of a kept one: a
    # connection the server dropped (it restarted) must not turn the next webhook into a 500.
    if connection.vendor != "postgresql":
        pytest.skip("a server-side prepared statement on PostgreSQL (make test's second pass)")
    assert store_delivery(received("before")) is not None  # connected, statement prepared
    dropped = connection.connection.info.backend_pid
    s = connection.settings_dict
    with psycopg.connect(
        host=s["HOST"], port=s["PORT"], user=s["USER"], dbname=s["NAME"], autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dropped])
    assert store_delivery(received("after")) is not None
    assert connection.connection.info.backend_pid != dropped
    assert set(Delivery.objects.values_list("guid", flat=True)) == {"before", "after"}


def test_stored_times_compare_with_the_orm_s() -> None:
    store_delivery(received("raw"))
    Delivery.objects.create(guid="orm", event="ping", payload="{}")
    if connection.vendor == "sqlite":
        # SQLite keeps the time as text: both rows must have the ORM's format, or
        # comparisons and sorting between them go wrong.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT guid, length(received_at) FROM {Delivery._meta.db_table}")
            lengths = dict(cursor.fetchall())
        assert lengths["raw"] == lengths["orm"], lengths
    assert Delivery.objects.filter(received_at__lte=timezone.now()).count() == 2


def test_each_stored_delivery_is_queued_once_in_arrival_order() -> None:
    ids = [store_delivery(received(f"guid-{i}")) for i in range(5)]
    assert queue_received_deliveries(limit=3) == 3
    assert queue_received_deliveries() == 2
    assert queue_received_deliveries() == 0
    assert delivery_tasks() == ids
    assert not Delivery.objects.filter(queued_at=None).exists()


def test_a_batch_worker_queues_and_processes_everything_received() -> None:
    for i in range(3):
        store_delivery(received(f"guid-{i}"))
    run_worker(queues=["*"], interval=0, batch=True)
    assert set(Delivery.objects.values_list("status", "note")) == {("processed", "pong")}
    assert len(delivery_tasks()) == 3


def test_a_worker_of_other_queues_leaves_deliveries_alone() -> None:
    store_delivery(received("guid-1"))
    run_worker(queues=["scan"], interval=0, batch=True)
    assert Delivery.objects.get().queued_at is None
    assert delivery_tasks() == []


def test_concurrent_intakes_queue_each_delivery_once() -> None:
    ids = [store_delivery(received(f"guid-{i}")) for i in range(300)]
    counts: list[int] = []

    def intake() -> None:
        try:
            while queued := queue_received_deliveries(limit=7):
                counts.append(queued)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=intake) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 300
    assert sorted(delivery_tasks()) == sorted(ids)


def test_a_stuck_delivery_is_put_back_for_queuing() -> None:
    long_ago = timezone.now() - timedelta(minutes=10)
    failed, waiting, recent = (store_delivery(received(f"guid-{i}")) for i in range(3))
    queue_received_deliveries()
    Delivery.objects.filter(pk__in=[failed, waiting]).update(queued_at=long_ago)
    # The first one's task failed; the second's is still waiting for a worker.
    DBTaskResult.objects.filter(args_kwargs__args=[failed]).update(status=TaskResultStatus.FAILED)

    assert requeue_stuck() == 1
    assert list(Delivery.objects.filter(queued_at=None).values_list("pk", flat=True)) == [failed]
    assert queue_received_deliveries() == 1
    assert sorted(delivery_tasks()) == sorted([failed, waiting, recent, failed])
    assert recent is not None


@pytest.mark.postgres
def test_a_running_worker_queues_new_deliveries_by_itself(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "a worker process shares the test database on PostgreSQL (make test's second pass)"
        )
    s = connection.settings_dict
    env = {
        **os.environ,
        "CITRIAGE_DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
        "CITRIAGE_DATA_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "citriage.cli", "worker", "--interval", "0.05"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        delivery_id = store_delivery(received("guid-live"))
        deadline = time.monotonic() + 60
        delivery = Delivery.objects.get(pk=delivery_id)
        while delivery.status == DeliveryStatus.PENDING and time.monotonic() < deadline:
            time.sleep(0.1)
            delivery.refresh_from_db()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert (delivery.status, delivery.note) == (DeliveryStatus.PROCESSED, "pong")
    assert delivery.queued_at is not None
