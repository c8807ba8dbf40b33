"""Background work on test results: fetching them (one task per owed job attempt)."""

from __future__ import annotations

from django_tasks import task

from citriage import queueing
from citriage.testresults import fetching
from citriage.testresults.models import TestFetch


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
