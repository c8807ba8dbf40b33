"""Quarantine: a test's failures excused for a while, by a person (who, when, why, until
when) or automatically (flaky for long; see monitors.quarantine_upkeep). Every change
tells triage, whose verdicts that name the test go stale."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from citriage.ci.models import Repository
from citriage.flaky import signals
from citriage.flaky.models import Quarantine, QuarantineSource
from citriage.testresults.models import Test


class QuarantineError(ValueError):
    pass


def _changed(repository: Repository, test_ids: list[int]) -> None:
    signals.test_health_changed.send(sender=Repository, repository=repository, test_ids=test_ids)


def add(
    test: Test,
    *,
    by: str,
    reason: str,
    expires_at: datetime | None = None,
    source: str = QuarantineSource.MANUAL,
    issue_url: str = "",
) -> Quarantine:
    """Quarantine a test (refused when it is quarantined already, or the expiry is past)."""
    now = timezone.now()
    if not reason.strip():
        raise QuarantineError("say why the test is quarantined")
    if expires_at is not None and expires_at <= now:
        raise QuarantineError("the expiry must be in the future")
    with transaction.atomic():
        if active(test.repository, [test.pk], now=now):
            raise QuarantineError(f"{test.label} is quarantined already")
        row = Quarantine.objects.create(
            repository=test.repository,
            test=test,
            source=source,
            reason=reason.strip()[:2000],
            created_by=by[:100],
            created=now,
            expires_at=expires_at,
            issue_url=issue_url,
        )
        _changed(test.repository, [test.pk])
    return row


def end(row: Quarantine, *, by: str, reason: str = "ended") -> None:
    """End a quarantine now (an ended or expired one stays as it is)."""
    now = timezone.now()
    if not row.active_at(now):
        return
    with transaction.atomic():
        row.ended_at, row.ended_by, row.end_reason = now, by[:100], reason[:200]
        row.save(update_fields=["ended_at", "ended_by", "end_reason"])
        _changed(row.repository, [row.test_id])


def active(
    repository: Repository | int,
    test_ids: Iterable[int] | None = None,
    *,
    now: datetime | None = None,
) -> dict[int, Quarantine]:
    """The active quarantine of each quarantined test (of `test_ids`, or all)."""
    rows = Quarantine.objects.filter(
        Quarantine.active_q(now or timezone.now()), repository=repository
    )
    if test_ids is not None:
        rows = rows.filter(test_id__in=list(test_ids))
    return {row.test_id: row for row in rows.select_related("test").order_by("created")}
