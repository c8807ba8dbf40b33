"""The merge base of a commit with the default branch, for any history.

"Merge base" here is what attribution needs: the newest commit of the default
branch's first-parent order that the commit descends from (through any of its
parents, so merge commits and long branches are followed). Sources, in order:

1. a local bare mirror of the repository (`git merge-base`, then `git merge-base
   --is-ancestor` to land on the first-parent order), when the repository's
   settings name a `git_url` to mirror (fetched when a commit is missing);
2. otherwise (or when git fails) the recorded parents (Commit.parents), walked
   through every parent back to the branch.

Results are cached per commit together with the branch head they were computed
for: any change of the head (a push, a force push) makes them stale.
"""

from __future__ import annotations

import logging
import subprocess
from collections import deque
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from citriage.ci.models import Commit, Repository
from citriage.triage.models import MergeBase

logger = logging.getLogger(__name__)
MAX_WALK = 20_000
GIT_TIMEOUT = 300


class GitError(RuntimeError):
    pass


def branch_head(repository: Repository) -> Commit | None:
    return (
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("-branch_position")
        .first()
    )


def merge_base(repository: Repository, sha: str) -> Commit | None:
    """The newest default-branch commit `sha` descends from (itself when on the branch),
    or None when it cannot be told."""
    commit = Commit.objects.filter(repository=repository, sha=sha).first()
    if commit is not None and commit.branch_position is not None:
        return commit
    head = branch_head(repository)
    if head is None:
        return None
    cached = MergeBase.objects.filter(repository=repository, sha=sha).select_related("base").first()
    if (
        cached is not None
        and cached.branch_head == head.sha
        and cached.base is not None
        and cached.base.branch_position is not None
    ):
        return cached.base
    base, source = compute(repository, sha, head)
    if base is not None:
        MergeBase.objects.update_or_create(
            repository=repository,
            sha=sha,
            defaults={
                "branch_head": head.sha,
                "base": base,
                "source": source,
                "computed_at": timezone.now(),
            },
        )
    return base


def compute(repository: Repository, sha: str, head: Commit) -> tuple[Commit | None, str]:
    # The mirror is the truth when there is one: recorded parents can be incomplete, and
    # push events do not carry parents (they are assumed to follow each other).
    if repository.settings.get("git_url"):
        try:
            return from_git_mirror(repository, sha, head), "git mirror"
        except GitError as exc:
            logger.warning("merge base of %s in %s from git: %s", sha[:10], repository, exc)
    walked, complete = from_recorded_parents(repository, sha)
    return walked, "recorded parents" if complete else "recorded parents (partial)"


def from_recorded_parents(repository: Repository, sha: str) -> tuple[Commit | None, bool]:
    """Walk the recorded parents back to the branch: (newest branch commit reached,
    whether every commit on the way was known)."""
    queue = deque([sha])
    seen: set[str] = set()
    best: Commit | None = None
    complete = True
    while queue:
        if len(seen) >= MAX_WALK:
            return best, False
        current = queue.popleft()
        if current in seen:
            continue
        seen.add(current)
        commit = Commit.objects.filter(repository=repository, sha=current).first()
        if commit is None or (
            not commit.parents and commit.branch_position is None and not commit.message
        ):
            complete = False  # never seen, or seen only by name (no parents recorded)
            continue
        if commit.branch_position is not None:
            if best is None or commit.branch_position > (best.branch_position or 0):
                best = commit
            continue  # older branch commits are its ancestors: nothing newer beyond
        queue.extend(commit.parents)
    return best, complete


# --- the local mirror -----------------------------------------------------------------


def mirror_path(repository: Repository) -> Path:
    return Path(settings.DATA_DIR) / "mirrors" / repository.owner / f"{repository.name}.git"


def _git(path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            ["git", "-C", str(path), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {exc}") from exc
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])}: {result.stderr.strip()[:500]}")
    return result


def _has_commit(path: Path, sha: str) -> bool:
    return _git(path, "cat-file", "-e", f"{sha}^{{commit}}", check=False).returncode == 0


def ensure_mirror(repository: Repository, needed: list[str]) -> Path:
    """A bare mirror holding these commits: cloned the first time, fetched when one is missing."""
    path = mirror_path(repository)
    url = repository.settings["git_url"]
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(path.parent, "clone", "--mirror", "--quiet", url, str(path))
    if not all(_has_commit(path, sha) for sha in needed):
        _git(path, "fetch", "--prune", "--quiet", "origin")
    missing = [sha[:10] for sha in needed if not _has_commit(path, sha)]
    if missing:
        raise GitError(f"{', '.join(missing)} not in {url}")
    return path


def is_ancestor(path: Path, ancestor: str, sha: str) -> bool:
    result = _git(path, "merge-base", "--is-ancestor", ancestor, sha, check=False)
    if result.returncode not in (0, 1):
        raise GitError(f"git merge-base --is-ancestor: {result.stderr.strip()[:500]}")
    return result.returncode == 0


def from_git_mirror(repository: Repository, sha: str, head: Commit) -> Commit | None:
    path = ensure_mirror(repository, [sha, head.sha])
    result = _git(path, "merge-base", head.sha, sha, check=False)
    if result.returncode == 1:
        return None  # no common history
    if result.returncode != 0:
        raise GitError(f"git merge-base: {result.stderr.strip()[:500]}")
    base = Commit.objects.filter(repository=repository, sha=result.stdout.strip()).first()
    if base is not None and base.branch_position is not None:
        return base
    # The common ancestor came into the branch through a merge: the answer is the newest
    # first-parent commit that is an ancestor of `sha`. Ancestry is monotone along the
    # first-parent order, so a binary search needs log2(branch length) checks.
    order = list(
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("branch_position")
        .values_list("sha", flat=True)
    )
    low, high, found = 0, len(order) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if _has_commit(path, order[middle]) and is_ancestor(path, order[middle], sha):
            found, low = order[middle], middle + 1
        else:
            high = middle - 1
    return Commit.objects.filter(repository=repository, sha=found).first() if found else None
