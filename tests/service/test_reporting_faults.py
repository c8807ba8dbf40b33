"""Reports reach GitHub exactly once, whatever GitHub does meanwhile: refuse connections,
answer 502 after acting, hit a secondary rate limit; identical re-deliveries write
nothing; several deliveries of one failed job make one log fetch."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from citriage.ci import github_app, recording
from citriage.ci.models import JobAttempt, LogState, Provider
from citriage.ops.worker import run_worker
from citriage.triage.models import PendingSummary
from tests.fake_github import FakeGitHub, app_private_key
from tests.fakes import Reply, sign
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
REPO = "Codertocat/Hello-World"
JOB = "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json"
LOG = b"Run ./gradlew test\n> Task :test FAILED\nFAILURE: Build failed with an exception.\n"


def closed_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus)
    yield fake
    fake.close()


@pytest.fixture
def configured(github: FakeGitHub, log_store: Path) -> Iterator[None]:
    pem = app_private_key()
    with override_settings(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=pem,
        GITHUB_API_URL=github.url,
        HTTP_BACKOFF=0.01,
        HTTP_RETRIES=2,
        COOL_OFF_SECONDS=0,
    ):
        github_app._tokens.cache_clear()
        yield
        github_app._tokens.cache_clear()


@pytest.fixture
def job_payload(corpus: Path, github: FakeGitHub) -> dict[str, Any]:
    """A failed Actions job on the head of pull request #1 of a watched repository."""
    payload = load(corpus / JOB)
    payload["repository"]["full_name"] = REPO
    repository = recording.get_repository(REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    sha = payload["workflow_job"]["head_sha"]
    recording.record_commit(repository, sha, message="Try the thing")
    recording.record_pull_request(repository, 1, head_sha=sha, author_login="octocat")
    github.job_logs[payload["workflow_job"]["id"]] = LOG
    return dict(payload)


def deliver(live_server: Any, event: str, payload: dict[str, Any]) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),  # a re-delivery has a new id
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    return httpx.post(f"{live_server.url}/webhooks/github", content=body, headers=headers)


def work() -> None:
    run_worker(queues=["*"], interval=0, batch=True)


def report_due_now() -> None:
    """Time passes: the report's retry (or cool-off) is due."""
    now = timezone.now()
    PendingSummary.objects.exclude(report_at=None).update(report_at=now, next_at=now)


def test_a_report_outlives_github_being_down_and_is_posted_exactly_once(
    live_server: Any, github: FakeGitHub, configured: None, job_payload: dict[str, Any]
) -> None:
    # GitHub refuses connections: the job is recorded, its report stays owed
    with override_settings(GITHUB_API_URL=f"http://127.0.0.1:{closed_port()}"):
        github_app._tokens.cache_clear()
        assert deliver(live_server, "workflow_job", job_payload).status_code == 202
        work()
    pending = PendingSummary.objects.get()
    assert pending.report_attempts >= 1 and "Connect" in pending.report_error
    assert pending.report_at > timezone.now() and pending.reported_at is None
    assert not github.check_runs and not github.comments

    # GitHub is back but creates the check run and answers 502 (the create is not sent
    # again by the client: a second POST would make a second check run)
    github_app._tokens.cache_clear()
    github.fail("POST", r"/check-runs$", Reply(502, b"bad gateway"), act_first=True)
    report_due_now()
    work()
    assert len(github.check_runs) == 1
    assert PendingSummary.objects.get().reported_at is None  # not known to be done

    # then a secondary rate limit while citriage looks for what it may have created
    github.fail(
        "GET",
        r"/check-runs$",
        Reply(403, b'{"message": "secondary rate limit"}', {"Retry-After": "1"}),
    )
    report_due_now()
    work()
    pending = PendingSummary.objects.get()
    assert pending.reported_at is not None and pending.report_attempts == 0
    [run] = github.check_runs.values()
    assert run["status"] == "in_progress"  # the log, refused with the rest, is still owed

    # its retry is due: the log is fetched, and the report says what failed
    JobAttempt.objects.update(fetch_after=timezone.now())
    work()
    assert JobAttempt.objects.get().log_state == LogState.FETCHED
    [run] = github.check_runs.values()
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert "1 unmatched failure" in run["output"]["title"]
    assert len(github.comments) == 1
    [comment] = github.comments.values()
    assert "CI / " in comment["body"] or "linters" in comment["body"]

    # the same final delivery again, twice: nothing is written, nothing sent
    writes = len(github.writes())
    assert deliver(live_server, "workflow_job", job_payload).status_code == 202
    assert deliver(live_server, "workflow_job", job_payload).status_code == 202
    work()
    report_due_now()
    work()
    assert len(github.writes()) == writes
    assert len(github.check_runs) == 1 and len(github.comments) == 1


def test_several_deliveries_of_a_failed_job_make_one_log_fetch(
    live_server: Any, github: FakeGitHub, configured: None, job_payload: dict[str, Any]
) -> None:
    github.fail("GET", r"/logs$", Reply(500, b"storage is down"), times=100)
    for _ in range(4):
        assert deliver(live_server, "workflow_job", job_payload).status_code == 202
    work()
    job = JobAttempt.objects.get()
    assert job.log_state == LogState.PENDING_RETRY and job.fetch_attempts == 1
    fetches = DBTaskResult.objects.filter(task_path="citriage.ci.tasks.fetch_logs_task")
    assert fetches.count() == 1
    assert len(github.server.seen("GET", f"/repos/{REPO}/actions/jobs/{job.provider_id}/logs")) == (
        1 + 2  # one fetch, retried twice by the HTTP client
    )
    # more deliveries while the retry waits: they join it
    for _ in range(3):
        deliver(live_server, "workflow_job", job_payload)
    work()
    job.refresh_from_db()
    assert job.fetch_attempts == 1 and fetches.count() == 1
    # the retry is due: one more try, which succeeds
    github.faults.clear()
    JobAttempt.objects.filter(pk=job.pk).update(fetch_after=timezone.now())
    work()
    job.refresh_from_db()
    assert job.log_state == LogState.FETCHED and fetches.count() == 2
