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

    guid = models.CharField(max_length=100, unique=True)
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

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.event} {self.guid}"


class RejectedDelivery(models.Model):
    """A request to the webhook endpoint that was refused (kept for the System page)."""

    guid = models.CharField(max_length=100, blank=True)
    event = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=300)
    remote_addr = models.CharField(max_length=100, blank=True)
    body_bytes = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name_plural = "rejected deliveries"
