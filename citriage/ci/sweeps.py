"""Periodic work on CI data (run by the scheduler; see citriage.ops.sweeps)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from citriage import queueing
from citriage.ci import sources
from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    CommitConfig,
    JobAttempt,
    JobStatus,
    LogState,
    Repository,
)
from citriage.ci.tasks import backfill_task, sync_job_task

STALE = timedelta(minutes=10)  # seen but unfinished this long: looked up again


def unfinished(repository: Repository, provider: str) -> list[str]:
    """Jobs seen but not finished for a while (a delivery went missing), or failed with
    their logs owed and no fetch under way."""
    stale = timezone.now() - STALE
    rows = JobAttempt.objects.filter(
        repository=repository, provider=provider, updated__lt=stale
    ).filter(
        Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        | Q(conclusion__in=FAILED_CONCLUSIONS, log_state=LogState.PENDING, fetch_task=None)
    )
    return list(rows.values_list("provider_id", flat=True))


def backfill() -> str:
    """Queue a backfill of each watched repository's default branch from each provider it
    watches, and a fresh look at jobs seen but unfinished."""
    since = (timezone.now() - timedelta(days=settings.BACKFILL_DAYS)).isoformat()
    notes = []
    for repository in Repository.objects.exclude(providers=[]):
        for source in sources.watched(repository):
            if problem := source.configured(repository):
                notes.append(f"{repository.full_name}: {problem}")
                continue
            backfill_task.enqueue(repository.pk, source.provider, repository.default_branch, since)
            stale = unfinished(repository, source.provider)
            for provider_id in stale:
                sync_job_task.enqueue(repository.pk, source.provider, provider_id)
            notes.append(
                f"{repository.full_name} {source.provider}: backfill + {len(stale)} unfinished"
            )
    return "; ".join(notes) or "no repository watches a CI provider"


def release_lost_fetches() -> int:
    """Log fetches whose task crashed or vanished: owed again (a worker queues them)."""
    return queueing.release_lost(JobAttempt, "fetch_task")


def release_lost_config_reads() -> int:
    """Configuration reads whose task crashed or vanished: owed again."""
    return queueing.release_lost(CommitConfig, "task")
