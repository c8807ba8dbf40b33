"""Reverts on the default branch, and the breakages they may have fixed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from citriage.ci.models import Commit, Repository
from citriage.triage.models import Breakage

REVERTS_SHA = re.compile(r"This reverts commit ([0-9a-f]{7,40})")
REVERT_TITLE = re.compile(r'^Revert "(?P<title>.+)"(?: \(#\d+\))?\s*$')


@dataclass
class Revert:
    commit: Commit  # the revert
    reverted: Commit | None  # what it reverts, when found
    title: str  # the reverted commit's title as the message gives it


def parse_revert(message: str) -> tuple[str, str] | None:
    """(reverted sha or "", reverted title or "") when the message is a revert."""
    title_line = message.split("\n", 1)[0].strip()
    by_sha = REVERTS_SHA.search(message)
    by_title = REVERT_TITLE.match(title_line)
    if not by_sha and not by_title:
        return None
    return (by_sha.group(1) if by_sha else "", by_title.group("title") if by_title else "")


def find_reverts(repository: Repository, commits: Iterable[Commit]) -> list[Revert]:
    """The reverts among these commits, each linked to the commit it reverts when known
    (by the sha in the message, else by the newest earlier branch commit with the title)."""
    out = []
    for commit in commits:
        parsed = parse_revert(commit.message)
        if parsed is None:
            continue
        sha, title = parsed
        reverted = None
        if sha:
            reverted = Commit.objects.filter(repository=repository, sha__startswith=sha).first()
        if reverted is None and title:
            candidates = Commit.objects.filter(
                repository=repository,
                branch_position__isnull=False,
                message__startswith=title,
            )
            if commit.branch_position is not None:
                candidates = candidates.filter(branch_position__lt=commit.branch_position)
            reverted = next(
                (c for c in candidates.order_by("-branch_position")[:20] if c.title == title),
                None,
            )
        out.append(Revert(commit, reverted, title or (reverted.title if reverted else "")))
    return out


def reverts_closing(breakage: Breakage, limit: int = 500) -> list[Revert]:
    """Reverts after the first bad commit that revert it or a later commit inside the
    breakage: candidates for "this revert fixed it", reverts of the cause first."""
    start = breakage.cause.branch_position
    if start is None:
        return []
    later = Commit.objects.filter(
        repository=breakage.repository_id, branch_position__gt=start
    ).order_by("branch_position")[:limit]
    found = []
    for revert in find_reverts(breakage.repository, later):
        target = revert.reverted
        if target is None or target.branch_position is None:
            continue
        if start <= target.branch_position < (revert.commit.branch_position or 0):
            found.append(revert)
    found.sort(key=lambda r: r.reverted != breakage.cause)  # stable: then in branch order
    return found
