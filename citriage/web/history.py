"""A job's history, for its page: the same job on the newest default-branch commits and on
the other commits of its pull request, one coloured cell per commit (oldest first)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from citriage.ci.models import FAILED_CONCLUSIONS, Commit, Conclusion, JobAttempt, PullRequest
from citriage.triage.models import Verdict
from citriage.triage.timeline import ICONS

BRANCH_COMMITS = 30


@dataclass
class Cell:
    sha: str
    title: str
    job_id: int | None  # the attempt shown (the latest); None: the job did not run there
    css: str
    icon: str
    what: str
    current: bool = False


@dataclass
class PullHistory:
    pull: PullRequest
    cells: list[Cell]


def _cell(sha: str, title: str, attempts: list[dict[str, Any]], current_sha: str) -> Cell:
    current = sha == current_sha
    if not attempts:
        return Cell(sha, title, None, "none", "·", "did not run", current)
    latest = max(attempts, key=lambda a: (a["attempt"], a["pk"]))
    conclusion = latest["conclusion"]
    if conclusion == Conclusion.SUCCESS:
        css, icon, what = "ok", "✓", "passed"
    elif conclusion in FAILED_CONCLUSIONS:
        verdict = latest["verdict__verdict"] or Verdict.PENDING
        css, icon = f"v-{verdict}", ICONS.get(str(verdict), "✗")
        what = str(Verdict(verdict).label) if verdict in Verdict.values else str(verdict)
    elif not conclusion:
        css, icon, what = "run", "○", "running"
    else:
        css, icon, what = "skip", "–", str(conclusion)
    if len(attempts) > 1:
        what += f" (attempt {latest['attempt']} of {len(attempts)})"
    return Cell(sha, title, latest["pk"], css, icon, what, current)


def _attempts(job: JobAttempt, where: Q) -> dict[Any, list[dict[str, Any]]]:
    rows = JobAttempt.objects.filter(where, repository_id=job.repository_id, name=job.name)
    found: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows.values("pk", "sha", "commit_id", "attempt", "conclusion", "verdict__verdict"):
        found[row["sha"]].append(dict(row))
    return found


def branch_history(job: JobAttempt, count: int = BRANCH_COMMITS) -> list[Cell]:
    """The job on the newest `count` default-branch commits, oldest first."""
    commits = list(
        Commit.objects.filter(repository_id=job.repository_id, branch_position__isnull=False)
        .order_by("-branch_position")
        .only("id", "sha", "message")[:count]
    )
    attempts = _attempts(job, Q(commit_id__in=[c.pk for c in commits]))
    return [_cell(c.sha, c.title, attempts.get(c.sha, []), job.sha) for c in reversed(commits)]


def pulls_of(sha: str, repository_id: int | None = None) -> list[PullRequest]:
    """The pull requests this commit was a head of."""
    pulls = PullRequest.objects.filter(Q(heads__sha=sha) | Q(head_sha=sha))
    if repository_id is not None:
        pulls = pulls.filter(repository_id=repository_id)
    return list(pulls.select_related("repository").distinct().order_by("number"))


def pull_history(job: JobAttempt) -> list[PullHistory]:
    """The job on every head commit of each pull request the job's commit belongs to."""
    histories = []
    for pull in pulls_of(job.sha, job.repository_id):
        heads = head_shas(pull)
        attempts = _attempts(job, Q(sha__in=heads))
        titles = dict(
            Commit.objects.filter(repository_id=job.repository_id, sha__in=heads).values_list(
                "sha", "message"
            )
        )
        cells = [
            _cell(sha, (titles.get(sha) or "").split("\n", 1)[0], attempts.get(sha, []), job.sha)
            for sha in heads
        ]
        histories.append(PullHistory(pull, cells))
    return histories


def head_shas(pull: PullRequest) -> list[str]:
    """Every head the pull request had, in the order pushed (the current one last)."""
    shas = list(pull.heads.values_list("sha", flat=True))
    if pull.head_sha and pull.head_sha not in shas:
        shas.append(pull.head_sha)
    return shas
