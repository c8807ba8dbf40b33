"""CircleCI as a source of CI data: build details, the output of failed steps, backfill,
reruns. (Webhooks reach citriage as GitHub statuses: `citriage.github.events`.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings

from citriage.ci import passing, recording
from citriage.ci.models import (
    JobAttempt,
    JobStatus,
    LogState,
    Provider,
    Repository,
    StoredLog,
)
from citriage.providers.base import ProviderError
from citriage.providers.circleci import CircleCI
from citriage.rules import parse_time


def client() -> CircleCI:
    return CircleCI(
        settings.CIRCLECI_TOKEN,
        settings.CIRCLECI_URL,
        timeout=settings.HTTP_TIMEOUT,
        retries=settings.HTTP_RETRIES,
        backoff=settings.HTTP_BACKOFF,
    )


def _build_number(job: JobAttempt | str) -> int:
    value = job.provider_id if isinstance(job, JobAttempt) else job
    if not value.isdigit():
        raise ProviderError(f"{value!r} is not a CircleCI build number")
    return int(value)


class CircleCISource:
    provider = Provider.CIRCLECI.value

    def configured(self, repository: Repository) -> str:
        if settings.CIRCLECI_TOKEN:
            return ""
        return "CircleCI is not configured: set CITRIAGE_CIRCLECI_TOKEN"

    def sync_job(
        self, repository: Repository, provider_id: str, api: CircleCI | None = None
    ) -> JobAttempt:
        """Record a build with every action of every step and container."""
        own = api is None
        api = api or client()
        try:
            run = api.build(repository.owner, repository.name, _build_number(provider_id))
            run.provider_id = provider_id  # the answer to "build N" is build N
            job, _changed = recording.record_job(repository, run)
        finally:
            if own:
                api.close()
        return job

    def fetch_logs(self, job: JobAttempt) -> list[StoredLog]:
        """The output of every failed or timed-out action of the build (of every action,
        for a passing build kept as a baseline); the build's details are read first when
        its steps are not known yet (a status webhook)."""
        api = client()
        try:
            kept = [s for s in job.steps.all() if passing.step_kept(job, s.failed)]
            if not any(s.output_url for s in kept):
                job = self.sync_job(job.repository, job.provider_id, api)
                kept = [s for s in job.steps.all() if passing.step_kept(job, s.failed)]
            stored = []
            for step in kept:
                if not (step.output_url and step.has_output):
                    continue
                if hasattr(step, "log"):
                    stored.append(step.log)  # stored by an earlier try
                    continue
                output = api.download_output(step.output_url)
                try:
                    stored.append(recording.store_log(step, output))
                finally:
                    output.close()
            return stored
        finally:
            api.close()

    def backfill(
        self,
        repository: Repository,
        *,
        branch: str | None = None,
        since: datetime | None = None,
        progress: Callable[[int], None] | None = None,
        api: CircleCI | None = None,
    ) -> dict[str, int]:
        """Builds CircleCI has that citriage does not (newest first), down to the first
        build already known as finished, or older than `since`."""
        finished = set(
            JobAttempt.objects.filter(
                repository=repository, provider=self.provider, status=JobStatus.COMPLETED
            ).values_list("provider_id", flat=True)
        )

        def known(build: dict[str, Any]) -> bool:
            if str(build.get("build_num")) in finished:
                return True
            queued = parse_time(
                build.get("queued_at") or build.get("start_time") or build.get("stop_time")
            )
            return bool(since and queued and queued < since)

        counts = {"seen": 0, "recorded": 0, "to_fetch": 0}
        own = api is None
        api = api or client()
        try:
            for run in api.builds(repository.owner, repository.name, branch=branch, stop=known):
                counts["seen"] += 1
                job, _changed = recording.record_job(repository, run)
                counts["recorded"] += 1
                counts["to_fetch"] += job.log_state in (LogState.PENDING, LogState.PENDING_RETRY)
                if progress:
                    progress(counts["seen"])
        finally:
            if own:
                api.close()
        return counts

    def rerun(self, job: JobAttempt, *, failed_of_run: bool = False) -> str:
        """Rerun this job (and only it) in its workflow (API v2)."""
        api = client()
        try:
            job_uuid = job.details.get("job_id")
            if not job_uuid or not job.workflow_id:
                job = self.sync_job(job.repository, job.provider_id, api)
                job_uuid = job.details.get("job_id")
            if not job_uuid or not job.workflow_id:
                raise ProviderError("CircleCI did not say which workflow job this build is")
            return str(api.rerun_jobs(job.workflow_id, [str(job_uuid)]))
        finally:
            api.close()
