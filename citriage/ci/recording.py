"""Recording what happened in CI: repositories, commits, pull requests, job attempts,
steps, foreign checks, stored logs.

Every source of CI data (webhooks, API backfill, the demo) goes through these
functions, so they are the one place where those rows are written.

Deliveries arrive late, twice and out of order. State therefore only moves
forward: per job attempt, its status and each of its steps go from queued to
running to completed and never back, and a later delivery fills in what an earlier
one did not say without erasing what it did. Any order of a job's deliveries ends
in the state in-order delivery gives; a delivery that says nothing new writes
nothing and tells no one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from prometheus_client import Counter

from citriage import logstore
from citriage.ci import github_app, passing, signals
from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Commit,
    CommitConfig,
    Conclusion,
    ConfigState,
    ExpectedJob,
    ExternalCheck,
    JobAttempt,
    JobStatus,
    LogState,
    PullRequest,
    PullRequestHead,
    Repository,
    Step,
    StoredLog,
    WorkflowRun,
)
from citriage.ciconfig.plan import Expectation
from citriage.providers.base import JobRun, StepRun
from citriage.providers.github_actions import WorkflowRun as RunData
from citriage.rules import parse_time, progress
from citriage.scanner.logtext import read_log

logger = logging.getLogger(__name__)

RECORDED = Counter(
    "citriage_recorded", "What was recorded: new job attempts, stored logs", ["what"]
)

_CONCLUSIONS = {c.value for c in Conclusion}
MAX_BRANCH_WALK = 10_000
SHA_LENGTH = 40


class BadRecord(ValueError):
    """What a payload says cannot be recorded (the message says why)."""


def get_repository(full_name: str, *, create: bool = False, **defaults: object) -> Repository:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"expected owner/name, got {full_name!r}")
    if create:
        repository, _ = Repository.objects.get_or_create(owner=owner, name=name, defaults=defaults)
        return repository
    return Repository.objects.get(owner=owner, name=name)


def checked_sha(value: Any, what: str = "commit") -> str:
    """A commit id as payloads give it: 40 hex digits, else BadRecord."""
    sha = str(value or "").strip().lower()
    if len(sha) != SHA_LENGTH or any(c not in "0123456789abcdef" for c in sha):
        raise BadRecord(f"{what} id {str(value)[:60]!r} is not a 40-digit hex sha")
    return sha


# -- history ------------------------------------------------------------------------------


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
    pushed_at: datetime | None = None,
    pushed_branch: str = "",
) -> Commit:
    """Record a commit (filling in what an earlier record left out); `pushed_at`: a push
    made it the head of `pushed_branch` then."""
    commit, created = Commit.objects.get_or_create(
        repository=repository,
        sha=sha,
        defaults={
            "parents": list(parents),
            "message": message,
            "author_name": author_name[:255],
            "author_email": author_email[:255],
            "author_login": author_login[:100],
            "committed_at": committed_at,
            "pushed_at": pushed_at,
            "pushed_branch": pushed_branch[:255],
        },
    )
    if created:
        owe_config(repository, [sha])
    elif pushed_at is not None and commit.pushed_branch != pushed_branch[:255]:
        commit.pushed_at, commit.pushed_branch = pushed_at, pushed_branch[:255]
        Commit.objects.filter(pk=commit.pk).update(
            pushed_at=pushed_at, pushed_branch=commit.pushed_branch
        )
        config_contexts_changed(repository, [sha])
    if not created and message and not commit.message:
        commit.parents = list(parents)
        commit.message = message
        commit.author_name, commit.author_email = author_name[:255], author_email[:255]
        commit.author_login = author_login[:100] or commit.author_login
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
        leaving = Commit.objects.filter(
            repository=repository, branch_position__isnull=False
        ).exclude(sha__in=first_parent_history)
        left = list(leaving.values_list("sha", flat=True))
        leaving.update(branch_position=None)
        changed = []
        for position, sha in enumerate(first_parent_history, start=1):
            commit = known.get(sha)
            if commit is not None and commit.branch_position != position:
                commit.branch_position = position
                changed.append(commit)
        Commit.objects.bulk_update(changed, ["branch_position"], batch_size=500)
        config_contexts_changed(repository, [c.sha for c in changed] + left)


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
        left: list[str] = []
        if base is None:
            # The walk did not reach the known branch: keep the order growing.
            top = Commit.objects.filter(repository=repository).aggregate(top=Max("branch_position"))
            base = top["top"] or 0
        else:
            leaving = Commit.objects.filter(
                repository=repository, branch_position__gt=base
            ).exclude(pk__in=[c.pk for c in chain])
            left = list(leaving.values_list("sha", flat=True))
            leaving.update(branch_position=None)
        previous_head = Commit.objects.filter(repository=repository, branch_position=base).first()
        for offset, commit in enumerate(reversed(chain), start=1):
            commit.branch_position = base + offset
        Commit.objects.bulk_update(chain, ["branch_position"], batch_size=500)
        # how these are built changed: on the branch, off it, or no longer its head
        moved = [c.sha for c in chain] + left + ([previous_head.sha] if previous_head else [])
        config_contexts_changed(repository, moved)
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
    head_repository: str = "",
    opened_at: datetime | None = None,
    closed_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> PullRequest:
    """Record what a pull request looks like at `updated_at`; a delivery older than the
    state recorded is kept only as a past head (it does not move the head back)."""
    with transaction.atomic():
        pull = (
            PullRequest.objects.select_for_update()
            .filter(repository=repository, number=number)
            .first()
        )
        moved = pull is None or pull.head_sha != head_sha
        stale = (
            pull is not None
            and pull.updated_at is not None
            and updated_at is not None
            and updated_at < pull.updated_at
        )
        old_head = pull.head_sha if pull is not None else ""
        if pull is None:
            pull = PullRequest(repository=repository, number=number)
        if not stale:
            pull.head_sha = head_sha
            pull.title = title[:500]
            pull.author_login = author_login[:100]
            pull.state = state
            pull.merged = merged
            pull.head_ref = head_ref[:255]
            pull.base_ref = base_ref[:255]
            pull.head_repository = head_repository[:201] or pull.head_repository
            pull.opened_at = opened_at or pull.opened_at
            pull.closed_at = closed_at
            pull.updated_at = updated_at or pull.updated_at
            pull.save()
        _, new_head = PullRequestHead.objects.get_or_create(
            pull=pull, sha=head_sha, defaults={"seen_at": updated_at or timezone.now()}
        )
        if new_head:
            owe_config(repository, [head_sha])
        if new_head or (moved and not stale):
            # built as this pull request's head; the old head is no longer one
            config_contexts_changed(repository, [head_sha, old_head])
        if moved and not stale and state == "open":
            signals.pull_request_pushed.send(Repository, repository=repository, pull=pull)
    return pull


# -- job attempts -------------------------------------------------------------------------


def _conclusion(value: str) -> str:
    if value in _CONCLUSIONS:
        return value
    logger.warning("unknown conclusion %r recorded as failure", value)
    return Conclusion.FAILURE


def _earliest(*times: datetime | None) -> datetime | None:
    return min((t for t in times if t is not None), default=None)


def _attempt_number(repository: Repository, run: JobRun) -> int:
    """CircleCI does not number reruns: attempts of a job on a commit are numbered in
    the order of their build numbers."""
    if run.attempt:
        return run.attempt
    others = JobAttempt.objects.filter(
        repository=repository, provider=run.provider, sha=run.sha, name=run.name
    ).values_list("provider_id", flat=True)
    numbers = sorted({int(p) for p in others if p.isdigit()} | {int(run.provider_id or 0)})
    return numbers.index(int(run.provider_id or 0)) + 1


def _renumber(repository: Repository, run: JobRun) -> None:
    """A build older than ones already numbered arrived late: number them again."""
    if run.attempt:
        return
    attempts = JobAttempt.objects.filter(
        repository=repository, provider=run.provider, sha=run.sha, name=run.name
    )
    ordered = sorted(attempts, key=lambda j: int(j.provider_id) if j.provider_id.isdigit() else 0)
    for number, job in enumerate(ordered, start=1):
        if job.attempt != number:
            JobAttempt.objects.filter(pk=job.pk).update(attempt=number)


def _moves_forward(job: JobAttempt, run: JobRun, created: bool) -> bool:
    """Does `run` describe a state at least as far along as the one recorded?"""
    if created:
        return True
    have, incoming = progress(job.status), progress(run.status)
    if incoming != have:
        return incoming > have
    if incoming == progress(JobStatus.COMPLETED) and job.finished_at and run.finished_at:
        return run.finished_at >= job.finished_at
    return True


def record_job(repository: Repository, run: JobRun) -> tuple[JobAttempt, bool]:
    """Create the job attempt `run` describes, or move it forward (and its steps).

    Returns the attempt and whether anything changed. A failed attempt's logs become
    owed (fetched by a task; repeated deliveries join the fetch already owed).
    """
    if not run.provider_id:
        raise BadRecord("a job without an id")
    sha = checked_sha(run.sha, "the job's commit")
    with transaction.atomic():
        job, created = JobAttempt.objects.select_for_update().get_or_create(
            repository=repository,
            provider=run.provider,
            provider_id=str(run.provider_id)[:100],
            defaults={"name": run.name[:255], "sha": sha},
        )
        before = _state(job)
        forward = _moves_forward(job, run, created)
        if forward:
            job.status = run.status
            if run.status == JobStatus.COMPLETED:
                job.conclusion = _conclusion(run.conclusion)
                job.finished_at = run.finished_at or job.finished_at
            job.name = run.name[:255] or job.name
            job.branch = run.branch[:255] or job.branch
            job.url = run.url[:500] or job.url
            job.workflow = run.workflow[:255] or job.workflow
            job.workflow_id = run.workflow_id[:100] or job.workflow_id
        else:  # an earlier state: it may still know what the later one left out
            job.name = job.name or run.name[:255]
            job.branch = job.branch or run.branch[:255]
            job.url = job.url or run.url[:500]
            job.workflow = job.workflow or run.workflow[:255]
            job.workflow_id = job.workflow_id or run.workflow_id[:100]
        job.sha = sha
        job.queued_at = _earliest(job.queued_at, run.queued_at)
        job.started_at = _earliest(job.started_at, run.started_at)
        job.details = _merged_details(job.details, run.extra)
        if job.commit_id is None:
            job.commit = Commit.objects.filter(repository=repository, sha=sha).first()
        if created or not job.attempt or run.attempt:
            job.attempt = _attempt_number(repository, run)
        if job.log_state == LogState.NOT_NEEDED and (
            job.conclusion in FAILED_CONCLUSIONS or passing.owes_log(repository, job)
        ):
            job.log_state = LogState.PENDING
            job.fetch_after = timezone.now()
        steps_changed = record_steps(job, run.steps) if run.steps is not None else False
        changed = created or steps_changed or _state(job) != before
        if changed:
            job.save()
            if created:
                _renumber(repository, run)
                owe_config(repository, [sha])
            signals.jobs_recorded.send(Repository, repository=repository, jobs=[job])
    if created:
        RECORDED.labels("job attempts").inc()
    return job, changed


def _state(job: JobAttempt) -> tuple[Any, ...]:
    return (
        job.status,
        job.conclusion,
        job.name,
        job.branch,
        job.url,
        job.workflow,
        job.workflow_id,
        job.queued_at,
        job.started_at,
        job.finished_at,
        job.commit_id,
        job.attempt,
        job.log_state,
        job.details,
    )


def _step_key(step: dict[str, Any]) -> tuple[int, datetime, datetime, str]:
    """How far along one saved step (GitHub Actions) is; the later wins."""
    lowest = datetime.min.replace(tzinfo=UTC)
    return (
        progress(str(step.get("status") or "")),
        parse_time(step.get("completed_at")) or lowest,
        parse_time(step.get("started_at")) or lowest,
        str(step.get("conclusion") or ""),
    )


def _merged_details(details: dict[str, Any], extra: dict[str, object]) -> dict[str, Any]:
    """Provider details, with step lists merged step by step (each keeps its furthest state)."""
    merged = dict(details)
    for key, value in extra.items():
        if value in (None, "", []):
            continue
        if key == "steps" and isinstance(value, list) and merged.get("steps"):
            by_number = {s.get("number"): s for s in merged["steps"] if isinstance(s, dict)}
            for step in value:
                if not isinstance(step, dict):
                    continue
                current = by_number.get(step.get("number"))
                if current is None or _step_key(step) > _step_key(current):
                    by_number[step.get("number")] = step
            merged["steps"] = sorted(by_number.values(), key=lambda s: int(s.get("number") or 0))
        else:
            merged[key] = value
    return merged


def _step_rank(status: str, timed_out: bool) -> tuple[int, bool]:
    return progress("completed" if timed_out else status), timed_out


def record_steps(job: JobAttempt, steps: Iterable[StepRun]) -> bool:
    """Record the steps of a job attempt, each only moving forward; whether any changed."""
    existing = {(s.index, s.container): s for s in job.steps.all()}
    changed = False
    for run in steps:
        step = existing.get((run.index, run.container))
        if step is None:
            Step.objects.create(
                job=job,
                index=run.index,
                container=run.container,
                name=run.name[:500],
                status=run.status[:30],
                timed_out=run.timed_out,
                exit_code=run.exit_code,
                output_url=run.output_url[:2000],
                has_output=run.has_output,
            )
            changed = True
            continue
        values = {
            "name": step.name or run.name[:500],
            "output_url": step.output_url or run.output_url[:2000],
            "exit_code": step.exit_code if step.exit_code is not None else run.exit_code,
        }
        if _step_rank(run.status, run.timed_out) >= _step_rank(step.status, step.timed_out):
            values |= {
                "name": run.name[:500] or step.name,
                "status": run.status[:30],
                "timed_out": run.timed_out,
                "has_output": run.has_output if run.output_url else step.has_output,
            }
        updates = {k: v for k, v in values.items() if getattr(step, k) != v}
        if updates:
            Step.objects.filter(pk=step.pk).update(**updates)
            changed = True
    return changed


# -- checks citriage does not ingest ------------------------------------------------------

_CHECK_PROGRESS = {"queued": 0, "requested": 0, "waiting": 0, "pending": 0, "in_progress": 1}


def record_external_check(
    repository: Repository,
    sha: str,
    *,
    kind: str,
    name: str,
    state: str,
    conclusion: str = "",
    app: str = "",
    description: str = "",
    url: str = "",
    updated: datetime | None = None,
) -> bool:
    """Record another app's check run or status on a commit, moving only forward (a check
    run's status by its progress, then by its time; a status by its time). Whether it
    changed anything."""
    sha = checked_sha(sha)
    updated = updated or timezone.now()
    with transaction.atomic():
        check, created = ExternalCheck.objects.select_for_update().get_or_create(
            repository=repository,
            sha=sha,
            kind=kind,
            name=name[:255],
            defaults={"state": state[:30], "updated": updated},
        )
        if not created:
            rank_have = _CHECK_PROGRESS.get(check.state, 2) if kind == "check_run" else 0
            rank_new = _CHECK_PROGRESS.get(state, 2) if kind == "check_run" else 0
            if (rank_new, updated) < (rank_have, check.updated):
                return False
        values = {
            "state": state[:30],
            "conclusion": conclusion[:30],
            "app": app[:100],
            "description": description,
            "url": url[:1000],
            "updated": updated,
        }
        if not created and all(getattr(check, k) == v for k, v in values.items()):
            return False
        ExternalCheck.objects.filter(pk=check.pk).update(**values)
        signals.commit_changed.send(Repository, repository=repository, sha=sha)
    return True


# -- logs -----------------------------------------------------------------------------------


def record_logs_fetched(job: JobAttempt, logs: list[StoredLog], **changes: Any) -> None:
    """The logs of a failed attempt are in (`logs`; none: the provider had no failed step
    with output). Tells the scanner and the commit's summary. A passing attempt's logs
    (see citriage.ci.passing) replace the older passing logs of the same steps; nobody
    needs telling."""
    with transaction.atomic():
        JobAttempt.objects.filter(pk=job.pk).update(
            log_state=LogState.FETCHED if logs else LogState.NO_LOG,
            log_error="",
            fetch_after=None,
            **changes,
        )
        if not job.failed:
            forget_logs(passing.replaced(job))
            return
        if logs:
            signals.logs_stored.send(JobAttempt, job=job, logs=logs)
        signals.commit_changed.send(Repository, repository=job.repository, sha=job.sha)


def forget_logs(logs: QuerySet[StoredLog]) -> int:
    """Delete these stored logs: their rows now, their text once that is committed (a
    failed deletion leaves an unreferenced file, never a row without its text)."""
    with transaction.atomic():
        rows = list(logs.values_list("pk", "storage_key"))
        StoredLog.objects.filter(pk__in=[pk for pk, _key in rows]).delete()
        keys = [key for _pk, key in rows]
        transaction.on_commit(lambda: _delete_texts(keys))
    return len(rows)


def _delete_texts(keys: list[str]) -> None:
    store = logstore.log_store()
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # the rows are gone already: a file left behind costs only space
            logger.exception("could not delete stored log %s", key)


def store_log(step: Step, source: bytes | str | os.PathLike[str] | IO[bytes]) -> StoredLog:
    """Strip `source`, put it in the log store, and record it (replacing an earlier copy).

    The log row and its scan state appear in one transaction; who scans it learns of it
    through `signals.logs_stored`, sent by the fetch once all of a job's logs are in.
    """
    text = read_log(source, max_bytes=settings.LOG_MAX_BYTES)
    digest = logstore.checksum(text.data)
    key = f"{step.job.repository_id}/{step.job_id}/{step.pk}-{digest[:16]}.log.zst"
    logstore.log_store().put(key, text.data)
    RECORDED.labels("stored logs").inc()
    baseline = step.job.conclusion == Conclusion.SUCCESS  # a passing run's: never scanned
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
                "passing": baseline,
                "scanned_through": 0,
                "scanned_at": None,
                "needs_full_rescan": not baseline,
                "scan_error": "",
            },
        )
    return stored


# -- workflow runs -----------------------------------------------------------------------


def record_workflow_run(repository: Repository, run: RunData) -> bool:
    """Record a GitHub Actions workflow run as it is now (moving only forward: by status,
    then by GitHub's time). Whether anything changed."""
    sha = checked_sha(run.head_sha, "the run's commit")
    with transaction.atomic():
        row, created = WorkflowRun.objects.select_for_update().get_or_create(
            repository=repository, run_id=str(run.id), defaults={"sha": sha}
        )
        have = (progress(row.status), row.attempt, row.updated or datetime.min.replace(tzinfo=UTC))
        incoming = (progress(run.status), run.run_attempt, run.updated_at or have[2])
        values: dict[str, Any] = {
            "name": row.name or run.name[:255],
            "path": row.path or run.path[:500],
            "event": row.event or run.event[:50],
            "branch": row.branch or run.head_branch[:255],
            "url": row.url or run.url[:500],
        }
        if created or incoming >= have:
            values |= {
                "status": run.status,
                "conclusion": run.conclusion[:30],
                "attempt": run.run_attempt,
                "updated": run.updated_at or row.updated,
            }
        changes = {k: v for k, v in values.items() if getattr(row, k) != v}
        if not created and not changes:
            return False
        WorkflowRun.objects.filter(pk=row.pk).update(**changes)
        if created:
            owe_config(repository, [sha])
            config_contexts_changed(repository, [sha])  # a push it ran for is a way it is built
        if values.get("status") == JobStatus.COMPLETED and changes.keys() & {"status", "attempt"}:
            signals.workflow_run_completed.send(
                Repository, repository=repository, run_id=str(run.id)
            )
        signals.commit_changed.send(Repository, repository=repository, sha=sha)
    return True


def record_run_jobs(repository: Repository, run_id: int | str, jobs: int) -> None:
    """How many jobs GitHub listed for a run that ended (none: it failed to start)."""
    with transaction.atomic():
        run = WorkflowRun.objects.filter(repository=repository, run_id=str(run_id)).first()
        if run is None or run.jobs == jobs:
            return
        WorkflowRun.objects.filter(pk=run.pk).update(jobs=jobs)
        signals.commit_changed.send(Repository, repository=repository, sha=run.sha)


# -- CI configurations and the jobs they expect ---------------------------------------------


def reads_configs(repository: Repository) -> bool:
    """Configurations are read through the GitHub App, for repositories it is installed on."""
    return (
        bool(repository.providers) and github_app.configured() and github_app.installed(repository)
    )


def owe_config(repository: Repository, shas: Iterable[str]) -> None:
    """citriage saw these commits: the CI configuration of each is owed, once."""
    if not reads_configs(repository):
        return
    now = timezone.now()
    CommitConfig.objects.bulk_create(
        [
            CommitConfig(repository=repository, sha=sha, seen_at=now, due_at=now)
            for sha in sorted(set(shas))
            if sha
        ],
        ignore_conflicts=True,
    )


def config_contexts_changed(repository: Repository, shas: Iterable[str]) -> None:
    """What is known of how these commits are built changed (a push, a pull request, the
    default branch): their expected jobs are worked out again, from the files read."""
    wanted = sorted({sha for sha in shas if sha})
    for start in range(0, len(wanted), 500):
        CommitConfig.objects.filter(
            repository=repository, sha__in=wanted[start : start + 500], state=ConfigState.READ
        ).update(due_at=timezone.now())


def record_expected_jobs(
    config: CommitConfig, expectation: Expectation, contexts: list[str]
) -> bool:
    """The jobs the commit's configuration expects now (replacing those of an earlier
    evaluation), with what could not be read. Whether anything changed; a change tells
    the commit's summary."""
    repository = config.repository
    with transaction.atomic():
        rows = ExpectedJob.objects.filter(repository=repository, sha=config.sha)
        current = {(row.provider, row.name): row for row in rows}
        wanted = {(job.provider, job.name[:255]): job for job in expectation.jobs}
        gone = [row.pk for key, row in current.items() if key not in wanted]
        ExpectedJob.objects.filter(pk__in=gone).delete()
        changed = bool(gone)
        for key, job in wanted.items():
            values = {
                "workflow": job.workflow[:255],
                "path": job.path[:500],
                "certain": job.certain,
                "reason": job.reason,
                "needs": [n[:255] for n in job.needs],
                "after_failure": job.after_failure,
            }
            row = current.get(key)
            if row is None:
                ExpectedJob.objects.create(
                    repository=repository, sha=config.sha, provider=key[0], name=key[1], **values
                )
                changed = True
            elif any(getattr(row, k) != v for k, v in values.items()):
                ExpectedJob.objects.filter(pk=row.pk).update(**values)
                changed = True
        described = {
            "problems": expectation.problems,
            "notes": expectation.notes,
            "contexts": contexts,
        }
        changed = changed or any(getattr(config, k) != v for k, v in described.items())
        CommitConfig.objects.filter(pk=config.pk).update(
            state=ConfigState.READ, error="", read_at=timezone.now(), **described
        )
        if changed:
            signals.commit_changed.send(Repository, repository=repository, sha=config.sha)
    return changed
