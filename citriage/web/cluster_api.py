"""JSON API of failure lines and clusters (mounted in the site API)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema

from citriage.ci.models import JobAttempt
from citriage.failurelines.models import FailureAnalysis
from citriage.triage import clusters as queries
from citriage.web.cluster_views import workbench_url

router = Router(tags=["clusters"])


class CandidateOut(Schema):
    line: int
    text: str
    score: float
    reason: str


class FailureLinesOut(Schema):
    log_id: int
    step: str
    signature: str
    generic: bool
    candidates: list[CandidateOut]
    error: str
    # the passing run whose log of the same step was the baseline (none: compared with none)
    baseline_job_id: int | None
    baseline_sha: str


class SuggestionOut(Schema):
    expression: str
    is_regex: bool
    workbench: str


class ClusterOut(Schema):
    signature: str
    jobs: int
    first_seen: datetime
    last_seen: datetime
    example: str
    job_ids: list[int]
    job_names: list[str]
    trend: list[int]
    suggestion: SuggestionOut | None


@router.get("/jobs/{job_id}/failure-lines", response=list[FailureLinesOut])
def job_failure_lines(request: HttpRequest, job_id: int) -> list[FailureLinesOut]:
    """The likely failure lines of each stored log of a job (pattern-independent)."""
    job = get_object_or_404(JobAttempt, pk=job_id)
    return [
        FailureLinesOut(
            log_id=a.log_id,
            step=a.log.step.name,
            signature=a.signature,
            generic=a.generic,
            candidates=[CandidateOut(**c) for c in a.candidates],
            error=a.error,
            baseline_job_id=a.baseline.job_id if a.baseline else None,
            baseline_sha=a.baseline.job.sha if a.baseline else "",
        )
        for a in FailureAnalysis.objects.filter(job=job)
        .select_related("log__step", "baseline__job")
        .order_by("log__step__index", "log__step__container")
    ]


@router.get("/clusters", response=list[ClusterOut])
def clusters(
    request: HttpRequest,
    limit: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
    offset: int = Query(0, ge=0, le=1_000_000),  # type: ignore[type-arg]
) -> list[ClusterOut]:
    """Unattributed failures grouped by signature, biggest first."""
    found, _total = queries.clusters(limit, offset)
    result = []
    for c in found:
        suggestion = None
        if c.suggestion and c.recent_job_ids:
            link = workbench_url(
                c.suggestion.expression, c.suggestion.is_regex, c.recent_job_ids[0]
            )
            suggestion = SuggestionOut(
                expression=c.suggestion.expression, is_regex=c.suggestion.is_regex, workbench=link
            )
        result.append(
            ClusterOut(
                signature=c.signature,
                jobs=c.jobs,
                first_seen=c.first_seen,
                last_seen=c.last_seen,
                example=c.example,
                job_ids=c.recent_job_ids,
                job_names=c.job_names,
                trend=c.trend,
                suggestion=suggestion,
            )
        )
    return result
