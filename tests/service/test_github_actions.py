"""GitHub Actions end to end: signed workflow_job/workflow_run webhooks in, a fake GitHub
serving recorded job lists and real job logs, a real worker, logs split into steps,
stored, matched, verdicts, and citriage's check run updated."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from citriage import logstore
from citriage.ci import actions, fetching, github_app, recording
from citriage.ci.actions import ActionsSource
from citriage.ci.models import (
    Commit,
    ExternalCheck,
    JobAttempt,
    LogState,
    RerunRequest,
    StoredLog,
)
from citriage.ci.tasks import request_rerun
from citriage.github.models import Delivery, DeliveryStatus
from citriage.ops.worker import run_worker
from citriage.patterns import library
from citriage.patterns.models import Match
from citriage.triage.models import CommitSummary, JobVerdict, Verdict
from tests import factories
from tests.fake_github import app_private_key
from tests.fakes import FakeServer, Reply, Seen, json_reply, sign
from tests.gha_corpus import load, run_view_log

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
REPO = "Codertocat/Hello-World"
API = f"/repos/{REPO}"
JOB_ID = 289782451
RUN_ID = 2202229078
SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
TOKEN = "ghs_installation_token"
CIDIFF = "logs/github-actions/cidiff/cidiff_11"


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeServer]:
    """A fake GitHub: App installation and token, check runs, job logs behind a redirect."""
    server = FakeServer()
    check_run = load(corpus / "github-api/check-runs/pygithub.CheckRun.setUp.1.json")
    server.on("GET", f"{API}/installation", json_reply({"id": 4242, "app_id": 1}))
    server.on(
        "POST",
        "/app/installations/4242/access_tokens",
        json_reply({"token": TOKEN, "expires_at": "2099-01-01T00:00:00Z"}, 201),
    )
    server.on("POST", f"{API}/check-runs", json_reply(check_run, 201))
    server.on("PATCH", f"{API}/check-runs/{check_run['id']}", json_reply(check_run))
    # the commit's CI configuration is read too: this repository has no workflow files
    server.on("GET", f"{API}/contents/.github/workflows", Reply(404, b'{"message": "Not Found"}'))
    # finished jobs' test reports are looked for in their run's artifacts: there are none
    server.on("GET", f"{API}/actions/runs/{RUN_ID}/artifacts", json_reply({"artifacts": []}))
    server.check_run_id = check_run["id"]  # type: ignore[attr-defined]
    yield server
    server.close()


@pytest.fixture
def configured(github: FakeServer, log_store: Path, tmp_path: Path) -> Iterator[None]:
    pem = app_private_key()
    with override_settings(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=pem,
        GITHUB_API_URL=github.url,
        PUBLIC_URL="https://citriage.example.org",
        HTTP_BACKOFF=0.01,
        HTTP_RETRIES=1,
        COOL_OFF_SECONDS=0,
    ):
        github_app._tokens.cache_clear()
        yield
        github_app._tokens.cache_clear()


@pytest.fixture
def watched() -> None:
    recording.get_repository(REPO, create=True, providers=["github-actions"], default_branch="main")
    library.create_pattern(
        r"Execution failed for task '(\S+)'",
        is_regex=True,
        applicable_steps=["build cidiff"],
        tags=["gradle"],
        specificity=5,
        description="gradle task failed",
    )
    # a line of the checkout step: the step passed, so its log is neither stored nor matched
    library.create_pattern("Initialized empty Git repository", description="git init")
    # the failed step's line, but the pattern is for another step
    library.create_pattern("BUILD FAILED in", applicable_steps=["Run tests"], description="other")


def deliver(live_server: Any, event: str, payload: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    return httpx.post(f"{live_server.url}/webhooks/github", content=body, headers=headers)


def work() -> None:
    run_worker(queues=["*"], interval=0, batch=True)


def failed_job_payload(corpus: Path, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The recorded failed workflow_job delivery, with the steps of the job whose real
    log the fake serves (the recording's own log is not public)."""
    payload = load(
        corpus / "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json"
    )
    payload["workflow_job"]["steps"] = steps
    return dict(payload)


