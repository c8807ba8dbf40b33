"""The likely failure lines of every stored (failed) log, and the signature of the best one."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from citriage.ci.models import JobAttempt, Step, StoredLog


class FailureAnalysis(models.Model):
    """What the failure-line finder says about one stored log: a second opinion that
    does not depend on the pattern library (kept also when a pattern matched)."""

    log = models.OneToOneField(StoredLog, on_delete=models.CASCADE, related_name="analysis")
    job = models.ForeignKey(JobAttempt, on_delete=models.CASCADE, related_name="analyses")
    # The top candidates, best first: [{"line", "text", "score", "reason"}].
    candidates = models.JSONField(default=list, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True, help_text="the best candidate")
    text = models.TextField(blank=True, help_text="the best candidate's line (cut)")
    signature = models.CharField(max_length=300, blank=True, db_index=True)
    generic = models.BooleanField(
        default=False, help_text="the signature says nothing specific (never grouped as evidence)"
    )
    # The step of a passing run whose log was the baseline (citriage.ci.passing); the step
    # outlives its log, which retention removes.
    baseline = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True, help_text="why the log could not be analysed")
    analysed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "failure analyses"
        indexes = [models.Index(fields=["signature", "job"])]

    def __str__(self) -> str:
        return f"{self.signature or '(nothing)'} in {self.log_id}"
