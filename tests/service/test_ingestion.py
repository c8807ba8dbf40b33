"""Ingestion end to end: signed GitHub webhooks in, fake CircleCI answering with recorded
responses, a real worker running the tasks, logs stored and matched."""

from __future__ import annotations

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

from citriage.ci import fetching, recording
from citriage.ci.circleci import CircleCISource
from citriage.ci.models import Commit, ExternalCheck, JobAttempt, LogState, PullRequest, StoredLog
from citriage.github.models import Delivery, DeliveryStatus, RejectedDelivery
from citriage.ops.worker import run_worker
from citriage.patterns import library
from citriage.patterns.models import Match
from citriage.providers.circleci import CircleCI
from citriage.testresults.models import TestRun
from citriage.triage import refresh
from citriage.triage.models import PendingSummary
from citriage.triage.tasks import queue_due_summaries
from tests.fakes import FakeServer, Reply, Seen, json_reply, sign

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
TOKEN = "circle-token-for-tests"
REPO = "Codertocat/Hello-World"
BUILD = "/api/v1.1/project/github/Codertocat/Hello-World/999"


@pytest.fixture
def circleci(corpus: Path) -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def configured(circleci: FakeServer, log_store: Path) -> Iterator[None]:
    with override_settings(
        GITHUB_WEBHOOK_SECRET=SECRET,
        CIRCLECI_URL=circleci.url + "/api",
        CIRCLECI_TOKEN=TOKEN,
        HTTP_BACKOFF=0.01,
        COOL_OFF_SECONDS=120,
    ):
        yield


def corpus_json(corpus: Path, relative: str) -> Any:
    return json.loads((corpus / relative).read_text())


def serve_build(server: FakeServer, corpus: Path, path: str = BUILD, *first: Reply) -> None:
    """The recorded build (parallel containers, one failed action) with its output URLs
    pointing at the fake server, and the recorded step output behind them."""
    build = corpus_json(corpus, "circleci-api/v1.1/ci_runner/job_parallel.json")
    for step in build["steps"]:
        for action in step["actions"]:
            if action.get("output_url"):
                action["output_url"] = action["output_url"].replace(
                    "https://circle-production-action-output.s3.amazonaws.com", server.url + "/s3"
                )
    server.on("GET", path, *first, json_reply(build))
    # CircleCI stored no test results for the build (its failed tests are read from the log)
    tests = path.replace("/v1.1/project/github/", "/v2/project/gh/") + "/tests"
    server.on("GET", tests, json_reply({"items": [], "next_page_token": None}))
    output = (corpus / "circleci-api/step-output/ci_runner/job_test_output.json").read_bytes()
    for n in range(1, 60):
        server.on("GET", f"/s3/{n}", Reply(200, output))


def deliver(
    live_server: Any,
    event: str,
    payload: bytes,
    *,
    guid: str | None = None,
    secret: str = SECRET,
    signature: str | None = None,
) -> httpx.Response:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": guid or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Hub-Signature-256": signature if signature is not None else sign(secret, payload),
    }
    return httpx.post(f"{live_server.url}/webhooks/github", content=payload, headers=headers)


def work() -> None:
    """Run every ready task with a real worker (exits when the queue is empty)."""
    run_worker(queues=["*"], interval=0, batch=True)


@pytest.fixture
def watched() -> None:
    recording.get_repository(REPO, create=True, providers=["circleci"], default_branch="master")
    library.create_pattern(
        r"(\d+) examples?, (\d+) failures?",
        is_regex=True,
        description="RSpec summary",
        specificity=3,
    )