def serve_log(server: FakeServer, job_id: int, *replies: Reply) -> str:
    """The job-log endpoint redirecting to storage, and `replies` behind the storage URL."""
    storage = f"/storage/job-logs/{job_id}"
    server.on(
        "GET",
        f"{API}/actions/jobs/{job_id}/logs",
        Reply(302, b"", {"Location": f"{server.url}{storage}?sig=signed"}),
    )
    server.on("GET", storage, *replies)
    return storage


def stored_lines(log: StoredLog) -> list[str]:
    return logstore.log_store().get(log.storage_key).decode().splitlines()


def last_check(server: FakeServer) -> dict[str, Any]:
    sent = [r for r in server.requests if "/check-runs" in r.path and r.method in ("POST", "PATCH")]
    assert sent, "no check run was posted"
    body: dict[str, Any] = sent[-1].json()
    return body


def verdict_rows(check: dict[str, Any]) -> list[tuple[str, str]]:
    block = check["output"]["summary"].split("```json\n", 1)[1].split("\n```", 1)[0]
    return sorted((row["job"], row["verdict"]) for row in json.loads(block))


def test_failed_job_to_split_log_match_verdict_and_check_run(
    live_server: Any, corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    raw, steps, truth = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    storage = serve_log(github, JOB_ID, Reply(200, raw, {"Content-Type": "text/plain"}))
    response = deliver(live_server, "workflow_job", failed_job_payload(corpus, steps))
    assert response.status_code == 202
    work()

    job = JobAttempt.objects.get(provider="github-actions", provider_id=str(JOB_ID))
    assert (job.name, job.attempt, job.conclusion, job.workflow_id) == (
        "CodeQL / linters",
        1,
        "failure",
        str(RUN_ID),
    )
    assert job.log_state == LogState.FETCHED
    assert [s.name for s in job.steps.all()] == [s["name"] for s in steps]
    # only the failed step is stored, holding exactly its lines (timestamps stripped)
    log = StoredLog.objects.get(job=job)
    assert log.step.name == "build cidiff" and log.step.failed
    expected = [
        line[29:].rstrip()
        for line, step in zip(raw.decode("utf-8-sig").splitlines(), truth, strict=True)
        if step == "build cidiff"
    ]
    assert stored_lines(log) == [
        line.replace("\x1b[36;1m", "").replace("\x1b[0m", "") for line in expected
    ]
    assert log.line_count == truth.count("build cidiff")
    # matched with the pattern for this step; the others did not apply or had no log
    [match] = Match.objects.filter(log=log)
    assert match.pattern.description == "gradle task failed" and match.captures == [":cidiff:test"]
    verdict = JobVerdict.objects.get(job=job)
    # the run has no test-report artifact: the failed test is read from the log, and named
    assert verdict.verdict == Verdict.NEW
    assert verdict.reasons[0] == (
        "1 failing test(s) never failed before: LogDifferTest::testGithubParsing"
    )
    assert "gradle task failed" in verdict.reasons[1]

    # the log came through the API with the installation token, storage got no credentials
    [asked] = github.seen("GET", f"{API}/actions/jobs/{JOB_ID}/logs")
    assert asked.headers["authorization"] == f"Bearer {TOKEN}"
    [fetched] = github.seen("GET", storage)
    assert "authorization" not in fetched.headers
    check = last_check(github)
    assert check["status"] == "completed" and check["conclusion"] == "failure"
    assert verdict_rows(check) == [("CodeQL / linters", "new")]
    assert "1 new failure" in check["output"]["title"]
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED
    assert not github.unexpected


def test_a_rerun_attempt_that_passes_makes_the_failure_flaky(
    live_server: Any, corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    raw, steps, _ = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    serve_log(github, JOB_ID, Reply(200, raw))
    deliver(live_server, "workflow_job", failed_job_payload(corpus, steps))
    work()
    assert last_check(github)["conclusion"] == "failure"

    # GitHub reruns the job: a new job id, run attempt 2, queued -> in progress -> passed
    passed = load(
        corpus / "webhooks/workflow_job/octokit.completed.success.with-organization.payload.json"
    )
    passed["workflow_job"].update(id=JOB_ID + 1000, run_attempt=2)
    for action, status in (("queued", "queued"), ("in_progress", "in_progress")):
        early = copy.deepcopy(passed)
        early["action"] = action
        early["workflow_job"].update(status=status, conclusion=None, completed_at=None, steps=[])
        deliver(live_server, "workflow_job", early)
    deliver(live_server, "workflow_job", passed)
    work()

    attempts = JobAttempt.objects.filter(name="CodeQL / linters").order_by("attempt")
    assert [(a.attempt, a.conclusion) for a in attempts] == [(1, "failure"), (2, "success")]
    first = JobVerdict.objects.get(job=attempts[0])
    assert first.verdict == Verdict.FLAKY_CONFIRMED and "attempt 2" in first.reasons[0]
    assert CommitSummary.objects.get(sha=SHA).all_excused
    patched = github.seen("PATCH", f"{API}/check-runs/{github.check_run_id}")  # type: ignore[attr-defined]
    assert patched and patched[-1].json()["conclusion"] == "success"
    assert verdict_rows(patched[-1].json()) == [("CodeQL / linters", "flaky_confirmed")]
    assert len(github.seen("GET", f"{API}/actions/jobs/{JOB_ID}/logs")) == 1  # passes need no log
    assert not github.seen("GET", f"{API}/actions/jobs/{JOB_ID + 1000}/logs")


def test_pytorch_log_without_known_steps_is_stored_whole_and_matched(
    corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    """A job whose steps are unknown (the recorded delivery lists none): the whole log is
    kept as one piece rather than dropped."""
    library.create_pattern(
        "OSError: We couldn't connect to 'https://huggingface.co'",
        tags=["flaky", "network"],
        specificity=6,
        description="huggingface unreachable",
    )
    payload = load(corpus / "webhooks/workflow_job/pytorch-torchci.workflow_job.queued.json")
    data = payload["workflow_job"]
    data.update(status="completed", conclusion="failure", completed_at="2024-11-06T17:40:00Z")
    repository = recording.get_repository(REPO)
    log = (corpus / "logs/pytorch-gha/full/error_log1.txt").read_bytes()
    serve_log(github, data["id"], Reply(200, log))
    job, _changed = actions.record(repository, data)
    assert job.log_state == LogState.PENDING and job.attempt == 3
    assert "1 log(s) stored ((job log))" in fetching.fetch_logs(job)
    stored = StoredLog.objects.get(job=job)
    assert stored.step.name == "(job log)" and stored.line_count == len(log.splitlines())
    factories.settle()  # the summary scans what is not scanned yet
    assert JobVerdict.objects.get(job=job).verdict == Verdict.FLAKY_PATTERN


def test_workflow_run_completed_pulls_every_job_of_the_run(
    live_server: Any, corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    run = load(corpus / "webhooks/workflow_run/octokit.completed.payload.json")
    run["repository"]["full_name"] = REPO  # the recording is of octo-org/octo-repo
    run_id = run["workflow_run"]["id"]
    jobs = load(corpus / "github-api/workflow-jobs/pygithub.WorkflowRun.test_jobs.1.json")["jobs"]
    for job in jobs:
        job.update(run_id=run_id, head_sha=SHA)
    jobs[1]["conclusion"] = "failure"
    path = f"{API}/actions/runs/{run_id}/jobs"

    def pages(seen: Seen) -> Reply:
        if seen.query.get("page") == ["2"]:
            return json_reply({"total_count": 5, "jobs": jobs[2:]})
        link = f'<{github.url}{path}?filter=all&page=2>; rel="next"'
        return json_reply({"total_count": 5, "jobs": jobs[:2]}, headers={"Link": link})

    github.on("GET", path, pages)
    serve_log(github, jobs[1]["id"], Reply(500, b"storage is down"))
    assert deliver(live_server, "workflow_run", run).status_code == 202
    work()
    recorded = JobAttempt.objects.filter(workflow_id=str(run_id))
    assert sorted(recorded.values_list("name", flat=True)) == sorted(
        f"CI / {j['name']}" for j in jobs
    )
    assert github.seen("GET", path)[0].query["filter"] == ["all"]
    # the failed job's log could not be fetched: it waits for a retry, nothing is lost
    failed = recorded.get(conclusion="failure")
    assert failed.log_state == LogState.PENDING_RETRY and "500" in failed.log_error
    assert failed.fetch_after > timezone.now() and failed.fetch_task is None  # owed, later
    assert JobVerdict.objects.get(job=failed).verdict == Verdict.PENDING
    commit = Commit.objects.get(sha=SHA)
    assert commit.message == run["workflow_run"]["head_commit"]["message"]


def test_backfill_reads_all_pages_and_is_idempotent(
    corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    repository = recording.get_repository(REPO)
    runs = load(corpus / "github-api/workflow-runs/pygithub.Repository.testGetWorkflowRuns.1.json")
    template = load(corpus / "github-api/workflow-jobs/pygithub.WorkflowRun.test_jobs.1.json")[
        "jobs"
    ]
    runs_path = f"{API}/actions/runs"

    def run_pages(seen: Seen) -> Reply:
        if seen.query.get("page") == ["2"]:
            return json_reply({"total_count": 5, "workflow_runs": runs["workflow_runs"][3:]})
        link = f'<{github.url}{runs_path}?page=2>; rel="next"'
        return json_reply(
            {"total_count": 5, "workflow_runs": runs["workflow_runs"][:3]}, headers={"Link": link}
        )

    github.on("GET", runs_path, run_pages)
    for number, run in enumerate(runs["workflow_runs"]):
        jobs = copy.deepcopy(template[:2])
        for k, job in enumerate(jobs):
            job.update(id=run["id"] * 10 + k, run_id=run["id"], head_sha=run["head_sha"])
        if number == 0:
            jobs[0]["conclusion"] = "failure"
        github.on("GET", f"{API}/actions/runs/{run['id']}/jobs", json_reply({"jobs": jobs}))
    first = ActionsSource().backfill(repository)
    assert first == {"runs": 5, "seen": 5, "recorded": 10, "to_fetch": 1}
    before = set(JobAttempt.objects.values_list("provider_id", "conclusion", "log_state"))
    job_lists = [r for r in github.requests if r.path.endswith("/jobs")]
    second = ActionsSource().backfill(repository)
    assert second == {"runs": 5, "seen": 0, "recorded": 0, "to_fetch": 0}
    assert set(JobAttempt.objects.values_list("provider_id", "conclusion", "log_state")) == before
    assert [r for r in github.requests if r.path.endswith("/jobs")] == job_lists  # none asked again
    assert len(github.seen("GET", runs_path)) == 4  # two pages, twice
    assert (
        JobAttempt.objects.get(provider_id=str(runs["workflow_runs"][0]["id"] * 10)).log_state
        == LogState.PENDING
    )


def test_bad_input_loses_nothing(
    live_server: Any, corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    raw, steps, truth = run_view_log(corpus / CIDIFF / "fail.log", {"build cidiff"})
    # a log that is gone (404) is an error stated on the job, never "no log"
    serve_log(github, JOB_ID, Reply(404, b'{"message": "Not Found"}'))
    deliver(live_server, "workflow_job", failed_job_payload(corpus, steps))
    work()
    job = JobAttempt.objects.get(provider_id=str(JOB_ID))
    assert job.log_state == LogState.ERROR and "404" in job.log_error
    assert not StoredLog.objects.exists()
    assert "could not be fetched" in JobVerdict.objects.get(job=job).reasons[0]

    # malformed deliveries are refused or marked failed; the job recorded before is untouched
    before = JobAttempt.objects.values().get(pk=job.pk)
    broken = failed_job_payload(corpus, steps)
    del broken["workflow_job"]["head_sha"]
    not_an_object = failed_job_payload(corpus, steps)
    not_an_object["workflow_job"] = "linters"
    assert deliver(live_server, "workflow_job", broken).status_code == 202
    assert deliver(live_server, "workflow_job", not_an_object).status_code == 202
    assert deliver(live_server, "workflow_job", b"{not json").status_code == 400
    work()
    failed = Delivery.objects.filter(status=DeliveryStatus.FAILED)
    assert failed.count() == 2 and all("malformed workflow_job" in d.note for d in failed)
    assert JobAttempt.objects.values().get(pk=job.pk) == before
    assert JobAttempt.objects.count() == 1

    # storage recovers, but the log now arrives cut short mid-line: what came is kept
    cut = raw[: raw.index(b"BUILD FAILED") + 3]
    serve_log(github, JOB_ID, Reply(200, cut))
    JobAttempt.objects.filter(pk=job.pk).update(log_state=LogState.PENDING)
    job.refresh_from_db()
    assert "1 log(s) stored (build cidiff)" in fetching.fetch_logs(job)
    lines = stored_lines(StoredLog.objects.get(job=job))
    cut_line = next(i for i, line in enumerate(raw.splitlines()) if b"BUILD FAILED" in line)
    assert lines[-1] == "BUI" and len(lines) == cut_line - truth.index("build cidiff") + 1


def test_check_runs_of_actions_are_jobs_others_stay_foreign(
    live_server: Any, corpus: Path, configured: None, watched: None
) -> None:
    actions = load(corpus / "webhooks/check_run/octokit.completed.1.payload.json")  # github-actions
    other = load(corpus / "webhooks/check_run/octokit.completed.payload.json")  # another App
    other["check_run"]["app"] = {"slug": "octocoders-linter"}
    own = copy.deepcopy(other)
    own["check_run"]["app"] = {"slug": "citriage"}
    own["check_run"]["name"] = "citriage"
    for payload in (actions, other, own):
        deliver(live_server, "check_run", payload)
    work()
    notes = sorted(Delivery.objects.values_list("status", "note"))
    assert [(c.name, c.app) for c in ExternalCheck.objects.all()] == [
        ("Octocoders-linter", "octocoders-linter")
    ]
    assert ("ignored", "a GitHub Actions job: recorded from workflow_job events") in notes
    assert ("ignored", "citriage's own check run") in notes


def test_a_repository_not_watching_actions_ignores_its_events(
    live_server: Any, corpus: Path, configured: None
) -> None:
    recording.get_repository(REPO, create=True, providers=["circleci"])
    payload = load(
        corpus / "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json"
    )
    deliver(live_server, "workflow_job", payload)
    work()
    delivery = Delivery.objects.get()
    assert (
        delivery.status == DeliveryStatus.IGNORED
        and "does not watch GitHub Actions" in delivery.note
    )
    assert not JobAttempt.objects.exists()


def test_reruns_go_through_the_api(
    corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    payload = load(
        corpus / "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json"
    )
    job, _ = actions.record(recording.get_repository(REPO), payload["workflow_job"])
    github.on("POST", f"{API}/actions/jobs/{JOB_ID}/rerun", Reply(201, b""))
    github.on("POST", f"{API}/actions/runs/{RUN_ID}/rerun-failed-jobs", Reply(201, b""))
    serve_log(github, JOB_ID, Reply(200, b"failed\n"))
    one = request_rerun(job, requested_by="octocat")
    every = request_rerun(job, requested_by="octocat", failed_of_run=True)
    assert one.finished_at is None and every.finished_at is None  # queued, not waited on
    work()
    assert RerunRequest.objects.filter(job=job, ok=True, finished_at__isnull=False).count() == 2
    [single] = github.seen("POST", f"{API}/actions/jobs/{JOB_ID}/rerun")
    assert single.headers["authorization"] == f"Bearer {TOKEN}"
    assert len(github.seen("POST", f"{API}/actions/runs/{RUN_ID}/rerun-failed-jobs")) == 1
    github.on(
        "POST",
        f"{API}/actions/jobs/{JOB_ID}/rerun",
        Reply(403, b'{"message": "This workflow is already running"}'),
    )
    refused = request_rerun(job)
    work()
    refused.refresh_from_db()
    assert not refused.ok and "already running" in refused.response


def test_the_sweep_queues_backfill_and_stale_jobs(
    corpus: Path, configured: None, watched: None
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from citriage.ci.sweeps import backfill

    payload = load(corpus / "webhooks/workflow_job/octokit.in_progress.payload.json")
    job, _ = actions.record(recording.get_repository(REPO), payload["workflow_job"])
    JobAttempt.objects.filter(pk=job.pk).update(updated=timezone.now() - timedelta(hours=1))
    note = backfill()
    assert f"{REPO} github-actions: backfill + 1 unfinished" in note
    queued = set(DBTaskResult.objects.values_list("task_path", flat=True))
    assert {"citriage.ci.tasks.backfill_task", "citriage.ci.tasks.sync_job_task"} <= queued
