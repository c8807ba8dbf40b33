"""On SQLite, a worker scanning a large backlog leaves the database free for other
writers: heartbeats and the intake write within moments, not after the scan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.ci.models import StoredLog
from citriage.demo.logs import FAILURES, generate_log
from citriage.ops.models import WorkerHeartbeat
from citriage.patterns import library, scanning
from citriage.patterns.tasks import scan_backlog_task
from citriage.scanner import patterns as pattern_files
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LOGS = 240
LONGEST_WAIT = 3.0  # seconds a write may wait for the scanning worker (a scan round is ~2 s)


def test_writes_go_through_while_a_worker_scans_a_backlog(log_store: Path, tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database: nothing to wait for")
    library.import_patterns(pattern_files.default_library())
    repo = factories.repository()
    kinds = [None, *FAILURES]
    for i in range(LOGS):
        job = factories.job(repo, name=f"job-{i % 40}", sha=f"{i:040x}")
        log = generate_log(kinds[i % len(kinds)], seed=i, lines=3000 + i % 2000)
        factories.failed_log(job, log)
    DBTaskResult.objects.all().delete()  # the per-log scans: the backlog scan does them all
    scan = scan_backlog_task.enqueue()

    stderr = tmp_path / "worker.err"
    env = {
        **os.environ,
        "CITRIAGE_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "CITRIAGE_LOG_STORE": log_store.as_uri(),
        "CITRIAGE_DATA_DIR": str(tmp_path / "worker-data"),
    }
    with stderr.open("w") as err:
        worker = subprocess.Popen(
            [sys.executable, "-m", "citriage.cli", "worker", "--interval", "0.05"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    waits = []
    try:
        task = DBTaskResult.objects.filter(id=scan.id)
        deadline = time.monotonic() + 120
        while task.filter(status=TaskResultStatus.READY).exists():
            assert time.monotonic() < deadline, "the worker never started the scan"
            time.sleep(0.05)
        started = time.monotonic()
        deadline = started + 600
        while task.filter(status=TaskResultStatus.RUNNING).exists():
            assert time.monotonic() < deadline, "the scan never ended"
            before = time.monotonic()
            WorkerHeartbeat.objects.update_or_create(  # what the heartbeat thread writes
                worker_id="probe",
                defaults={"hostname": "test", "pid": 1, "last_seen": timezone.now()},
            )
            waits.append(time.monotonic() - before)
            time.sleep(0.2)
        scan_seconds = time.monotonic() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    assert DBTaskResult.objects.get(id=scan.id).status == TaskResultStatus.SUCCESSFUL
    assert not scanning.backlog().exists()
    assert StoredLog.objects.filter(scan_error="").count() == LOGS
    # the scan lasted many of its ~2 s rounds: a writer starved by it would have waited long
    assert scan_seconds > 2 * LONGEST_WAIT, f"the scan took only {scan_seconds:.1f} s"
    assert max(waits) < LONGEST_WAIT, f"a write waited {max(waits):.1f} s ({sorted(waits)[-5:]})"
    assert len(waits) > 20
    worker_log = stderr.read_text()
    assert "database is locked" not in worker_log and "Traceback" not in worker_log, worker_log
