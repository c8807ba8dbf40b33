"""Health of each process, and migrating once: `citriage check --process worker|scheduler`
and `--url`, a queue that does not move, `citriage migrate` with
CITRIAGE_MIGRATE_ON_START off (no other command migrates then)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from citriage.ops import health
from citriage.ops.models import PeriodicRun, WorkerHeartbeat
from citriage.patterns.tasks import scan_backlog_task


@pytest.mark.django_db
def test_a_queue_that_does_not_move_is_unhealthy() -> None:
    WorkerHeartbeat.objects.create(worker_id="w", hostname="elsewhere", pid=1)
    waiting = scan_backlog_task.enqueue()
    assert health.queue().ok
    DBTaskResult.objects.filter(id=waiting.id).update(
        enqueued_at=timezone.now() - timedelta(minutes=20)
    )
    with override_settings(QUEUE_STALE_SECONDS=900):
        check = health.queue()
    assert not check.ok and "waited 1200 s" in check.detail
    # a task not due yet (queued for later) does not count as waiting
    DBTaskResult.objects.filter(id=waiting.id).update(run_after=timezone.now() + timedelta(hours=1))
    assert health.queue().ok


@pytest.mark.django_db
def test_process_checks_see_this_machines_worker_and_the_scheduler() -> None:
    assert not health.this_worker().ok
    WorkerHeartbeat.objects.create(worker_id="far", hostname="elsewhere", pid=1)
    assert not health.this_worker().ok  # a worker on another machine does not count
    WorkerHeartbeat.objects.create(worker_id="near", hostname=socket.gethostname(), pid=2)
    assert health.this_worker().ok
    assert not health.scheduler().ok
    PeriodicRun.objects.create(name="recover-and-scan", slot=1, ran_at=timezone.now())
    assert health.scheduler().ok
    PeriodicRun.objects.update(ran_at=timezone.now() - timedelta(hours=1))
    assert not health.scheduler().ok


def cli_env(tmp_path: Path) -> dict[str, str]:
    """An environment of citriage's own, in `tmp_path`, that migrates only when asked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITRIAGE_")}
    env.update(
        CITRIAGE_DATA_DIR=str(tmp_path / "data"),
        CITRIAGE_DEFAULT_LIBRARY="false",
        CITRIAGE_MIGRATE_ON_START="false",
    )
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "citriage.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def free_url() -> str:
    """An address where nothing answers."""
    with socket.socket() as port:
        port.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{port.getsockname()[1]}"


def test_migrate_once_then_commands_start_without_migrating(tmp_path: Path) -> None:
    env = cli_env(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(env, *args)

    # nothing migrated the database: a command that needs its tables fails
    assert cli("repos", "list").returncode != 0
    unready = cli("check", "--no-queue", "--process", "worker")
    assert unready.returncode == 1 and "worker: failing" in unready.stdout
    migrated = cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database migrated; log store ready" in migrated.stdout
    assert (tmp_path / "data" / "logs").is_dir()
    assert cli("repos", "list").returncode == 0
    ready = cli("check", "--no-queue")
    assert ready.returncode == 0 and "database: ok" in ready.stdout
    # the scheduler has not run, and nothing answers at this URL
    url = f"http://{free_url()}/healthz"
    down = cli("check", "--no-queue", "--process", "scheduler", "--url", url)
    assert down.returncode == 1
    assert "scheduler: failing" in down.stdout and "web: failing" in down.stdout
    assert cli("check", "--process", "web").returncode == 2  # not a process it checks


def test_check_exits_non_zero_naming_the_database_log_store_or_queue_that_fails(
    tmp_path: Path,
) -> None:
    env = cli_env(tmp_path)
    assert run_cli(env, "migrate").returncode == 0
    # migrated, but no worker has ever run: the queue is unhealthy
    no_worker = run_cli(env, "check")
    assert no_worker.returncode == 1
    assert "database: ok" in no_worker.stdout and "queue: failing" in no_worker.stdout
    # a log store that cannot be written (its folder would be inside a file)
    (tmp_path / "a-file").write_text("")
    unwritable = {**env, "CITRIAGE_LOG_STORE": (tmp_path / "a-file" / "logs").as_uri()}
    store_down = run_cli(unwritable, "check", "--no-queue")
    assert store_down.returncode == 1
    assert "log store: failing" in store_down.stdout and "database: ok" in store_down.stdout
    # a database server that does not answer
    gone = {**env, "CITRIAGE_DATABASE_URL": f"postgres://citriage@{free_url()}/citriage"}
    database_down = run_cli(gone, "check", "--no-queue")
    assert database_down.returncode == 1 and "database: failing" in database_down.stdout