def test_failed_status_webhook_to_stored_and_matched_logs(
    live_server: Any, corpus: Path, circleci: FakeServer, configured: None, watched: None
) -> None:
    serve_build(circleci, corpus)
    payload = (corpus / "webhooks/status/ci-bot.status.failure.json").read_bytes()
    response = deliver(live_server, "status", payload)
    assert response.status_code == 202
    work()

    job = JobAttempt.objects.get(provider_id="999")
    assert job.conclusion == "failure"
    assert job.log_state == LogState.FETCHED
    # every action of every step, every container: 2 steps x 3 containers in the recording
    assert sorted((s.index, s.container) for s in job.steps.all()) == [
        (i, c) for i in range(2) for c in range(3)
    ]
    failed = [s for s in job.steps.all() if s.failed]
    assert [(s.name, s.container) for s in failed] == [("Install Google Chrome", 2)]
    log = StoredLog.objects.get(job=job)
    assert log.step == failed[0]
    assert log.scanned_through > 0 and not log.needs_full_rescan
    summary = Match.objects.get(log=log, pattern__description="RSpec summary")
    assert summary.text == "541 examples, 1 failure" and summary.captures == ["541", "1"]
    # CircleCI had no test results: the one failed example is read from the log
    run = TestRun.objects.get(job=job)
    assert run.sources == ["log"]
    assert [r.test.label for r in run.results.select_related("test")] == [
        "test.fixtures.specs.bla_spec::hermione abracadabra transforms"
    ]

    details = circleci.seen("GET", BUILD)
    assert len(details) == 1 and details[0].headers["circle-token"] == TOKEN
    output = [r for r in circleci.requests if r.path.startswith("/s3/")]
    assert len(output) == 1 and "circle-token" not in output[0].headers  # no token to storage
    assert not circleci.unexpected
    assert Delivery.objects.get().status == DeliveryStatus.PROCESSED
    pending = PendingSummary.objects.get(sha=json.loads(payload)["sha"])
    assert pending.summarized_at is not None  # verdicts are computed at once
    assert pending.report_at > timezone.now() and pending.reported_at is None  # the cool-off


def test_a_repeated_delivery_is_acknowledged_and_processed_once(
    live_server: Any, corpus: Path, circleci: FakeServer, configured: None, watched: None
) -> None:
    serve_build(circleci, corpus)
    payload = (corpus / "webhooks/status/ci-bot.status.failure.json").read_bytes()
    guid = str(uuid.uuid4())
    assert deliver(live_server, "status", payload, guid=guid).status_code == 202
    assert deliver(live_server, "status", payload, guid=guid).status_code == 200
    work()
    assert Delivery.objects.count() == 1
    assert len(circleci.seen("GET", BUILD)) == 1
    assert JobAttempt.objects.filter(provider_id="999").count() == 1


@pytest.mark.parametrize(
    ("signature", "secret_set"),
    [("sha256=" + "0" * 64, True), ("", True), ("sha1=abc", True), (None, False)],
)
def test_bad_or_missing_signatures_are_refused_and_nothing_is_processed(
    live_server: Any,
    corpus: Path,
    configured: None,
    watched: None,
    signature: str | None,
    secret_set: bool,
) -> None:
    payload = (corpus / "webhooks/status/ci-bot.status.failure.json").read_bytes()
    with override_settings(GITHUB_WEBHOOK_SECRET=SECRET if secret_set else ""):
        response = deliver(live_server, "status", payload, signature=signature)
    assert response.status_code == 401
    assert "error" in response.json()
    work()
    assert not Delivery.objects.exists() and not JobAttempt.objects.exists()
    assert RejectedDelivery.objects.count() == 1


def test_malformed_unknown_and_unwatched_deliveries(
    live_server: Any, corpus: Path, configured: None, watched: None
) -> None:
    broken = deliver(live_server, "status", b"{not json")
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]
    assert deliver(live_server, "status", b"[1, 2]").status_code == 400
    utf16 = deliver(live_server, "status", '{"sha": "x"}'.encode("utf-16"))
    assert utf16.status_code == 400 and "UTF-8" in utf16.json()["error"]
    ping = (corpus / "webhooks/ping/octokit.payload.json").read_bytes()
    assert deliver(live_server, "ping", ping).status_code == 202
    assert (
        deliver(
            live_server, "gollum", b'{"repository": {"full_name": "Codertocat/Hello-World"}}'
        ).status_code
        == 202
    )
    push = json.loads((corpus / "webhooks/push/pytorch-torchci.push.json").read_text())
    assert (
        deliver(live_server, "push", json.dumps(push).encode()).status_code == 202
    )  # unwatched repo
    status = json.loads((corpus / "webhooks/status/octokit.payload.json").read_text())
    del status["sha"]
    assert deliver(live_server, "status", json.dumps(status).encode()).status_code == 202
    work()
    by_event = {d.event: (d.status, d.note) for d in Delivery.objects.all()}
    assert by_event["ping"][0] == DeliveryStatus.PROCESSED
    assert by_event["gollum"] == (DeliveryStatus.IGNORED, "citriage does not use 'gollum' events")
    assert by_event["push"][0] == DeliveryStatus.IGNORED and "not watched" in by_event["push"][1]
    assert (
        by_event["status"][0] == DeliveryStatus.FAILED
        and "malformed status payload" in by_event["status"][1]
    )
    # counted per reason, address and minute: the two bodies that were not JSON share a row
    assert sum(RejectedDelivery.objects.values_list("count", flat=True)) == 3
    assert RejectedDelivery.objects.count() == 2


