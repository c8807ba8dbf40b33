"""GitHub's rate limits: citriage keeps to the budget a fake GitHub enforces, as GitHub
does. Reads stop at the reserve (their rows deferred to the window's reset, no try
counted) while reports go on; a secondary limit defers instead of sleeping; what
GitHub would refuse is not sent; repeated GETs are conditional (304s cost nothing);
/system/ shows what is left."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from citriage.ci import actions, recording
from citriage.ci.models import JobAttempt, LogState, Provider, RateBudget, StoredLog
from citriage.ops.worker import run_worker
from citriage.testresults.models import OWED, RunArtifacts, TestFetch
from citriage.triage.models import PendingSummary
from tests import fakes
from tests.fake_github import INSTALLATION, TOKEN, FakeGitHub, app_on
from tests.fakes import Reply
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
REPO = "Codertocat/Hello-World"
JOB = "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json"
RUN_JOBS = "github-api/workflow-jobs/pygithub.WorkflowRun.test_jobs.1.json"
LOG = b"Run ./gradlew test\n> Task :test FAILED\nFAILURE: Build failed with an exception.\n"
IDENTITY = f"installation {INSTALLATION}"


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus, rate_limit=20)
    yield fake
    fake.close()


@pytest.fixture
def configured(github: FakeGitHub, log_store: Path) -> Iterator[None]:
    with app_on(
        github,
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_RATE_RESERVE=0.5,  # reads stop below 10 of 20 calls left; reports below 1
        HTTP_BACKOFF=0.01,
        HTTP_RETRIES=2,
        COOL_OFF_SECONDS=0,
    ):
        yield


@pytest.fixture
def repository() -> Any:
    return recording.get_repository(REPO, create=True, providers=[Provider.GITHUB_ACTIONS])


def failed_job(corpus: Path, github: FakeGitHub, job_id: int) -> dict[str, Any]:
    """The recorded failed workflow_job delivery, as job `job_id` (its log served)."""
    payload = load(corpus / JOB)
    payload["repository"]["full_name"] = REPO
    payload["workflow_job"]["id"] = job_id
    payload["workflow_job"]["name"] = f"test {job_id}"
    github.job_logs[job_id] = LOG
    return dict(payload)


def deliver(live_server: Any, event: str, payload: dict[str, Any]) -> None:
    assert fakes.deliver(live_server.url, SECRET, event, payload) == 202


def work() -> None:
    run_worker(queues=["*"], interval=0, batch=True)


def log_downloads(github: FakeGitHub, job_id: int) -> int:
    return len([r for r in github.server.requests if r.path.endswith(f"/jobs/{job_id}/logs")])


def test_reads_stop_at_the_reserve_while_reports_go_on_and_nothing_is_refused(
    live_server: Any, corpus: Path, github: FakeGitHub, configured: None, repository: Any
) -> None:
    first, second = failed_job(corpus, github, 501), failed_job(corpus, github, 502)
    github.used[TOKEN] = 11  # the installation already spent 11 of its 20 calls this hour
    deliver(live_server, "workflow_job", first)
    deliver(live_server, "workflow_job", second)
    work()

    # the first fetch learnt that 8 calls are left: below the reads' reserve of 10, so the
    # second fetch was not made but deferred to the window's reset, without a try counted;
    # the report's check run took one more call
    budget = RateBudget.objects.get(identity=IDENTITY)
    assert (budget.limit, budget.remaining) == (20, 7)
    held = JobAttempt.objects.get(provider_id="502")
    assert held.log_state == LogState.PENDING and held.fetch_attempts == 0
    assert held.fetch_after >= budget.resets_at - timedelta(seconds=1)
    assert held.fetch_after > timezone.now() + timedelta(minutes=30)
    assert "kept back" in held.log_error
    assert log_downloads(github, 501) == 1 and log_downloads(github, 502) == 0
    assert JobAttempt.objects.get(provider_id="501").log_state == LogState.FETCHED
    # the report still went out (reports keep going down to a tenth of the reserve)
    assert [w[2] for w in github.check_run_writes] == ["in_progress"]
    assert sum(github.refused.values()) == 0

    # a new hour: the deferred fetch is made and the report completed
    github.window_start -= github.rate_window
    RateBudget.objects.update(resets_at=timezone.now() - timedelta(seconds=1))
    JobAttempt.objects.filter(pk=held.pk).update(fetch_after=timezone.now())
    work()
    held.refresh_from_db()
    assert held.log_state == LogState.FETCHED and held.fetch_attempts == 0
    assert StoredLog.objects.filter(job=held).count() == 1
    assert github.check_run_writes[-1][2] == "completed"
    assert len(github.check_runs) == 1 and sum(github.refused.values()) == 0


def test_an_exhausted_budget_is_refused_once_then_waited_for(
    live_server: Any, corpus: Path, github: FakeGitHub, configured: None, repository: Any
) -> None:
    github.used[TOKEN] = github.rate_limit or 0  # spent elsewhere; citriage does not know
    deliver(live_server, "workflow_job", failed_job(corpus, github, 601))
    deliver(live_server, "workflow_job", failed_job(corpus, github, 602))
    work()
    # the first call was refused (403, nothing left): the identity is held off until the
    # reset and nothing more was sent; the fetches and the report wait, no try counted
    assert github.refused[TOKEN] == 1
    budget = RateBudget.objects.get(identity=IDENTITY)
    assert budget.remaining == 0 and budget.held_until is not None
    assert budget.held_until > timezone.now() + timedelta(minutes=30)
    for job in JobAttempt.objects.all():
        assert job.log_state == LogState.PENDING and job.fetch_attempts == 0
        assert job.fetch_after >= budget.held_until - timedelta(seconds=2)
    pending = PendingSummary.objects.get()
    assert pending.report_attempts == 0 and pending.report_at > timezone.now() + timedelta(
        minutes=30
    )
    assert "rate limited" in pending.report_error
    assert not github.check_runs


def test_a_secondary_limit_defers_the_report_instead_of_sleeping(
    live_server: Any, corpus: Path, github: FakeGitHub, configured: None, repository: Any
) -> None:
    github.fail(
        "POST",
        r"/check-runs$",
        Reply(
            403, b'{"message": "You have exceeded a secondary rate limit."}', {"Retry-After": "120"}
        ),
    )
    deliver(live_server, "workflow_job", failed_job(corpus, github, 701))
    started = time.monotonic()
    work()
    assert time.monotonic() - started < 60  # the 120 s were not slept in the worker
    pending = PendingSummary.objects.get()
    assert pending.reported_at is None and pending.report_attempts == 0
    later = timezone.now() + timedelta(seconds=100)
    assert later < pending.report_at < timezone.now() + timedelta(seconds=130)
    assert RateBudget.objects.get(identity=IDENTITY).held_until > later

    # while held off, another job's fetch does not call GitHub: it is deferred too
    deliver(live_server, "workflow_job", failed_job(corpus, github, 702))
    work()
    assert log_downloads(github, 702) == 0
    assert JobAttempt.objects.get(provider_id="702").fetch_after > later

    # the limit over, the report is posted once
    RateBudget.objects.update(held_until=None)
    PendingSummary.objects.update(report_at=timezone.now(), next_at=timezone.now())
    JobAttempt.objects.update(fetch_after=timezone.now())
    work()
    # (a 403 rate limit is not GitHub refusing check runs: no fallback to a status)
    assert len(github.check_runs) == 1 and not github.statuses
    assert PendingSummary.objects.get().reported_at is not None


@pytest.mark.parametrize(
    ("reply", "wait"),
    [
        (Reply(429, b'{"message": "too many requests"}', {"Retry-After": "90"}), 90),
        # a secondary limit that does not say for how long: GitHub asks for a minute
        (Reply(403, b'{"message": "You have exceeded a secondary rate limit."}'), 60),
    ],
    ids=["429-retry-after", "403-secondary-without-time"],
)
def test_a_limited_log_fetch_is_deferred_for_as_long_as_asked_without_a_try(
    live_server: Any,
    corpus: Path,
    github: FakeGitHub,
    configured: None,
    repository: Any,
    reply: Reply,
    wait: int,
) -> None:
    github.fail("GET", r"/jobs/801/logs$", reply)
    deliver(live_server, "workflow_job", failed_job(corpus, github, 801))
    asked = timezone.now()
    work()
    job = JobAttempt.objects.get(provider_id="801")
    assert job.log_state == LogState.PENDING and job.fetch_attempts == 0
    assert log_downloads(github, 801) == 1  # asked once, not retried in the worker
    low, high = asked + timedelta(seconds=wait - 5), timezone.now() + timedelta(seconds=wait + 5)
    assert low < job.fetch_after < high
    assert low < RateBudget.objects.get(identity=IDENTITY).held_until < high

    # the time over, the log is fetched once more and stored
    RateBudget.objects.update(held_until=None)
    JobAttempt.objects.update(fetch_after=timezone.now())
    work()
    job.refresh_from_db()
    assert job.log_state == LogState.FETCHED and job.fetch_attempts == 0
    assert log_downloads(github, 801) == 2
    assert StoredLog.objects.filter(job=job).count() == 1


def test_a_limited_test_results_fetch_is_deferred_without_a_try(
    live_server: Any, corpus: Path, github: FakeGitHub, configured: None, repository: Any
) -> None:
    limited = Reply(429, b'{"message": "too many requests"}', {"Retry-After": "90"})
    github.fail("GET", r"/actions/runs/\d+/artifacts", limited)
    deliver(live_server, "workflow_job", failed_job(corpus, github, 901))
    asked = timezone.now()
    work()
    owed = TestFetch.objects.get(job__provider_id="901")
    assert owed.state in OWED and owed.attempts == 0
    # the run's artifact list is owed again when the limit ends; the job waits for it
    listing = RunArtifacts.objects.get()
    assert listing.attempts == 0 and listing.task is None and "rate limited" in listing.error
    assert asked + timedelta(seconds=85) < listing.next_at < timezone.now() + timedelta(seconds=95)
    assert owed.fetch_after is None


def test_repeated_gets_are_conditional_and_cost_no_budget(
    corpus: Path, github: FakeGitHub, configured: None, repository: Any
) -> None:
    listed = load(corpus / RUN_JOBS)["jobs"]
    run_id = int(listed[0]["run_id"])
    for job in listed:
        github.jobs[int(job["id"])] = job
    source = actions.ActionsSource()
    assert source.sync_run(repository, run_id)["jobs"] == len(listed)
    spent = github.used[TOKEN]
    recorded = list(JobAttempt.objects.order_by("id").values_list("provider_id", "status"))

    # the same run again (a backfill, a late workflow_run): answered 304 from the cache
    assert source.sync_run(repository, run_id)["jobs"] == len(listed)
    assert github.not_modified == 1 and github.used[TOKEN] == spent
    assert list(JobAttempt.objects.order_by("id").values_list("provider_id", "status")) == (
        recorded
    )
    assert RateBudget.objects.get(identity=IDENTITY).remaining == 20 - spent

    # a changed answer is a full one again
    github.jobs[int(listed[0]["id"])] = {**listed[0], "name": "renamed"}
    source.sync_run(repository, run_id)
    assert github.not_modified == 1 and github.used[TOKEN] == spent + 1


def test_the_system_page_shows_what_is_left(
    client: Any, corpus: Path, github: FakeGitHub, configured: None, repository: Any
) -> None:
    github.used[TOKEN] = 5
    listed = load(corpus / RUN_JOBS)["jobs"]
    for job in listed:
        github.jobs[int(job["id"])] = job
    actions.ActionsSource().sync_run(repository, int(listed[0]["run_id"]))
    page = client.get("/system/").content.decode()
    assert IDENTITY in page and "14 of 20" in page
    api = client.get("/api/system").json()
    row = next(b for b in api["github_budgets"] if b["identity"] == IDENTITY)
    assert (row["remaining"], row["limit"]) == (14, 20)
