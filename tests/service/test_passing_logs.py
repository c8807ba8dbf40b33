"""Passing logs kept as baselines: a sample of passing runs is fetched like failed runs
(fake GitHub serving real job logs, fake CircleCI serving recorded builds and step output),
stored but never scanned, used by the failure lines of failed logs of the same job and
step, shown on the job page, replaced by newer samples and removed by retention."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client, override_settings
from django.utils import timezone

from citriage import logstore
from citriage.ci import github_app, recording
from citriage.ci.circleci import CircleCISource
from citriage.ci.models import JobAttempt, LogState, Provider, StoredLog
from citriage.failurelines.models import FailureAnalysis
from citriage.ops import retention
from citriage.patterns import library, scanning
from citriage.patterns.models import Match
from citriage.scanner.failure_lines import find_failure_lines
from citriage.scanner.logtext import LogText
from tests import factories
from tests.fake_github import app_private_key
from tests.fakes import FakeServer, Reply, Seen, json_reply, sign
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
REPO = "Codertocat/Hello-World"
API = f"/repos/{REPO}"
PAIR = "logs/github-actions/cidiff/google_auto_693"  # a real failed job log and a passing one
JOB_NAME = "CodeQL / linters"  # the name of the recorded workflow_job deliveries
PASSED, FAILED, PASSED_AGAIN, PASSED_LATER = 7001, 7002, 7003, 7004


def answer_ending(server: FakeServer, ending: str, data: Any) -> Callable[[Seen], Reply]:
    """Answer every GET of a path ending so with `data`; anything else is unexpected."""

    def answer(seen: Seen) -> Reply:
        if seen.method == "GET" and seen.path.endswith(ending):
            return json_reply(data)
        server.unexpected.append(seen)
        return Reply(404, b'{"message": "Not Found"}')

    return answer


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeServer]:
    server = FakeServer()
    check_run = load(corpus / "github-api/check-runs/pygithub.CheckRun.setUp.1.json")
    server.on("GET", f"{API}/installation", json_reply({"id": 4242, "app_id": 1}))
    server.on(
        "POST",
        "/app/installations/4242/access_tokens",
        json_reply({"token": "ghs_token", "expires_at": "2099-01-01T00:00:00Z"}, 201),
    )
    server.on("POST", f"{API}/check-runs", json_reply(check_run, 201))
    server.on("PATCH", f"{API}/check-runs/{check_run['id']}", json_reply(check_run))
    server.on("GET", f"{API}/contents/.github/workflows", Reply(404, b'{"message": "Not Found"}'))
    # every run's artifacts: none hold test reports
    server.fallback = answer_ending(server, "/artifacts", {"artifacts": []})
    yield server
    server.close()


@pytest.fixture
def configured(github: FakeServer, log_store: Path) -> Iterator[None]:
    with override_settings(
        GITHUB_WEBHOOK_SECRET=SECRET,
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=app_private_key(),
        GITHUB_API_URL=github.url,
        HTTP_BACKOFF=0.01,
        HTTP_RETRIES=1,
        COOL_OFF_SECONDS=0,
        PASSING_LOG_DAYS=7,
        PASSING_LOG_KEEP_DAYS=30,
    ):
        github_app._tokens.cache_clear()
        yield
        github_app._tokens.cache_clear()


@pytest.fixture
def watched() -> None:
    recording.get_repository(REPO, create=True, providers=["github-actions"], default_branch="main")
    # a pattern to scan with: the failure lines are found in the scan's transaction
    library.create_pattern("BUILD FAILURE", description="maven build failed", specificity=2)


def deliver(live_server: Any, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(SECRET, body),
    }
    response = httpx.post(f"{live_server.url}/webhooks/github", content=body, headers=headers)
    assert response.status_code == 202


def job_payload(corpus: Path, conclusion: str, job_id: int) -> dict[str, Any]:
    """A recorded completed workflow_job delivery as job `job_id`, with no steps listed
    (the whole job log is kept as one piece, as for the corpus's logs)."""
    name = f"octokit.completed.{conclusion}.with-organization.payload.json"
    payload = copy.deepcopy(load(corpus / "webhooks/workflow_job" / name))
    payload["workflow_job"].update(id=job_id, steps=[])
    return dict(payload)


def serve_job_log(server: FakeServer, job_id: int, text: bytes) -> str:
    """The job-log endpoint redirecting to storage, and the log behind it."""
    storage = f"/storage/job-logs/{job_id}"
    server.on(
        "GET",
        f"{API}/actions/jobs/{job_id}/logs",
        Reply(302, b"", {"Location": f"{server.url}{storage}?sig=signed"}),
    )
    server.on("GET", storage, Reply(200, text, {"Content-Type": "text/plain"}))
    return storage


def stored_text(log: StoredLog) -> LogText:
    return logstore.load_text(log.storage_key, log.line_count)


def attempt(job_id: int) -> JobAttempt:
    return JobAttempt.objects.get(provider=Provider.GITHUB_ACTIONS, provider_id=str(job_id))


def test_actions_passing_log_is_sampled_kept_compared_with_replaced_and_pruned(
    live_server: Any, corpus: Path, github: FakeServer, configured: None, watched: None
) -> None:
    passing_text = (corpus / PAIR / "pass.log").read_bytes()
    failing_text = (corpus / PAIR / "fail.log").read_bytes()

    # 1. A passing run of the job: no passing log is kept yet, so its log is owed and fetched.
    serve_job_log(github, PASSED, passing_text)
    deliver(live_server, job_payload(corpus, "success", PASSED))
    factories.work()
    passed = attempt(PASSED)
    assert (passed.name, passed.conclusion, passed.log_state) == (
        JOB_NAME,
        "success",
        LogState.FETCHED,
    )
    [kept] = StoredLog.objects.filter(job=passed)
    assert kept.passing and kept.step.name == "(job log)" and kept.step.status == "success"
    assert stored_text(kept).line_count == len(passing_text.splitlines())
    # a baseline, not a failure: never scanned, no failure lines, not in the scan backlog
    assert not Match.objects.filter(log=kept).exists()
    assert not FailureAnalysis.objects.filter(log=kept).exists()
    assert scanning.scan_progress()["logs"] == 0 and not scanning.backlog().exists()

    # 2. The job fails later: its log is compared with the kept passing log.
    serve_job_log(github, FAILED, failing_text)
    deliver(live_server, job_payload(corpus, "failure", FAILED))
    factories.work()
    failed = attempt(FAILED)
    [failed_log] = StoredLog.objects.filter(job=failed)
    assert not failed_log.passing and failed_log.scanned_at is not None
    analysis = FailureAnalysis.objects.get(log=failed_log)
    assert analysis.baseline == kept.step
    failing, baseline = stored_text(failed_log), stored_text(kept)
    compared = find_failure_lines(failing, limit=5, baseline=baseline)
    alone = find_failure_lines(failing, limit=5)
    assert [(c["line"], c["text"]) for c in analysis.candidates] == [
        (c.line, c.text) for c in compared
    ]
    # on this pair the passing log changes the ranking: lines it has too drop out of the top 5
    assert [c.line for c in compared] != [c.line for c in alone]

    # the job page and the API say what the log was compared with
    page = Client().get(f"/jobs/{failed.pk}/").content.decode()
    assert "compared with the passing log of job" in page
    assert f'href="/jobs/{passed.pk}/"' in page and passed.sha[:10] in page
    [lines] = Client().get(f"/api/jobs/{failed.pk}/failure-lines").json()
    assert (lines["baseline_job_id"], lines["baseline_sha"]) == (passed.pk, passed.sha)

    # 3. Another passing run within CITRIAGE_PASSING_LOG_DAYS: not fetched.
    deliver(live_server, job_payload(corpus, "success", PASSED_AGAIN))
    factories.work()
    assert attempt(PASSED_AGAIN).log_state == LogState.NOT_NEEDED
    assert not github.seen("GET", f"{API}/actions/jobs/{PASSED_AGAIN}/logs")

    # 4. Once the sample is older than that, the next passing run is fetched and replaces it.
    JobAttempt.objects.filter(pk=passed.pk).update(created=timezone.now() - timedelta(days=8))
    serve_job_log(github, PASSED_LATER, passing_text)
    deliver(live_server, job_payload(corpus, "success", PASSED_LATER))
    factories.work()
    [newer] = StoredLog.objects.filter(job=attempt(PASSED_LATER))
    assert newer.passing
    assert not StoredLog.objects.filter(pk=kept.pk).exists()
    assert not logstore.log_store().exists(kept.storage_key)  # its text is gone too
    assert logstore.log_store().exists(newer.storage_key)
    # the failed log's analysis still names the passing run it was compared with
    assert FailureAnalysis.objects.get(log=failed_log).baseline == kept.step

    # 5. Retention: a passing log kept longer than CITRIAGE_PASSING_LOG_KEEP_DAYS goes.
    assert retention.preview()["passing logs"] == 0
    StoredLog.objects.filter(pk=newer.pk).update(created=timezone.now() - timedelta(days=31))
    assert retention.preview()["passing logs"] == 1
    assert retention.run().removed["passing logs"] == 1
    assert attempt(PASSED_LATER).log_state == LogState.FETCHED  # sampled: not "expired"
    assert not StoredLog.objects.filter(passing=True).exists()
    assert not logstore.log_store().exists(newer.storage_key)
    assert StoredLog.objects.filter(pk=failed_log.pk).exists()  # failed logs are not touched
    assert not github.unexpected


# -- CircleCI -------------------------------------------------------------------------------

CIRCLE_REPO = "thoughtbot/administrate"
BUILDS = f"/api/v1.1/project/github/{CIRCLE_REPO}"
RSPEC = "bundle exec appraisal rails70 rspec"


@pytest.fixture
def circleci(corpus: Path, log_store: Path) -> Iterator[FakeServer]:
    server = FakeServer()
    # CircleCI stored no test results for these builds
    server.fallback = answer_ending(server, "/tests", {"items": [], "next_page_token": None})
    with override_settings(
        CIRCLECI_URL=server.url + "/api",
        CIRCLECI_TOKEN="circle-token",
        HTTP_BACKOFF=0.01,
        PASSING_LOG_DAYS=7,
    ):
        yield server
    server.close()


def serve_circleci_build(
    server: FakeServer, corpus: Path, number: int, outputs: dict[str, str], *, failed: bool
) -> None:
    """The recorded passing build of the job (ruby-31, five steps) as build `number`, each
    action's output served from the recorded step output named in `outputs` by step; when
    `failed`, its rspec step failed."""
    build = json.loads((corpus / "circleci-api/v1.1/ci_runner/job.json").read_text())
    build.update(build_num=number, build_url=f"https://circleci.com/gh/{CIRCLE_REPO}/{number}")
    if failed:
        build.update(outcome="failed", status="failed")
    for step in build["steps"]:
        for action in step["actions"]:
            path = f"/s3/{number}/{step['name']}".replace(" ", "-")
            action["output_url"] = server.url + path
            if failed and step["name"] == RSPEC:
                action.update(status="failed", failed=True, exit_code=1)
            recorded = corpus / "circleci-api/step-output/ci_runner" / outputs[step["name"]]
            server.on("GET", path, Reply(200, recorded.read_bytes()))
    server.on("GET", f"{BUILDS}/{number}", json_reply(build))


def test_circleci_passing_build_keeps_every_step_and_failed_builds_compare_with_it(
    corpus: Path, circleci: FakeServer
) -> None:
    repository = recording.get_repository(
        CIRCLE_REPO, create=True, providers=[Provider.CIRCLECI], default_branch="main"
    )
    library.create_pattern("Failures:", description="rspec failures", specificity=2)
    setup = {
        "Spin up environment": "job_setup_output.json",
        "Container postgres:10.1-alpine": "job_container_output.json",
        "Preparing environment variables": "job_setup_output.json",
        "Install Google Chrome": "job_setup_output.json",
    }
    serve_circleci_build(
        circleci, corpus, 9557, {**setup, RSPEC: "job_setup_output.json"}, failed=False
    )
    passed = CircleCISource().sync_job(repository, "9557")
    assert (passed.conclusion, passed.log_state) == ("success", LogState.PENDING)
    factories.work()

    passed.refresh_from_db()
    assert passed.log_state == LogState.FETCHED
    kept = {log.step.name: log for log in StoredLog.objects.filter(job=passed)}
    assert sorted(kept) == sorted([*setup, RSPEC])  # every step with output
    assert all(log.passing for log in kept.values())
    assert not Match.objects.exists() and not FailureAnalysis.objects.exists()

    serve_circleci_build(
        circleci, corpus, 9558, {**setup, RSPEC: "job_test_output.json"}, failed=True
    )
    failed = CircleCISource().sync_job(repository, "9558")
    assert failed.log_state == LogState.PENDING
    factories.work()
    [failed_log] = StoredLog.objects.filter(job=failed)  # only the failed step's
    assert failed_log.step.name == RSPEC and not failed_log.passing
    analysis = FailureAnalysis.objects.get(log=failed_log)
    assert analysis.baseline == kept[RSPEC].step
    compared = find_failure_lines(
        stored_text(failed_log), limit=5, baseline=stored_text(kept[RSPEC])
    )
    assert [(c["line"], c["score"]) for c in analysis.candidates] == [
        (c.line, c.score) for c in compared
    ]
    assert Match.objects.filter(log=failed_log).exists()
    assert not circleci.unexpected


def test_no_passing_log_is_owed_when_turned_off_or_not_watched(log_store: Path) -> None:
    repository = factories.repository()  # watches CircleCI
    with override_settings(PASSING_LOG_DAYS=0):
        off = factories.job(repository, name="lint", conclusion="success")
    assert off.log_state == LogState.NOT_NEEDED
    with override_settings(PASSING_LOG_DAYS=7):
        first = factories.job(repository, name="lint", conclusion="success")
        second = factories.job(repository, name="lint", conclusion="success")
        other_job = factories.job(repository, name="build", conclusion="success")
        unwatched = factories.job(factories.repository("acme/other"), conclusion="success")
        recording.Repository.objects.filter(pk=unwatched.repository_id).update(providers=[])
        unwatched_again = factories.job(
            recording.get_repository("acme/other"), name="deploy", conclusion="success"
        )
    assert first.log_state == LogState.PENDING and other_job.log_state == LogState.PENDING
    assert second.log_state == LogState.NOT_NEEDED  # the first is the sample
    assert unwatched.log_state == LogState.PENDING  # its repository watched CircleCI then
    assert unwatched_again.log_state == LogState.NOT_NEEDED  # not any more
