"""Verdicts follow their inputs: job attempts saved, best matches changed."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from citriage.ci.models import JobAttempt
from citriage.patterns import signals as pattern_signals


def _job_saved(sender: type[JobAttempt], instance: JobAttempt, raw: bool = False, **_: Any) -> None:
    if not raw:
        from citriage.triage import verdicts

        verdicts.job_changed(instance)


def _best_matches_changed(job_ids: list[int]) -> None:
    from citriage.triage import verdicts

    verdicts.jobs_changed(job_ids)


def connect() -> None:
    post_save.connect(_job_saved, sender=JobAttempt, dispatch_uid="triage-job-saved")
    pattern_signals.on_best_matches_changed(_best_matches_changed)
