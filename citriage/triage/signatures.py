"""What a failure looks like, so that two failures can be told to be the same problem.

A failure's signature is, from the most to the least specific: its best specific
pattern match with the pattern's captures (unless the pattern says its values vary);
else the signature of its likely failure line (citriage.scanner.signature: numbers,
times, paths and ids removed), unless that says nothing specific; else the step that
failed; else how the job ended. Generic lines ("Process completed with exit code 1")
are never a signature: they say that a step failed, not why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q

from citriage.ci.models import JobAttempt, Step
from citriage.failurelines.models import FailureAnalysis
from citriage.patterns.models import BestMatch
from citriage.rules import FAILED_STEP_STATES
from citriage.scanner.boilerplate import is_generic


@dataclass(frozen=True)
class Signature:
    """What a failure looks like (see the module doc): two failures with equal keys are
    taken to be the same problem; the label is for people."""

    key: str
    label: str


def failure_signatures(job_ids: Iterable[int]) -> dict[int, Signature]:
    """The signature of each failed job attempt, in four queries whatever the count."""
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
        lines = (
            FailureAnalysis.objects.filter(job_id__in=missing, generic=False)
            .exclude(signature="")
            .order_by("job_id", "log__step__index", "log__step__container")
            .values_list("job_id", "signature")
        )
        for job_id, line in lines:
            out.setdefault(job_id, Signature(f"line:{line}", f"failure line {line!r}"))
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
