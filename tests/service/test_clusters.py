"""Failure lines stored with every scanned log, clusters of unattributed failures, suggestions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from citriage.ci.models import PullRequest, PullRequestHead
from citriage.failurelines import analysis
from citriage.failurelines.models import FailureAnalysis
from citriage.failurelines.tasks import analyse_backlog_task
from citriage.patterns import library, scanning
from citriage.patterns.models import BestMatch
from citriage.scanner import suggest
from citriage.triage import clusters as queries
from tests import factories

pytestmark = pytest.mark.django_db


def db_failure(host: str, port: int, seconds: float) -> str:
    return (
        f"2026-11-0{port % 9 + 1}T10:00:00Z collecting 12 items\n"
        "tests/test_db.py::test_connect FAILED\n"
        "Traceback (most recent call last):\n"
        '  File "/app/db.py", line 9, in connect\n'
        f"ConnectionError: could not reach database at {host}:{port} after {seconds}s\n"
        "##[error]Process completed with exit code 1.\n"
    )


def test_scanning_stores_the_failure_lines_also_when_a_pattern_matched(log_store: Path) -> None:
    library.create_pattern("tests/test_db.py", description="db tests", specificity=3)
    log = factories.failed_log(
        factories.job(factories.repository()), db_failure("10.0.0.7", 5432, 1.5)
    )
    scanning.scan_log(log.pk)
    stored = FailureAnalysis.objects.get(log=log)
    assert BestMatch.objects.filter(job=log.job).exists()  # a pattern explains it ...
    assert stored.line == 5  # ... and the finder's second opinion is kept anyway
    assert stored.text.startswith("ConnectionError: could not reach database")
    assert stored.signature == (
        "ConnectionError: could not reach database at <ip>:<port> after <duration>"
    )
    assert not stored.generic and stored.job_id == log.job_id
    assert stored.candidates[0] == {
        "line": 5,
        "text": stored.text,
        "score": stored.candidates[0]["score"],
        "reason": "exception",
    }
    assert 1 <= len(stored.candidates) <= 5
    # A second scan (a new pattern) reads the log again but leaves the analysis alone.
    library.create_pattern("never there")
    scanning.scan_log(log.pk)
    assert FailureAnalysis.objects.filter(log=log).count() == 1
    assert FailureAnalysis.objects.get(log=log).analysed_at == stored.analysed_at


def test_logs_the_scan_did_not_read_are_backfilled_by_the_task(log_store: Path) -> None:
    repo = factories.repository()
    logs = [
        factories.failed_log(factories.job(repo), db_failure("10.0.0.7", 5432, 1.5)),
        factories.failed_log(factories.job(repo), "nothing to see\n"),
    ]
    scanning.scan_log(logs[0].pk)  # no pattern at all: the log is not read
    assert not FailureAnalysis.objects.exists()
    assert set(analysis.backlog()) == set(logs)
    assert analyse_backlog_task.call() == 2
    assert not analysis.backlog().exists()
    quiet = FailureAnalysis.objects.get(log=logs[1])
    assert quiet.line is None and quiet.signature == "" and quiet.candidates == []
    assert analyse_backlog_task.call() == 0  # nothing twice


def test_an_unreadable_log_is_recorded_and_the_others_are_analysed(log_store: Path) -> None:
    repo = factories.repository()
    broken = factories.failed_log(factories.job(repo), "x\n")
    good = factories.failed_log(factories.job(repo), db_failure("10.0.0.8", 6543, 2))
    (log_store / broken.storage_key).write_bytes(b"not zstd at all")
    assert analysis.analyse_backlog() == 2
    assert "ZstdError" in FailureAnalysis.objects.get(log=broken).error
    assert FailureAnalysis.objects.get(log=good).line == 5


def unattributed_jobs(count: int) -> list[int]:
    repo = factories.repository()
    job_ids = []
    for i in range(count):
        attempt = factories.job(repo, name=f"test-{i % 2}", sha=f"{i:040x}")
        factories.failed_log(attempt, db_failure(f"10.0.0.{i}", 5000 + i, 1 + i / 2))
        job_ids.append(attempt.pk)
    return job_ids


def test_clusters_group_unattributed_failures_by_signature(log_store: Path) -> None:
    job_ids = unattributed_jobs(3)
    other = factories.job(factories.repository("acme/other"), name="lint")
    factories.failed_log(other, "src/a.c:3:9: error: unknown type name 'sizet'\n")
    analysis.analyse_backlog()
    found, total = queries.clusters()
    assert total == 2
    biggest = found[0]
    assert biggest.jobs == 3
    assert biggest.signature.startswith("ConnectionError: could not reach database at <ip>")
    assert set(biggest.recent_job_ids) == set(job_ids)
    assert biggest.job_names == ["test-0", "test-1"]
    assert biggest.first_seen <= biggest.last_seen
    assert sum(biggest.trend) in (0, 3) and len(biggest.trend) == queries.TREND_DAYS
    assert biggest.suggestion is not None
    lines = [a.text for a in FailureAnalysis.objects.filter(job_id__in=job_ids)]
    assert_matches(biggest.suggestion, lines)
    assert found[1].jobs == 1 and "unknown type name" in found[1].signature


def test_a_job_a_pattern_explains_leaves_its_cluster(log_store: Path) -> None:
    unattributed_jobs(2)
    analysis.analyse_backlog()
    assert queries.clusters()[0][0].jobs == 2
    library.create_pattern("could not reach database", specificity=2)
    scanning.scan_backlog()
    assert queries.clusters() == ([], 0)


def assert_matches(suggestion: suggest.Suggestion, lines: list[str]) -> None:
    for line in lines:
        if suggestion.is_regex:
            assert re.search(suggestion.expression, line), (suggestion, line)
        else:
            assert suggestion.expression in line, (suggestion, line)


def test_suggestions_literal_regex_and_none() -> None:
    same = ["ImportError: cannot import name 'frobnicate' from 'acme.utils' (/x/y.py)"] * 2
    literal = suggest.suggest(same)
    assert literal == suggest.Suggestion(
        "ImportError: cannot import name 'frobnicate' from 'acme.utils' (/x/y.py)", False
    )
    varying = ["worker 12 lost lease 7 on shard 3", "worker 9 lost lease 11 on shard 4"]
    regex = suggest.suggest(varying)
    assert regex is not None and regex.is_regex
    assert_matches(regex, varying)
    assert not re.search(regex.expression, "worker lost its way")
    # Nothing safe: an exit-code line, or text passing logs also hold.
    assert suggest.suggest(["##[error]Process completed with exit code 1."]) is None
    assert suggest.suggest(same, passing=["x", same[0]]) is None


def test_clusters_page_lists_clusters_escapes_log_text_and_links_the_workbench(
    log_store: Path, client: Client
) -> None:
    job_ids = unattributed_jobs(2)
    evil = factories.job(factories.repository("acme/evil"), name="xss")
    factories.failed_log(evil, "Error: <script>alert(1)</script> broke the build badly\n")
    analysis.analyse_backlog()
    response = client.get("/clusters/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "ConnectionError: could not reach database" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<svg class="spark"' in page
    links = re.findall(r'href="(/patterns/new/\?[^"]+)"', page)
    assert len(links) == 2
    query = parse_qs(urlparse(links[0].replace("&amp;", "&")).query)
    assert query["regex"] in (["0"], ["1"])
    assert int(query["job"][0]) in job_ids
    expression = query["expression"][0]
    for line in FailureAnalysis.objects.filter(job_id__in=job_ids).values_list("text", flat=True):
        assert re.search(expression, line) if query["regex"] == ["1"] else expression in line


def test_clusters_page_when_nothing_failed(client: Client) -> None:
    response = client.get("/clusters/")
    assert response.status_code == 200
    assert "No unattributed failure" in response.content.decode()


def test_flaky_evidence_needs_other_authors_and_is_off_by_default(
    log_store: Path, settings: Any
) -> None:
    job_ids = unattributed_jobs(3)
    analysis.analyse_backlog()
    assert queries.clusters()[0][0].flaky is None  # off by default
    settings.CLUSTER_FLAKY_DAYS = 7
    key = queries.clusters()[0][0].signature
    assert queries.flaky_evidence(key, 7) is None  # no pull requests known
    repo = factories.repository()
    from citriage.ci.models import JobAttempt

    for number, job_id in enumerate(job_ids[:2], start=1):
        pull = PullRequest.objects.create(
            repository=repo, number=number, author_login=f"author{number}"
        )
        PullRequestHead.objects.create(pull=pull, sha=JobAttempt.objects.get(pk=job_id).sha)
    evidence = queries.clusters()[0][0].flaky
    assert evidence == queries.FlakyEvidence(pulls=2, authors=2)
    PullRequest.objects.filter(number=2).update(author_login="author1")
    assert queries.flaky_evidence(key, 7) is None  # one author: maybe their own change
    assert queries.flaky_evidence("##[error]Process completed with exit code <n>.", 7) is None


def test_the_scheduler_sweep_queues_the_backfill_once(
    log_store: Path, django_capture_on_commit_callbacks: Any
) -> None:
    from django_tasks_db.models import DBTaskResult

    from citriage.ops.scheduler import run_once
    from citriage.ops.sweeps import SWEEPS

    assert "failure-lines-backfill" in [s.name for s in SWEEPS]
    factories.failed_log(factories.job(factories.repository()), db_failure("10.0.0.1", 80, 1))
    with django_capture_on_commit_callbacks(execute=True):
        first = run_once("failure-lines-backfill", 60, now=1_000_000)
    assert first is not None and "backfill queued" in first
    queued = DBTaskResult.objects.filter(task_path=analyse_backlog_task.module_path)
    assert queued.count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = run_once("failure-lines-backfill", 60, now=1_000_060)
    assert again == "1 logs without failure lines"  # already queued: not twice
    assert queued.count() == 1


def test_the_api_router_serves_failure_lines_and_clusters(log_store: Path) -> None:
    from ninja.testing import TestClient

    from citriage.web.cluster_api import router

    job_ids = unattributed_jobs(2)
    analysis.analyse_backlog()
    client = TestClient(router)
    lines = client.get(f"/jobs/{job_ids[0]}/failure-lines").json()
    assert len(lines) == 1 and lines[0]["step"] == "Run tests"
    assert lines[0]["candidates"][0]["line"] == 5
    assert lines[0]["signature"].startswith("ConnectionError: could not reach database")
    assert client.get("/jobs/999999/failure-lines").status_code == 404
    clusters = client.get("/clusters").json()
    assert [c["jobs"] for c in clusters] == [2]
    assert clusters[0]["suggestion"]["workbench"].startswith("/patterns/new/?expression=")


def test_a_suggestion_never_matches_stored_lines_of_passing_runs(log_store: Path) -> None:
    from citriage.ci import recording

    unattributed_jobs(2)
    analysis.analyse_backlog()
    assert queries.clusters()[0][0].suggestion is not None
    passed = factories.job(factories.repository(), name="test-0", conclusion="success")
    recording.store_log(
        passed.steps.get(index=1),
        b"retrying\nConnectionError: could not reach database at 10.9.9.9:1 after 1s\nok\n",
    )
    assert queries.clusters()[0][0].suggestion is None
