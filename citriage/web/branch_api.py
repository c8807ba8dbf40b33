"""JSON API of the default branch's breakages (read only; mounted in the site API).

Editing goes through the pages (forms with CSRF, write access), where every change
is validated and kept in the breakage's history.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.errors import HttpError

from citriage.ci.models import Commit, Repository
from citriage.triage.inference import infer_spans
from citriage.triage.mergebase import merge_base
from citriage.triage.models import Breakage

router = Router(tags=["breakages"])


class EditOut(Schema):
    at: datetime
    editor: str
    action: str
    changes: dict[str, list[object]]


class BreakageOut(Schema):
    id: int
    repository: str
    cause: str
    fix: str | None
    ongoing: bool
    jobs: list[str]
    description: str
    category: str
    issue_url: str
    reporter: str
    created: datetime


class BreakageDetailOut(BreakageOut):
    history: list[EditOut]


class InferredOut(Schema):
    job: str
    first_bad: str
    last_bad: str
    commits: int
    fix: str | None
    ongoing: bool
    signature: str
    weak: bool


def _out(breakage: Breakage) -> dict[str, object]:
    return {
        "id": breakage.pk,
        "repository": breakage.repository.full_name,
        "cause": breakage.cause.sha,
        "fix": breakage.fix.sha if breakage.fix else None,
        "ongoing": breakage.ongoing,
        "jobs": breakage.jobs,
        "description": breakage.description,
        "category": breakage.category,
        "issue_url": breakage.issue_url,
        "reporter": breakage.reporter,
        "created": breakage.created,
    }


def _repository(name: str) -> Repository:
    owner, _, repo = name.partition("/")
    found = Repository.objects.filter(owner=owner, name=repo).first()
    if found is None:
        raise HttpError(404, f"no repository {name!r}")
    return found


@router.get("/breakages", response=list[BreakageOut])
def list_breakages(
    request: HttpRequest, repo: str, ongoing: bool | None = None, job: str | None = None
) -> list[dict[str, object]]:
    """Annotated breakages of a repository's default branch, newest first."""
    found = Breakage.objects.filter(repository=_repository(repo)).select_related(
        "cause", "fix", "repository"
    )
    if ongoing is not None:
        found = found.filter(fix__isnull=ongoing)
    newest = found.order_by("-cause__branch_position", "-pk")[:500]
    return [_out(b) for b in newest if job is None or b.covers_job(job)]


@router.get("/breakages/inferred", response=list[InferredOut])
def inferred_breakages(
    request: HttpRequest, repo: str, commits: int = 300
) -> list[dict[str, object]]:
    """Runs of the same failure on consecutive built default-branch commits, in the last
    `commits` commits; `weak` ones (a single commit) never excuse a pull request."""
    repository = _repository(repo)
    head = (
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("-branch_position")
        .values_list("branch_position", flat=True)
        .first()
    ) or 0
    spans = infer_spans(repository, low=head - min(commits, 2000) + 1, high=head)
    return [
        {
            "job": s.job,
            "first_bad": s.first.sha,
            "last_bad": s.last.sha,
            "commits": s.commits,
            "fix": s.fix.sha if s.fix else None,
            "ongoing": s.ongoing,
            "signature": s.signature.label,
            "weak": s.weak,
        }
        for s in spans
    ]


@router.get("/breakages/at/{sha}", response=list[BreakageOut])
def breakages_at(request: HttpRequest, repo: str, sha: str) -> list[dict[str, object]]:
    """The annotated breakages covering a commit (a pull request commit: its merge base)."""
    repository = _repository(repo)
    at = merge_base(repository, sha)
    if at is None or at.branch_position is None:
        raise HttpError(404, f"cannot place {sha[:12]} on {repository.default_branch}")
    found = (
        Breakage.objects.filter(
            repository=repository, cause__branch_position__lte=at.branch_position
        )
        .filter(Q(fix__isnull=True) | Q(fix__branch_position__gt=at.branch_position))
        .select_related("cause", "fix", "repository")
    )
    return [_out(b) for b in found]


@router.get("/breakages/{breakage_id}", response=BreakageDetailOut)
def breakage_detail(request: HttpRequest, breakage_id: int) -> dict[str, object]:
    breakage = get_object_or_404(
        Breakage.objects.select_related("cause", "fix", "repository"), pk=breakage_id
    )
    return _out(breakage) | {
        "history": [
            {"at": e.at, "editor": e.editor, "action": e.action, "changes": e.changes}
            for e in breakage.history.all()
        ]
    }
