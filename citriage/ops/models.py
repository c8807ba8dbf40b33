"""Running citriage: worker heartbeats and the scheduler's claimed time slots."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class WorkerHeartbeat(models.Model):
    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    current_task = models.CharField(max_length=300, blank=True)
    stopped = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class PeriodicRun(models.Model):
    """A periodic job run for one time slot; unique, so two schedulers cannot both run it."""

    name = models.CharField(max_length=100)
    slot = models.BigIntegerField(help_text="start of the time slot, in seconds since the epoch")
    ran_at = models.DateTimeField(default=timezone.now)
    result = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint("name", "slot", name="unique_periodic_run")]
        indexes = [models.Index(fields=["name", "-slot"])]
