"""Background work on CI data, for every provider: fetching logs, looking jobs up again,
backfills, reruns. Transient provider errors leave the work owed (the periodic sweep
or the fetch's own retry comes back to it); permanent ones are noted and end it. A
lookup held back by a rate limit is queued again for when the limit ends."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django_tasks import task

from citriage import queueing
from citriage.ci import actions, configs, fetching, reruns, sources
from citriage.ci.models import CommitConfig, JobAttempt, Repository, RerunRequest
from citriage.providers.base import ProviderError, RateLimited, TransientProviderError


def _after(limited: RateLimited) -> datetime:
    return datetime.fromtimestamp(limited.until, tz=UTC)


@task()
def fetch_logs_task(job_id: int) -> str:
    job = JobAttempt.objects.select_related("repository").filter(pk=job_id).first()
    if job is None:
        return "no such job attempt"
    return fetching.fetch_logs(job)


def queue_due_fetches() -> int:
    """Queue a fetch for each attempt whose logs are owed and due (one per attempt)."""
    return queueing.queue_due(fetching.due(), "fetch_task", fetch_logs_task, lambda j: (j.pk,))


@task()
def sync_job_task(repository_id: int, provider: str, provider_id: str) -> str:
    """Look one job up again (the sweep does this for jobs left unfinished)."""
    repository = Repository.objects.get(pk=repository_id)
    try:
        job = sources.source_for(provider).sync_job(repository, provider_id)
    except RateLimited as exc:
        sync_job_task.using(run_after=_after(exc)).enqueue(repository_id, provider, provider_id)
        return f"job {provider_id}: {exc} (queued again for {_after(exc):%H:%M:%S})"
    except TransientProviderError as exc:
        return f"job {provider_id}: {exc} (the sweep will look again)"
    except ProviderError as exc:
        return f"job {provider_id}: {exc}"
    return f"job {provider_id}: {job.conclusion or job.status}, logs {job.log_state}"


@task()
def sync_run_task(repository_id: int, run_id: int) -> str:
    """Every job of a GitHub Actions workflow run (catches `workflow_job` deliveries
    that went missing)."""
    repository = Repository.objects.get(pk=repository_id)
    try:
        counts = actions.ActionsSource().sync_run(repository, run_id)
    except RateLimited as exc:
        sync_run_task.using(run_after=_after(exc)).enqueue(repository_id, run_id)
        return f"run {run_id}: {exc} (queued again for {_after(exc):%H:%M:%S})"
    except TransientProviderError as exc:
        return f"run {run_id}: {exc} (the sweep will look again)"
    except ProviderError as exc:
        return f"run {run_id}: {exc}"
    return f"run {run_id}: {counts['jobs']} job(s), {counts['to_fetch']} with logs owed"


@task()
def backfill_task(
    repository_id: int, provider: str, branch: str | None, since: str | None
) -> dict[str, int]:
    repository = Repository.objects.get(pk=repository_id)
    when = datetime.fromisoformat(since) if since else None
    return sources.source_for(provider).backfill(repository, branch=branch, since=when)


@task()
def rerun_task(request_id: int, failed_of_run: bool = False) -> str:
    return reruns.carry_out(request_id, failed_of_run=failed_of_run)


def request_rerun(
    job: JobAttempt,
    *,
    requested_by: str = "",
    automatic: bool = False,
    failed_of_run: bool = False,
) -> RerunRequest:
    """Record a rerun request and queue it (unless the provider cannot be called: then
    the request is finished already and says why)."""
    request = reruns.record_request(job, requested_by=requested_by, automatic=automatic)
    if request.finished_at is None:
        request_id = request.pk
        transaction.on_commit(lambda: rerun_task.enqueue(request_id, failed_of_run))
    return request


@task()
def read_config_task(config_id: int) -> str:
    config = CommitConfig.objects.select_related("repository").filter(pk=config_id).first()
    if config is None:
        return "no such commit configuration"
    return configs.read(config)


def queue_due_config_reads() -> int:
    """Queue a read for each commit whose CI configuration is owed and due (one at a time)."""
    return queueing.queue_due(configs.due(), "task", read_config_task, lambda c: (c.pk,))
