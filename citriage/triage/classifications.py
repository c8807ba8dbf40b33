"""People classifying one failure (flaky, infra, broken trunk, other) without writing a
pattern. The classification is an input of the verdict: changing it marks the commit
stale (citriage.triage.refresh), and the commit's summarize task recomputes it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from citriage.ci.models import JobAttempt
from citriage.triage import refresh
from citriage.triage.models import Classification, FailureClassification

MAX_NOTE = 2000


def classify_failure(
    job: JobAttempt, kind: str, *, note: str = "", by: str = ""
) -> FailureClassification:
    """Record (or replace) what a person says this failure is."""
    if not job.failed:
        raise ValidationError(f"{job.name} attempt {job.attempt} did not fail")
    if kind not in Classification.values:
        choices = ", ".join(Classification.values)
        raise ValidationError(f"{kind!r} is not a classification: use one of {choices}")
    with transaction.atomic():
        row, _ = FailureClassification.objects.update_or_create(
            job=job,
            defaults={
                "kind": kind,
                "note": note.strip()[:MAX_NOTE],
                "by": by,
                "at": timezone.now(),
            },
        )
        refresh.jobs_changed([job])
    return row


def clear_classification(job: JobAttempt) -> bool:
    """Forget the classification (the rules decide again); whether there was one."""
    with transaction.atomic():
        deleted, _ = FailureClassification.objects.filter(job=job).delete()
        if deleted:
            refresh.jobs_changed([job])
    return bool(deleted)
