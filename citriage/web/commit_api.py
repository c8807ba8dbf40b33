"""JSON API of commits and pull requests (mounted in the site API): a commit's summary,
jobs and verdicts and what was posted; a pull request's head commits, the same for each;
classifying one failure."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.errors import HttpError

from citriage.ci.models import JobAttempt, PullRequest
from citriage.github.models import PostedCheck, PostedComment
from citriage.triage import classifications
from citriage.triage.models import Classification, CommitSummary
from citriage.web import search
from citriage.web.access import writer
from citriage.web.pull_views import heads_of

router = Router(tags=["commits"])


class SummaryOut(Schema):
    repository: str
    failures: int
    excused: int
    pending: int
    foreign_failures: int
    all_excused: bool
    counts: dict[str, int]


class ClassificationOut(Schema):
    kind: str
    note: str
    by: str
    at: datetime


class CommitJobOut(Schema):
    id: int
    repository: str
    name: str
    attempt: int
    status: str
    conclusion: str
    url: str
    finished_at: datetime | None
    verdict: str | None
    excused: bool | None
    reasons: list[str]
    breakage: int | None
    pattern: int | None
    best_line: int | None
    best_text: str | None
    classification: ClassificationOut | None


class PostedCheckOut(Schema):
    repository: str
    kind: str
    conclusion: str
    title: str
    posted_at: datetime

    @staticmethod
    def of(check: PostedCheck) -> PostedCheckOut:
        return PostedCheckOut(
            repository=check.repository.full_name,
            kind=check.kind,
            conclusion=check.conclusion,
            title=check.title,
            posted_at=check.posted_at,
        )


class PostedCommentOut(Schema):
    repository: str
    pull: int
    head_sha: str
    body: str
    posted_at: datetime

    @staticmethod
    def of(comment: PostedComment) -> PostedCommentOut:
        return PostedCommentOut(
            repository=comment.repository.full_name,
            pull=comment.pull_number,
            head_sha=comment.head_sha,
            body=comment.body,
            posted_at=comment.posted_at,
        )


class CommitOut(Schema):
    sha: str
    summaries: list[SummaryOut]
    jobs: list[CommitJobOut]
    checks: list[PostedCheckOut]
    comments: list[PostedCommentOut]
    pulls: list[str]


def _summary(s: CommitSummary) -> SummaryOut:
    return SummaryOut(
        repository=s.repository.full_name,
        failures=s.failures,
        excused=s.excused,
        pending=s.pending,
        foreign_failures=s.foreign_failures,
        all_excused=s.all_excused,
        counts=s.counts,
    )


def _job(job: JobAttempt) -> CommitJobOut:
    verdict = getattr(job, "verdict", None)
    best = getattr(job, "best", None)
    said = getattr(job, "classification", None)
    return CommitJobOut(
        id=job.pk,
        repository=job.repository.full_name,
        name=job.name,
        attempt=job.attempt,
        status=job.status,
        conclusion=job.conclusion,
        url=job.url,
        finished_at=job.finished_at,
        verdict=verdict.verdict if verdict else None,
        excused=verdict.excused if verdict else None,
        reasons=[str(r) for r in verdict.reasons] if verdict else [],
        breakage=verdict.breakage_id if verdict else None,
        pattern=verdict.pattern_id if verdict else None,
        best_line=best.match.line if best else None,
        best_text=best.match.text if best else None,
        classification=ClassificationOut(kind=said.kind, note=said.note, by=said.by, at=said.at)
        if said
        else None,
    )


def _jobs(**where: object) -> list[CommitJobOut]:
    jobs = JobAttempt.objects.filter(**where).select_related(
        "repository", "verdict", "best__match", "classification"
    )
    return [_job(j) for j in jobs.order_by("name", "attempt")]


@router.get("/commits/{sha}", response=CommitOut)
def get_commit(request: HttpRequest, sha: str) -> CommitOut:
    """A commit (full sha, or a prefix of at least 7 characters naming one commit): its
    summaries, every job attempt with its verdict, what was posted on GitHub."""
    sha = sha.lower()
    if len(sha) < 40:
        shas = search.shas_with_prefix(sha) if search.SHA_PREFIX.match(sha) else []
        if len(shas) != 1:
            problem = "is ambiguous" if shas else "names no known commit"
            raise HttpError(404, f"{sha} {problem}")
        sha = shas[0]
    jobs = _jobs(sha=sha)
    summaries = CommitSummary.objects.filter(sha=sha).select_related("repository")
    if not jobs and not summaries:
        raise HttpError(404, f"citriage knows no jobs of {sha}")
    return CommitOut(
        sha=sha,
        summaries=[_summary(s) for s in summaries],
        jobs=jobs,
        checks=[
            PostedCheckOut.of(c)
            for c in PostedCheck.objects.filter(sha=sha).select_related("repository")
        ],
        comments=[
            PostedCommentOut.of(c)
            for c in PostedComment.objects.filter(head_sha=sha).select_related("repository")
        ],
        pulls=[
            f"{p.repository.full_name}#{p.number}"
            for p in PullRequest.objects.filter(head_sha=sha).select_related("repository")
        ],
    )


class HeadOut(Schema):
    sha: str
    current: bool
    title: str
    summary: SummaryOut | None
    check: PostedCheckOut | None
    failures: list[CommitJobOut]
    passed: int
    running: int


class PullOut(Schema):
    repository: str
    number: int
    title: str
    author: str
    state: str
    merged: bool
    head_sha: str
    heads: list[HeadOut]
    comment: PostedCommentOut | None


@router.get("/pulls/{number}", response=PullOut, tags=["pulls"])
def get_pull(request: HttpRequest, number: int, repo: str | None = None) -> PullOut:
    """A pull request and every head commit it had, newest first, with the failed jobs'
    verdicts and what was posted. `repo` (owner/name) when several repositories have one."""
    pulls = PullRequest.objects.filter(number=number).select_related("repository")
    if repo:
        owner, _, name = repo.partition("/")
        pulls = pulls.filter(repository__owner=owner, repository__name=name)
    found = list(pulls[:2])
    if not found:
        raise HttpError(404, f"no pull request #{number}" + (f" in {repo}" if repo else ""))
    if len(found) > 1:
        raise HttpError(400, f"several repositories have #{number}: say which with ?repo=")
    pull = found[0]
    comment = PostedComment.objects.filter(
        repository=pull.repository, pull_number=pull.number
    ).first()
    heads = [
        HeadOut(
            sha=head.sha,
            current=head.current,
            title=head.commit.title if head.commit else "",
            summary=_summary(head.summary) if head.summary else None,
            check=PostedCheckOut.of(head.check) if head.check else None,
            failures=[_job(j) for j in head.failures],
            passed=head.passed,
            running=head.running,
        )
        for head in heads_of(pull)
    ]
    return PullOut(
        repository=pull.repository.full_name,
        number=pull.number,
        title=pull.title,
        author=pull.author_login,
        state=pull.state,
        merged=pull.merged,
        head_sha=pull.head_sha,
        heads=heads,
        comment=PostedCommentOut.of(comment) if comment else None,
    )


class ClassifyIn(Schema):
    kind: Classification
    note: str = ""


class ClassifyOut(Schema):
    ok: bool
    detail: str


@router.post("/jobs/{job_id}/classify", response={200: ClassifyOut}, auth=writer, tags=["jobs"])
def classify_job(request: HttpRequest, job_id: int, data: ClassifyIn) -> ClassifyOut:
    """Say what one failure is (flaky, infra, broken_trunk, other), with a note; its
    verdict is recomputed moments later."""
    job = get_object_or_404(JobAttempt, pk=job_id)
    try:
        said = classifications.classify_failure(
            job, data.kind, note=data.note, by=request.user.get_username()
        )
    except ValidationError as error:
        raise HttpError(400, "; ".join(error.messages)) from None
    return ClassifyOut(ok=True, detail=f"classified as {said.get_kind_display()}")
