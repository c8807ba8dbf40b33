"""Background work on GitHub Actions: pulling runs and jobs. (Log fetching is
`citriage.ci.tasks.fetch_logs_task`, shared with CircleCI.)"""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from citriage.ci import gha_sync
from citriage.ci.models import Repository
from citriage.providers.base import ProviderError, TransientProviderError


@task()
def sync_run_task(repository_id: int, run_id: int) -> str:
    repository = Repository.objects.get(pk=repository_id)
    try:
        counts = gha_sync.sync_run(repository, run_id)
    except TransientProviderError as exc:
        return f"run {run_id}: {exc} (the sweep will look again)"
    except ProviderError as exc:
        return f"run {run_id}: {exc}"
    return f"run {run_id}: {counts['jobs']} job(s), {counts['to_fetch']} queued for logs"


@task()
def sync_job_task(repository_id: int, job_id: str) -> str:
    repository = Repository.objects.get(pk=repository_id)
    try:
        job = gha_sync.sync_job(repository, job_id)
    except ProviderError as exc:
        return f"job {job_id}: {exc}"
    return f"job {job_id}: {job.conclusion or job.status}, logs {job.log_state}"


@task()
def gha_backfill_task(repository_id: int, branch: str | None, since: str | None) -> dict[str, int]:
    repository = Repository.objects.get(pk=repository_id)
    when = datetime.fromisoformat(since) if since else None
    return gha_sync.backfill(repository, branch=branch, since=when)
