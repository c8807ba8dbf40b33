"""The scheduler's CircleCI sweep: catch what webhooks missed."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from citriage.ci.models import Repository
from citriage.ops.scheduler import sweep


@sweep("circleci-backfill", lambda: settings.BACKFILL_SWEEP_SECONDS)
def circleci_backfill() -> str:
    """Queue a backfill of each watched repository's default branch, and a fresh look
    at builds seen but unfinished (or failed without logs)."""
    from citriage.ci import circleci_sync
    from citriage.ci.tasks import backfill_task, sync_build_task

    since = (timezone.now() - timedelta(days=settings.BACKFILL_DAYS)).isoformat()
    notes = []
    for repository in Repository.objects.all():
        if "circleci" not in repository.providers:
            continue
        backfill_task.enqueue(repository.pk, repository.default_branch, since)
        stale = circleci_sync.unfinished_builds(repository)
        for number in stale:
            sync_build_task.enqueue(repository.pk, number)
        notes.append(f"{repository.full_name}: backfill + {len(stale)} unfinished")
    return "; ".join(notes) or "no CircleCI repositories"


@sweep("github-actions-backfill", lambda: settings.BACKFILL_SWEEP_SECONDS)
def github_actions_backfill() -> str:
    """The same for GitHub Actions: recent workflow runs of the default branch, and
    jobs seen but unfinished (or failed without logs)."""
    from citriage.ci import gha_sync
    from citriage.ci.gha_tasks import gha_backfill_task, sync_job_task

    since = (timezone.now() - timedelta(days=settings.BACKFILL_DAYS)).isoformat()
    notes = []
    for repository in Repository.objects.all():
        if not gha_sync.watches(repository):
            continue
        gha_backfill_task.enqueue(repository.pk, repository.default_branch, since)
        stale = gha_sync.unfinished_jobs(repository)
        for job_id in stale:
            sync_job_task.enqueue(repository.pk, job_id)
        notes.append(f"{repository.full_name}: backfill + {len(stale)} unfinished")
    return "; ".join(notes) or "no GitHub Actions repositories"


@sweep("pattern-stats", lambda: settings.STATS_SWEEP_SECONDS)
def pattern_stats() -> str:
    from citriage.patterns.tasks import refresh_stats_task

    refresh_stats_task.enqueue()
    return "pattern stats refresh queued"
