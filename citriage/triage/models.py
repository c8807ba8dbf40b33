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


class BreakageCategory(models.TextChoices):
    CODE = "code"
    INFRA = "infra"
    EXTERNAL = "external dependency"
    FLAKY_TEST = "flaky test"
    OTHER = "other"


class Breakage(models.Model):
    """Some jobs failing on the default branch from a first bad commit up to (not
    including) a first fixed commit: [cause, fix)."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="breakages")
    cause = models.ForeignKey(
        "ci.Commit", on_delete=models.CASCADE, related_name="breakages_caused"
    )
    fix = models.ForeignKey(
        "ci.Commit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="breakages_fixed",
    )
    jobs = models.JSONField(default=list, help_text="names of the affected jobs")
    description = models.TextField(blank=True)
    category = models.CharField(max_length=40, default=BreakageCategory.CODE)
    reporter = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        end = self.fix.sha[:8] if self.fix else "ongoing"
        return f"{', '.join(self.jobs)} broken {self.cause.sha[:8]}..{end}"

    @property
    def ongoing(self) -> bool:
        return self.fix_id is None


class Verdict(models.TextChoices):
    FLAKY_PATTERN = "flaky_pattern", "flaky (pattern)"
    FLAKY_CONFIRMED = "flaky_confirmed", "flaky (passed on rerun)"
    KNOWN_PROBLEM = "known_problem", "known problem"
    INFRA = "infra", "infrastructure"
    TIMEOUT = "timeout", "timeout"
    NO_LOG = "no_log", "no log"
    UNMATCHED = "unmatched", "unmatched"
    NEW = "new", "new"
    PENDING = "pending", "logs pending"


class JobVerdict(models.Model):
    """What a failed job attempt means, with the reasons; recomputed when inputs change."""

    job = models.OneToOneField(
        "ci.JobAttempt", on_delete=models.CASCADE, primary_key=True, related_name="verdict"
    )
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40, db_index=True)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    excused = models.BooleanField(help_text="not caused by the change")
    reasons = models.JSONField(default=list)
    pattern = models.ForeignKey(
        "patterns.Pattern", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    breakage = models.ForeignKey(Breakage, on_delete=models.SET_NULL, null=True, blank=True)
    superseded = models.BooleanField(
        default=False, help_text="a later attempt of the same job on the commit exists"
    )
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["repository", "sha"]),
            models.Index(fields=["verdict", "-computed_at"]),
        ]


class CommitSummary(models.Model):
    """Counts of a commit's failures by verdict, and whether all are excused."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    counts = models.JSONField(default=dict)
    failures = models.PositiveIntegerField(default=0)
    excused = models.PositiveIntegerField(default=0)
    pending = models.PositiveIntegerField(default=0)
    foreign_failures = models.PositiveIntegerField(default=0)
    all_excused = models.BooleanField(default=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_commit_summary")]
