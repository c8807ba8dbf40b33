"""Triage state: per-commit summaries and their cool-off."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from citriage.ci.models import Repository


class PendingSummary(models.Model):
    """A commit whose verdicts are stale, or whose report to GitHub is owed (see
    citriage.triage.refresh). One row per commit; `next_at` is when a worker should next
    summarize it (null: nothing owed), `task` the summarize task queued for it."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    last_event_at = models.DateTimeField(default=timezone.now)
    events = models.PositiveIntegerField(default=0)
    refresh_at = models.DateTimeField(null=True, blank=True, help_text="verdicts stale from")
    report_at = models.DateTimeField(
        null=True, blank=True, help_text="report owed from (the cool-off's end)"
    )
    next_at = models.DateTimeField(null=True, blank=True)
    task = models.UUIDField(null=True, blank=True)
    summarized_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    report_attempts = models.PositiveIntegerField(default=0, help_text="failed in a row")
    report_error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_pending_summary")]
        indexes = [
            models.Index(
                fields=["next_at"],
                condition=models.Q(next_at__isnull=False),
                name="summary_due_idx",
            )
        ]


def breakage_categories() -> list[str]:
    """The categories people may file a breakage under (CITRIAGE_BREAKAGE_CATEGORIES)."""
    return list(settings.BREAKAGE_CATEGORIES) or ["code"]


class Breakage(models.Model):
    """Some jobs failing on the default branch from a first bad commit up to (not
    including) a first fixed commit: [cause, fix). An empty job list means every job."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="breakages")
    cause = models.ForeignKey(
        "ci.Commit",
        on_delete=models.CASCADE,
        related_name="breakages_caused",
        help_text="the first bad commit",
    )
    fix = models.ForeignKey(
        "ci.Commit",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="breakages_fixed",
        help_text="the first fixed commit (not broken any more); empty while ongoing",
    )
    jobs = models.JSONField(default=list, blank=True, help_text="names of the affected jobs")
    description = models.TextField(blank=True)
    category = models.CharField(max_length=40, default="code")
    issue_url = models.URLField(
        max_length=500, blank=True, help_text="the issue tracking it (GitHub, Jira, ...)"
    )
    reporter = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["repository", "-created"])]

    def __str__(self) -> str:
        end = self.fix.sha[:8] if self.fix else "ongoing"
        jobs = ", ".join(self.jobs) or "all jobs"
        return f"#{self.pk} {jobs} broken {self.cause.sha[:8]}..{end}"

    @property
    def ongoing(self) -> bool:
        return self.fix_id is None

    def covers_job(self, name: str) -> bool:
        return not self.jobs or name in self.jobs

    def clean(self) -> None:
        """The fix must come after the cause on the default branch, and both be on it."""
        errors: dict[str, str] = {}
        cause = self.cause if self.cause_id else None
        if cause is not None and cause.branch_position is None:
            errors["cause"] = f"{cause.sha[:10]} is not on the default branch"
        if self.fix_id is not None and self.fix is not None:
            if self.fix.branch_position is None:
                errors["fix"] = f"{self.fix.sha[:10]} is not on the default branch"
            elif (
                cause is not None
                and cause.branch_position is not None
                and self.fix.branch_position <= cause.branch_position
            ):
                errors["fix"] = (
                    f"the fix {self.fix.sha[:10]} must come after the first bad commit "
                    f"{cause.sha[:10]} on the default branch"
                )
        if self.category not in breakage_categories():
            errors["category"] = (
                f"{self.category!r} is not one of: {', '.join(breakage_categories())}"
            )
        if errors:
            raise ValidationError(errors)


class BreakageEdit(models.Model):
    """One change to a breakage: who, when, and each field's old and new value."""

    breakage = models.ForeignKey(Breakage, on_delete=models.CASCADE, related_name="history")
    editor = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=40, help_text="created, edited, revert closes it, ...")
    changes = models.JSONField(default=dict, help_text="field -> [old, new]")

    class Meta:
        ordering = ["at", "id"]


