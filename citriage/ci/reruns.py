"""Asking the CI provider to run failed jobs again, and remembering that we did."""

from __future__ import annotations

from citriage.ci import circleci_sync, gha_sync
from citriage.ci.models import JobAttempt, Provider, RerunRequest
from citriage.providers.base import ProviderError


def rerun(
    job: JobAttempt,
    *,
    requested_by: str = "",
    automatic: bool = False,
    failed_of_run: bool = False,
) -> RerunRequest:
    """Rerun this job (and only it) in its workflow; for GitHub Actions, `failed_of_run`
    reruns every failed job of the job's workflow run instead."""
    request = RerunRequest(job=job, requested_by=requested_by, automatic=automatic)
    if job.provider == Provider.GITHUB_ACTIONS:
        try:
            note = gha_sync.rerun(job, failed_of_run=failed_of_run)
            request.ok, request.response = True, note[:2000]
        except ProviderError as exc:
            request.ok, request.response = False, str(exc)[:2000]
        request.save()
        return request
    if job.provider != Provider.CIRCLECI:
        request.response = f"reruns of {job.get_provider_display()} jobs are not supported"
        request.save()
        return request
    api = circleci_sync.client()
    try:
        job_uuid = job.details.get("job_id")
        if not job_uuid or not job.workflow_id:
            job = circleci_sync.sync_build(job.repository, int(job.provider_id), api)
            job.refresh_from_db()
            job_uuid = job.details.get("job_id")
        if not job_uuid or not job.workflow_id:
            raise ProviderError("CircleCI did not say which workflow job this build is")
        response = api.rerun_jobs(job.workflow_id, [str(job_uuid)])
        request.ok, request.response = True, str(response)[:2000]
    except ProviderError as exc:
        request.ok, request.response = False, str(exc)[:2000]
    finally:
        api.close()
    request.save()
    return request
