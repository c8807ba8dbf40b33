"""Webhook deliveries from GitHub, kept as received."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class Delivery(models.Model):
    """An accepted delivery (valid signature). Processing happens in a task."""

    guid = models.CharField(max_length=100)
    event = models.CharField(max_length=100)
    action = models.CharField(max_length=100, blank=True)
    repository = models.CharField(max_length=201, blank=True, help_text="owner/name")
    payload = models.TextField(help_text="the raw body")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    note = models.TextField(blank=True, help_text="why it was ignored, or the error")
    processed_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="when a worker queued its processing task"
    )
    # A database default: deliveries are stored with a hand-written INSERT (deliveries.py).
    attempts = models.PositiveIntegerField(db_default=0, help_text="processing tries")

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "received_at"])]
        # A constraint rather than unique=True: on PostgreSQL that would add a second
        # (LIKE) index on the column, one more to update on every delivery.
        constraints = [models.UniqueConstraint(fields=["guid"], name="delivery_guid_unique")]

    def __str__(self) -> str:
        return f"{self.event} {self.guid}"


class RejectedDelivery(models.Model):
    """Requests to the webhook endpoint refused for one reason, from one address, in one
    minute: counted, with the first one's details as a sample (a flood of unsigned
    requests adds a row a minute, not a row a request)."""

    guid = models.CharField(max_length=100, blank=True)
    event = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=300)
    remote_addr = models.CharField(max_length=100, blank=True)
    body_bytes = models.BigIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    minute = models.DateTimeField(null=True, help_text="the minute they arrived in")
    count = models.PositiveIntegerField(default=1)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "rejected deliveries"
        constraints = [
            models.UniqueConstraint(
                "reason", "remote_addr", "minute", name="rejected_delivery_per_minute"
            )
        ]


class PostedCheck(models.Model):
    """citriage's check run (or commit status) on a commit, as last posted."""

    class Kind(models.TextChoices):
        CHECK_RUN = "check_run"
        STATUS = "status"

    repository = models.ForeignKey("ci.Repository", on_delete=models.CASCADE)
    sha = models.CharField(max_length=40)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    external_id = models.BigIntegerField(null=True, blank=True, help_text="the check run id")
    conclusion = models.CharField(max_length=30, blank=True)
    title = models.CharField(max_length=300, blank=True)
    body_hash = models.CharField(max_length=64)
    posted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint("repository", "sha", name="unique_posted_check")]


class PostedComment(models.Model):
    """citriage's one comment on a pull request, as last posted."""

    repository = models.ForeignKey("ci.Repository", on_delete=models.CASCADE)
    pull_number = models.PositiveIntegerField()
    comment_id = models.BigIntegerField()
    head_sha = models.CharField(max_length=40)
    body_hash = models.CharField(max_length=64)
    body = models.TextField()
    posted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint("repository", "pull_number", name="unique_posted_comment")
        ]


class CommentOptOut(models.Model):
    """A GitHub user who asked citriage not to comment on their pull requests."""

    login = models.CharField(max_length=100, unique=True)
    source = models.CharField(max_length=20, default="comment")
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.login
