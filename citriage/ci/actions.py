"""GitHub Actions as a source of CI data: jobs, job logs split into steps, backfill, reruns.

The GitHub App's installation token (the one citriage posts check runs with) is the
credential; nothing else is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db.models import Max

from citriage.ci import github_app, passing, recording
from citriage.ci.models import (
    JobAttempt,
    JobStatus,
    LogState,
    Provider,
    Repository,
    StoredLog,
)
from citriage.providers.base import ProviderError, StepRun, TransientProviderError
from citriage.providers.github_actions import (
    GitHubActions,
    StepInfo,
    read_span,
    split_job_log,
    to_job_run,
)

JOB_LOG_STEP = 0  # the step row holding a whole job log (GitHub numbers steps from 1)
JOB_LOG_NAME = "(job log)"


def watches(repository: Repository) -> bool:
    return Provider.GITHUB_ACTIONS in repository.providers


def client(repository: Repository) -> GitHubActions:
    """Actions calls as the GitHub App's installation on the repository."""
    try:
        return GitHubActions(github_app.for_repository(repository))
    except github_app.NotConfigured as exc:
        # Configuration can be fixed: keep the job waiting rather than failed for good.
        raise TransientProviderError(str(exc)) from exc


def record(repository: Repository, job: dict[str, Any]) -> tuple[JobAttempt, bool]:
    """Record one job (REST or webhook shape); the attempt and whether it changed."""
    return recording.record_job(repository, to_job_run(job))


def _step_infos(job: JobAttempt) -> list[StepInfo]:
    saved = job.details.get("steps") or []
    if saved:
        return [StepInfo.from_json(step) for step in saved if isinstance(step, dict)]
    # Steps known only as rows (no times): the splitter works from names and order.
    return [
        StepInfo(number=s.index, name=s.name, status="completed", conclusion=s.status)
        for s in job.steps.exclude(index=JOB_LOG_STEP)
    ]


def _known_runs(repository: Repository) -> dict[str, int]:
    """Runs whose jobs are all recorded as finished: run id -> highest attempt seen."""
    jobs = JobAttempt.objects.filter(repository=repository, provider=Provider.GITHUB_ACTIONS)
    rows = jobs.values("workflow_id").annotate(top=Max("attempt"))
    unfinished = set(jobs.exclude(status=JobStatus.COMPLETED).values_list("workflow_id", flat=True))
    return {r["workflow_id"]: r["top"] for r in rows if r["workflow_id"] not in unfinished}


class ActionsSource:
    provider = Provider.GITHUB_ACTIONS.value

    def configured(self, repository: Repository) -> str:
        if not github_app.configured():
            return "the GitHub App is not configured: see `citriage github setup`"
        if not github_app.installed(repository):
            return f"the GitHub App was removed from {repository.full_name}"
        return ""

    def fetch_logs(self, job: JobAttempt) -> list[StoredLog]:
        """Download the job's log, split it into steps, store the failed steps' parts
        (every step's, for a passing run kept as a baseline).

        When the steps are unknown, or no failed step can be placed in the log, the
        whole log is stored (as the step "(job log)"): nothing is dropped.
        """
        repository = job.repository
        api = client(repository)
        try:
            log = api.download_job_log(repository.owner, repository.name, job.provider_id)
        finally:
            api.close()
        try:
            infos = _step_infos(job)
            spans = split_job_log(log, infos)
            kept = {info.number for info in infos if passing.step_kept(job, info.failed)}
            if not kept and job.failed:  # e.g. a timeout: the steps were cancelled, none failed
                cancelled = {i.number for i in infos if i.conclusion in ("cancelled", "timed_out")}
                kept = set(sorted(cancelled)[-1:])
            stored = []
            for span in spans:
                if span.number not in kept or span.end <= span.start:
                    continue
                step = job.steps.filter(index=span.number, container=0).first()
                if step is None:
                    continue
                with read_span(log, span.start, span.end) as piece:
                    stored.append(recording.store_log(step, piece))
            if not stored:
                status = "failure" if job.failed else "success"
                recording.record_steps(
                    job, [StepRun(name=JOB_LOG_NAME, index=JOB_LOG_STEP, status=status)]
                )
                step = job.steps.get(index=JOB_LOG_STEP, container=0)
                with read_span(log) as whole:
                    stored.append(recording.store_log(step, whole))
        finally:
            log.close()
        return stored

    def sync_run(self, repository: Repository, run_id: int) -> dict[str, int]:
        """Record every job of every attempt of a run."""
        api = client(repository)
        counts = {"jobs": 0, "to_fetch": 0}
        try:
            for data in api.run_jobs(repository.owner, repository.name, run_id):
                job, _changed = record(repository, data)
                counts["jobs"] += 1
                counts["to_fetch"] += job.log_state in (LogState.PENDING, LogState.PENDING_RETRY)
        finally:
            api.close()
        recording.record_run_jobs(repository, run_id, counts["jobs"])
        return counts

    def sync_job(self, repository: Repository, provider_id: str) -> JobAttempt:
        api = client(repository)
        try:
            job, _changed = record(
                repository, api.job(repository.owner, repository.name, provider_id)
            )
        finally:
            api.close()
        return job

    def backfill(
        self,
        repository: Repository,
        *,
        branch: str | None = None,
        since: datetime | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, int]:
        """The jobs of workflow runs GitHub has that citriage does not know finished.

        Runs are listed newest first (all pages, created since `since`); a completed run
        whose every attempt is already recorded as finished is skipped, so a second
        backfill asks for no job list at all.
        """
        known = _known_runs(repository)
        counts = {"runs": 0, "seen": 0, "recorded": 0, "to_fetch": 0}
        api = client(repository)
        try:
            runs = list(
                api.workflow_runs(repository.owner, repository.name, branch=branch, since=since)
            )
        finally:
            api.close()
        for run in runs:
            counts["runs"] += 1
            recording.record_workflow_run(repository, run)
            if run.completed and known.get(str(run.id), 0) >= run.run_attempt:
                continue
            synced = self.sync_run(repository, run.id)
            counts["seen"] += 1
            counts["recorded"] += synced["jobs"]
            counts["to_fetch"] += synced["to_fetch"]
            if progress:
                progress(counts["seen"])
        return counts

    def rerun(self, job: JobAttempt, *, failed_of_run: bool = False) -> str:
        """Run this job again (or every failed job of its run), as a new attempt."""
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