def test_api_error_then_success_is_retried_and_stored(
    live_server: Any, corpus: Path, circleci: FakeServer, configured: None, watched: None
) -> None:
    serve_build(
        circleci,
        corpus,
        BUILD,
        Reply(500, b'{"message": "internal error"}'),
        Reply(502, b"bad gateway"),
    )
    payload = (corpus / "webhooks/status/ci-bot.status.failure.json").read_bytes()
    deliver(live_server, "status", payload)
    work()
    assert len(circleci.seen("GET", BUILD)) == 3
    assert JobAttempt.objects.get(provider_id="999").log_state == LogState.FETCHED
    assert StoredLog.objects.count() == 1


def test_rate_limit_retry_after_is_honoured(
    corpus: Path, circleci: FakeServer, configured: None
) -> None:
    build = corpus_json(corpus, "circleci-api/v1.1/ci_runner/job.json")
    circleci.on(
        "GET",
        "/api/v1.1/project/github/acme/app/7",
        Reply(429, b"{}", {"Retry-After": "1"}),
        json_reply(build),
    )
    api = CircleCI(TOKEN, circleci.url + "/api", backoff=0.01)
    run = api.build("acme", "app", 7)
    first, second = circleci.seen("GET", "/api/v1.1/project/github/acme/app/7")
    assert second.at - first.at >= 1.0  # waited as asked, not the 0.01 s backoff
    assert run.name == "ruby-31" and run.conclusion == "success"


def test_transient_log_failures_leave_the_job_pending_retry_never_no_log(
    corpus: Path, circleci: FakeServer, configured: None, watched: None
) -> None:
    serve_build(circleci, corpus)
    circleci.on("GET", "/s3/3", Reply(503, b"slow down"))
    repository = recording.get_repository(REPO)
    job = CircleCISource().sync_job(repository, "999")
    assert job.log_state == LogState.PENDING
    fetching.fetch_logs(job)
    job.refresh_from_db()
    assert job.log_state == LogState.PENDING_RETRY
    assert job.fetch_attempts == 1 and "503" in job.log_error
    assert not StoredLog.objects.exists()
    # storage recovers: the queued retry stores the log
    output = (corpus / "circleci-api/step-output/ci_runner/job_test_output.json").read_bytes()
    circleci.on("GET", "/s3/3", Reply(200, output))
    assert "1 log(s) stored" in fetching.fetch_logs(job)
    job.refresh_from_db()
    assert job.log_state == LogState.FETCHED and StoredLog.objects.count() == 1


def test_a_failed_build_without_failed_output_is_no_log(
    corpus: Path, circleci: FakeServer, configured: None, watched: None
) -> None:
    build = corpus_json(
        corpus, "circleci-api/v1.1/ci-bot/circleci.build.json"
    )  # failed, no failed step
    circleci.on("GET", BUILD, json_reply(build))
    job = CircleCISource().sync_job(recording.get_repository(REPO), "999")
    assert "no failed step with output" in fetching.fetch_logs(job)
    job.refresh_from_db()
    assert job.conclusion == "failure" and job.log_state == LogState.NO_LOG


