"""Test results end to end, through each of the three sources: every report of the shared
corpus uploaded to the API by `citriage upload-tests`, served by a fake CircleCI's test
results API, and zipped into artifacts of a fake GitHub Actions run; a real worker fetches
what is owed. Counts stored equal what the corpus says each report holds."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.test import override_settings

from citriage.ci import actions, github_app, recording
from citriage.ci.models import JobAttempt, Provider
from citriage.cli import app
from citriage.ops.worker import run_worker
from citriage.providers.base import JobRun, StepRun
from citriage.providers.github_actions import Artifact, to_workflow_run
from citriage.testresults import sources, uploads
from citriage.testresults.models import (
    FetchState,
    Outcome,
    RunArtifacts,
    TestFetch,
    TestReport,
    TestResult,
    TestRun,
    UploadToken,
)
from tests.fake_github import app_private_key
from tests.fakes import FakeServer, Reply, Seen, json_reply
from tests.gha_corpus import load
from tests.testreports.corpus_counts import expected_counts
from tests.testreports.test_reports import BOMB

pytestmark = pytest.mark.django_db(transaction=True)

REPO = "acme/widgets"
SHA = "c" * 40
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COUNTED = ("tests", "failures", "errors", "skipped", "reruns")


def work() -> None:
    run_worker(queues=["*"], interval=0, batch=True)


@pytest.fixture
def reports(corpus: Path) -> dict[str, Path]:
    folder = corpus / "test-reports"
    return {name: folder / name for name in sorted(expected_counts(folder))}


@pytest.fixture
def expected(corpus: Path) -> dict[str, Any]:
    return expected_counts(corpus / "test-reports")


def stored_counts(report: TestReport) -> tuple[int, ...]:
    return tuple(getattr(report, name) for name in COUNTED)


def wanted(expected: Any, *, reruns: bool = True) -> tuple[int, ...]:
    return (
        expected.tests,
        expected.failures,
        expected.errors,
        expected.skipped,
        expected.reruns if reruns else 0,
    )


# -- uploads: the API and the command line ----------------------------------------------


def upload_cli(live_server: Any, token: str, *args: str) -> Any:
    result = CliRunner().invoke(
        app,
        ["upload-tests", *args, "--url", live_server.url, "--token", token, "--json"],
        catch_exceptions=False,
    )
    return result


def test_every_corpus_report_uploaded_by_the_cli(
    live_server: Any, log_store: Path, reports: dict[str, Path], expected: dict[str, Any]
) -> None:
    repository = recording.get_repository(REPO, create=True, providers=[Provider.CIRCLECI])
    _row, token = uploads.create_token(repository, name="CI")
    for number, (name, path) in enumerate(reports.items()):
        result = upload_cli(
            live_server, token, str(path), "--repo", REPO, "--commit", SHA, "--job", f"job {number}"
        )
        assert result.exit_code == 0, result.output
        answer = json.loads(result.output)
        [said] = answer["reports"]
        assert said["stored"] and not said["error"]
        assert tuple(said[c] for c in COUNTED) == wanted(expected[name]), name
        stored = TestReport.objects.get(run__job__name=f"job {number}")
        assert stored_counts(stored) == wanted(expected[name]), name
        run = stored.run
        failing = expected[name].failures + expected[name].errors
        assert run.job.conclusion == ("failure" if failing or stored.suite_errors else "success")
    # the same report again changes nothing
    rows = (TestResult.objects.count(), TestReport.objects.count(), TestRun.objects.count())
    first = next(iter(reports.values()))
    again = upload_cli(
        live_server, token, str(first), "--repo", REPO, "--commit", SHA, "--job", "job 0"
    )
    assert again.exit_code == 0
    assert json.loads(again.output)["reports"][0]["stored"] is False
    assert (TestResult.objects.count(), TestReport.objects.count(), TestRun.objects.count()) == rows


def test_uploads_refuse_hostile_and_bad_reports(
    live_server: Any, log_store: Path, tmp_path: Path, reports: dict[str, Path]
) -> None:
    repository = recording.get_repository(REPO, create=True)
    _row, token = uploads.create_token(repository)
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BOMB)
    cut = tmp_path / "cut.xml"
    whole = reports["pytest/launchable.report.xml"].read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    good = reports["pytest/launchable.report.xml"]
    result = upload_cli(
        live_server,
        token,
        str(bomb),
        str(cut),
        str(good),
        "--repo",
        REPO,
        "--commit",
        SHA,
        "--job",
        "pytest",
    )
    assert result.exit_code == 1
    bad_bomb, bad_cut, stored = json.loads(result.output)["reports"]
    assert "refused: the report declares a DTD" in bad_bomb["error"]
    assert "truncated" in bad_cut["error"]
    assert stored["stored"] and stored["tests"] == 12
    # only the good report was stored
    assert list(TestReport.objects.values_list("name", flat=True)) == ["launchable.report.xml"]


def test_upload_needs_an_active_token_of_the_repository(
    live_server: Any, log_store: Path, reports: dict[str, Path]
) -> None:
    repository = recording.get_repository(REPO, create=True)
    row, token = uploads.create_token(repository)
    path = str(reports["pytest/launchable.report.xml"])
    other = upload_cli(
        live_server, token, path, "--repo", "acme/other", "--commit", SHA, "--job", "j"
    )
    assert other.exit_code == 2 and "uploads for acme/widgets" in " ".join(other.output.split())
    uploads.revoke(row)
    refused = upload_cli(live_server, token, path, "--repo", REPO, "--commit", SHA, "--job", "j")
    assert refused.exit_code == 2 and "401" in refused.output
    assert not TestRun.objects.exists()


def test_dry_run_reads_locally(reports: dict[str, Path], expected: dict[str, Any]) -> None:
    name = "surefire/xunit-plugin.TEST-surefire3.FlakyTest.xml"
    result = CliRunner().invoke(app, ["upload-tests", str(reports[name]), "--dry-run", "--json"])
    assert result.exit_code == 0
    [said] = json.loads(result.output)["reports"]
    assert tuple(said[c] for c in COUNTED) == wanted(expected[name])
    assert said["flaky_tests"] == 1


def cli(*args: str) -> Any:
    """The command in process (it shares the test database), wide enough for its tables."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"}, catch_exceptions=False)


