"""Is a failure a known problem of the default branch? An annotated breakage covering the
job at the commit (or, for a pull request's commit, at its merge base), or there an
inferred run of failures with the same signature."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from citriage.ci.models import Commit, JobAttempt, Repository
from citriage.triage.inference import INFER_WINDOW, InferredSpan, infer_spans
from citriage.triage.mergebase import merge_base
from citriage.triage.models import Breakage
from citriage.triage.signatures import failure_signatures


def inferred_span_at(repository: Repository, position: int, job: str) -> InferredSpan | None:
    """The inferred run of failures of `job` that contains this branch position, if any."""
    spans = infer_spans(
        repository, low=position - INFER_WINDOW, high=position + INFER_WINDOW, jobs=[job]
    )
    return next((s for s in spans if s.covers(position)), None)


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
