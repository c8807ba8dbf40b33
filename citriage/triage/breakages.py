"""Breakages of the default branch: annotated ones, inferred ones, reverts, and whether
one covers a failure (at the commit itself, or at a pull request commit's merge base).

- Annotated breakages are rows (Breakage) that people edit; every change is kept
  (BreakageEdit) and the verdicts it touches are recomputed (triage.signals).
- Inferred breakages are computed from the data, never stored: per job, a run of
  failures with the same signature on consecutive built default-branch commits.
  A run of one commit is weak evidence and never excuses a pull request failure.
- The merge base comes from `mergebase.merge_base` (recorded parents, a local git
  mirror), cached until the branch's head moves.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Commit,
    Conclusion,
    JobAttempt,
    JobStatus,
    Repository,
    Step,
)
from citriage.patterns.models import BestMatch
from citriage.scanner.boilerplate import is_generic
from citriage.triage.mergebase import merge_base
from citriage.triage.models import Breakage, BreakageEdit

__all__ = ["merge_base"]

# How far (in branch positions) around a commit inference looks for the rest of a run.
INFER_WINDOW = 300
# Runs shorter than this are weak evidence: shown, but never an excuse.
MIN_EXCUSING_RUN = 2
FAILED_STEP_STATES = ("failed", "failure", "timedout", "timed_out")


# --- signatures -----------------------------------------------------------------------


@dataclass(frozen=True)
class Signature:
    """What a failure looks like: its best (specific) pattern and captures, or else the
    step that failed. Two failures with equal keys are taken to be the same problem."""

    key: str
    label: str


def failure_signatures(job_ids: Iterable[int]) -> dict[int, Signature]:
    """The signature of each failed job attempt, in three queries whatever the count."""
    ids = list(job_ids)
    out: dict[int, Signature] = {}
    if not ids:
        return out
    for row in BestMatch.objects.filter(job_id__in=ids).values(
        "job_id",
        "pattern_id",
        "pattern__description",
        "pattern__expression",
        "pattern__has_nondeterministic_values",
        "match__captures",
        "match__text",
    ):
        if is_generic(row["match__text"]):
            continue  # "exit code 1" says that a step failed, not why: fall back to the step
        captures = [] if row["pattern__has_nondeterministic_values"] else row["match__captures"]
        captures = [c for c in captures or [] if c is not None]
        what = row["pattern__description"] or row["pattern__expression"]
        label = f"pattern #{row['pattern_id']} {what!r}"
        if captures:
            label += f" with {', '.join(map(str, captures))}"
        out[row["job_id"]] = Signature(f"pattern:{row['pattern_id']}:{captures!r}", label)
    missing = [i for i in ids if i not in out]
    if missing:
        steps = (
            Step.objects.filter(job_id__in=missing)
            .filter(Q(status__in=FAILED_STEP_STATES) | Q(timed_out=True))
            .order_by("job_id", "index", "container")
            .values_list("job_id", "name")
        )
        for job_id, name in steps:
            out.setdefault(job_id, Signature(f"step:{name}", f"step {name!r} failed"))
        for job_id, conclusion in JobAttempt.objects.filter(
            pk__in=[i for i in missing if i not in out]
        ).values_list("pk", "conclusion"):
            out[job_id] = Signature(f"conclusion:{conclusion}", f"the job ended {conclusion}")
    return out


# --- inferred breakages ---------------------------------------------------------------


@dataclass
class InferredSpan:
    """A job failing the same way on consecutive built default-branch commits."""

    job: str
    signature: Signature
    first: Commit
    last: Commit
    commits: int  # built commits in the run (all failing)
    fix: Commit | None = None  # the next built commit where the job passed
    ongoing: bool = False  # no later build of the job yet
    shas: list[str] = field(default_factory=list)

    @property
    def weak(self) -> bool:
        return self.commits < MIN_EXCUSING_RUN

    def covers(self, position: int) -> bool:
        first, last = self.first.branch_position, self.last.branch_position
        return first is not None and last is not None and first <= position <= last

    def describe(self) -> str:
        end = f"fixed by {self.fix.sha[:10]}" if self.fix else ("ongoing" if self.ongoing else "")
        return (
            f"inferred breakage: {self.job!r} failed on {self.commits} consecutive "
            f"default-branch commits {self.first.sha[:10]}..{self.last.sha[:10]} "
            f"({self.signature.label}){', ' + end if end else ''}"
        )


def infer_spans(
    repository: Repository, *, low: int, high: int, jobs: Sequence[str] | None = None
) -> list[InferredSpan]:
    """Runs of failures per job on the default-branch commits at positions [low, high].

    A commit counts as failing a job when an attempt failed and none passed (a pass
    on rerun is flakiness, not breakage); commits where the job did not run are
    skipped over. A run ends at a pass (its fix) or where the failure changes.
    """
    commits = {
        c.pk: c
        for c in Commit.objects.filter(
            repository=repository, branch_position__range=(low, high)
        ).only("id", "sha", "branch_position", "message", "committed_at")
    }
    if not commits:
        return []
    attempts = JobAttempt.objects.filter(
        repository=repository,
        commit_id__in=list(commits),
        status=JobStatus.COMPLETED,
        conclusion__in=[Conclusion.SUCCESS, *FAILED_CONCLUSIONS],
    )
    if jobs is not None:
        attempts = attempts.filter(name__in=list(jobs))
    # (job, commit) -> passed?, latest failed attempt
    outcome: dict[tuple[str, int], tuple[bool, int, int]] = {}
    for pk, name, conclusion, attempt, commit_id in attempts.values_list(
        "pk", "name", "conclusion", "attempt", "commit_id"
    ):
        passed, latest_attempt, latest_pk = outcome.get((name, commit_id), (False, -1, 0))
        if conclusion == Conclusion.SUCCESS:
            passed = True
        elif attempt > latest_attempt:
            latest_attempt, latest_pk = attempt, pk
        outcome[(name, commit_id)] = (passed, latest_attempt, latest_pk)
    signatures = failure_signatures(pk for passed, _, pk in outcome.values() if not passed)
    by_job: dict[str, list[tuple[Commit, Signature | None]]] = defaultdict(list)
    for (name, commit_id), (passed, _, pk) in outcome.items():
        by_job[name].append((commits[commit_id], None if passed else signatures.get(pk)))
    top = max(c.branch_position or 0 for c in commits.values())
    head = (
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("-branch_position")
        .values_list("branch_position", flat=True)
        .first()
    )
    spans: list[InferredSpan] = []
    for name, builds in by_job.items():
        builds.sort(key=lambda b: b[0].branch_position or 0)
        run: InferredSpan | None = None
        for commit, signature in builds:
            if run is not None and signature is not None and signature.key == run.signature.key:
                run.last, run.commits = commit, run.commits + 1
                run.shas.append(commit.sha)
                continue
            if run is not None:
                run.fix = commit if signature is None else None
                spans.append(run)
                run = None
            if signature is not None:
                run = InferredSpan(name, signature, commit, commit, 1, shas=[commit.sha])
        if run is not None:
            run.ongoing = top == head
            spans.append(run)
    spans.sort(key=lambda s: (-(s.last.branch_position or 0), s.job))
    return spans


def inferred_span_at(repository: Repository, position: int, job: str) -> InferredSpan | None:
    """The inferred run of failures of `job` that contains this branch position, if any."""
    spans = infer_spans(
        repository, low=position - INFER_WINDOW, high=position + INFER_WINDOW, jobs=[job]
    )
    return next((s for s in spans if s.covers(position)), None)


# --- attribution ----------------------------------------------------------------------


@dataclass
class Coverage:
    """Why a failure is a known problem: an annotated breakage or an inferred one."""

    where: str
    breakage: Breakage | None = None
    inferred: InferredSpan | None = None
    on_branch: bool = False  # the failure is on the default branch itself

    @property
    def fixed_on_branch(self) -> str:
        """The fix a pull request picks up by rebasing ("" on the branch itself)."""
        if self.on_branch:
            return ""
        if self.breakage is not None:
            return self.breakage.fix.sha if self.breakage.fix else ""
        if self.inferred is not None and self.inferred.fix is not None:
            return self.inferred.fix.sha
        return ""

    def reason(self, job_name: str) -> str:
        if self.breakage is not None:
            what = self.breakage.description or self.breakage.category
            return f"{job_name!r} is inside breakage #{self.breakage.pk} ({what}) at {self.where}"
        assert self.inferred is not None
        return f"{job_name!r} fails the same way at {self.where}: {self.inferred.describe()}"


def annotated_covering(repository: Repository, position: int, job_name: str) -> Breakage | None:
    found = (
        Breakage.objects.filter(repository=repository, cause__branch_position__lte=position)
        .filter(Q(fix__isnull=True) | Q(fix__branch_position__gt=position))
        .select_related("cause", "fix")
        .order_by("-cause__branch_position", "pk")
    )
    return next((b for b in found if b.covers_job(job_name)), None)


def covering(job: JobAttempt) -> Coverage | None:
    """Is this failure a known problem of the default branch?

    For a default-branch commit: an annotated breakage covering the job there. For
    any other commit, at its merge base: an annotated breakage covering the job, or
    an inferred run of at least two failing commits with the same signature.
    """
    repository = job.repository
    commit = Commit.objects.filter(repository=repository, sha=job.sha).first()
    on_branch = commit is not None and commit.branch_position is not None
    at = commit if on_branch else merge_base(repository, job.sha)
    if at is None or at.branch_position is None:
        return None
    where = (
        f"this commit on {repository.default_branch}"
        if on_branch
        else f"the merge base {at.sha[:10]}"
    )
    breakage = annotated_covering(repository, at.branch_position, job.name)
    if breakage is not None:
        return Coverage(where, breakage=breakage, on_branch=on_branch)
    if on_branch:
        return None  # a run on the branch is made of these very failures: no self-excuse
    signature = failure_signatures([job.pk]).get(job.pk)
    span = inferred_span_at(repository, at.branch_position, job.name)
    if span is None or signature is None or span.weak or span.signature.key != signature.key:
        return None
    return Coverage(where, inferred=span)


# --- reverts --------------------------------------------------------------------------

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


# --- editing, with history ------------------------------------------------------------


def snapshot(breakage: Breakage) -> dict[str, Any]:
    return {
        "cause": breakage.cause.sha if breakage.cause_id else None,
        "fix": breakage.fix.sha if breakage.fix_id and breakage.fix else None,
        "jobs": list(breakage.jobs),
        "description": breakage.description,
        "category": breakage.category,
    }


def record(breakage: Breakage, editor: str, action: str, before: dict[str, Any]) -> None:
    """Keep the change in the breakage's history (nothing when nothing changed)."""
    after = snapshot(breakage)
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes or action == "created":
        BreakageEdit.objects.create(
            breakage=breakage, editor=editor, action=action, changes=changes
        )


