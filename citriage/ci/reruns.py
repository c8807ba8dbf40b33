"""Asking the CI provider to run failed jobs again, and remembering that we did.

A request is recorded at once (and refused at once, saying why, when the provider
cannot be called); a task carries it out, so no web request waits on a provider.
"""

from __future__ import annotations

from django.utils import timezone

from citriage.ci import sources
from citriage.ci.models import JobAttempt, RerunRequest
from citriage.providers.base import ProviderError


def record_request(
    job: JobAttempt, *, requested_by: str = "", automatic: bool = False
) -> RerunRequest:
    """A new request; already finished (not ok) when the provider cannot be called."""
    if job.repository.settings.get("demo"):
        # generated jobs: the provider has never heard of them, and the demo never calls out
        problem = f"{job.repository.full_name} is the generated demo: it has no CI provider"
    else:
        try:
            problem = sources.source_for(job.provider).configured(job.repository)
        except ProviderError as exc:
            problem = str(exc)
    return RerunRequest.objects.create(
        job=job,
        requested_by=requested_by[:100],
        automatic=automatic,
        ok=False,
        response=problem,
        finished_at=timezone.now() if problem else None,
    )


def carry_out(request_id: int, *, failed_of_run: bool = False) -> str:
    request = RerunRequest.objects.select_related("job__repository").get(pk=request_id)
    if request.finished_at is not None:
        return f"already done: {request.response}"
    job = request.job
    try:
        request.response = sources.source_for(job.provider).rerun(job, failed_of_run=failed_of_run)
        request.ok = True
    except ProviderError as exc:
        request.response, request.ok = str(exc), False
    request.response = request.response[:2000]
    request.finished_at = timezone.now()
    request.save(update_fields=["response", "ok", "finished_at"])
    return f"{'ok' if request.ok else 'failed'}: {request.response}"


def is_rerunning(job: JobAttempt, later_attempts: bool) -> bool:
    """A rerun of this attempt was asked for (and not refused) and its new attempt has
    not been seen yet."""
    return not later_attempts and any(r.ok or r.finished_at is None for r in job.reruns.all())
