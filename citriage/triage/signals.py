"""Verdicts follow their inputs: job attempts saved, best matches changed, breakages edited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from citriage.ci.models import JobAttempt
from citriage.patterns import signals as pattern_signals
from citriage.triage.models import Breakage

Span = tuple[int | None, int | None, Sequence[str]]


def _job_saved(sender: type[JobAttempt], instance: JobAttempt, raw: bool = False, **_: Any) -> None:
    if not raw:
        from citriage.triage import breakages, verdicts

        verdicts.job_changed(instance)
        if instance.status == "completed" and instance.commit_id is not None:
            # A new result on the default branch can grow or end an inferred breakage
            # that pull requests based there rely on.
            breakages.branch_jobs_changed([instance])


def _best_matches_changed(job_ids: list[int]) -> None:
    from citriage.triage import breakages, verdicts

    verdicts.jobs_changed(job_ids)
    breakages.branch_jobs_changed(
        JobAttempt.objects.filter(
            pk__in=job_ids, commit__branch_position__isnull=False
        ).select_related("commit", "repository")
    )


def _span(breakage: Breakage) -> Span:
    cause = breakage.cause.branch_position if breakage.cause_id else None
    fix = breakage.fix.branch_position if breakage.fix_id and breakage.fix else None
    return cause, (None if fix is None else fix - 1), list(breakage.jobs)


def _breakage_before_save(sender: type[Breakage], instance: Breakage, **_: Any) -> None:
    old = Breakage.objects.filter(pk=instance.pk).select_related("cause", "fix").first()
    instance._old_span = _span(old) if old else None  # type: ignore[attr-defined]


def _breakage_saved(
    sender: type[Breakage], instance: Breakage, raw: bool = False, **_: Any
) -> None:
    if raw:
        return
    spans = [_span(instance)]
    old = getattr(instance, "_old_span", None)
    if old is not None:
        spans.append(old)
    from citriage.triage import breakages

    breakages.breakage_changed(instance.repository, spans, instance.pk)


def _breakage_before_delete(sender: type[Breakage], instance: Breakage, **_: Any) -> None:
    # The verdicts citing it lose the link on delete: remember them now.
    instance._citing = list(  # type: ignore[attr-defined]
        JobAttempt.objects.filter(verdict__breakage=instance).values_list("pk", flat=True)
    )


def _breakage_deleted(sender: type[Breakage], instance: Breakage, **_: Any) -> None:
    from citriage.triage import breakages

    repository = instance.repository
    span = _span(instance)
    citing = getattr(instance, "_citing", [])

    # In the same transaction as the change: the verdicts roll back with it.
    breakages.breakage_changed(repository, [span])
    breakages.refresh_verdicts(
        JobAttempt.objects.filter(pk__in=citing).select_related("repository")
    )


def connect() -> None:
    post_save.connect(_job_saved, sender=JobAttempt, dispatch_uid="triage-job-saved")
    pattern_signals.on_best_matches_changed(_best_matches_changed)
    pre_save.connect(_breakage_before_save, sender=Breakage, dispatch_uid="triage-breakage-pre")
    post_save.connect(_breakage_saved, sender=Breakage, dispatch_uid="triage-breakage-saved")
    pre_delete.connect(_breakage_before_delete, sender=Breakage, dispatch_uid="triage-bk-pre-del")
    post_delete.connect(_breakage_deleted, sender=Breakage, dispatch_uid="triage-breakage-del")
