"""How testresults hears of what it must do: finished jobs owe their test results (an
Actions job's wait for its run's artifact list, owed once for the run), a completed run
makes its list due, a stored log lets the failed tests of a job without report be read
(see citriage.ci.signals)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone

from citriage.ci import signals as ci_signals
from citriage.ci.models import (
    Conclusion,
    JobAttempt,
    JobStatus,
    Provider,
    Repository,
    WorkflowRun,
)
from citriage.testresults.fetching import owe_listing, waiting, waits_for_run
from citriage.testresults.models import FetchState, TestFetch

FETCHED_FROM = (Provider.CIRCLECI, Provider.GITHUB_ACTIONS)
NO_RESULTS = (Conclusion.SKIPPED, Conclusion.NONE)


def _jobs_recorded(sender: Any, repository: Repository, jobs: list[JobAttempt], **_: Any) -> None:
    if repository.settings.get("demo"):
        return
    now = timezone.now()
    finished = [
        job
        for job in jobs
        if job.status == JobStatus.COMPLETED
        and job.conclusion not in NO_RESULTS
        and job.provider in FETCHED_FROM
    ]
    if not finished:
        return
    TestFetch.objects.bulk_create(
        [
            TestFetch(
                job=job, state=FetchState.PENDING, fetch_after=None if waits_for_run(job) else now
            )
            for job in finished
        ],
        ignore_conflicts=True,
    )
    runs: dict[str, int] = {}  # run -> the newest attempt of its jobs that finished
    for job in finished:
        if waits_for_run(job):
            runs[job.workflow_id] = max(runs.get(job.workflow_id, 0), job.attempt)
    if runs:
        _owe_listings(repository, runs)


def _owe_listings(repository: Repository, runs: dict[str, int]) -> None:
    """Runs whose jobs wait for their artifact list owe one: now when the run (the attempt
    of those jobs) completed, else after a wait that lets its other jobs finish (one list
    serves them all)."""
    completed = dict(
        WorkflowRun.objects.filter(
            repository=repository, run_id__in=list(runs), status=JobStatus.COMPLETED
        ).values_list("run_id", "attempt")
    )
    for run_id, attempt in runs.items():
        done = completed.get(run_id, 0) >= attempt
        owe_listing(repository.pk, run_id, delay=0 if done else settings.TEST_ARTIFACT_WAIT_SECONDS)


def _workflow_run_completed(sender: Any, repository: Repository, run_id: str, **_: Any) -> None:
    if waiting(repository.pk, run_id).exists():
        owe_listing(repository.pk, run_id, delay=0)


def _logs_stored(sender: Any, job: JobAttempt, **_: Any) -> None:
    TestFetch.objects.filter(pk=job.pk, state=FetchState.READ_LOG).update(
        fetch_after=timezone.now()
    )


def connect() -> None:
    ci_signals.jobs_recorded.connect(_jobs_recorded, dispatch_uid="testresults-jobs-recorded")
    ci_signals.workflow_run_completed.connect(
        _workflow_run_completed, dispatch_uid="testresults-workflow-run-completed"
    )
    ci_signals.logs_stored.connect(_logs_stored, dispatch_uid="testresults-logs-stored")