def create_breakage(
    repository: Repository,
    *,
    cause: Commit,
    fix: Commit | None = None,
    jobs: Sequence[str] = (),
    description: str = "",
    category: str = "code",
    reporter: str = "",
) -> Breakage:
    """Validate and save a new breakage (ValidationError names the problem)."""
    breakage = Breakage(
        repository=repository,
        cause=cause,
        fix=fix,
        jobs=sorted(set(jobs)),
        description=description,
        category=category,
        reporter=reporter,
    )
    breakage.full_clean()
    with transaction.atomic():
        breakage.save()
        record(breakage, reporter, "created", {})
    return breakage


def update_breakage(
    breakage: Breakage, *, editor: str, action: str = "edited", **values: Any
) -> Breakage:
    """Change some fields (cause, fix, jobs, description, category), validated, with history.
    On a validation error nothing is saved and the row in the database is unchanged."""
    before = snapshot(breakage)
    for name, value in values.items():
        if name not in ("cause", "fix", "jobs", "description", "category"):
            raise ValueError(f"cannot change {name!r} of a breakage")
        setattr(breakage, name, sorted(set(value)) if name == "jobs" else value)
    try:
        breakage.full_clean()
    except Exception:
        breakage.refresh_from_db()
        raise
    with transaction.atomic():
        breakage.save()
        record(breakage, editor, action, before)
    return breakage


