"""Triage state: per-commit summaries and their cool-off."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from citriage.ci.models import Repository


class PendingSummary(models.Model):
    """A commit whose summary must be (re)computed once events for it calm down.

    Bursts of events push `due_at` back; `queued` says a summarize task is in the
    queue, so there is never more than one queued per commit.
    """

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    due_at = models.DateTimeField()
    queued = models.BooleanField(default=False)
    last_event_at = models.DateTimeField(default=timezone.now)
    summarized_at = models.DateTimeField(null=True, blank=True)
    events = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_pending_summary")]
