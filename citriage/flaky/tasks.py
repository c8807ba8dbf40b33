"""Background work of flaky: checking a repository's tests (one task per owed check)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from citriage import queueing
from citriage.ci.models import Repository
from citriage.flaky import monitors
from citriage.flaky.models import HealthCheck
from citriage.testresults.models import TestRun


def owe_check(repository_id: int, *, delay: float | None = None) -> None:
    """The repository's tests are to be checked (a check already owed sooner stands):
    after `delay` seconds, so that a burst of results costs one check."""
    delay = settings.FLAKY_CHECK_DELAY_SECONDS if delay is None else delay
    due = timezone.now() + timedelta(seconds=delay)
    _row, created = HealthCheck.objects.get_or_create(
        repository_id=repository_id, defaults={"next_at": due}
    )
    if not created:
        HealthCheck.objects.filter(
            Q(next_at__isnull=True) | Q(next_at__gt=due), pk=repository_id
        ).update(next_at=due)


@task()
def check_tests_task(repository_id: int) -> str:
    now = timezone.now()
    repository = Repository.objects.filter(pk=repository_id).first()
    if repository is None:
        return "no such repository"
    # Cleared first: results stored while this runs owe another check.
    HealthCheck.objects.filter(pk=repository_id, next_at__lte=now).update(next_at=None)
    try:
        result = monitors.check(repository, now=now)
    finally:
        queueing.finished(HealthCheck, repository_id, "task")
    HealthCheck.objects.filter(pk=repository_id).update(
        checked_at=now, note=result.describe()[:300]
    )
    return result.describe()


def queue_due_checks() -> int:
    due = HealthCheck.objects.filter(next_at__lte=timezone.now())
    return queueing.queue_due(due, "task", check_tests_task, lambda row: (row.pk,))


def release_lost_checks() -> int:
    return queueing.release_lost(HealthCheck, "task")


def sweep() -> str:
    """Every repository with test results is checked again (recovery periods end and
    quarantines expire with time, not with new results)."""
    ids = list(TestRun.objects.values_list("repository_id", flat=True).distinct())
    for repository_id in ids:
        owe_check(repository_id, delay=0)
    return f"{len(ids)} repositories owe a flaky-test check"
