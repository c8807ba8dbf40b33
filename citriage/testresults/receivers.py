"""How testresults hears of what it must do: finished jobs owe their test results, a
stored log lets the failed tests of a job without report be read (see citriage.ci.signals)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from citriage.ci import signals as ci_signals
from citriage.ci.models import Conclusion, JobAttempt, JobStatus, Provider, Repository
from citriage.testresults.models import FetchState, TestFetch

FETCHED_FROM = (Provider.CIRCLECI, Provider.GITHUB_ACTIONS)
NO_RESULTS = (Conclusion.SKIPPED, Conclusion.NONE)


def _jobs_recorded(sender: Any, repository: Repository, jobs: list[JobAttempt], **_: Any) -> None:
    if repository.settings.get("demo"):
        return
    now = timezone.now()
    owed = [
        TestFetch(job=job, state=FetchState.PENDING, fetch_after=now)
        for job in jobs
        if job.status == JobStatus.COMPLETED
        and job.conclusion not in NO_RESULTS
        and job.provider in FETCHED_FROM
    ]
    if owed:
        TestFetch.objects.bulk_create(owed, ignore_conflicts=True)


def _logs_stored(sender: Any, job: JobAttempt, **_: Any) -> None:
    TestFetch.objects.filter(pk=job.pk, state=FetchState.READ_LOG).update(
        fetch_after=timezone.now()
    )


def connect() -> None:
    ci_signals.jobs_recorded.connect(_jobs_recorded, dispatch_uid="testresults-jobs-recorded")
    ci_signals.logs_stored.connect(_logs_stored, dispatch_uid="testresults-logs-stored")
