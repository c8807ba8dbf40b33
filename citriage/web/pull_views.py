"""Pull request pages: every head commit of a pull request, newest first, with its jobs and
verdicts and what was posted on GitHub; and the list of recent pull requests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from citriage.ci.models import Commit, JobAttempt, PullRequest, PullRequestHead
from citriage.github.models import PostedCheck, PostedComment
from citriage.rules import latest_attempts
from citriage.triage import timeline
from citriage.triage.models import CommitSummary
from citriage.web.history import head_shas
from citriage.web.markdown import github_html
from citriage.web.search import pull_url

PULLS_LISTED = 100


@dataclass
class Head:
    sha: str
    commit: Commit | None
    seen_at: Any
    summary: CommitSummary | None
    check: PostedCheck | None
    failures: list[JobAttempt] = field(default_factory=list)  # latest failed attempt per job
    passed: int = 0
    running: int = 0
    current: bool = False


def heads_of(pull: PullRequest) -> list[Head]:
    """The pull request's head commits, newest first, each with its jobs and verdicts."""
    shas = head_shas(pull)
    seen = dict(PullRequestHead.objects.filter(pull=pull).values_list("sha", "seen_at"))
    repository = pull.repository
    commits = {c.sha: c for c in Commit.objects.filter(repository=repository, sha__in=shas)}
    summaries = {
        s.sha: s for s in CommitSummary.objects.filter(repository=repository, sha__in=shas)
    }
    checks = {
        c.sha: c
        for c in PostedCheck.objects.filter(repository=repository, sha__in=shas).select_related(
            "repository"
        )
    }
    jobs: dict[str, list[JobAttempt]] = defaultdict(list)
    for job in (
        JobAttempt.objects.filter(repository=repository, sha__in=shas)
        .select_related("verdict", "best__match")
        .order_by("name", "attempt")
    ):
        jobs[job.sha].append(job)
    heads = []
    for sha in reversed(shas):
        latest = latest_attempts(jobs[sha], lambda j: j.name, lambda j: j.attempt)
        head = Head(
            sha,
            commits.get(sha),
            seen.get(sha),
            summaries.get(sha),
            checks.get(sha),
            current=sha == pull.head_sha,
        )
        for job in sorted(latest.values(), key=lambda j: j.name):
            if job.failed:
                head.failures.append(job)
            elif job.conclusion:
                head.passed += 1
            else:
                head.running += 1
        heads.append(head)
    return heads


def _page(request: HttpRequest, pull: PullRequest) -> HttpResponse:
    comment = PostedComment.objects.filter(
        repository=pull.repository, pull_number=pull.number
    ).first()
    context = {
        "pull": pull,
        "heads": heads_of(pull),
        "comment": comment,
        "comment_html": github_html(comment.body) if comment else None,
        "github": timeline.pull_url(pull.repository, pull.number),
    }
    return render(request, "web/pull.html", context)


def pull_by_number(request: HttpRequest, number: int) -> HttpResponse:
    """/pulls/123/: the pull request, or a choice when several repositories have a #123."""
    found = list(PullRequest.objects.filter(number=number).select_related("repository"))
    if not found:
        raise Http404(f"citriage knows no pull request #{number}")
    if len(found) == 1:
        return _page(request, found[0])
    choices = [(pull_url(p), p) for p in found]
    return render(request, "web/pull_choice.html", {"number": number, "choices": choices})


def pull_in_repository(request: HttpRequest, owner: str, name: str, number: int) -> HttpResponse:
    pull = get_object_or_404(
        PullRequest.objects.select_related("repository"),
        repository__owner=owner,
        repository__name=name,
        number=number,
    )
    return _page(request, pull)


def pull_list(request: HttpRequest) -> HttpResponse:
    pulls = PullRequest.objects.select_related("repository").order_by(
        "-updated_at", "-opened_at", "-number"
    )[:PULLS_LISTED]
    rows = list(pulls)
    summaries = {
        (s.repository_id, s.sha): s
        for s in CommitSummary.objects.filter(sha__in=[p.head_sha for p in rows if p.head_sha])
    }
    listed = [(p, pull_url(p), summaries.get((p.repository_id, p.head_sha))) for p in rows]
    return render(request, "web/pulls.html", {"rows": listed})