class MergeBase(models.Model):
    """Cache: the newest default-branch commit a commit descends from, as computed while
    the branch's head was `branch_head` (any change of the head invalidates it)."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    branch_head = models.CharField(max_length=40)
    base = models.ForeignKey("ci.Commit", on_delete=models.CASCADE, null=True, related_name="+")
    source = models.CharField(max_length=40, help_text="how it was computed")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_merge_base")]


class Verdict(models.TextChoices):
    FLAKY_PATTERN = "flaky_pattern", "flaky (pattern)"
    FLAKY_CONFIRMED = "flaky_confirmed", "flaky (passed on rerun)"
    FLAKY_TEST = "flaky_test", "flaky (test)"
    FLAKY_MARKED = "flaky_marked", "flaky (marked)"
    KNOWN_PROBLEM = "known_problem", "known problem"
    INFRA = "infra", "infrastructure"
    TIMEOUT = "timeout", "timeout"
    NO_LOG = "no_log", "no log"
    UNMATCHED = "unmatched", "unmatched"
    NEW = "new", "new"
    PENDING = "pending", "logs pending"


# Every verdict that says "flaky", whatever the evidence.
FLAKY_VERDICTS = (
    Verdict.FLAKY_PATTERN,
    Verdict.FLAKY_CONFIRMED,
    Verdict.FLAKY_MARKED,
    Verdict.FLAKY_TEST,
)


class Classification(models.TextChoices):
    """What a person said one failure was, without writing a pattern (as in PyTorch HUD)."""

    FLAKY = "flaky", "flaky"
    INFRA = "infra", "infrastructure"
    BROKEN_TRUNK = "broken_trunk", "broken trunk"
    OTHER = "other", "other"


class FailureClassification(models.Model):
    """A person's word on one failed job attempt; an input of its verdict
    (citriage.triage.verdicts), shown with who said it and when."""

    job = models.OneToOneField(
        "ci.JobAttempt", on_delete=models.CASCADE, primary_key=True, related_name="classification"
    )
    kind = models.CharField(max_length=20, choices=Classification.choices)
    note = models.TextField(blank=True)
    by = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(default=timezone.now)

    def describe(self) -> str:
        note = f": {self.note}" if self.note else ""
        when = self.at.strftime("%Y-%m-%d %H:%M")
        return f"classified as {self.get_kind_display()} by {self.by or 'someone'} at {when}{note}"


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
    # The default-branch commit that fixed the covering breakage (annotated or inferred),
    # when it is fixed: the pull request picks the fix up by rebasing.
    fixed_on_branch = models.CharField(max_length=40, blank=True)
    superseded = models.BooleanField(
        default=False, help_text="a later attempt of the same job on the commit exists"
    )
    # The job's failing tests (up to 50), each {"id", "name", "outcome", "group", "since",
    # "message", "state", "rate", "elsewhere"}; group: new, known (failing on the default
    # branch), flaky, quarantined, failed_before (see citriage.triage.verdicts).
    tests = models.JSONField(default=list, blank=True)
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
    # The jobs the commit's CI configuration expects (see citriage.triage.expected):
    # how many count, how many reported, how many are still awaited, which are missing,
    # workflows that failed to start
    expected_jobs = models.PositiveIntegerField(default=0)
    reported_jobs = models.PositiveIntegerField(default=0)
    waiting_jobs = models.PositiveIntegerField(default=0)
    missing_jobs = models.JSONField(default=list, blank=True)
    not_started = models.JSONField(default=list, blank=True)
    all_excused = models.BooleanField(default=True)
    # A hash of every verdict of the commit and their reasons: what a report shows.
    digest = models.CharField(max_length=64, blank=True)
    changed_at = models.DateTimeField(
        null=True, blank=True, help_text="when the digest last changed"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_commit_summary")]
