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
from citriage.dbquery import IdIn
from citriage.failurelines.models import FailureAnalysis
from citriage.patterns.models import BestMatch, Pattern
from citriage.rules import FAILED_STEP_STATES
from citriage.scanner.boilerplate import is_generic


@dataclass(frozen=True)
class Signature:
    """What a failure looks like (see the module doc): two failures with equal keys are
    taken to be the same problem; the label is for people."""

    key: str
    label: str


def failure_signatures(job_ids: Iterable[int]) -> dict[int, Signature]:
    """The signature of each failed job attempt, in five queries whatever the count."""
    ids = list(job_ids)
    out: dict[int, Signature] = {}
    if not ids:
        return out
    best = list(
        BestMatch.objects.filter(IdIn("job_id", ids)).values_list(
            "job_id", "pattern_id", "match__captures", "match__text"
        )
    )
    # the patterns once each, not joined onto every row (pages ask for thousands of jobs)
    patterns = {
        pk: (description or expression, varies)
        for pk, description, expression, varies in Pattern.objects.filter(
            pk__in={pattern_id for _job, pattern_id, _captures, _text in best}
        ).values_list("pk", "description", "expression", "has_nondeterministic_values")
    }
    for job_id, pattern_id, captures, text in best:
        if is_generic(text):
            continue  # "exit code 1" says that a step failed, not why: fall back to the step
        what, varies = patterns[pattern_id]
        captures = [] if varies else [c for c in captures or [] if c is not None]
        label = f"pattern #{pattern_id} {what!r}"
        if captures:
            label += f" with {', '.join(map(str, captures))}"
        out[job_id] = Signature(f"pattern:{pattern_id}:{captures!r}", label)
    missing = [i for i in ids if i not in out]
    if missing:
        lines = (
            FailureAnalysis.objects.filter(IdIn("job_id", missing), generic=False)
            .exclude(signature="")
            .order_by("job_id", "log__step__index", "log__step__container")
            .values_list("job_id", "signature")
        )
        for job_id, line in lines:
            out.setdefault(job_id, Signature(f"line:{line}", f"failure line {line!r}"))
        missing = [i for i in ids if i not in out]
    if missing:
        steps = (
            Step.objects.filter(IdIn("job_id", missing))
            .filter(Q(status__in=FAILED_STEP_STATES) | Q(timed_out=True))
            .order_by("job_id", "index", "container")
            .values_list("job_id", "name")
        )
        for job_id, name in steps:
            out.setdefault(job_id, Signature(f"step:{name}", f"step {name!r} failed"))
        for job_id, conclusion in JobAttempt.objects.filter(
            IdIn("id", [i for i in missing if i not in out])
        ).values_list("pk", "conclusion"):
            out[job_id] = Signature(f"conclusion:{conclusion}", f"the job ended {conclusion}")
    return out