def test_backfill_pages_newest_first_and_is_idempotent(
    corpus: Path, circleci: FakeServer, configured: None
) -> None:
    repository = recording.get_repository("mtchavez/circleci", create=True, providers=["circleci"])
    page = corpus_json(
        corpus,
        "circleci-api/v1.1/mtchavez-vcr/get_v1_1_project_github_mtchavez_circleci_tree_master.json",
    )["body"]
    older = corpus_json(
        corpus, "circleci-api/v1.1/levlaz-circleci.py/mock_get_recent_builds_response.json"
    )

    def builds(seen: Seen) -> Reply:
        offset = int(seen.query["offset"][0])
        return json_reply(page if offset == 0 else older if offset == 30 else [])

    circleci.on("GET", "/api/v1.1/project/github/mtchavez/circleci/tree/master", builds)
    api = CircleCI(TOKEN, circleci.url + "/api", page_size=30, backoff=0.01)
    first = CircleCISource().backfill(repository, branch="master", api=api)
    assert first["seen"] == 37 and first["to_fetch"] == 7  # 6 failed + 1 infrastructure_fail
    before = set(JobAttempt.objects.values_list("provider_id", "status", "conclusion", "log_state"))
    second = CircleCISource().backfill(repository, branch="master", api=api)
    assert second == {"seen": 0, "recorded": 0, "to_fetch": 0}  # stops at the newest known build
    assert (
        set(JobAttempt.objects.values_list("provider_id", "status", "conclusion", "log_state"))
        == before
    )
    assert JobAttempt.objects.filter(repository=repository).count() == 37
    requests = circleci.seen("GET", "/api/v1.1/project/github/mtchavez/circleci/tree/master")
    assert [r.query["offset"] for r in requests] == [["0"], ["30"], ["0"]]
    # the build still scheduled is not finished: the sweep looks at it again later
    assert JobAttempt.objects.get(provider_id="7").status == "queued"
    assert all(r.headers["circle-token"] == TOKEN for r in requests)


def test_pull_request_push_and_check_events_are_recorded(
    live_server: Any, corpus: Path, configured: None, watched: None
) -> None:
    for event, name in [
        ("pull_request", "octokit.opened.payload.json"),
        ("pull_request", "octokit.synchronize.payload.json"),
        ("pull_request", "octokit.labeled.payload.json"),
        ("push", "octokit.with-new-branch.payload.json"),
        ("push", "octokit.payload.json"),
        ("check_run", "octokit.completed.payload.json"),
        ("status", "octokit.payload.json"),
    ]:
        payload = (corpus / "webhooks" / event / name).read_bytes()
        assert deliver(live_server, event, payload).status_code == 202
    work()
    notes = {(d.event, d.status) for d in Delivery.objects.all()}
    assert (DeliveryStatus.IGNORED.value, "pull_request") in {(s, e) for e, s in notes}  # labeled
    pull = PullRequest.objects.get(number=2)
    assert pull.author_login == "Codertocat" and pull.heads.count() >= 1
    commit = Commit.objects.get(sha="6113728f27ae82c7b1a177c8d03f9e96e0adf246")
    assert commit.branch_position == 1 and commit.message
    assert ExternalCheck.objects.filter(kind="check_run").exists()
    assert ExternalCheck.objects.filter(kind="status", name="default").exists()


def test_a_burst_of_events_makes_one_summary_and_one_report_after_the_cool_off(
    configured: None, watched: None
) -> None:
    repository = recording.get_repository(REPO)
    sha = "f" * 40
    for _ in range(25):
        refresh.touch(repository.pk, [sha], live=True)
    pending = PendingSummary.objects.get(sha=sha)
    assert pending.events == 25 and pending.report_at > timezone.now()
    summaries = DBTaskResult.objects.filter(task_path="citriage.triage.tasks.summarize_commit_task")
    assert queue_due_summaries() == 1 and queue_due_summaries() == 0  # one task per commit
    assert summaries.count() == 1
    work()
    pending = PendingSummary.objects.get(sha=sha)
    assert pending.summarized_at is not None and pending.refresh_at is None
    assert pending.reported_at is None and pending.next_at == pending.report_at  # cool-off
    # Once the cool-off is over, it is summarized again and reported (here: nothing to
    # post, no App configured), once.
    PendingSummary.objects.filter(sha=sha).update(report_at=timezone.now(), next_at=timezone.now())
    work()
    pending = PendingSummary.objects.get(sha=sha)
    assert pending.reported_at is not None and pending.next_at is None
    assert summaries.count() == 2
    work()
    assert summaries.count() == 2


def test_nul_characters_in_a_payload_are_dropped_not_fatal(
    live_server: Any, corpus: Path, configured: None, watched: None
) -> None:
    status = json.loads((corpus / "webhooks/status/octokit.payload.json").read_text())
    status["description"] = "build\x00 failed"  # sent as \u0000; PostgreSQL text cannot hold it
    status["state"] = "failure"
    assert deliver(live_server, "status", json.dumps(status).encode()).status_code == 202
    work()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PROCESSED, delivery.note
    assert "\\u0000" in delivery.payload  # the delivery is kept exactly as received
    check = ExternalCheck.objects.get(sha=status["sha"])
    assert check.description == "build failed" and check.failed
