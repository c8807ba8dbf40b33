"""Pulling GitHub Actions: webhooks to job attempts, job logs split into steps, backfill.

As for CircleCI, a network error never turns into "no log": a transient failure
leaves the job "pending retry" and queues another try with a growing delay. The
GitHub App's installation token (the one citriage posts check runs with) is the
credential; nothing else is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from githubkit.exception import GitHubException

from citriage.ci import ingest
from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    JobAttempt,
    JobStatus,
    LogState,
    Provider,
    Repository,
    StoredLog,
)
from citriage.patterns import scanning
from citriage.providers.base import ProviderError, StepRun, TransientProviderError, parse_time
from citriage.providers.github_actions import (
    GitHubActions,
    StepInfo,
    read_span,
    split_job_log,
    to_job_run,
)

logger = logging.getLogger(__name__)

JOB_LOG_STEP = 0  # the step row holding a whole job log (GitHub numbers steps from 1)
JOB_LOG_NAME = "(job log)"


class NotWatched(Exception):
    """The repository does not watch GitHub Actions."""


def watches(repository: Repository) -> bool:
    return Provider.GITHUB_ACTIONS in repository.providers


def client(repository: Repository) -> GitHubActions:
    """A client acting as the GitHub App's installation on the repository."""
    from citriage.github import client as github_client

    try:
        github = github_client.for_repository(repository)
    except github_client.NotConfigured as exc:
        # Configuration can be fixed: keep the job waiting rather than failed for good.
        raise TransientProviderError(f"GitHub App not configured: {exc}") from exc
    except GitHubException as exc:
        raise TransientProviderError(f"GitHub App installation lookup failed: {exc}") from exc
    return GitHubActions(
        settings.GITHUB_API_URL,
        auth=github.auth.get_auth_flow(github),
        timeout=settings.HTTP_TIMEOUT,
        retries=settings.HTTP_RETRIES,
        backoff=settings.HTTP_BACKOFF,
    )


def record_job(repository: Repository, job: dict[str, Any]) -> tuple[JobAttempt, bool]:
    """Record one job (REST or webhook shape); returns the attempt and whether its
    logs need fetching."""
    from citriage.triage import cooloff

    run = to_job_run(job)
    attempt, needs_logs = ingest.record_job(repository, run)
    if run.sha:
        cooloff.touch(repository, run.sha)
    return attempt, needs_logs


def queue_fetch(job: JobAttempt) -> None:
    from citriage.ci.tasks import fetch_logs_task

    job_id = job.pk
    transaction.on_commit(lambda: fetch_logs_task.enqueue(job_id))


# -- webhooks ---------------------------------------------------------------------------


def on_workflow_job(repository: Repository, payload: dict[str, Any]) -> str:
    """`workflow_job` (queued, waiting, in_progress, completed): one job attempt."""
    if not watches(repository):
        raise NotWatched(f"{repository.full_name} does not watch GitHub Actions")
    data = payload["workflow_job"]
    if not isinstance(data, dict):
        raise TypeError("workflow_job is not an object")
    job, needs_logs = record_job(repository, data)
    if needs_logs:
        queue_fetch(job)
        return f"job {job.name!r} attempt {job.attempt} {job.conclusion}: logs queued"
    return f"job {job.name!r} attempt {job.attempt} {job.conclusion or job.status}"


