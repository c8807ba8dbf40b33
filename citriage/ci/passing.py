"""Logs of passing runs, kept as baselines for the failure lines of failed logs.

A line of a failed log whose signature also occurs in a passing log of the same job
and step says little (see `citriage.scanner.failure_lines.Baseline`). citriage
therefore keeps the logs of a sample of passing runs: a passing attempt of a job
owes its logs (every step's, fetched like a failed attempt's, see
`citriage.ci.fetching`) when no passing attempt of that job was sampled within
CITRIAGE_PASSING_LOG_DAYS. Only the newest passing log of each job and step is kept
(a newer one replaces it), and none older than CITRIAGE_PASSING_LOG_KEEP_DAYS
(the daily retention pass, `citriage.ops.retention`). Passing logs are never scanned
with patterns: they are not failures.

Jobs are one job when their repository and name agree; steps when their names do.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from citriage.ci.models import SAMPLED, Conclusion, JobAttempt, Provider, Repository, StoredLog


def owes_log(repository: Repository, job: JobAttempt) -> bool:
    """Is this finished attempt a passing run whose logs are to be kept as a baseline?"""
    days = settings.PASSING_LOG_DAYS
    if days <= 0 or job.conclusion != Conclusion.SUCCESS:
        return False
    if job.provider == Provider.UPLOAD or job.provider not in repository.providers:
        return False  # only providers watched for the repository are asked for logs
    recent = JobAttempt.objects.filter(
        repository=repository,
        name=job.name,
        # when citriage recorded it: a backfill of old runs samples one of them, not each
        created__gte=timezone.now() - timedelta(days=days),
        conclusion=Conclusion.SUCCESS,
        log_state__in=SAMPLED,
    )
    return not recent.exclude(pk=job.pk).exists()


def step_kept(job: JobAttempt, step_failed: bool) -> bool:
    """Is the log of a step of this attempt kept? A failed attempt's failed steps; every
    step of a passing attempt (it was sampled, or its logs would not be fetched)."""
    return step_failed or job.conclusion == Conclusion.SUCCESS


def baseline_of(log_id: int) -> StoredLog | None:
    """The newest passing log of the same job and step as stored log `log_id`."""
    failed = (
        StoredLog.objects.filter(pk=log_id, passing=False)
        .values("job__repository_id", "job__name", "step__name")
        .first()
    )
    if failed is None:
        return None
    return (
        StoredLog.objects.filter(
            passing=True,
            job__repository_id=failed["job__repository_id"],
            job__name=failed["job__name"],
            step__name=failed["step__name"],
        )
        .select_related("step")
        .order_by("-pk")
        .first()
    )


def replaced(job: JobAttempt | None = None) -> QuerySet[StoredLog]:
    """Passing logs of a job and step that has a newer one (of `job`'s job, if given)."""
    newer = StoredLog.objects.filter(
        passing=True,
        job__repository_id=OuterRef("job__repository_id"),
        job__name=OuterRef("job__name"),
        step__name=OuterRef("step__name"),
        pk__gt=OuterRef("pk"),
    )
    kept = StoredLog.objects.filter(passing=True)
    if job is not None:
        kept = kept.filter(job__repository_id=job.repository_id, job__name=job.name)
    return kept.filter(Exists(newer))


def expired() -> QuerySet[StoredLog]:
    """Passing logs kept longer than CITRIAGE_PASSING_LOG_KEEP_DAYS."""
    before = timezone.now() - timedelta(days=settings.PASSING_LOG_KEEP_DAYS)
    return StoredLog.objects.filter(passing=True, created__lt=before)
