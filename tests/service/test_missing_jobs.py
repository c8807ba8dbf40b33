"""Jobs the configuration expects, against what reported: the summary waits for them and
posts when the last one finishes; a job that never reports is missing (in the summary,
the check run, its JSON and the PR comment); a job whose need failed is skipped, not
missing; a workflow that failed to start is said so. A fake GitHub serves PyGithub's
real workflows at the commit and takes the reports."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from citriage.ci import actions, recording
from citriage.ci.models import CommitConfig, Provider, Repository
from citriage.github.events import on_workflow_run
from citriage.ops.worker import run_worker
from citriage.triage import expected
from citriage.triage import summary as commit_summary
from citriage.triage.models import CommitSummary, PendingSummary
from tests import factories
from tests.ci_corpus import workflow_set
from tests.fake_github import FakeGitHub, app_on
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db(transaction=True)

REPO = "PyGithub/PyGithub"
SHA = "06ec040b2eeef6c0316dd5abcda0608525a3f205"
BRANCH = "tz-aware-2"
JOBS = "github-api/workflow-jobs/pygithub.WorkflowJob.setUp.2.json"


@pytest.fixture
def configured(fake_github: FakeGitHub, log_store: Path) -> Iterator[None]:
    with app_on(
        fake_github,
        PUBLIC_URL="https://citriage.example.org",
        COOL_OFF_SECONDS=0,  # without expected jobs, every report would be due at once
        EXPECTED_GRACE_SECONDS=1800,
        EXPECTED_WAIT_SECONDS=6 * 3600,
    ):
        yield


@pytest.fixture
def recorded_jobs(corpus: Path) -> list[dict[str, Any]]:
    """The five matrix jobs Actions reported for the commit, in the order they finished."""
    jobs = load(corpus / JOBS)["jobs"]
    return sorted(jobs, key=lambda job: job["completed_at"])


@pytest.fixture
def pushed(configs: Path, fake_github: FakeGitHub, configured: None) -> Repository:
    """PyGithub's branch head was pushed, with a pull request, and its workflows read."""
    repository = recording.get_repository(REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    fake_github.files[SHA] = workflow_set(configs, "PyGithub__PyGithub__06ec040")
    recording.record_commit(
        repository, SHA, message="tz-aware", pushed_at=timezone.now(), pushed_branch=BRANCH
    )
    recording.record_pull_request(
        repository, 2440, head_sha=SHA, head_ref=BRANCH, base_ref="main", head_repository=REPO
    )
    factories.work()
    assert CommitConfig.objects.get(sha=SHA).state == "read"
    return repository


def summarize() -> None:
    """What a worker does now: summarize the commits due (a report waiting for expected
    jobs is due later)."""
    for _ in range(20):
        due = list(
            PendingSummary.objects.filter(next_at__lte=timezone.now()).values_list(
                "repository_id", "sha"
            )
        )
        if not due:
            return
        for repository_id, sha in due:
            commit_summary.summarize(repository_id, sha)
    raise AssertionError("summaries keep making more summaries due")


def time_passes(seconds: float) -> None:
    """Move the commit's first sighting (and its jobs) back in time."""
    earlier = timedelta(seconds=seconds)
    config = CommitConfig.objects.get(sha=SHA)
    CommitConfig.objects.filter(pk=config.pk).update(seen_at=config.seen_at - earlier)
    now = timezone.now()
    PendingSummary.objects.update(next_at=now, refresh_at=now)


def check_run(fake_github: FakeGitHub) -> dict[str, Any]:
    (run,) = fake_github.check_runs.values()
    return run


def verdict_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    block = re.search(r"```json\n(.*?)\n```", run["output"]["summary"], re.DOTALL)
    assert block is not None
    return list(json.loads(block.group(1)))


@override_settings(COOL_OFF_SECONDS=3600)
def test_the_report_posts_when_the_last_expected_job_finishes(
    pushed: Repository, recorded_jobs: list[dict[str, Any]], fake_github: FakeGitHub
) -> None:
    for job in recorded_jobs[:4]:
        actions.record(pushed, job)
        summarize()
    summary = CommitSummary.objects.get(sha=SHA)
    assert (summary.reported_jobs, summary.expected_jobs, summary.waiting_jobs) == (4, 5, 1)
    assert fake_github.check_runs == {}  # waiting for the fifth, past the cool-off
    pending = PendingSummary.objects.get(sha=SHA)
    config = CommitConfig.objects.get(sha=SHA)
    # it waits until the fifth turns missing (the grace period), no longer
    assert pending.report_at == config.seen_at + timedelta(seconds=1800)
    actions.record(pushed, recorded_jobs[4])
    summarize()  # no cool-off: the last expected job finished
    run = check_run(fake_github)
    assert run["status"] == "completed" and run["conclusion"] == "success"
    assert run["output"]["title"] == "All jobs passed"
    assert PendingSummary.objects.get(sha=SHA).report_at is None


def test_a_job_that_never_reports_is_missing_everywhere(
    pushed: Repository, recorded_jobs: list[dict[str, Any]], fake_github: FakeGitHub
) -> None:
    for job in recorded_jobs[:4]:
        actions.record(pushed, job)
    summarize()
    assert fake_github.check_runs == {}
    absent = f"CI / {recorded_jobs[4]['name']}"
    state = {j.name: j.state for j in expected.coverage(pushed, SHA).jobs}
    assert state[absent] == expected.WAITING
    time_passes(1801)
    summarize()
    summary = CommitSummary.objects.get(sha=SHA)
    assert summary.missing_jobs == [absent] and not summary.all_excused
    run = check_run(fake_github)
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert run["output"]["title"] == "1 expected job missing, 4 of 5 jobs reported"
    rows = verdict_rows(run)
    assert rows == [
        {
            "job": absent,
            "verdict": "missing",
            "excused": False,
            "workflow": "CI",
            "config": ".github/workflows/ci.yml",
            "reasons": ["expected by the commit's CI configuration, never reported"],
        }
    ]
    (comment,) = fake_github.comments.values()
    assert "### Missing jobs (1)" in comment["body"]
    assert (
        f"- **{absent}** — expected by `.github/workflows/ci.yml`: not reported" in comment["body"]
    )
    # it reports after all: no longer missing, and the report says so
    actions.record(pushed, recorded_jobs[4])
    summarize()
    assert check_run(fake_github)["output"]["title"] == "All jobs passed"
    assert CommitSummary.objects.get(sha=SHA).missing_jobs == []


def test_the_longest_wait_bounds_the_report(
    pushed: Repository, recorded_jobs: list[dict[str, Any]], fake_github: FakeGitHub
) -> None:
    """A job still running when the commit has waited the longest time: the report is
    posted with what is in, as in progress."""
    running = copy.deepcopy(recorded_jobs[4])
    running.update(status="in_progress", conclusion=None, completed_at=None)
    for job in [*recorded_jobs[:4], running]:
        actions.record(pushed, job)
    summarize()
    assert fake_github.check_runs == {}
    time_passes(6 * 3600 + 1)
    summarize()
    run = check_run(fake_github)
    assert run["status"] == "in_progress"
    assert run["output"]["title"] == "No failures so far (1 running)"


def test_an_unexcused_failure_is_told_early_and_the_report_completes_later(
    pushed: Repository, recorded_jobs: list[dict[str, Any]], fake_github: FakeGitHub
) -> None:
    failed = copy.deepcopy(recorded_jobs[0])
    failed["conclusion"] = "failure"
    actions.record(pushed, failed)
    fake_github.job_logs[failed["id"]] = b"Run tox\nERROR: InvocationError for command tox\n"
    run_worker(queues=["*"], interval=0, batch=True)  # the log is fetched, no pattern matches
    summarize()
    run = check_run(fake_github)
    assert run["status"] == "in_progress"
    assert run["output"]["title"] == "1 unmatched failure (so far; 1 of 5 jobs reported)"
    for job in recorded_jobs[1:]:
        actions.record(pushed, job)
    summarize()
    run = check_run(fake_github)
    assert run["status"] == "completed" and run["conclusion"] == "failure"
    assert "so far" not in run["output"]["title"]


WORKFLOW = b"""name: Build
on: push
jobs:
  compile:
    runs-on: ubuntu-latest
    steps: [{run: make}]
  test:
    needs: compile
    runs-on: ubuntu-latest
    steps: [{run: make test}]
  report:
    needs: [compile, test]
    if: always()
    runs-on: ubuntu-latest
    steps: [{run: ./report}]
"""


def actions_job(
    number: int, name: str, conclusion: str, sha: str, run_id: int = 77
) -> dict[str, Any]:
    return {
        "id": number,
        "run_id": run_id,
        "run_attempt": 1,
        "head_sha": sha,
        "head_branch": "main",
        "workflow_name": "Build",
        "name": name,
        "status": "completed",
        "conclusion": conclusion,
        "started_at": "2026-11-02T10:00:00Z",
        "completed_at": "2026-11-02T10:05:00Z",
        "steps": [],
    }


def pushed_build(fake_github: FakeGitHub, sha: str) -> Repository:
    """A push of `sha` to main of a repository with the workflow above, read."""
    repository = recording.get_repository(
        "acme/rocket", create=True, providers=[Provider.GITHUB_ACTIONS]
    )
    fake_github.files[sha] = {".github/workflows/build.yml": WORKFLOW}
    recording.record_commit(
        repository, sha, message="x", pushed_at=timezone.now(), pushed_branch="main"
    )
    factories.work()
    return repository


def test_a_job_whose_need_failed_is_skipped_not_missing(
    fake_github: FakeGitHub, configured: None
) -> None:
    sha = "f" * 40
    repository = pushed_build(fake_github, sha)
    actions.record(repository, actions_job(1, "compile", "failure", sha))
    coverage = expected.coverage(repository, sha, now=timezone.now() + timedelta(hours=1))
    states = {job.name: job.state for job in coverage.jobs}
    assert states == {
        "Build / compile": expected.REPORTED,
        "Build / test": expected.SKIPPED,  # its need failed
        "Build / report": expected.MISSING,  # `always()`: it should have run
    }
    assert (coverage.reported, coverage.expected) == (1, 2)


def test_a_workflow_that_failed_to_start_is_said_so(
    corpus: Path, fake_github: FakeGitHub, configured: None
) -> None:
    sha = "e" * 40
    repository = pushed_build(fake_github, sha)
    payload = load(corpus / "webhooks/workflow_run/octokit.completed.payload.json")
    payload["workflow_run"].update(
        head_sha=sha,
        name="Build",
        path=".github/workflows/build.yml",
        event="push",
        conclusion="startup_failure",
        head_branch="main",
    )
    on_workflow_run(repository, payload)
    summarize()
    summary = CommitSummary.objects.get(sha=sha)
    assert summary.not_started == ["Build"] and not summary.all_excused
    states = {job.state for job in expected.coverage(repository, sha).jobs}
    assert states == {expected.NOT_STARTED}
    run = check_run(fake_github)
    assert run["output"]["title"] == "1 workflow failed to start, 0 of 3 jobs reported"
    assert {"workflow": "Build", "verdict": "not_started", "excused": False} in verdict_rows(run)
