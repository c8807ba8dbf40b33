"""A verdict that changes after the commit was reported (a new pattern reaching history)
updates the GitHub report of recent commits, and leaves old commits' reports alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from citriage.ci.models import JobAttempt
from citriage.patterns import library, scanning
from citriage.triage.models import JobVerdict, PendingSummary, Verdict
from tests import factories

pytestmark = pytest.mark.django_db


def test_new_flaky_pattern_refreshes_recent_reports_only(log_store: object) -> None:
    repo = factories.repository()
    recent = factories.job(repo, name="unit", sha="1" * 40)
    old = factories.job(repo, name="unit", sha="2" * 40)
    JobAttempt.objects.filter(pk=recent.pk).update(finished_at=timezone.now() - timedelta(hours=3))
    JobAttempt.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=40))
    for attempt in (recent, old):
        factories.failed_log(
            attempt, "connecting to the cache\nECONNRESET while fetching artifact\n"
        )
    scanning.scan_backlog(time_budget=float("inf"))
    factories.settle(report=True)  # both commits reported
    assert set(JobVerdict.objects.values_list("verdict", flat=True)) == {Verdict.UNMATCHED}
    assert not PendingSummary.objects.filter(next_at__isnull=False).exists()

    library.create_pattern("ECONNRESET while fetching", tags=["flaky"], specificity=5)
    scanning.scan_backlog(time_budget=float("inf"))
    factories.settle()

    assert set(JobVerdict.objects.values_list("verdict", flat=True)) == {Verdict.FLAKY_PATTERN}
    owed = set(PendingSummary.objects.filter(report_at__isnull=False).values_list("sha", flat=True))
    assert owed == {recent.sha}  # the old commit's check run is not rewritten