def on_workflow_run(repository: Repository, payload: dict[str, Any]) -> str:
    """`workflow_run`: the commit it ran on; once completed, its jobs are pulled from the
    API (catching any `workflow_job` delivery that went missing)."""
    from citriage.ci.gha_tasks import sync_run_task
    from citriage.triage import cooloff

    if not watches(repository):
        raise NotWatched(f"{repository.full_name} does not watch GitHub Actions")
    run = payload["workflow_run"]
    sha, run_id = str(run["head_sha"]), int(run["id"])
    head = run.get("head_commit") or {}
    if isinstance(head, dict) and head.get("id") == sha:
        author = head.get("author") or {}
        ingest.record_commit(
            repository,
            sha,
            message=str(head.get("message") or ""),
            author_name=str(author.get("name") or ""),
            author_email=str(author.get("email") or ""),
            committed_at=parse_time(head.get("timestamp")),
        )
    cooloff.touch(repository, sha)
    name = run.get("name") or run.get("path") or run_id
    if run.get("status") == "completed":
        transaction.on_commit(lambda: sync_run_task.enqueue(repository.pk, run_id))
        return f"workflow run {name} #{run_id} completed ({run.get('conclusion')}): jobs queued"
    return f"workflow run {name} #{run_id} {run.get('status')}"


# -- logs ---------------------------------------------------------------------------------


def _step_infos(job: JobAttempt) -> list[StepInfo]:
    saved = job.details.get("steps") or []
    if saved:
        return [StepInfo.from_json(step) for step in saved if isinstance(step, dict)]
    # Steps known only as rows (no times): the splitter works from names and order.
    return [
        StepInfo(number=s.index, name=s.name, status="completed", conclusion=s.status)
        for s in job.steps.exclude(index=JOB_LOG_STEP)
    ]


def fetch_logs(job: JobAttempt, api: GitHubActions | None = None) -> str:
    """Download the job's log, split it into steps, store and scan the failed steps.

    When the steps are unknown, or no failed step can be placed in the log, the
    whole log is stored (as the step "(job log)"): nothing is dropped.
    """
    from citriage.triage import cooloff

    repository = job.repository
    own = api is None
    try:
        api = api or client(repository)
        log = api.download_job_log(repository.owner, repository.name, job.provider_id)
    except TransientProviderError as exc:
        return ingest.retry_fetch_later(job, str(exc))
    except ProviderError as exc:
        JobAttempt.objects.filter(pk=job.pk).update(
            log_state=LogState.ERROR, log_error=str(exc)[:2000]
        )
        cooloff.touch(repository, job.sha)  # the verdict now says why there is no log
        return f"error: {exc}"
    finally:
        if own and api is not None:
            api.close()
    try:
        infos = _step_infos(job)
        spans = split_job_log(log, infos)
        failed = {info.number for info in infos if info.failed}
        if not failed:  # e.g. a timeout: the steps were cancelled, none failed
            cancelled = {i.number for i in infos if i.conclusion in ("cancelled", "timed_out")}
            failed = set(sorted(cancelled)[-1:])
        chosen = [span for span in spans if span.number in failed and span.end > span.start]
        stored = []
        if chosen:
            for span in chosen:
                step = job.steps.filter(index=span.number, container=0).first()
                if step is None:
                    continue
                piece = read_span(log, span.start, span.end)
                try:
                    stored.append(ingest.store_log(step, piece))
                finally:
                    piece.close()
        if not stored:
            step = ingest.record_steps(
                job, [StepRun(name=JOB_LOG_NAME, index=JOB_LOG_STEP, status="failure")]
            )[0]
            whole = read_span(log)
            try:
                stored.append(ingest.store_log(step, whole))
            finally:
                whole.close()
    finally:
        log.close()
    ingest.mark_logs_fetched(job, any_output=True)
    # Scan now (the queued scan then finds nothing to do), so that the commit's summary,
    # due after the cool-off, already sees the matches.
    try:
        scanning.scan_logs(StoredLog.objects.filter(pk__in=[s.pk for s in stored]))
    except Exception:  # the queued scan task tries again; the logs are stored
        logger.exception("scanning the logs of job %s failed", job.pk)
    cooloff.touch(repository, job.sha)
    names = ", ".join(s.step.name for s in stored)
    return f"{len(stored)} log(s) stored ({names})"


# -- pulling from the API --------------------------------------------------------------------


