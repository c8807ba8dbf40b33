"""Background work on CI data: pulling CircleCI builds and the logs of failed jobs."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from citriage.ci import circleci_sync
from citriage.ci.models import JobAttempt, LogState, Provider, Repository
from citriage.providers.base import ProviderError, TransientProviderError


@task()
def sync_build_task(repository_id: int, number: int) -> str:
    repository = Repository.objects.get(pk=repository_id)
    try:
        job = circleci_sync.sync_build(repository, number)
    except TransientProviderError as exc:
        # The details could not be fetched: the periodic sweep tries unfinished builds again.
        return f"build {number}: {exc} (will be retried by the sweep)"
    except ProviderError as exc:
        return f"build {number}: {exc}"
    return f"build {number}: {job.conclusion or job.status}, logs {job.log_state}"


@task()
def fetch_logs_task(job_id: int) -> str:
    job = JobAttempt.objects.filter(pk=job_id).first()
    if job is None or job.log_state not in (LogState.PENDING, LogState.PENDING_RETRY):
        return "nothing to fetch"
    if job.provider == Provider.GITHUB_ACTIONS:
        from citriage.ci import gha_sync

        return gha_sync.fetch_logs(job)
    return circleci_sync.fetch_logs(job)


@task()
def backfill_task(repository_id: int, branch: str | None, since: str | None) -> dict[str, int]:
    repository = Repository.objects.get(pk=repository_id)
    when = datetime.fromisoformat(since) if since else None
    return circleci_sync.backfill(repository, branch=branch, since=when)