def close_by_revert(breakage: Breakage, revert: Commit, *, editor: str) -> Breakage:
    """The revert fixed the breakage: it becomes the first fixed commit."""
    return update_breakage(
        breakage, editor=editor, action=f"closed by revert {revert.sha[:10]}", fix=revert
    )


# --- what a change touches ------------------------------------------------------------


def affected_jobs(
    repository: Repository, *, low: int, high: int | None, names: Sequence[str] | None
) -> list[JobAttempt]:
    """Failed job attempts whose verdict can depend on the branch between positions
    [low, high]: on those default-branch commits, and on commits whose merge base is there."""
    from citriage.triage.models import MergeBase

    span = Q(branch_position__gte=low)
    if high is not None:
        span &= Q(branch_position__lte=high)
    branch_shas = Commit.objects.filter(span, repository=repository).values("sha")
    based = Q(base__branch_position__gte=low)
    if high is not None:
        based &= Q(base__branch_position__lte=high)
    pr_shas = MergeBase.objects.filter(based, repository=repository).values("sha")
    jobs = JobAttempt.objects.filter(
        Q(sha__in=branch_shas) | Q(sha__in=pr_shas),
        repository=repository,
        conclusion__in=FAILED_CONCLUSIONS,
    )
    if names is not None:
        jobs = jobs.filter(name__in=list(names))
    return list(jobs.select_related("repository"))


