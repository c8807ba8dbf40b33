"""JSON API of test results: tests and their history, a job's tests, and the upload of
test reports by any CI (with a repository's upload token, not a session)."""

from __future__ import annotations

from datetime import datetime
from typing import IO, Any, cast

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import File, Form, Query, Router, Schema, UploadedFile
from ninja.errors import HttpError
from ninja.security import HttpBearer

from citriage.ci.models import JobAttempt, Repository
from citriage.ci.recording import BadRecord
from citriage.testresults import uploads
from citriage.testresults.models import Test
from citriage.web import testresult_views as test_views

router = Router(tags=["tests"])


class UploadToken(HttpBearer):
    """`Authorization: Bearer ctr_...`: a repository's upload token."""

    def authenticate(self, request: HttpRequest, token: str) -> Repository | None:
        return uploads.repository_for(token)


class StoredOut(Schema):
    name: str
    format: str
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    reruns: int = 0
    suite_errors: int = 0
    flaky_tests: int = 0
    stored: bool
    error: str


class UploadOut(Schema):
    repository: str
    job_id: int | None
    job_url: str | None
    reports: list[StoredOut]


@router.post(
    "/test-reports",
    response=UploadOut,
    auth=UploadToken(),
    summary="Upload test reports (JUnit XML and the other formats) for a job",
)
def upload_test_reports(
    request: HttpRequest,
    commit: Form[str],
    job: Form[str],
    reports: File[list[UploadedFile]],
    attempt: Form[int] = 1,
    repository: Form[str] = "",
) -> UploadOut:
    """Each report is stored whole or refused with the reason (`error`); the same report
    twice is stored once (`stored` false)."""
    repo: Repository = request.auth  # type: ignore[attr-defined]
    if repository and repository != repo.full_name:
        raise HttpError(400, f"this token uploads for {repo.full_name}, not {repository}")
    if attempt < 1:
        raise HttpError(400, "attempt counts from 1")
    files = [(f.name or f"report {i + 1}", cast(IO[bytes], f.file)) for i, f in enumerate(reports)]
    try:
        stored = uploads.upload(repo, sha=commit, job_name=job, attempt=attempt, files=files)
    except BadRecord as exc:
        raise HttpError(400, str(exc)) from None
    job_row = (
        JobAttempt.objects.filter(repository=repo, sha=commit.lower(), name=job, attempt=attempt)
        .order_by("pk")
        .first()
    )
    return UploadOut(
        repository=repo.full_name,
        job_id=job_row.pk if job_row else None,
        job_url=f"/jobs/{job_row.pk}/" if job_row else None,
        reports=[StoredOut(**s.as_dict()) for s in stored],
    )


class TestOut(Schema):
    __test__ = False

    id: int
    repository: str
    suite: str
    name: str
    file: str
    first_seen: datetime
    failures: int
    first_failed_at: datetime | None
    last_failed_at: datetime | None
    jobs: list[str]


def _test_out(test: Test) -> TestOut:
    return TestOut(
        id=test.pk,
        repository=test.repository.full_name,
        suite=test.suite,
        name=test.name,
        file=test.file,
        first_seen=test.first_seen,
        failures=test.failures,
        first_failed_at=test.first_failed_at,
        last_failed_at=test.last_failed_at,
        jobs=list(test.jobs),
    )


@router.get("/tests", response=list[TestOut])
def list_tests(
    request: HttpRequest,
    q: str = "",
    repo: str = "",
    failing: bool = False,
    limit: int = Query(50, ge=1, le=500),  # type: ignore[type-arg]
) -> list[TestOut]:
    """Tests by name (suite or name containing `q`), most recently failed first."""
    tests = test_views.search(q, repo=repo, failing=failing)
    return [_test_out(t) for t in tests[:limit]]


class CellOut(Schema):
    job_id: int
    job: str
    sha: str
    attempt: int
    branch: str
    default_branch: bool
    finished_at: datetime | None
    outcome: str
    message: str


class TestDetailOut(TestOut):
    history: list[CellOut]
    signatures: list[dict[str, Any]]


@router.get("/tests/{test_id}", response=TestDetailOut)
def get_test(
    request: HttpRequest,
    test_id: int,
    limit: int = Query(100, ge=1, le=500),  # type: ignore[type-arg]
) -> TestDetailOut:
    """A test with its history (newest first) and its failures grouped by signature."""
    test = get_object_or_404(Test.objects.select_related("repository"), pk=test_id)
    cells = test_views.history_of(test, limit=limit)
    return TestDetailOut(
        **_test_out(test).dict(),
        history=[CellOut(**c) for c in cells],
        signatures=test_views.signatures_of(test),
    )


class JobTestOut(Schema):
    test_id: int
    name: str
    outcome: str
    retries: int
    message: str
    history: list[str]


class JobTestsOut(Schema):
    job_id: int
    sources: list[str]
    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    flaky: int
    results: list[JobTestOut]


@router.get("/jobs/{job_id}/tests", response=JobTestsOut, tags=["jobs"])
def job_tests(request: HttpRequest, job_id: int) -> JobTestsOut:
    """A job attempt's test counts and its tests that did not simply pass, each with its
    recent outcomes in the same job on the default branch (newest first)."""
    job = get_object_or_404(JobAttempt.objects.select_related("repository"), pk=job_id)
    listed = test_views.job_test_list(job)
    if listed is None:
        raise HttpError(404, "no test results for this job")
    run, rows = listed
    return JobTestsOut(
        job_id=job.pk,
        sources=list(run.sources),
        tests=run.tests,
        passed=run.passed,
        failed=run.failed,
        errors=run.errors,
        skipped=run.skipped,
        flaky=run.flaky,
        results=[
            JobTestOut(
                test_id=row["result"].test_id,
                name=row["result"].test.label,
                outcome=row["result"].outcome,
                retries=row["result"].retries,
                message=row["result"].message[:2000],
                history=[cell["outcome"] for cell in row["history"]],
            )
            for row in rows
        ],
    )
