"""Breakages of the default branch, and whether one covers a failure."""

from __future__ import annotations

from collections import deque

from django.db.models import Q

from citriage.ci.models import Commit, Repository
from citriage.triage.models import Breakage

MAX_WALK = 5000


def merge_base(repository: Repository, sha: str) -> Commit | None:
    """The newest default-branch commit that `sha` descends from, walking the
    recorded parents (all of them: merges included), or None when unknown."""
    commit = Commit.objects.filter(repository=repository, sha=sha).first()
    if commit is None:
        return None
    if commit.branch_position is not None:
        return commit
    queue = deque(commit.parents)
    seen: set[str] = set()
    best: Commit | None = None
    while queue and len(seen) < MAX_WALK:
        parent_sha = queue.popleft()
        if parent_sha in seen:
            continue
        seen.add(parent_sha)
        parent = Commit.objects.filter(repository=repository, sha=parent_sha).first()
        if parent is None:
            continue
        if parent.branch_position is not None:
            if best is None or parent.branch_position > (best.branch_position or 0):
                best = parent
            continue
        queue.extend(parent.parents)
    return best


def covering(repository: Repository, sha: str, job_name: str) -> tuple[Breakage | None, str]:
    """The annotated breakage covering `job_name` at this commit (or at a pull
    request commit's merge base), and where it was found."""
    commit = Commit.objects.filter(repository=repository, sha=sha).first()
    at: Commit | None
    if commit is not None and commit.branch_position is not None:
        at, where = commit, f"this commit on {repository.default_branch}"
    else:
        at = merge_base(repository, sha)
        if at is None:
            return None, ""
        where = f"the merge base {at.sha[:10]}"
    position = at.branch_position
    found = (
        Breakage.objects.filter(repository=repository, cause__branch_position__lte=position)
        .filter(Q(fix__isnull=True) | Q(fix__branch_position__gt=position))
        .select_related("cause", "fix")
        .order_by("-cause__branch_position")
    )
    for breakage in found:
        if not breakage.jobs or job_name in breakage.jobs:
            return breakage, where
    return None, ""