def refresh_verdicts(jobs: Iterable[JobAttempt]) -> set[tuple[int, str]]:
    """Recompute these verdicts and their commits' summaries; the commits whose verdicts
    changed get their GitHub report refreshed (through the cool-off). Returns those."""
    from citriage.triage import cooloff, verdicts
    from citriage.triage.models import JobVerdict

    jobs = list(jobs)
    if not jobs:
        return set()

    def state() -> dict[int, tuple[str, int | None, str]]:
        return {
            v.job_id: (v.verdict, v.breakage_id, v.fixed_on_branch)
            for v in JobVerdict.objects.filter(job__in=jobs)
        }

    before = state()
    with transaction.atomic():
        commits = verdicts.recompute_jobs(jobs)
        for repository_id, sha in commits:
            verdicts.recompute_summary(repository_id, sha)
    after = state()
    changed_jobs = {pk for pk in set(before) | set(after) if before.get(pk) != after.get(pk)}
    changed = {(j.repository_id, j.sha) for j in jobs if j.pk in changed_jobs}
    # Only recent commits are reported again: a new pattern reaching all of history must
    # not rewrite the checks of every old commit on GitHub (their pages show the news).
    since = timezone.now() - timedelta(days=settings.REPORT_REFRESH_DAYS)
    recent = {
        (j.repository_id, j.sha)
        for j in jobs
        if j.pk in changed_jobs and (j.finished_at is None or j.finished_at >= since)
    }
    for repository_id, sha in recent:
        cooloff.touch(Repository.objects.get(pk=repository_id), sha)
    return changed


def breakage_changed(
    repository: Repository,
    spans: Iterable[tuple[int | None, int | None, Sequence[str]]],
    breakage_id: int | None = None,
) -> set[tuple[int, str]]:
    """A breakage was created, edited or deleted: `spans` are its old and new
    (cause position, fix position, jobs). Recomputes every verdict it can touch."""
    jobs: dict[int, JobAttempt] = {}
    for low, high, names in spans:
        if low is None:
            continue
        top = None if high is None else high  # the fix commit itself is outside
        for job in affected_jobs(repository, low=low, high=top, names=names or None):
            jobs[job.pk] = job
    if breakage_id is not None:
        for job in JobAttempt.objects.filter(verdict__breakage_id=breakage_id).select_related(
            "repository"
        ):
            jobs[job.pk] = job
    return refresh_verdicts(jobs.values())


def branch_jobs_changed(jobs: Iterable[JobAttempt]) -> set[tuple[int, str]]:
    """Default-branch job attempts changed (a new result, a new best match): inferred runs
    around them may have grown, shrunk or changed their failure, so the pull request
    failures whose merge base lies between the neighbouring passes are recomputed."""
    regions: dict[tuple[int, str], tuple[int, int]] = {}
    repositories: dict[int, Repository] = {}
    for job in jobs:
        commit = job.commit
        if commit is None or commit.branch_position is None:
            continue
        key = (job.repository_id, job.name)
        low, high = regions.get(key, (commit.branch_position, commit.branch_position))
        regions[key] = (min(low, commit.branch_position), max(high, commit.branch_position))
        repositories[job.repository_id] = job.repository
    if not regions:
        return set()
    from citriage.triage.models import MergeBase

    targets: list[JobAttempt] = []
    for (repository_id, name), (low, high) in regions.items():
        passes = JobAttempt.objects.filter(
            repository_id=repository_id, name=name, conclusion=Conclusion.SUCCESS
        )
        before = (
            passes.filter(commit__branch_position__lt=low)
            .order_by("-commit__branch_position")
            .values_list("commit__branch_position", flat=True)
            .first()
        )
        after = (
            passes.filter(commit__branch_position__gt=high)
            .order_by("commit__branch_position")
            .values_list("commit__branch_position", flat=True)
            .first()
        )
        based = MergeBase.objects.filter(
            repository_id=repository_id,
            base__branch_position__gte=before if before is not None else low - INFER_WINDOW,
            base__branch_position__lte=after if after is not None else high + INFER_WINDOW,
        ).values("sha")
        targets += JobAttempt.objects.filter(
            repository_id=repository_id,
            name=name,
            sha__in=based,
            conclusion__in=FAILED_CONCLUSIONS,
        ).select_related("repository")
    return refresh_verdicts(targets)


def duration(breakage: Breakage) -> timedelta | None:
    """How long the branch was broken: cause to fix (or to now while ongoing)."""
    start = breakage.cause.committed_at
    if start is None:
        return None
    end = breakage.fix.committed_at if breakage.fix else timezone.now()
    return None if end is None else end - start
