"""The JSON API (django-ninja): the pages' data and actions, with an OpenAPI schema at /api/docs.

Reading follows the site's rule (public unless CITRIAGE_REQUIRE_LOGIN). Changing needs a
session of a user with write access, and the CSRF token like any form.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import HttpError

from citriage.ci.models import FAILED_CONCLUSIONS, JobAttempt, StoredLog
from citriage.ci.tasks import request_rerun
from citriage.ops import queues
from citriage.patterns import library, scanning, stats
from citriage.patterns.models import Match, Pattern
from citriage.patterns.tasks import scan_backlog_task
from citriage.scanner.patterns import PatternError
from citriage.web import system as system_state
from citriage.web import workbench
from citriage.web.access import writer
from citriage.web.tasks import backtest_task

MAX_WINDOW = 2000  # lines per request of the log viewer
MAX_LINE = 5000  # characters of one line sent to the log viewer


router = Router()


# -- patterns -------------------------------------------------------------------


class PatternOut(Schema):
    id: int
    expression: str
    is_regex: bool
    description: str
    tags: list[str]
    applicable_steps: list[str]
    specificity: int
    lines_from_end: int | None
    is_retired: bool
    retired_reason: str
    author: str
    created: datetime
    supersedes_id: int | None
    logs_scanned: int
    logs_total: int

    @staticmethod
    def of(row: Pattern, coverage: tuple[int, int] | None = None) -> PatternOut:
        scanned, total = coverage or scanning.pattern_coverage(row)
        return PatternOut(
            id=row.pk,
            expression=row.expression,
            is_regex=row.is_regex,
            description=row.description,
            tags=list(row.tag_names()),
            applicable_steps=list(row.applicable_steps),
            specificity=row.specificity,
            lines_from_end=row.lines_from_end,
            is_retired=row.is_retired,
            retired_reason=row.retired_reason,
            author=row.author,
            created=row.created,
            supersedes_id=row.supersedes_id,
            logs_scanned=scanned,
            logs_total=total,
        )


class CandidateIn(Schema):
    expression: str = Field(..., max_length=10_000)
    is_regex: bool = False
    applicable_steps: list[str] = []
    lines_from_end: int | None = Field(None, ge=0, le=2**31 - 1)
    specificity: int = Field(1, ge=-1000, le=1000)


class PatternIn(CandidateIn):
    description: str = ""
    tags: list[str] = []
    has_nondeterministic_values: bool = False
    supersedes: int | None = None


class PatternEdit(Schema):
    description: str | None = None
    specificity: int | None = Field(None, ge=-1000, le=1000)
    tags: list[str] | None = None
    has_nondeterministic_values: bool | None = None
    is_retired: bool | None = None


class TryIn(CandidateIn):
    log_id: int


class LineMatch(Schema):
    line: int
    text: str
    start: int
    end: int


class TryOut(Schema):
    total: int
    matches: list[LineMatch]
    timed_out: str


class BacktestOut(Schema):
    logs_scanned: int
    logs_total: int
    complete: bool
    failed_jobs_matched: int
    best_match_changes: int
    passing_logs_scanned: int
    passing_logs_matched: int
    timed_out_logs: int
    jobs: list[workbench.JobHit]


class Message(Schema):
    detail: str


def _candidate(data: CandidateIn) -> Any:
    try:
        return workbench.candidate(
            data.expression,
            is_regex=data.is_regex,
            applicable_steps=tuple(data.applicable_steps),
            lines_from_end=data.lines_from_end,
            specificity=data.specificity,
        )
    except PatternError as exc:
        raise HttpError(400, str(exc)) from None


@router.get("/patterns", response=list[PatternOut], tags=["patterns"])
def list_patterns(
    request: HttpRequest,
    tag: str | None = None,
    text: str | None = None,
    retired: bool | None = None,
) -> list[PatternOut]:
    rows = Pattern.objects.prefetch_related("tags").order_by("id")
    if tag:
        rows = rows.filter(tags__name=tag)
    if text:
        rows = rows.filter(expression__icontains=text)  # NUL was refused by the middleware
    if retired is not None:
        rows = rows.filter(is_retired=retired)
    shares, total = stats.scanned_share()  # one query for all, not two per pattern
    return [PatternOut.of(row, (shares.get(row.pk, 0), total)) for row in rows]


@router.get("/patterns/{pattern_id}", response=PatternOut, tags=["patterns"])
def get_pattern(request: HttpRequest, pattern_id: int) -> PatternOut:
    return PatternOut.of(get_object_or_404(Pattern, pk=pattern_id))


@router.post("/patterns", response={201: PatternOut, 400: Message}, auth=writer, tags=["patterns"])
def create_pattern(request: HttpRequest, data: PatternIn) -> Status[PatternOut]:
    old = get_object_or_404(Pattern, pk=data.supersedes) if data.supersedes else None
    try:
        row = library.create_pattern(
            data.expression,
            is_regex=data.is_regex,
            description=data.description,
            tags=data.tags,
            applicable_steps=data.applicable_steps,
            specificity=data.specificity,
            lines_from_end=data.lines_from_end,
            has_nondeterministic_values=data.has_nondeterministic_values,
            author=request.user.get_username(),
            supersedes=old,
        )
    except library.LibraryError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, PatternOut.of(row))


@router.patch(
    "/patterns/{pattern_id}",
    response={200: PatternOut, 400: Message},
    auth=writer,
    tags=["patterns"],
)
def edit_pattern(request: HttpRequest, pattern_id: int, data: PatternEdit) -> PatternOut:
    row = get_object_or_404(Pattern, pk=pattern_id)
    changes = data.dict(exclude_none=True)
    try:
        return PatternOut.of(library.edit_pattern(row, **changes))
    except library.LibraryError as exc:
        raise HttpError(400, str(exc)) from None


@router.post(
    "/workbench/try",
    response={200: TryOut, 400: Message, 429: Message},
    auth=writer,
    tags=["workbench"],
)
def try_pattern(request: HttpRequest, data: TryIn) -> TryOut:
    """The candidate's matches in one stored log (the workbench calls this as you type).
    For people with write access: a regex costs CPU (bounded per log and pattern)."""
    pattern = _candidate(data)
    log = get_object_or_404(StoredLog.objects.select_related("step"), pk=data.log_id)
    try:
        result = workbench.try_on_log(pattern, log)
    except workbench.Busy as exc:
        raise HttpError(429, str(exc)) from None
    return TryOut(
        total=result.total,
        matches=[LineMatch(**m) for m in result.matches],  # type: ignore[arg-type]
        timed_out=result.timed_out,
    )


class BacktestQueued(Schema):
    id: str
    status: str


class BacktestState(Schema):
    id: str
    status: str  # ready (waiting for a worker), running, successful, failed
    result: BacktestOut | None
    error: str


@router.post(
    "/workbench/backtest",
    response={202: BacktestQueued, 400: Message},
    auth=writer,
    tags=["workbench"],
)
def backtest_pattern(request: HttpRequest, data: CandidateIn) -> Status[BacktestQueued]:
    """Queue a backtest: what the candidate would match in stored history, and whose best
    match it would become. A worker runs it (within CITRIAGE_BACKTEST_SECONDS); poll
    `GET /workbench/backtest/{id}` for the result."""
    _candidate(data)  # refused here, at once, when it is not a valid pattern
    queued = backtest_task.enqueue(data.dict())
    return Status(202, BacktestQueued(id=str(queued.id), status="ready"))


@router.get(
    "/workbench/backtest/{backtest_id}",
    response={200: BacktestState, 404: Message},
    auth=writer,
    tags=["workbench"],
)
def backtest_state(request: HttpRequest, backtest_id: uuid.UUID) -> BacktestState:
    row = DBTaskResult.objects.filter(pk=backtest_id, task_path=backtest_task.module_path).first()
    if row is None:
        raise HttpError(404, f"no backtest {backtest_id}")
    status = str(row.status).lower()
    done = row.status == TaskResultStatus.SUCCESSFUL
    failed = row.status == TaskResultStatus.FAILED
    return BacktestState(
        id=str(row.pk),
        status=status,
        result=BacktestOut(**row.return_value) if done else None,
        error=(row.exception_class_path or "the backtest failed") if failed else "",
    )


# -- jobs and logs ----------------------------------------------------------------


class StepOut(Schema):
    id: int
    name: str
    index: int
    container: int
    status: str
    timed_out: bool
    log_id: int | None
    line_count: int | None


class MatchOut(Schema):
    id: int
    log_id: int
    pattern_id: int
    line: int
    start: int
    end: int
    text: str


class JobOut(Schema):
    id: int
    repository: str
    provider: str
    name: str
    workflow: str
    attempt: int
    status: str
    conclusion: str
    sha: str
    branch: str
    url: str
    finished_at: datetime | None
    log_state: str
    verdict: str | None
    reasons: list[str]
    best_match_id: int | None
    steps: list[StepOut]
    matches: list[MatchOut]


def _job_out(job: JobAttempt) -> JobOut:
    verdict = getattr(job, "verdict", None)
    best = getattr(job, "best", None)
    logs = {log.step_id: log for log in job.logs.all()}
    return JobOut(
        id=job.pk,
        repository=job.repository.full_name,
        provider=job.provider,
        name=job.name,
        workflow=job.workflow,
        attempt=job.attempt,
        status=job.status,
        conclusion=job.conclusion,
        sha=job.sha,
        branch=job.branch,
        url=job.url,
        finished_at=job.finished_at,
        log_state=job.log_state,
        verdict=verdict.verdict if verdict else None,
        reasons=[str(r) for r in verdict.reasons] if verdict else [],
        best_match_id=best.match_id if best else None,
        steps=[
            StepOut(
                id=step.pk,
                name=step.name,
                index=step.index,
                container=step.container,
                status=step.status,
                timed_out=step.timed_out,
                log_id=logs[step.pk].pk if step.pk in logs else None,
                line_count=logs[step.pk].line_count if step.pk in logs else None,
            )
            for step in job.steps.all()
        ],
        matches=[
            MatchOut(
                id=m.pk,
                log_id=m.log_id,
                pattern_id=m.pattern_id,
                line=m.line,
                start=m.start,
                end=m.end,
                text=m.text,
            )
            for m in job.matches.order_by("log_id", "line", "pattern_id")[:500]
        ],
    )


@router.get("/jobs", response=list[JobOut], tags=["jobs"])
def list_failed_jobs(
    request: HttpRequest,
    sha: str | None = None,
    limit: int = Query(50, ge=1, le=200),  # type: ignore[type-arg]
) -> list[JobOut]:
    """Newest failed job attempts (optionally of one commit)."""
    jobs = JobAttempt.objects.filter(conclusion__in=FAILED_CONCLUSIONS)
    if sha:
        jobs = jobs.filter(sha=sha)
    jobs = jobs.select_related("repository", "verdict", "best").order_by("-finished_at", "-id")
    return [_job_out(job) for job in jobs[:limit]]


@router.get("/jobs/{job_id}", response=JobOut, tags=["jobs"])
def get_job(request: HttpRequest, job_id: int) -> JobOut:
    jobs = JobAttempt.objects.select_related("repository", "verdict", "best")
    return _job_out(get_object_or_404(jobs, pk=job_id))


class LinesOut(Schema):
    log_id: int
    line_count: int
    start: int
    lines: list[str]
    matches: dict[int, list[dict[str, int]]]


@router.get("/logs/{log_id}/lines", response=LinesOut, tags=["jobs"])
def log_lines(
    request: HttpRequest,
    log_id: int,
    start: int = Query(1, ge=1),  # type: ignore[type-arg]
    count: int = Query(200, ge=1, le=MAX_WINDOW),  # type: ignore[type-arg]
) -> LinesOut:
    """A window of a stored log's lines (1-based), with the stored matches in it."""
    log = get_object_or_404(StoredLog, pk=log_id)
    text = workbench.stored_text(log)
    last = min(text.line_count, start + count - 1)
    lines = [text.line(n)[:MAX_LINE] for n in range(start, last + 1)]
    return LinesOut(
        log_id=log.pk,
        line_count=text.line_count,
        start=start,
        lines=lines,
        matches=workbench.matches_by_line(log, start, last),
    )


