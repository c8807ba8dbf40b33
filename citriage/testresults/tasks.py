"""Background work on test results: fetching them (one task per owed job attempt), listing
the artifacts of a GitHub Actions run (one task per owed list, for all its jobs)."""

from __future__ import annotations

from django_tasks import task

from citriage import queueing
from citriage.testresults import fetching
from citriage.testresults.models import RunArtifacts, TestFetch


@task()
def fetch_tests_task(job_id: int) -> str:
    fetch = TestFetch.objects.filter(pk=job_id).first()
    if fetch is None:
        return "nothing owed"
    return fetching.fetch_tests(fetch)


def queue_due_test_fetches() -> int:
    """Queue a fetch for each job attempt whose test results are owed and due."""
    return queueing.queue_due(fetching.due(), "task", fetch_tests_task, lambda f: (f.pk,))


def release_lost_test_fetches() -> int:
    return queueing.release_lost(TestFetch, "task")


@task()
def list_artifacts_task(row_id: int) -> str:
    row = RunArtifacts.objects.filter(pk=row_id).first()
    if row is None:
        return "nothing owed"
    return fetching.list_run(row)


def queue_due_listings() -> int:
    """Queue a listing for each run whose artifact list is owed and due."""
    return queueing.queue_due(
        fetching.listings_due(), "task", list_artifacts_task, lambda r: (r.pk,)
    )


def release_lost_listings() -> int:
    return queueing.release_lost(RunArtifacts, "task")
