"""Retention: what is past its time goes, in batches, and says what it removed; what is
owed, what open breakages refer to and the newest examples of each pattern stay; a
removed log's object leaves the log store; the verdicts of expired jobs stand."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage import logstore
from citriage.ci import recording
from citriage.ci.models import (
    CachedResponse,
    CommitConfig,
    ExpectedJob,
    JobAttempt,
    LogState,
    RateBudget,
    StoredLog,
    WorkflowRun,
)
from citriage.failurelines.models import FailureAnalysis
from citriage.flaky.models import HealthChange, Quarantine, State, TestHealth
from citriage.github.models import Delivery, DeliveryStatus, RejectedDelivery
from citriage.ops import retention, scheduler
from citriage.ops.models import PeriodicRun
from citriage.ops.worker import run_worker
from citriage.patterns import library
from citriage.patterns.models import BestMatch, Match
from citriage.patterns.tasks import scan_backlog_task
from citriage.testresults import uploads
from citriage.testresults.models import (
    OWED,
    FetchState,
    RunArtifacts,
    Test,
    TestFetch,
    TestResult,
    TestRun,
    TestSet,
)
from citriage.triage import summary
from citriage.triage.models import Breakage, JobVerdict, PendingSummary
from tests import factories

NPM_LOG = "logs/circleci/ci-reporter.npm-test-failure.txt"
NOW = factories.T0 + timedelta(days=200)  # the factories' jobs finished around T0


def old(days: float) -> object:
    return timezone.now() - timedelta(days=days)


@pytest.mark.django_db(transaction=True)
def test_rows_past_their_time_go_and_what_is_owed_stays() -> None:
    def delivery(guid: str, status: str, age: float) -> Delivery:
        return Delivery.objects.create(
            guid=guid, event="status", payload="{}", status=status, received_at=old(age)
        )

    gone = [delivery("a", DeliveryStatus.PROCESSED, 20), delivery("b", DeliveryStatus.FAILED, 15)]
    stay = [delivery("c", DeliveryStatus.PENDING, 30), delivery("d", DeliveryStatus.IGNORED, 3)]
    RejectedDelivery.objects.create(reason="bad signature", last_at=old(20), minute=old(20))
    RejectedDelivery.objects.create(reason="bad signature", last_at=old(1), minute=old(1))
    finished, waiting = scan_backlog_task.enqueue(), scan_backlog_task.enqueue()
    DBTaskResult.objects.filter(id=finished.id).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=old(8)
    )
    DBTaskResult.objects.filter(id=waiting.id).update(enqueued_at=old(9))  # owed: stays
    PeriodicRun.objects.create(name="recover-and-scan", slot=1, ran_at=old(8))
    PeriodicRun.objects.create(name="recover-and-scan", slot=2, ran_at=old(1))
    repository = factories.repository()
    PendingSummary.objects.create(repository=repository, sha="1" * 40, last_event_at=old(8))
    PendingSummary.objects.create(
        repository=repository, sha="2" * 40, last_event_at=old(8), report_at=old(8), next_at=old(8)
    )
    CachedResponse.objects.create(key="k1", etag='"1"', body=b"", used_at=old(3))
    CachedResponse.objects.create(key="k2", etag='"2"', body=b"", used_at=old(0.5))
    RateBudget.objects.create(identity="token 1234abcd", updated=old(3))
    RateBudget.objects.create(identity="installation 1", updated=old(0.1))

    expected = {
        "deliveries": 2,
        "rejected deliveries": 1,
        "task results": 1,
        "periodic runs": 1,
        "settled summaries": 1,
        "kept GitHub answers": 1,
        "GitHub budgets": 1,
    }
    preview = retention.preview()
    assert {k: preview[k] for k in expected} == expected
    assert Delivery.objects.count() == 4  # a dry run removes nothing

    report = retention.run()
    assert report.finished and {k: report.removed[k] for k in expected} == expected
    assert "deliveries 2" in str(report)
    assert sorted(Delivery.objects.values_list("guid", flat=True)) == [d.guid for d in stay]
    assert not Delivery.objects.filter(pk__in=[d.pk for d in gone]).exists()
    assert RejectedDelivery.objects.count() == 1 and PeriodicRun.objects.count() == 1
    assert [str(pk) for pk in DBTaskResult.objects.values_list("id", flat=True)] == [waiting.id]
    assert PendingSummary.objects.get().sha == "2" * 40
    assert list(CachedResponse.objects.values_list("key", flat=True)) == ["k2"]
    assert list(RateBudget.objects.values_list("identity", flat=True)) == ["installation 1"]
    assert str(retention.run()) == "removed: nothing"


def store(corpus: Path, *, sha: str, name: str, finished: object) -> StoredLog:
    repository = factories.repository()
    job = factories.job(repository, sha=sha, name=name)
    JobAttempt.objects.filter(pk=job.pk).update(finished_at=finished)
    return factories.failed_log(job, (corpus / NPM_LOG).read_bytes())


@pytest.mark.django_db(transaction=True)
def test_old_logs_go_with_matches_and_objects_except_examples_and_open_breakages(
    corpus: Path, log_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = library.create_pattern("Test failed.", description="npm test failed")
    rare = library.create_pattern("no test specified", description="no tests")
    shas = [f"{n:040x}" for n in range(1, 9)]
    repository = factories.repository()
    for sha in shas:
        recording.record_commit(repository, sha, message="a change")
    recording.record_default_branch(repository, shas)
    young = NOW - timedelta(days=10)
    broken = store(corpus, sha=shas[7], name="lint", finished=factories.T0)  # the oldest job
    logs = [store(corpus, sha=sha, name="test", finished=factories.T0) for sha in shas[:6]]
    recent = store(corpus, sha=shas[6], name="test", finished=young)
    factories.settle()
    # each log: "Test failed." once, "no test specified" twice
    assert Match.objects.count() == 3 * 8 and BestMatch.objects.count() == 8
    assert FailureAnalysis.objects.count() == 8
    # an ongoing breakage starting at the lint failure; a fixed one at the first commit
    commits = {c.sha: c for c in repository.commits.all()}
    Breakage.objects.create(repository=repository, cause=commits[shas[7]], jobs=["lint"])
    Breakage.objects.create(repository=repository, cause=commits[shas[0]], fix=commits[shas[1]])
    factories.settle()
    verdicts = dict(JobVerdict.objects.values_list("job_id", "verdict"))
    assert "known_problem" in verdicts.values()
    monkeypatch.setattr(retention, "LOG_BATCH", 2)  # several batches

    with override_settings(RETAIN_PATTERN_EXAMPLES=2):
        # the newest 2 logs each pattern matched stay: the recent one and the newest old one
        kept = {recent.pk, logs[-1].pk, broken.pk}
        preview = retention.preview(NOW)
        assert preview["stored logs"] == 5 and preview["matches"] == 15
        assert preview["stored logs kept (open breakages, pattern examples, promoted)"] == 2
        objects = {log.pk: log.storage_key for log in StoredLog.objects.all()}
        report = retention.run(now=NOW)

    assert report.removed["stored logs"] == 5 and report.removed["matches"] == 15
    assert set(StoredLog.objects.values_list("pk", flat=True)) == kept
    store_ = logstore.log_store()
    for pk, key in objects.items():
        assert store_.exists(key) == (pk in kept)
    assert set(Match.objects.values_list("log_id", flat=True)) == kept
    assert FailureAnalysis.objects.count() == 3 and BestMatch.objects.count() == 3
    gone = JobAttempt.objects.exclude(logs__in=kept)
    assert {job.log_state for job in gone} == {LogState.EXPIRED}
    assert {job.log_state for job in JobAttempt.objects.filter(logs__in=kept)} == {LogState.FETCHED}
    # the expired jobs' verdicts stand, also when their commits are summarized again
    for sha in shas:
        summary.summarize_commit(repository, sha)
    assert dict(JobVerdict.objects.values_list("job_id", "verdict")) == verdicts
    assert common.pk and rare.pk


@pytest.mark.django_db(transaction=True)
def test_a_pass_out_of_time_leaves_the_rest_for_the_next(corpus: Path, log_store: Path) -> None:
    for n in range(3):
        store(corpus, sha=f"{n + 1:040x}", name="test", finished=factories.T0)
    with override_settings(RETAIN_PATTERN_EXAMPLES=0):
        first = retention.run(budget=0.0, now=NOW)
        assert not first.finished and "next pass" in str(first)
        assert StoredLog.objects.count() == 3
        assert retention.run(now=NOW).removed["stored logs"] == 3


@pytest.mark.django_db(transaction=True)
def test_the_daily_sweep_queues_one_pass_and_a_worker_runs_it() -> None:
    Delivery.objects.create(
        guid="x", event="ping", payload="{}", status=DeliveryStatus.PROCESSED, received_at=old(30)
    )
    assert scheduler.run_once("retention", 86400) == "retention queued"
    assert scheduler.run_once("retention", 86400, now=10.0) == "retention already queued"
    run_worker(queues=["*"], interval=0, batch=True)
    result = DBTaskResult.objects.get(task_path="citriage.ops.tasks.retention_task")
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert "deliveries 1" in result.return_value
    assert not Delivery.objects.exists()


def test_retention_cli_dry_run_then_for_real(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITRIAGE_")}
    env.update(
        CITRIAGE_DATA_DIR=str(tmp_path / "data"),
        CITRIAGE_DEFAULT_LIBRARY="false",
        CITRIAGE_RETAIN_LOGS_DAYS="0",  # every demo log is past its time
        CITRIAGE_RETAIN_PATTERN_EXAMPLES="0",
    )

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "citriage.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("demo", "--commits", "12", "--pulls", "2", "--jobs", "8", "--seed", "3")
    logs = len(list((tmp_path / "data" / "logs").rglob("*.zst")))
    assert logs > 0
    dry = cli("retention", "--dry-run")
    assert "stored logs " in dry and f"│ {logs} " in dry.replace(",", "")
    assert len(list((tmp_path / "data" / "logs").rglob("*.zst"))) == logs
    assert f"stored logs {logs}" in cli("retention")
    assert not list((tmp_path / "data" / "logs").rglob("*.zst"))


def junit(failing: str) -> io.BytesIO:
    suite, name = failing.split("::")
    return io.BytesIO(
        f"""<testsuite name="s"><testcase classname="m.Ok" name="passes"/>
        <testcase classname="{suite}" name="{name}"><failure message="boom"/></testcase>
        </testsuite>""".encode()
    )


@pytest.mark.django_db(transaction=True)
def test_test_results_ci_configurations_and_flaky_history_go_but_evidence_stays() -> None:
    repository = factories.repository()
    old_at = factories.T0  # 200 days before NOW; rows made now are recent then
    shas = {name: f"{n + 1:040x}" for n, name in enumerate(["flaky", "held", "plain", "broke"])}
    for name, sha in shas.items():
        uploads.upload(
            repository, sha=sha, job_name=name, attempt=1, files=[("r.xml", junit(f"m.{name}::t"))]
        )
    uploads.upload(
        repository,
        sha="9" * 40,
        job_name="plain",
        attempt=1,
        files=[("r.xml", junit("m.recent::t"))],
    )
    runs = {run.job_name if run.sha != "9" * 40 else "recent": run for run in TestRun.objects.all()}
    TestRun.objects.exclude(sha="9" * 40).update(finished_at=old_at)
    TestSet.objects.update(created=old_at)
    tests = {t.suite.removeprefix("m."): t for t in Test.objects.exclude(suite="m.Ok")}
    # evidence: one test is flaky, one quarantined; an open breakage starts at "broke"
    TestHealth.objects.create(test=tests["flaky"], repository=repository, state=State.FLAKY)
    Quarantine.objects.create(repository=repository, test=tests["held"], reason="flaky")
    recording.record_commit(repository, shas["broke"], message="a change")
    Breakage.objects.create(
        repository=repository, cause=repository.commits.get(sha=shas["broke"]), jobs=["broke"]
    )
    # flaky history: of the plain test's two old changes the newest stays; old ended quarantine
    for days in (3, 2):
        HealthChange.objects.create(
            test=tests["plain"],
            repository=repository,
            at=old_at - timedelta(days=days),
            old=State.HEALTHY,
            new=State.FLAKY,
        )
    Quarantine.objects.create(repository=repository, test=tests["plain"], ended_at=old_at)
    # settled owed-work rows; one still owed
    for name, run in runs.items():
        settled = FetchState.NONE if name == "plain" else FetchState.PENDING
        TestFetch.objects.create(job_id=run.pk, state=settled)
    TestFetch.objects.update(updated=old(8))
    RunArtifacts.objects.create(repository=repository, run_id="1", listed_at=old(8))
    RunArtifacts.objects.create(repository=repository, run_id="2", listed_at=old(8), next_at=old(1))
    # CI configurations: an old one read, an old one being read again, a recent one
    for sha, due in (("a" * 40, None), ("b" * 40, old(0)), ("c" * 40, None)):
        CommitConfig.objects.create(repository=repository, sha=sha, state="read", due_at=due)
        ExpectedJob.objects.create(repository=repository, sha=sha, provider="circleci", name="t")
    CommitConfig.objects.exclude(sha="c" * 40).update(seen_at=old_at)
    WorkflowRun.objects.create(repository=repository, run_id="1", sha="a" * 40, updated=old_at)
    WorkflowRun.objects.create(repository=repository, run_id="2", sha="c" * 40, updated=old(1))

    expected = {
        "test runs": 1,
        "test sets": 1,
        "settled test-result fetches": 1,
        "settled artifact lists": 1,
        "flaky-test state changes": 1,
        "ended quarantines": 1,
        "expected jobs": 1,
        "CI configurations": 1,
        "workflow runs": 1,
    }
    preview = retention.preview(NOW)
    assert {k: preview[k] for k in expected} == expected
    assert preview["test results (with their runs)"] == 1
    assert TestRun.objects.count() == 5  # a dry run removes nothing

    report = retention.run(now=NOW)
    assert {k: report.removed[k] for k in expected} == expected
    assert report.removed["test results"] == 1 and report.removed["test reports"] == 1
    assert set(TestRun.objects.values_list("job_name", flat=True)) == {
        "flaky",
        "held",
        "broke",
        "plain",
    }
    assert not TestRun.objects.filter(pk=runs["plain"].pk).exists()
    assert TestRun.objects.filter(pk=runs["recent"].pk).exists()
    assert TestResult.objects.count() == 4 and TestSet.objects.count() == 4
    assert list(HealthChange.objects.values_list("at", flat=True)) == [old_at - timedelta(days=2)]
    assert Quarantine.objects.get().test == tests["held"]
    assert list(RunArtifacts.objects.values_list("run_id", flat=True)) == ["2"]
    assert sorted(CommitConfig.objects.values_list("sha", flat=True)) == ["b" * 40, "c" * 40]
    assert sorted(ExpectedJob.objects.values_list("sha", flat=True)) == ["b" * 40, "c" * 40]
    assert list(WorkflowRun.objects.values_list("run_id", flat=True)) == ["2"]
    assert TestFetch.objects.filter(state__in=OWED).count() == 4  # owed: untouched
    assert not any(retention.run(now=NOW).removed.values())