class ActionOut(Schema):
    ok: bool
    detail: str


@router.post("/jobs/{job_id}/rescan", response=ActionOut, auth=writer, tags=["jobs"])
def rescan_job(request: HttpRequest, job_id: int) -> ActionOut:
    job = get_object_or_404(JobAttempt, pk=job_id)
    count = scanning.request_full_rescan(StoredLog.objects.filter(job=job))
    scan_backlog_task.enqueue()
    return ActionOut(ok=True, detail=f"{count} log(s) queued for a full rescan")


@router.post("/jobs/{job_id}/rerun", response=ActionOut, auth=writer, tags=["jobs"])
def rerun_job(request: HttpRequest, job_id: int) -> ActionOut:
    job = get_object_or_404(JobAttempt, pk=job_id)
    result = request_rerun(job, requested_by=request.user.get_username())
    if result.finished_at is None:
        return ActionOut(ok=True, detail="rerun requested: on its way to the CI provider")
    return ActionOut(ok=False, detail=result.response)


class PromoteIn(Schema):
    match_id: int


@router.post(
    "/jobs/{job_id}/promote", response={200: ActionOut, 400: Message}, auth=writer, tags=["jobs"]
)
def promote_match(request: HttpRequest, job_id: int, data: PromoteIn) -> ActionOut:
    job = get_object_or_404(JobAttempt, pk=job_id)
    match = Match.objects.filter(pk=data.match_id, job=job).first()
    if match is None:
        raise HttpError(400, f"match {data.match_id} is not a match of job {job_id}")
    library.promote_match(job, match, request.user.get_username())
    return ActionOut(ok=True, detail=f"match {match.pk} is now the best match")


# -- system -----------------------------------------------------------------------


class SystemOut(Schema):
    logs: int
    up_to_date: int
    backlog: int
    queue: dict[str, int]
    workers: list[dict[str, Any]]
    github_budgets: list[dict[str, Any]]


@router.get("/system", response=SystemOut, tags=["system"])
def system(request: HttpRequest) -> SystemOut:
    progress = scanning.scan_progress()
    return SystemOut(
        logs=progress["logs"],
        up_to_date=progress["up_to_date"],
        backlog=progress["backlog"],
        queue=queues.depth(),
        workers=system_state.worker_rows(),
        github_budgets=system_state.rate_budget_rows(),
    )


api = NinjaAPI(title="citriage", version="1", urls_namespace="api")
api.add_router("/", router)
api.add_router("/", "citriage.web.branch_api.router")
api.add_router("/", "citriage.web.cluster_api.router")
api.add_router("/", "citriage.web.testresult_api.router")
api.add_router("/", "citriage.web.commit_api.router")
api.add_router("/", "citriage.web.flaky_api.router")
