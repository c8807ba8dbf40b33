"""A real worker process, killed at random moments during a large rescan, loses and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from citriage import logstore
from citriage.ci.models import StoredLog
from citriage.demo.logs import FAILURES, generate_log
from citriage.ops.worker import recover_stale_tasks
from citriage.patterns import library, scanning
from citriage.patterns.models import BestMatch, Match, Pattern
from citriage.patterns.tasks import scan_backlog_task
from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import PatternSet
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

LOGS = 400
KILLS = 20


def database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "citriage.cli", "worker", "--interval", "0.05"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def expected_matches(logs: list[StoredLog]) -> set[tuple[int, int, int, int, int]]:
    """What an uninterrupted scan finds: the scanner run directly over every stored log."""
    pattern_set = PatternSet([p.to_scanner() for p in Pattern.objects.prefetch_related("tags")])
    found = set()
    for log in logs:
        text = logstore.load_text(log.storage_key)
        for m in pattern_set.scan(text, step=log.step.name):
            found.add((log.pk, m.pattern_id, m.line, m.start, m.end))
    return found


def wait_until_working(timeout: float = 120.0) -> None:
    """Until the (only) worker has claimed a task."""
    deadline = time.monotonic() + timeout
    busy = DBTaskResult.objects.filter(status="RUNNING")
    while not busy.exists():
        assert time.monotonic() < deadline, "the worker never started a task"
        time.sleep(0.05)


def test_sigkilled_worker_finishes_a_large_rescan_exactly(log_store: Path, tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the kill test runs on PostgreSQL (make test's second pass)")
    library.import_patterns(pattern_files.default_library())
    repo = factories.repository()
    kinds = [None, *FAILURES]
    logs = []
    for i in range(LOGS):
        job = factories.job(repo, name=f"job-{i % 40}", sha=f"{i:040x}")
        kind = kinds[i % len(kinds)]
        logs.append(factories.failed_log(job, generate_log(kind, seed=i, lines=600 + i % 900)))
    expected = expected_matches(logs)
    assert len(expected) > LOGS  # the rescan has real work in it

    env = {
        **os.environ,
        "CITRIAGE_DATABASE_URL": database_url(),
        "CITRIAGE_LOG_STORE": log_store.as_uri(),
        "CITRIAGE_DATA_DIR": str(tmp_path / "worker-data"),
    }
    rng = random.Random(20261122)
    scanning.request_full_rescan(StoredLog.objects.all())
    kills = 0
    progress_seen = set()
    while kills < KILLS:
        recover_stale_tasks()
        scan_backlog_task.enqueue()  # what the scheduler's sweep does when work is waiting
        worker = start_worker(env)
        wait_until_working()  # startup time varies with the machine's load
        time.sleep(rng.uniform(0.1, 5.0))  # then kill it somewhere in its batches of work
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
        left = scanning.backlog().count()
        progress_seen.add(left)
        if left == 0:  # finished between kills: start the large rescan again
            scanning.request_full_rescan(StoredLog.objects.all())
    assert len(progress_seen) > 3  # the kills really landed at different points of the work

    recover_stale_tasks()
    scan_backlog_task.enqueue()
    worker = start_worker(env)
    deadline = time.monotonic() + 300
    while scanning.backlog().exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=60)

    assert not scanning.backlog().exists()
    stored = set(Match.objects.values_list("log_id", "pattern_id", "line", "start", "end"))
    assert stored == expected
    assert Match.objects.count() == len(expected)  # nothing twice
    failed_jobs_with_matches = {
        log.job_id for log in logs if Match.objects.filter(log=log).exists()
    }
    assert set(BestMatch.objects.values_list("job_id", flat=True)) == failed_jobs_with_matches
