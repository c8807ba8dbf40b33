"""Recording what providers report: job attempts, steps, stored logs.

Every source of CI data (webhooks, API backfill, the demo) goes through these
functions, so they are the one place where rows are created.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import IO

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from citriage import logstore
from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Commit,
    Conclusion,
    JobAttempt,
    JobStatus,
    LogState,
    PullRequest,
    PullRequestHead,
    Repository,
    Step,
    StoredLog,
)
from citriage.providers.base import JobRun, StepRun
from citriage.scanner.logtext import read_log

logger = logging.getLogger(__name__)

_CONCLUSIONS = {c.value for c in Conclusion}
MAX_BRANCH_WALK = 10_000


def get_repository(full_name: str, *, create: bool = False, **defaults: object) -> Repository:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"expected owner/name, got {full_name!r}")
    if create:
        repository, _ = Repository.objects.get_or_create(owner=owner, name=name, defaults=defaults)
        return repository
    return Repository.objects.get(owner=owner, name=name)


def record_commit(
    repository: Repository,
    sha: str,
    *,
    parents: Iterable[str] = (),
    message: str = "",
    author_name: str = "",
    author_email: str = "",
    author_login: str = "",
    committed_at: datetime | None = None,
) -> Commit:
    commit, created = Commit.objects.get_or_create(
        repository=repository,
        sha=sha,
        defaults={
            "parents": list(parents),
            "message": message,
            "author_name": author_name,
            "author_email": author_email,
            "author_login": author_login,
            "committed_at": committed_at,
        },
    )
    if not created and message and not commit.message:
        commit.parents = list(parents)
        commit.message = message
        commit.author_name, commit.author_email = author_name, author_email
        commit.author_login = author_login or commit.author_login
        commit.committed_at = committed_at
        commit.save()
    JobAttempt.objects.filter(repository=repository, sha=sha, commit=None).update(commit=commit)
    return commit


def record_default_branch(repository: Repository, first_parent_history: list[str]) -> None:
    """Set the branch order from the default branch's first-parent history (oldest first).

    Commits that were on the branch but are not any more (a force push) lose their position.
    """
    with transaction.atomic():
        known = {
            c.sha: c
            for c in Commit.objects.filter(repository=repository, sha__in=first_parent_history)
        }
        Commit.objects.filter(repository=repository, branch_position__isnull=False).exclude(
            sha__in=first_parent_history
        ).update(branch_position=None)
        changed = []
        for position, sha in enumerate(first_parent_history, start=1):
            commit = known.get(sha)
            if commit is not None and commit.branch_position != position:
                commit.branch_position = position
                changed.append(commit)
        Commit.objects.bulk_update(changed, ["branch_position"], batch_size=500)


def advance_default_branch(repository: Repository, head: str) -> int:
    """Place the commits leading to `head` on the default branch's order.

    Walks first parents back from `head` to the first commit already on the
    branch; the walked commits follow it. Commits that were after that point but
    are not ancestors of `head` any more (a force push, a reset) leave the
    branch. Returns how many commits were placed.
    """
    with transaction.atomic():
        chain: list[Commit] = []
        base: int | None = None
        sha: str | None = head
        seen: set[str] = set()
        while sha and sha not in seen and len(chain) < MAX_BRANCH_WALK:
            seen.add(sha)
            commit = Commit.objects.filter(repository=repository, sha=sha).first()
            if commit is None:
                break
            if commit.branch_position is not None:
                base = commit.branch_position
                break
            chain.append(commit)
            sha = commit.parents[0] if commit.parents else None
        if base is None:
            # The walk did not reach the known branch: keep the order growing.
            base = (
                Commit.objects.filter(repository=repository).aggregate(top=Max("branch_position"))[
                    "top"
                ]
                or 0
            )
        else:
            Commit.objects.filter(repository=repository, branch_position__gt=base).exclude(
                pk__in=[c.pk for c in chain]
            ).update(branch_position=None)
        for offset, commit in enumerate(reversed(chain), start=1):
            commit.branch_position = base + offset
        Commit.objects.bulk_update(chain, ["branch_position"], batch_size=500)
    return len(chain)


def record_pull_request(
    repository: Repository,
    number: int,
    *,
    head_sha: str,
    title: str = "",
    author_login: str = "",
    state: str = "open",
    merged: bool = False,
    head_ref: str = "",
    base_ref: str = "",
    opened_at: datetime | None = None,
    closed_at: datetime | None = None,
    seen_at: datetime | None = None,
) -> PullRequest:
    with transaction.atomic():
        pull, _ = PullRequest.objects.update_or_create(
            repository=repository,
            number=number,
            defaults={
                "head_sha": head_sha,
                "title": title,
                "author_login": author_login,
                "state": state,
                "merged": merged,
                "head_ref": head_ref,
                "base_ref": base_ref,
                "opened_at": opened_at,
                "closed_at": closed_at,
            },
        )
        PullRequestHead.objects.get_or_create(
            pull=pull, sha=head_sha, defaults={"seen_at": seen_at or timezone.now()}
        )
    return pull


def _conclusion(value: str) -> str:
    if value in _CONCLUSIONS:
        return value
    logger.warning("unknown conclusion %r recorded as failure", value)
    return Conclusion.FAILURE


def record_job(repository: Repository, run: JobRun) -> tuple[JobAttempt, bool]:
    """Create or update the job attempt `run` describes (and its steps, when known).

    Returns the attempt and whether its logs now need fetching.
    """
    with transaction.atomic():
        commit = Commit.objects.filter(repository=repository, sha=run.sha).first()
        job, created = JobAttempt.objects.select_for_update().get_or_create(
            repository=repository,
            provider=run.provider,
            provider_id=run.provider_id,
            defaults={"name": run.name, "sha": run.sha},
        )
        finished_before = job.status == JobStatus.COMPLETED and not created
        job.name = run.name
        job.workflow = run.workflow or job.workflow
        job.workflow_id = run.workflow_id or job.workflow_id
        job.attempt = run.attempt
        job.sha = run.sha
        job.commit = commit
        job.branch = run.branch or job.branch
        job.url = run.url or job.url
        job.queued_at = run.queued_at or job.queued_at
        job.started_at = run.started_at or job.started_at
        job.finished_at = run.finished_at or job.finished_at
        if not finished_before or run.status == JobStatus.COMPLETED:
            job.status = run.status
        if run.status == JobStatus.COMPLETED:
            job.conclusion = _conclusion(run.conclusion)
        extra = {k: v for k, v in run.extra.items() if v not in (None, "")}
        if extra:
            job.details = {**job.details, **extra}
        if job.conclusion in FAILED_CONCLUSIONS and job.log_state == LogState.NOT_NEEDED:
            job.log_state = LogState.PENDING
        job.save()
        if run.steps is not None:
            record_steps(job, run.steps)
    return job, job.log_state == LogState.PENDING


def record_steps(job: JobAttempt, steps: Iterable[StepRun]) -> list[Step]:
    recorded = []
    for run in steps:
        step, _ = Step.objects.update_or_create(
            job=job,
            index=run.index,
            container=run.container,
            defaults={
                "name": run.name,
                "status": run.status,
                "timed_out": run.timed_out,
                "exit_code": run.exit_code,
                "output_url": run.output_url[:2000],
                "has_output": run.has_output,
            },
        )
        recorded.append(step)
    return recorded


def store_log(step: Step, source: bytes | str | os.PathLike[str] | IO[bytes]) -> StoredLog:
    """Strip `source`, put it in the log store, and record it (replacing an earlier copy).

    The log row and its scan state appear in one transaction; scanning is queued
    to run after it commits.
    """
    text = read_log(source, max_bytes=settings.LOG_MAX_BYTES)
    digest = logstore.checksum(text.data)
    key = f"{step.job.repository_id}/{step.job_id}/{step.pk}-{digest[:16]}.log.zst"
    logstore.log_store().put(key, text.data)
    with transaction.atomic():
        stored, _ = StoredLog.objects.update_or_create(
            step=step,
            defaults={
                "job": step.job,
                "storage_key": key,
                "raw_bytes": text.raw_bytes,
                "stripped_bytes": text.stripped_bytes,
                "line_count": text.line_count,
                "truncated": text.truncated,
                "stripped": text.stripped,
                "checksum": digest,
                "scanned_through": 0,
                "scanned_at": None,
                "needs_full_rescan": True,
                "scan_error": "",
            },
        )
        from citriage.patterns.tasks import scan_logs_task

        log_id = stored.pk
        transaction.on_commit(lambda: scan_logs_task.enqueue([log_id]))
    return stored


def mark_logs_fetched(job: JobAttempt, *, any_output: bool) -> None:
    job.log_state = LogState.FETCHED if any_output else LogState.NO_LOG
    job.log_error = ""
    job.save(update_fields=["log_state", "log_error", "updated"])


def retry_fetch_later(job: JobAttempt, problem: str) -> str:
    """A log fetch failed for a transient reason: try again later with a growing delay,
    and give up (an error the verdict states) after CITRIAGE_LOG_FETCH_ATTEMPTS tries."""
    from citriage.ci.tasks import fetch_logs_task
    from citriage.triage import cooloff

    attempts = job.fetch_attempts + 1
    if attempts >= settings.LOG_FETCH_ATTEMPTS:
        state, note = LogState.ERROR, f"gave up after {attempts} tries: {problem}"
    else:
        state, note = LogState.PENDING_RETRY, problem
    with transaction.atomic():
        JobAttempt.objects.filter(pk=job.pk).update(
            log_state=state, log_error=note[:2000], fetch_attempts=attempts
        )
        if state == LogState.PENDING_RETRY:
            when = timezone.now() + timedelta(seconds=min(3600, 30 * 2**attempts))
            fetch_logs_task.using(run_after=when).enqueue(job.pk)
    if state == LogState.ERROR:
        cooloff.touch(job.repository, job.sha)  # the summary now says why there is no log
    return f"{state}: {note}"
