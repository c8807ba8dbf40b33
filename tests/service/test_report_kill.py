"""A worker killed (SIGKILL) while GitHub is creating its check run: the next worker
finishes the report, and GitHub ends up with one check run and one comment."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from citriage.ci import recording
from citriage.triage.models import PendingSummary
from tests import factories
from tests.fake_github import FakeGitHub, app_private_key
from tests.service.test_worker_kill import start_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

SHA = "ab" * 20


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus)
    yield fake
    fake.close()


def wait_for(condition: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_report_leaves_one_check_run_and_one_comment(
    github: FakeGitHub, log_store: Path, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the kill test runs on PostgreSQL (make test's second pass)")
    repository = recording.get_repository("acme/rocket", create=True, providers=["circleci"])
    recording.record_commit(repository, SHA, message="Add the thing")
    recording.record_pull_request(repository, 7, head_sha=SHA, author_login="octo")
    factories.failed_log(factories.job(repository, name="build", sha=SHA), "boom\n")
    now = timezone.now()
    PendingSummary.objects.update(report_at=now, next_at=now)  # its cool-off is over

    pem = app_private_key()
    s = connection.settings_dict
    env = {
        **os.environ,
        "CITRIAGE_DATABASE_URL": f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}",
        "CITRIAGE_LOG_STORE": log_store.as_uri(),
        "CITRIAGE_DATA_DIR": str(tmp_path / "worker-data"),
        "CITRIAGE_GITHUB_APP_ID": "123",
        "CITRIAGE_GITHUB_PRIVATE_KEY": pem,
        "CITRIAGE_GITHUB_API_URL": github.url,
        "CITRIAGE_COOL_OFF_SECONDS": "0",
        "CITRIAGE_WORKER_STALE_SECONDS": "2",
    }
    # GitHub creates the check run, then takes its time to answer: the worker is killed
    # in the middle of the call, before it knows the check run's id.
    github.fail("POST", r"/check-runs$", None, act_first=True, delay=60)
    worker = start_worker(env)
    wait_for(lambda: github.check_runs, "the check run to be created")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert len(github.check_runs) == 1 and not github.comments
    assert PendingSummary.objects.get().reported_at is None

    time.sleep(3)  # the dead worker's heartbeat goes stale; a new worker takes over
    worker = start_worker(env)
    try:
        wait_for(
            lambda: PendingSummary.objects.get().reported_at is not None, "the report to be done"
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert len(github.check_runs) == 1  # adopted, not created again
    [run] = github.check_runs.values()
    assert run["head_sha"] == SHA and run["conclusion"] == "failure"
    assert len(github.comments) == 1
    assert len(github.server.seen("POST", "/repos/acme/rocket/check-runs")) == 1