def words(output: str) -> str:
    """What the command said, without its tables' lines (box-drawing characters)."""
    return " ".join(re.sub("[\u2500-\u257f]", " ", output).split())


def test_repos_token_made_used_listed_and_revoked(
    live_server: Any, log_store: Path, reports: dict[str, Path], expected: dict[str, Any]
) -> None:
    recording.get_repository(REPO, create=True, providers=[Provider.CIRCLECI])
    made = cli("repos", "token", REPO, "--name", "Jenkins")
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    row = UploadToken.objects.get(name="Jenkins")
    assert token.startswith(row.prefix) and row.token_hash != token  # only the hash kept
    assert row.created_by == "citriage repos token"
    # the token uploads; the human output says what each report held
    name = "surefire/xunit-plugin.TEST-surefire3.FlakyTest.xml"
    sent = cli(
        "upload-tests", str(reports[name]), "--repo", REPO, "--commit", SHA, "--job", "it",
        "--url", live_server.url, "--token", token,
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    said = words(sent.output)
    assert f"stored for {REPO}: {live_server.url}/jobs/" in said
    counts = " ".join(str(n) for n in wanted(expected[name]))
    assert f"{Path(name).name} junit {counts} 1 yes" in said
    assert TestReport.objects.get(run__job__name="it").name == Path(name).name
    listed = words(cli("repos", "token", REPO, "--list").output)
    assert f"{row.prefix}… Jenkins" in listed and "active" in listed and token not in listed
    revoked = cli("repos", "token", REPO, "--revoke", row.prefix)
    assert revoked.exit_code == 0 and f"revoked {row.prefix}… of {REPO}" in revoked.output
    assert uploads.repository_for(token) is None
    assert "revoked" in cli("repos", "token", REPO, "--list").output
    again = cli("repos", "token", REPO, "--revoke", row.prefix)
    assert again.exit_code == 2 and "0 active tokens" in again.output
    unknown = cli("repos", "token", "acme/nobody")
    assert unknown.exit_code == 2 and "acme/nobody is not watched" in unknown.output


def test_dry_run_in_words_and_a_refused_report(tmp_path: Path, reports: dict[str, Path]) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(BOMB)
    name = "pytest/launchable.report.xml"
    result = cli("upload-tests", str(reports[name]), str(bomb), "--dry-run")
    assert result.exit_code == 1  # a report was refused
    said = words(result.output)
    assert "launchable.report.xml junit 12 4 0 0 0 0 -" in said  # not stored: "-"
    assert "bomb.xml refused: the report declares a DTD (<!DOCTYPE ...>)" in said
    missing = cli("upload-tests", str(tmp_path / "none.xml"), "--dry-run")
    assert missing.exit_code == 2 and "no such report" in missing.output


# -- CircleCI ----------------------------------------------------------------------------


def circleci_items(path: Path) -> list[dict[str, Any]] | None:
    """What CircleCI's test results API gives for a JUnit report: one item per testcase
    (converted here without citriage's reader). None for reports CircleCI does not read."""
    root = ET.parse(path).getroot()
    if root.tag not in ("testsuites", "testsuite"):
        return None
    items = []
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        result = (
            "failure"
            if "failure" in tags
            else "error"
            if "error" in tags
            else "skipped"
            if "skipped" in tags
            else "success"
        )
        problem = next((c for c in case if c.tag in ("failure", "error")), None)
        items.append(
            {
                "name": case.get("name", ""),
                "classname": case.get("classname", ""),
                "file": case.get("file"),
                "result": result,
                "message": (problem.get("message") or problem.text)
                if problem is not None
                else None,
                "run_time": float(case.get("time") or 0),
                "source": "junit",
            }
        )
    return items


def serve_pages(
    server: FakeServer, path: str, items: list[dict[str, Any]], size: int = 500
) -> None:
    """CircleCI's paging: `next_page_token` until the last page."""

    def page(seen: Seen) -> Reply:
        start = int((seen.query.get("page-token") or ["0"])[0])
        following = start + size if start + size < len(items) else None
        return json_reply(
            {"items": items[start : start + size], "next_page_token": following and str(following)}
        )

    server.on("GET", path, page)


@pytest.fixture
def circleci() -> Iterator[FakeServer]:
    server = FakeServer()
    with override_settings(
        CIRCLECI_URL=f"{server.url}/api",
        CIRCLECI_TOKEN="circle-token",
        HTTP_BACKOFF=0.01,
        HTTP_RETRIES=1,
    ):
        yield server
    server.close()


def circleci_job(
    repository: Any, number: int, name: str, conclusion: str = "success"
) -> JobAttempt:
    job, _ = recording.record_job(
        repository,
        JobRun(
            provider=Provider.CIRCLECI,
            provider_id=str(number),
            name=name,
            sha=SHA,
            status="completed",
            conclusion=conclusion,
            finished_at=T0 + timedelta(minutes=number),
            steps=[
                StepRun(
                    name="Run tests",
                    index=1,
                    status="failed" if conclusion != "success" else "success",
                )
            ],
        ),
    )
    return job


def test_every_junit_report_through_circleci_test_results(
    circleci: FakeServer, log_store: Path, reports: dict[str, Path], expected: dict[str, Any]
) -> None:
    """CircleCI reads JUnit XML only, and gives one result per testcase: rerun elements
    are not in its API (the reruns count is 0 there)."""
    repository = recording.get_repository(REPO, create=True, providers=[Provider.CIRCLECI])
    served = {}
    for number, (name, path) in enumerate(reports.items(), start=100):
        items = circleci_items(path)
        if items is None:
            continue
        serve_pages(circleci, f"/api/v2/project/gh/{REPO}/{number}/tests", items)
        circleci_job(repository, number, name)
        served[name] = number
    not_junit = {name.split("/")[0] for name in reports if name not in served}
    assert not_junit == {"ctest", "nunit", "open-test-reporting", "trx", "xunit-net"}
    work()
    for name, number in served.items():
        fetch = TestFetch.objects.get(job__provider_id=str(number))
        assert fetch.state == FetchState.FETCHED, (name, fetch.error)
        report = TestReport.objects.get(run__job__provider_id=str(number))
        assert stored_counts(report) == wanted(expected[name], reruns=False), name
    jest = served["jest/dorny.jest-test-results.xml"]  # 4,239 results: 9 pages
    assert len(circleci.seen("GET", f"/api/v2/project/gh/{REPO}/{jest}/tests")) == 9
    assert all(r.headers.get("circle-token") == "circle-token" for r in circleci.requests)
    # fetched again: nothing changes
    rows = list(TestResult.objects.order_by("pk").values_list("pk", "outcome", "retries"))
    TestFetch.objects.update(state=FetchState.PENDING, fetch_after=T0)  # due again
    work()
    assert len(circleci.seen("GET", f"/api/v2/project/gh/{REPO}/{jest}/tests")) == 18
    assert list(TestResult.objects.order_by("pk").values_list("pk", "outcome", "retries")) == rows
    assert TestReport.objects.count() == len(served)


def test_circleci_errors_follow_the_log_fetch_rules(circleci: FakeServer, log_store: Path) -> None:
    repository = recording.get_repository(REPO, create=True, providers=[Provider.CIRCLECI])
    circleci.on("GET", f"/api/v2/project/gh/{REPO}/7/tests", Reply(503, b"{}"))
    circleci.on("GET", f"/api/v2/project/gh/{REPO}/8/tests", Reply(404, b'{"message": "no"}'))
    circleci_job(repository, 7, "flappy")
    circleci_job(repository, 8, "gone")
    work()
    retry = TestFetch.objects.get(job__provider_id="7")
    assert retry.state == FetchState.PENDING_RETRY and retry.attempts == 1 and "503" in retry.error
    gone = TestFetch.objects.get(job__provider_id="8")
    assert gone.state == FetchState.ERROR and "404" in gone.error
    # the service comes back: the retry stores the results
    serve_pages(
        circleci,
        f"/api/v2/project/gh/{REPO}/7/tests",
        [{"name": "t", "classname": "c", "result": "success", "run_time": 0.1, "message": None}],
    )
    TestFetch.objects.filter(pk=retry.pk).update(fetch_after=T0)
    work()
    assert TestFetch.objects.get(pk=retry.pk).state == FetchState.FETCHED
    assert TestRun.objects.get(job__provider_id="7").passed == 1


def test_a_failed_job_without_report_has_its_failed_tests_read_from_the_log(
    circleci: FakeServer, log_store: Path, corpus: Path
) -> None:
    repository = recording.get_repository(REPO, create=True, providers=[Provider.CIRCLECI])
    serve_pages(circleci, f"/api/v2/project/gh/{REPO}/9/tests", [])
    job = circleci_job(repository, 9, "pytest", conclusion="failure")
    # the failed step's log is stored (as its fetch would store it)
    log_text = (corpus / "logs/buildkite/vllm_raw_log_64854_elastic_ep_scaling.txt").read_bytes()
    stored = recording.store_log(job.steps.get(index=1), log_text)
    recording.record_logs_fetched(job, [stored])
    work()  # CircleCI has no test results: the failed tests are read from the log
    fetch = TestFetch.objects.get(pk=job.pk)
    assert fetch.state == FetchState.FETCHED, fetch.note
    run = TestRun.objects.get(pk=job.pk)
    assert run.sources == ["log"] and run.test_set is None
    assert sorted(run.results.values_list("test__name", flat=True)) == [
        "test_elastic_ep_scaling",
        "test_elastic_ep_scaling_uneven",
    ]
    # a report uploaded later replaces what the log said
    report = b"""<testsuite name="pytest"><testcase classname="distributed.test_elastic_ep"
      name="test_elastic_ep_scaling"><failure message="boom"/></testcase>
      <testcase classname="distributed.test_elastic_ep" name="test_other"/></testsuite>"""
    uploads.upload(
        repository, sha=SHA, job_name="pytest", attempt=1, files=[("r.xml", io.BytesIO(report))]
    )
    run.refresh_from_db()
    assert run.sources == ["upload"] and (run.tests, run.failed, run.passed) == (2, 1, 1)


# -- GitHub Actions artifacts -----------------------------------------------------------

GH_REPO = "acme/gadgets"
API = f"/repos/{GH_REPO}/actions"
RUN = 5138169628


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeServer]:
    server = FakeServer()
    server.on("GET", f"/repos/{GH_REPO}/installation", json_reply({"id": 99, "app_id": 1}))
    server.on(
        "POST",
        "/app/installations/99/access_tokens",
        json_reply({"token": "ghs_t", "expires_at": "2099-01-01T00:00:00Z"}, 201),
    )
    pem = app_private_key()
    with override_settings(
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=pem,
        GITHUB_API_URL=server.url,
        HTTP_BACKOFF=0.01,
        HTTP_RETRIES=1,
    ):
        github_app._tokens.cache_clear()
        yield server
        github_app._tokens.cache_clear()
    server.close()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def actions_job(
    repository: Any,
    number: int,
    name: str,
    start: datetime,
    *,
    attempt: int = 1,
    conclusion: str = "success",
) -> JobAttempt:
    job, _ = actions.record(
        repository,
        {
            "id": 7000 + number,
            "run_id": RUN,
            "run_attempt": attempt,
            "head_sha": SHA,
            "name": name,
            "workflow_name": "CI",
            "status": "completed",
            "conclusion": conclusion,
            "started_at": start.isoformat(),
            "completed_at": (start + timedelta(minutes=5)).isoformat(),
            "steps": [],
        },
    )
    return job


