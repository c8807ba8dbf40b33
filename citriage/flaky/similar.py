"""Where else a failing test failed: other commits, branches and authors in the last days,
and the default branch (the "is it my fault?" of one test)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from citriage.ci.models import PullRequestHead, Repository
from citriage.scanner.signature import is_generic_signature
from citriage.testresults.models import FAILING, TestResult

SIMILAR_DAYS = 14


@dataclass
class Elsewhere:
    """A test's failures elsewhere: on other commits than the one asked about."""

    commits: set[str] = field(default_factory=set)  # pull request (non-default) commits
    authors: set[str] = field(default_factory=set)
    branches: set[str] = field(default_factory=set)
    branch_commits: list[str] = field(default_factory=list)  # default branch, newest first
    same_message: int = 0  # of those failures, with the same specific message signature
    first: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.commits and not self.branch_commits

    def describe(self, default_branch: str) -> str:
        parts = []
        if self.commits:
            parts.append(
                f"on {len(self.commits)} other commit(s) by {len(self.authors) or 1} author(s)"
            )
        if self.branch_commits:
            parts.append(f"on {default_branch} at {self.branch_commits[0][:10]}")
        if not parts:
            return ""
        text = " and ".join(parts)
        if self.first is not None:
            text += f" since {self.first:%Y-%m-%d}"
        if self.same_message:
            text += f" ({self.same_message} with the same message)"
        return "failed " + text

    def as_dict(self, default_branch: str) -> dict[str, object]:
        return {
            "commits": len(self.commits),
            "authors": len(self.authors),
            "branches": sorted(self.branches)[:10],
            "default_branch": self.branch_commits[:5],
            "same_message": self.same_message,
            "text": self.describe(default_branch),
        }


def elsewhere(
    repository: Repository,
    test_ids: Iterable[int],
    *,
    sha: str,
    signatures: dict[int, str] | None = None,
    days: int = SIMILAR_DAYS,
    now: datetime | None = None,
) -> dict[int, Elsewhere]:
    """For each test, its failures in the last `days` on commits other than `sha` (one
    query). `signatures`: the message signature of the failure asked about, per test."""
    ids = list(test_ids)
    found: dict[int, Elsewhere] = defaultdict(Elsewhere)
    if not ids:
        return found
    since = (now or timezone.now()) - timedelta(days=days)
    rows = list(
        TestResult.objects.filter(test_id__in=ids, outcome__in=FAILING, finished_at__gte=since)
        .exclude(run__sha=sha)
        .order_by("-finished_at")
        .values_list(
            "test_id",
            "run__sha",
            "run__job__branch",
            "run__job__commit__branch_position",
            "run__job__commit__author_login",
            "run__job__commit__author_email",
            "signature",
            "finished_at",
        )
    )
    pulls = dict(
        PullRequestHead.objects.filter(
            pull__repository=repository, sha__in={row[1] for row in rows}
        )
        .exclude(pull__author_login="")
        .values_list("sha", "pull__author_login")
    )
    for test_id, other, branch, position, login, email, signature, finished in rows:
        item = found[test_id]
        if position is not None:
            if other not in item.branch_commits:
                item.branch_commits.append(other)
        else:
            item.commits.add(other)
            item.authors.add(pulls.get(other) or login or email or branch)
            if branch:
                item.branches.add(branch)
        mine = (signatures or {}).get(test_id, "")
        if mine and signature == mine and not is_generic_signature(mine):
            item.same_message += 1
        if finished is not None and (item.first is None or finished < item.first):
            item.first = finished
    return found
