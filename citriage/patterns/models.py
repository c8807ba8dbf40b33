"""Patterns, their matches in stored logs, and the best match of every failed job."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from citriage.ci.models import JobAttempt, StoredLog
from citriage.scanner import patterns as scanner_patterns


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PatternQuerySet(models.QuerySet["Pattern"]):
    def active(self) -> PatternQuerySet:
        return self.filter(is_retired=False)


class Pattern(models.Model):
    """A labeled expression. Expression, regex flag, applicable steps and
    lines-from-end never change: changing them means a new pattern that
    supersedes (and retires) this one."""

    IMMUTABLE_FIELDS = ("expression", "is_regex", "applicable_steps", "lines_from_end")

    expression = models.TextField()
    is_regex = models.BooleanField(default=False)
    has_nondeterministic_values = models.BooleanField(default=False)
    description = models.TextField(blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="patterns")
    applicable_steps = models.JSONField(default=list, blank=True)
    specificity = models.IntegerField(default=1)
    lines_from_end = models.PositiveIntegerField(null=True, blank=True)
    is_retired = models.BooleanField(default=False)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Why citriage retired it by itself (it ran out of time on a log); empty when people did.
    retired_reason = models.CharField(max_length=500, blank=True)
    author = models.CharField(max_length=100, blank=True)
    created = models.DateTimeField(default=timezone.now)
    supersedes = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_by"
    )

    objects = PatternQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.expression[:60]}"

    def tag_names(self) -> tuple[str, ...]:
        return tuple(sorted(tag.name for tag in self.tags.all()))

    def to_scanner(self) -> scanner_patterns.Pattern:
        return scanner_patterns.Pattern(
            id=self.pk,
            expression=self.expression,
            is_regex=self.is_regex,
            has_nondeterministic_values=self.has_nondeterministic_values,
            description=self.description,
            tags=self.tag_names(),
            applicable_steps=tuple(self.applicable_steps),
            specificity=self.specificity,
            lines_from_end=self.lines_from_end,
            is_retired=self.is_retired,
            author=self.author,
            created=self.created,
        )


class DefaultPattern(models.Model):
    """A pattern of citriage's default library that was installed here (once: an edit or
    a deletion by people is never undone by a later install)."""

    library_id = models.PositiveIntegerField(unique=True, help_text="its id in the library file")
    pattern_id = models.BigIntegerField(help_text="the id it was given here")
    installed_at = models.DateTimeField(default=timezone.now)


class Match(models.Model):
    """Pattern `pattern` matched line `line` of `log` (first match on that line)."""

    log = models.ForeignKey(StoredLog, on_delete=models.CASCADE, related_name="matches")
    pattern = models.ForeignKey(Pattern, on_delete=models.CASCADE, related_name="matches")
    job = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, related_name="matches")
    line = models.PositiveIntegerField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    captures = models.JSONField(default=list, blank=True)
    text = models.TextField(help_text="the matched line (cut to 2000 characters)")

    class Meta:
        constraints = [models.UniqueConstraint("log", "pattern", "line", name="unique_match")]
        indexes = [
            # The jobs and logs a pattern hits, read from the index alone (pattern pages).
            models.Index(fields=["pattern", "job", "log"], name="match_pattern_job_log_idx"),
            models.Index(fields=["job", "pattern"]),
        ]

    def __str__(self) -> str:
        return f"pattern {self.pattern_id} at line {self.line} of log {self.log_id}"


class PromotedMatch(models.Model):
    """A person chose this match as the explanation of the job's failure.

    Refers to (log, pattern, line) rather than to a Match row, so it survives rescans.
    """

    job = models.OneToOneField(JobAttempt, on_delete=models.CASCADE, related_name="promoted")
    log = models.ForeignKey(StoredLog, on_delete=models.CASCADE)
    pattern = models.ForeignKey(Pattern, on_delete=models.CASCADE)
    line = models.PositiveIntegerField()
    promoted_by = models.CharField(max_length=100, blank=True)
    promoted_at = models.DateTimeField(default=timezone.now)


class BestMatch(models.Model):
    """The best match of a failed job (DESIGN.md §4), kept up to date on every change."""

    job = models.OneToOneField(
        JobAttempt, on_delete=models.CASCADE, primary_key=True, related_name="best"
    )
    match = models.ForeignKey(Match, on_delete=models.CASCADE, related_name="best_for")
    pattern = models.ForeignKey(Pattern, on_delete=models.CASCADE, related_name="best_for")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["pattern", "job"])]


class PatternStats(models.Model):
    """How often a pattern matches, refreshed by a sweep (pages read this, not the
    matches table)."""

    pattern = models.OneToOneField(
        Pattern, on_delete=models.CASCADE, primary_key=True, related_name="stats"
    )
    matched_jobs = models.PositiveIntegerField(default=0)
    best_jobs = models.PositiveIntegerField(default=0, help_text="jobs where it is the best match")
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    weekly = models.JSONField(default=list, help_text="matched jobs per week, oldest first")
    updated = models.DateTimeField(auto_now=True)
