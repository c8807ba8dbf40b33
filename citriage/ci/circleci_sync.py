"""Pulling CircleCI: build details, the logs of failed steps, and backfill.

Network errors never turn into "no log": a transient failure leaves the job
"pending retry" and queues another try with a growing delay; only a build
whose details show no failed step with output is stored as "no log".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from citriage.ci import ingest
from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    JobAttempt,
    JobStatus,
    LogState,
    Provider,
    Repository,
)
from citriage.providers.base import JobRun, ProviderError, TransientProviderError
from citriage.providers.circleci import CircleCI

logger = logging.getLogger(__name__)


def client() -> CircleCI:
    return CircleCI(
        settings.CIRCLECI_TOKEN,
        settings.CIRCLECI_URL,
        timeout=settings.HTTP_TIMEOUT,
        retries=settings.HTTP_RETRIES,
        backoff=settings.HTTP_BACKOFF,
    )


def renumber_attempts(repository: Repository, sha: str, name: str) -> None:
    """Attempts of one job on one commit are numbered in the order CircleCI ran them."""
    attempts = list(
        JobAttempt.objects.filter(
            repository=repository, provider=Provider.CIRCLECI, sha=sha, name=name
        )
    )
    attempts.sort(key=lambda job: int(job.provider_id) if job.provider_id.isdigit() else 0)
    for number, job in enumerate(attempts, start=1):
        if job.attempt != number:
            JobAttempt.objects.filter(pk=job.pk).update(attempt=number)


def record_run(repository: Repository, run: JobRun) -> tuple[JobAttempt, bool]:
    from citriage.triage import cooloff

    job, needs_logs = ingest.record_job(repository, run)
    if run.sha:
        renumber_attempts(repository, run.sha, run.name)
        cooloff.touch(repository, run.sha)
    job.refresh_from_db()
    return job, needs_logs


def sync_build(repository: Repository, number: int, api: CircleCI | None = None) -> JobAttempt:
    """Fetch a build's details, record it with its steps, and fetch its failed logs."""
    own = api is None
    api = api or client()
    try:
        run = api.build(repository.owner, repository.name, number)
        run.provider_id = str(number)  # the answer to "build N" is build N
        job, needs_logs = record_run(repository, run)
        if needs_logs:
            fetch_logs(job, api)
    finally:
        if own:
            api.close()
    return job


def fetch_logs(job: JobAttempt, api: CircleCI | None = None) -> str:
    """Store and scan the output of every failed or timed-out action of the job."""
    own = api is None
    api = api or client()
    try:
        failed = [s for s in job.steps.all() if s.failed]
        with_output = [s for s in failed if s.output_url and s.has_output]
        if not with_output:
            ingest.mark_logs_fetched(job, any_output=False)
            return "no failed step with output"
        for step in with_output:
            if hasattr(step, "log"):
                continue  # stored by an earlier try
            output = api.download_output(step.output_url)
            try:
                ingest.store_log(step, output)
            finally:
                output.close()
        ingest.mark_logs_fetched(job, any_output=True)
        return f"{len(with_output)} log(s) stored"
    except TransientProviderError as exc:
        return ingest.retry_fetch_later(job, str(exc))
    except ProviderError as exc:
        JobAttempt.objects.filter(pk=job.pk).update(
            log_state=LogState.ERROR, log_error=str(exc)[:2000]
        )
        return f"error: {exc}"
    finally:
        if own:
            api.close()


def backfill(
    repository: Repository,
    *,
    branch: str | None = None,
    since: datetime | None = None,
    api: CircleCI | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Record builds CircleCI has that citriage does not (newest first), stopping at
    the first build already known as finished, or older than `since`."""
    from citriage.ci.tasks import sync_build_task

    own = api is None
    api = api or client()
    finished = set(
        JobAttempt.objects.filter(
            repository=repository, provider=Provider.CIRCLECI, status=JobStatus.COMPLETED
        ).values_list("provider_id", flat=True)
    )

    def known(build: dict[str, Any]) -> bool:
        if str(build.get("build_num")) in finished:
            return True
        queued = build.get("queued_at") or build.get("start_time") or build.get("stop_time")
        if since and queued:
            try:
                return datetime.fromisoformat(str(queued).replace("Z", "+00:00")) < since
            except ValueError:
                return False
        return False

    counts = {"seen": 0, "recorded": 0, "to_fetch": 0}
    try:
        for run in api.builds(repository.owner, repository.name, branch=branch, stop=known):
            counts["seen"] += 1
            _job, needs_logs = record_run(repository, run)
            counts["recorded"] += 1
            if needs_logs:
                counts["to_fetch"] += 1
                sync_build_task.enqueue(repository.pk, int(run.provider_id))
            if progress:
                progress(counts["seen"])
    finally:
        if own:
            api.close()
    return counts


def unfinished_builds(repository: Repository) -> list[int]:
    """Builds seen (e.g. in webhooks) but not finished, or failed without logs yet."""
    stale = timezone.now() - timedelta(minutes=10)
    rows = JobAttempt.objects.filter(repository=repository, provider=Provider.CIRCLECI).filter(
        Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING], updated__lt=stale)
        | Q(conclusion__in=FAILED_CONCLUSIONS, log_state=LogState.PENDING, updated__lt=stale)
    )
    return [int(p) for p in rows.values_list("provider_id", flat=True) if p.isdigit()]
