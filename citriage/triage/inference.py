"""Inferred breakages of the default branch: computed from the data, never stored.

Per job, a run of failures with the same signature on consecutive built
default-branch commits. A run of one commit is weak evidence and never excuses a
pull request failure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Commit,
    Conclusion,
    JobAttempt,
    JobStatus,
    Repository,
)
from citriage.dbquery import IdIn
from citriage.triage.signatures import Signature, failure_signatures

# How far (in branch positions) around a commit inference looks for the rest of a run.
INFER_WINDOW = 300
# Runs shorter than this are weak evidence: shown, but never an excuse.
MIN_EXCUSING_RUN = 2


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
    commits = list(
        Commit.objects.filter(repository=repository, branch_position__range=(low, high)).only(
            "id", "sha", "branch_position", "message", "committed_at"
        )
    )
    if not commits:
        return []
    attempts = JobAttempt.objects.filter(
        IdIn("commit_id", [c.pk for c in commits]),
        repository=repository,
        status=JobStatus.COMPLETED,
        conclusion__in=RESULTS,
    )
    if jobs is not None:
        attempts = attempts.filter(name__in=list(jobs))
    rows = attempts.values_list("pk", "name", "conclusion", "attempt", "commit_id")
    return spans_of(repository, commits, rows)


# The conclusions inference reads: a pass, or a failure.
RESULTS = (Conclusion.SUCCESS, *FAILED_CONCLUSIONS)


def spans_of(
    repository: Repository,
    commits: Sequence[Commit],
    attempts: Iterable[tuple[int, str, str, int, int | None]],
) -> list[InferredSpan]:
    """The runs among these default-branch commits (consecutive positions), from their
    completed attempts that passed or failed: (id, job, conclusion, attempt, commit id).
    The timeline passes the attempts it has read anyway."""
    if not commits:
        return []
    by_pk = {c.pk: c for c in commits}
    # (job, commit) -> passed?, latest failed attempt
    outcome: dict[tuple[str, int], tuple[bool, int, int]] = {}
    success = Conclusion.SUCCESS.value  # once: an enum member is slow to look up per row
    for pk, name, conclusion, attempt, commit_id in attempts:
        if commit_id is None:
            continue
        passed, latest_attempt, latest_pk = outcome.get((name, commit_id), (False, -1, 0))
        if conclusion == success:
            passed = True
        elif attempt > latest_attempt:
            latest_attempt, latest_pk = attempt, pk
        outcome[(name, commit_id)] = (passed, latest_attempt, latest_pk)
    failing = {key: pk for key, (passed, _, pk) in outcome.items() if not passed}
    signatures = failure_signatures(failing.values())
    # Only jobs that failed somewhere here can have a run (most jobs pass throughout).
    failed_jobs = {name for name, _commit_id in failing}
    # per job: (position, commit id, signature or None where it passed), sorted as tuples
    position = {c.pk: c.branch_position or 0 for c in commits}
    by_job: dict[str, list[tuple[int, int, Signature | None]]] = defaultdict(list)
    for (name, commit_id), (passed, _, pk) in outcome.items():
        if name in failed_jobs:
            by_job[name].append(
                (position[commit_id], commit_id, None if passed else signatures.get(pk))
            )
    top = max(c.branch_position or 0 for c in commits)
    head = (
        Commit.objects.filter(repository=repository, branch_position__isnull=False)
        .order_by("-branch_position")
        .values_list("branch_position", flat=True)
        .first()
    )
    spans: list[InferredSpan] = []
    for name, builds in by_job.items():
        builds.sort(key=itemgetter(0))  # by position: stable, as before
        run: InferredSpan | None = None
        for _at, commit_id, signature in builds:
            commit = by_pk[commit_id]
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
