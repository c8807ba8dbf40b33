"""How the patterns app hears of what it must act on: logs stored (ci tells it; see
citriage.ci.signals), and a migrated database (the default library is installed)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_migrate

from citriage.ci import signals as ci_signals
from citriage.ci.models import StoredLog
from citriage.patterns import library
from citriage.patterns.tasks import scan_logs_task


def _logs_stored(sender: Any, logs: list[StoredLog], **_: Any) -> None:
    """Scan new logs once they are committed (the backlog sweep catches any left behind)."""
    log_ids = [log.pk for log in logs]
    transaction.on_commit(lambda: scan_logs_task.enqueue(log_ids))


def _migrated(sender: AppConfig, **_: Any) -> None:
    """However citriage is started, its database has the default library (installed once:
    edits and deletions by people stay)."""
    if settings.INSTALL_DEFAULT_LIBRARY:
        library.install_default_library()


def connect(app: AppConfig) -> None:
    ci_signals.logs_stored.connect(_logs_stored, dispatch_uid="patterns-logs-stored")
    post_migrate.connect(_migrated, sender=app, dispatch_uid="patterns-default-library")
