"""Flaky tests: each test's health (healthy, flaky, broken) with the evidence that says so,
its changes over time, quarantines, and the per-repository check owed.

A test gets a health row once it failed (or passed on retry) in the monitors' window;
tests that never failed have no row and are healthy.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from citriage.ci.models import Repository
from citriage.testresults.models import Test


class State(models.TextChoices):
    HEALTHY = "healthy"
    FLAKY = "flaky"
    BROKEN = "broken"


class TestHealth(models.Model):
    """A test's state as the monitors last judged it, with the evidence."""

    __test__ = False

    test = models.OneToOneField(
        Test, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.HEALTHY)
    since = models.DateTimeField(default=timezone.now, help_text="in this state since")
    # broken: the oldest default-branch commit of the failing streak that reaches the head
    broken_since = models.CharField(max_length=40, blank=True)
    # Each monitor's finding: [{"monitor", "count", "text", "last"}] (see flaky.monitors).
    evidence = models.JSONField(default=list, blank=True)
    last_evidence_at = models.DateTimeField(null=True, blank=True)
    # The default branch over the window: runs of the test, failing runs (not infra).
    branch_runs = models.PositiveIntegerField(default=0)
    branch_failures = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["repository", "state"])]

    @property
    def rate(self) -> float | None:
        return self.branch_failures / self.branch_runs if self.branch_runs else None


class HealthChange(models.Model):
    """A test changed state (the trend of the flaky and broken lists)."""

    test = models.ForeignKey(Test, on_delete=models.CASCADE, related_name="health_changes")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    old = models.CharField(max_length=10, choices=State.choices)
    new = models.CharField(max_length=10, choices=State.choices)
    evidence = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["repository", "-at"])]


class QuarantineSource(models.TextChoices):
    MANUAL = "manual"
    AUTOMATIC = "auto", "automatic (flaky for long)"
    ISSUE = "issue", "GitHub issue"


class Quarantine(models.Model):
    """A test's failures are excused from `created` until it ends or expires. Ended
    quarantines are kept: they are the test's quarantine history."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="+")
    test = models.ForeignKey(Test, on_delete=models.CASCADE, related_name="quarantines")
    source = models.CharField(
        max_length=10, choices=QuarantineSource.choices, default=QuarantineSource.MANUAL
    )
    reason = models.TextField(blank=True)
    created_by = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(max_length=100, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)
    issue_url = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["repository", "ended_at"])]

    def active_at(self, when: object) -> bool:
        return self.ended_at is None and (self.expires_at is None or self.expires_at > when)  # type: ignore[operator]

    @staticmethod
    def active_q(now: object) -> Q:
        return Q(ended_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class HealthCheck(models.Model):
    """The monitors owe a repository a check (citriage.queueing): new test results came in,
    or the periodic sweep asked (recovery periods and quarantines expire with time)."""

    repository = models.OneToOneField(
        Repository, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    next_at = models.DateTimeField(null=True, blank=True)
    task = models.UUIDField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_at"], condition=Q(next_at__isnull=False), name="health_check_due_idx"
            )
        ]