def serve_artifacts(
    github: FakeServer, corpus: Path, artifacts: dict[int, tuple[str, datetime, bytes]]
) -> None:
    """The run's artifacts: the recorded listing (two build artifacts, which hold no test
    reports and must not be downloaded) and ours, each zip behind a redirect to storage."""
    listing = load(
        corpus
        / "test-reports/github-artifacts/pygithub.Artifact.testGetArtifactsFromWorkflow.2.json"
    )
    template = listing["artifacts"][0]
    for artifact_id, (name, created, data) in artifacts.items():
        listing["artifacts"].append(
            {
                **template,
                "id": artifact_id,
                "name": name,
                "size_in_bytes": len(data),
                "created_at": created.isoformat().replace("+00:00", "Z"),
            }
        )
        github.on(
            "GET",
            f"{API}/artifacts/{artifact_id}/zip",
            Reply(302, b"", {"Location": f"{github.url}/storage/{artifact_id}.zip?sig=x"}),
        )
        github.on(
            "GET",
            f"/storage/{artifact_id}.zip",
            Reply(200, data, {"Content-Type": "application/zip"}),
        )
    listing["total_count"] = len(listing["artifacts"])
    github.on("GET", f"{API}/runs/{RUN}/artifacts", json_reply(listing))


def test_every_corpus_report_in_actions_artifacts(
    github: FakeServer,
    log_store: Path,
    corpus: Path,
    reports: dict[str, Path],
    expected: dict[str, Any],
) -> None:
    repository = recording.get_repository(GH_REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    artifacts = {}
    jobs = {}
    for number, (name, path) in enumerate(reports.items()):
        start = T0 + timedelta(minutes=10 * number)
        jobs[name] = actions_job(repository, number, f"tests {number}", start)
        files = {
            f"reports/{path.name}": path.read_bytes(),
            "reports/coverage.xml": b"<coverage line-rate='0.9'/>",  # not a report: skipped
            "README.txt": b"reports of this job",
        }
        artifacts[900 + number] = (
            f"test-results-{number}",
            start + timedelta(minutes=4),
            zipped(files),
        )
    serve_artifacts(github, corpus, artifacts)
    work()
    for name, job in jobs.items():
        fetch = TestFetch.objects.get(pk=job.pk)
        assert fetch.state == FetchState.FETCHED, (name, fetch.note, fetch.error)
        [report] = TestReport.objects.filter(run__job=job)
        assert stored_counts(report) == wanted(expected[name]), name
        assert report.source == "artifact" and report.name.startswith("test-results-")
    # the build artifacts were never downloaded; storage got no credentials
    assert not github.seen("GET", f"{API}/artifacts/724958104/zip")
    storage = [r for r in github.requests if r.path.startswith("/storage/")]
    assert len(storage) == len(reports) and all("authorization" not in r.headers for r in storage)
    assert all(
        r.headers.get("authorization") == "Bearer ghs_t"
        for r in github.requests
        if r.path.startswith(API)
    )


def test_a_hostile_report_in_an_artifact_is_refused_alone(
    github: FakeServer, log_store: Path, corpus: Path, reports: dict[str, Path]
) -> None:
    repository = recording.get_repository(GH_REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    job = actions_job(repository, 1, "unit", T0)
    good = reports["pytest/launchable.report.xml"].read_bytes()
    data = zipped({"bomb.xml": BOMB, "good.xml": good, "cut.xml": good[:500]})
    serve_artifacts(github, corpus, {901: ("junit-unit", T0 + timedelta(minutes=2), data)})
    work()
    fetch = TestFetch.objects.get(pk=job.pk)
    assert fetch.state == FetchState.FETCHED
    assert "bomb.xml: refused: the report declares a DTD" in fetch.error
    assert "cut.xml: not well-formed XML" in fetch.error
    assert list(TestReport.objects.values_list("name", flat=True)) == ["junit-unit/good.xml"]
    assert TestRun.objects.get(pk=job.pk).tests == 12
    # the artifact fetched again: the same reports change nothing
    rows = list(TestResult.objects.values_list("pk", "outcome", "retries"))
    TestFetch.objects.update(state=FetchState.PENDING, fetch_after=T0)
    work()
    assert len(github.seen("GET", "/storage/901.zip")) == 2
    assert list(TestResult.objects.values_list("pk", "outcome", "retries")) == rows
    assert TestReport.objects.count() == 1 and TestRun.objects.get(pk=job.pk).tests == 12


def run_completed(repository: Any, attempt: int) -> None:
    """GitHub's `workflow_run` delivery: the run's attempt ended."""
    recording.record_workflow_run(
        repository,
        to_workflow_run(
            {
                "id": RUN,
                "head_sha": SHA,
                "name": "CI",
                "status": "completed",
                "conclusion": "success",
                "run_attempt": attempt,
                "updated_at": (T0 + timedelta(hours=attempt)).isoformat(),
            }
        ),
    )


@override_settings(TEST_ARTIFACT_WAIT_SECONDS=300)
def test_a_runs_artifacts_are_listed_once_for_all_its_jobs(
    github: FakeServer, log_store: Path, corpus: Path, reports: dict[str, Path]
) -> None:
    repository = recording.get_repository(GH_REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    listing = f"{API}/runs/{RUN}/artifacts"
    report = reports["pytest/launchable.report.xml"].read_bytes()
    # four jobs one after another; the third uploaded its test report, the fourth failed
    jobs = [
        actions_job(repository, n, f"tests {n}", T0 + timedelta(minutes=10 * n)) for n in range(3)
    ]
    jobs.append(
        actions_job(repository, 3, "tests 3", T0 + timedelta(minutes=30), conclusion="failure")
    )
    uploaded = T0 + timedelta(minutes=24)
    serve_artifacts(github, corpus, {901: ("test-results-2", uploaded, zipped({"r.xml": report}))})
    work()
    # the run has not ended: its jobs wait for its other jobs, nothing is listed yet
    assert github.seen("GET", listing) == []
    assert set(TestFetch.objects.values_list("state", "fetch_after")) == {
        (FetchState.PENDING, None)
    }

    run_completed(repository, 1)
    work()
    assert len(github.seen("GET", listing)) == 1  # once for the four jobs, not once per job
    assert len(github.seen("GET", "/storage/901.zip")) == 1
    states = dict(TestFetch.objects.values_list("pk", "state"))
    assert states == {
        jobs[0].pk: FetchState.NONE,
        jobs[1].pk: FetchState.NONE,
        jobs[2].pk: FetchState.FETCHED,
        jobs[3].pk: FetchState.READ_LOG,  # no report: its failed tests come from its log
    }
    assert TestRun.objects.get(pk=jobs[2].pk).tests == 12
    assert "no artifact of this job matches" in TestFetch.objects.get(pk=jobs[0].pk).note

    # the failed job is rerun (the run's second attempt): one more list, for it alone
    rerun = actions_job(repository, 4, "tests 3", T0 + timedelta(hours=1), attempt=2)
    work()
    assert len(github.seen("GET", listing)) == 1
    run_completed(repository, 2)
    work()
    assert len(github.seen("GET", listing)) == 2
    assert TestFetch.objects.get(pk=rerun.pk).state == FetchState.NONE
    assert TestFetch.objects.get(pk=jobs[2].pk).state == FetchState.FETCHED  # not fetched again
    assert len(github.seen("GET", "/storage/901.zip")) == 1
    assert RunArtifacts.objects.get().next_at is None


def test_a_job_finishing_after_the_list_owes_another_and_errors_end_the_waiting_jobs(
    github: FakeServer, log_store: Path, corpus: Path
) -> None:
    repository = recording.get_repository(GH_REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    listing = f"{API}/runs/{RUN}/artifacts"
    serve_artifacts(github, corpus, {})
    first = actions_job(repository, 0, "lint", T0)
    work()
    assert len(github.seen("GET", listing)) == 1
    # a job that finished after the list was asked for: the run is listed again for it
    later = actions_job(repository, 1, "tests", T0 + timedelta(minutes=5))
    work()
    assert len(github.seen("GET", listing)) == 2
    assert TestFetch.objects.get(pk=first.pk).state == FetchState.NONE
    assert TestFetch.objects.get(pk=later.pk).state == FetchState.NONE

    # a list GitHub refuses for good ends the waiting jobs' fetches with its error, once
    github.on("GET", listing, Reply(404, b'{"message": "Not Found"}'))
    third = actions_job(repository, 2, "docs", T0 + timedelta(minutes=9))
    fourth = actions_job(repository, 3, "docs-2", T0 + timedelta(minutes=9))
    work()
    assert len(github.seen("GET", listing)) == 3
    for job in (third, fourth):
        fetch = TestFetch.objects.get(pk=job.pk)
        assert fetch.state == FetchState.ERROR and "404" in fetch.error, fetch.error


def test_which_job_uploaded_an_artifact() -> None:
    def job(pk: int, name: str, start: int, end: int) -> JobAttempt:
        row = JobAttempt(pk=pk, name=name)
        row.started_at = T0 + timedelta(minutes=start)
        row.finished_at = T0 + timedelta(minutes=end)
        return row

    linux = job(1, "CI / tests (linux)", 0, 10)
    mac = job(2, "CI / tests (macos)", 0, 12)
    lint = job(3, "CI / lint", 20, 22)

    def artifact(name: str, minute: int) -> Artifact:
        return Artifact(id=1, name=name, created_at=T0 + timedelta(minutes=minute))

    jobs = [linux, mac, lint]
    assert sources.uploaded_by(artifact("junit-macos", 11), jobs) is mac
    assert sources.uploaded_by(artifact("test-results-linux", 9), jobs) is linux
    assert sources.uploaded_by(artifact("test-report", 21), jobs) is lint  # alone then
    assert sources.uploaded_by(artifact("test-report", 5), jobs) is None  # two ran, no name
    assert sources.uploaded_by(artifact("junit-lint", 90), jobs) is lint  # none ran: by name
    assert sources.uploaded_by(artifact("anything", 90), [linux]) is linux  # the only job


def test_reports_of_one_job_add_up_and_a_test_failing_then_passing_is_flaky(
    log_store: Path,
) -> None:
    repository = recording.get_repository(REPO, create=True)
    first = b"""<testsuite name="a"><testcase classname="m.A" name="t1"/>
      <testcase classname="m.A" name="t2"><failure message="boom"/></testcase></testsuite>"""
    second = b"""<testsuite name="b"><testcase classname="m.B" name="t3"><skipped/></testcase>
      <testcase classname="m.A" name="t2"/></testsuite>"""
    uploads.upload(
        repository, sha=SHA, job_name="unit", attempt=1, files=[("one.xml", io.BytesIO(first))]
    )
    run = TestRun.objects.get()
    assert (run.tests, run.passed, run.failed, run.skipped) == (2, 1, 1, 0)
    assert run.job.conclusion == "failure"
    uploads.upload(
        repository, sha=SHA, job_name="unit", attempt=1, files=[("two.xml", io.BytesIO(second))]
    )
    run.refresh_from_db()
    assert (run.tests, run.passed, run.failed, run.skipped, run.flaky) == (3, 2, 0, 1, 1)
    flaky = TestResult.objects.get(outcome=Outcome.FLAKY)
    assert (flaky.test.name, flaky.retries, flaky.message) == ("t2", 1, "boom")