def sync_run(
    repository: Repository, run_id: int, api: GitHubActions | None = None
) -> dict[str, int]:
    """Record every job of every attempt of a run; failed ones get their logs queued."""
    own = api is None
    api = api or client(repository)
    counts = {"jobs": 0, "to_fetch": 0}
    try:
        for data in api.run_jobs(repository.owner, repository.name, run_id):
            with transaction.atomic():
                job, needs_logs = record_job(repository, data)
                if needs_logs:
                    queue_fetch(job)
                    counts["to_fetch"] += 1
            counts["jobs"] += 1
    finally:
        if own:
            api.close()
    return counts


def sync_job(repository: Repository, job_id: str, api: GitHubActions | None = None) -> JobAttempt:
    own = api is None
    api = api or client(repository)
    try:
        with transaction.atomic():
            job, needs_logs = record_job(
                repository, api.job(repository.owner, repository.name, job_id)
            )
            if needs_logs:
                queue_fetch(job)
    finally:
        if own:
            api.close()
    return job


def _known_runs(repository: Repository) -> dict[str, int]:
    """Runs whose jobs are all recorded as finished: run id -> highest attempt seen."""
    rows = (
        JobAttempt.objects.filter(repository=repository, provider=Provider.GITHUB_ACTIONS)
        .values("workflow_id")
        .annotate(top=Max("attempt"))
    )
    unfinished = set(
        JobAttempt.objects.filter(repository=repository, provider=Provider.GITHUB_ACTIONS)
        .exclude(status=JobStatus.COMPLETED)
        .values_list("workflow_id", flat=True)
    )
    return {r["workflow_id"]: r["top"] for r in rows if r["workflow_id"] not in unfinished}


def backfill(
    repository: Repository,
    *,
    branch: str | None = None,
    since: datetime | None = None,
    api: GitHubActions | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Record the jobs of workflow runs GitHub has that citriage does not know finished.

    Runs are listed newest first (all pages, created since `since`); a completed
    run whose every attempt is already recorded as finished is skipped, so a
    second backfill asks for no job list at all.
    """
    own = api is None
    api = api or client(repository)
    known = _known_runs(repository)
    counts = {"runs": 0, "seen": 0, "recorded": 0, "to_fetch": 0}
    try:
        for run in api.workflow_runs(repository.owner, repository.name, branch=branch, since=since):
            counts["runs"] += 1
            if run.completed and known.get(str(run.id), 0) >= run.run_attempt:
                continue
            synced = sync_run(repository, run.id, api)
            counts["seen"] += 1
            counts["recorded"] += synced["jobs"]
            counts["to_fetch"] += synced["to_fetch"]
            if progress:
                progress(counts["seen"])
    finally:
        if own:
            api.close()
    return counts


def unfinished_jobs(repository: Repository) -> list[str]:
    """Jobs seen but not finished for a while, or failed without logs fetched."""
    stale = timezone.now() - timedelta(minutes=10)
    rows = JobAttempt.objects.filter(
        repository=repository, provider=Provider.GITHUB_ACTIONS, updated__lt=stale
    ).filter(
        Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
        | Q(conclusion__in=FAILED_CONCLUSIONS, log_state=LogState.PENDING)
    )
    return list(rows.values_list("provider_id", flat=True))


# -- reruns --------------------------------------------------------------------------------


def rerun(job: JobAttempt, *, failed_of_run: bool = False) -> str:
    """Ask GitHub to run this job again (or every failed job of its run)."""
    repository = job.repository
    api = client(repository)
    try:
        if failed_of_run:
            if not job.workflow_id:
                raise ProviderError("the job's workflow run is not known")
            api.rerun_failed_jobs(repository.owner, repository.name, job.workflow_id)
            return f"failed jobs of run {job.workflow_id} queued again"
        api.rerun_job(repository.owner, repository.name, job.provider_id)
        return f"job {job.provider_id} queued again"
    finally:
        api.close()
