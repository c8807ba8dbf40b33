"""What citriage forgets, and when: the daily retention sweep.

- raw webhook deliveries, once processed (`CITRIAGE_RETAIN_DELIVERIES_DAYS`, 14), and
  the counted rejections of the webhook endpoint (the same);
- finished task results, the scheduler's periodic-run rows and commit rows with nothing
  owed any more (`CITRIAGE_RETAIN_TASKS_DAYS`, 7); GitHub answers kept for conditional
  requests that nobody asked for again in 2 days, and the budgets of GitHub identities
  not heard of in 2 days;
- the stored logs of jobs that finished more than `CITRIAGE_RETAIN_LOGS_DAYS` (180) ago,
  with their matches and failure lines, the object in the log store too. Kept whatever
  their age: the logs an open breakage refers to (the failed jobs on its first bad
  commit, and the failures whose verdict cites it), a pattern's examples (the newest
  `CITRIAGE_RETAIN_PATTERN_EXAMPLES` logs it matched, 10) and promoted matches. A job
  whose logs are all gone is marked "expired"; its verdict stays as it was.

Everything goes in small batches, each its own transaction, within a time budget (a
pass that runs out of time is continued by the next one). Nothing that is owed (a
pending delivery, a task waiting or running, a summary or report owed) is touched.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage import logstore
from citriage.ci.models import CachedResponse, JobAttempt, LogState, RateBudget, StoredLog
from citriage.github.models import Delivery, DeliveryStatus, RejectedDelivery
from citriage.ops.models import PeriodicRun
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch
from citriage.triage.models import Breakage, JobVerdict, PendingSummary

logger = logging.getLogger(__name__)
BATCH = 1000  # rows per transaction
LOG_BATCH = 100  # stored logs per transaction (each with its matches)
UNUSED_ANSWER_DAYS = 2


@dataclass
class Report:
    removed: Counter[str] = field(default_factory=Counter)
    store_errors: int = 0
    finished: bool = True  # False: the time budget ran out; the rest is for the next pass

    def __str__(self) -> str:
        parts = [f"{what} {n}" for what, n in self.removed.items() if n]
        if self.store_errors:
            parts.append(f"{self.store_errors} log object(s) could not be deleted")
        if not self.finished:
            parts.append("more left for the next pass")
        return "removed: " + (", ".join(parts) if parts else "nothing")


def _days(n: float, now: datetime) -> datetime:
    return now - timedelta(days=n)


def expired(now: datetime | None = None) -> dict[str, QuerySet[models.Model]]:
    """Rows past their time, by kind (stored logs apart: see `expired_logs`)."""
    now = now or timezone.now()
    deliveries = _days(settings.RETAIN_DELIVERIES_DAYS, now)
    tasks = _days(settings.RETAIN_TASKS_DAYS, now)
    finished = [TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]
    kinds: dict[str, QuerySet[models.Model]] = {
        "deliveries": Delivery.objects.exclude(status=DeliveryStatus.PENDING).filter(
            received_at__lt=deliveries
        ),
        "rejected deliveries": RejectedDelivery.objects.filter(last_at__lt=deliveries),
        "task results": DBTaskResult.objects.filter(status__in=finished, finished_at__lt=tasks),
        "periodic runs": PeriodicRun.objects.filter(ran_at__lt=tasks),
        "settled summaries": PendingSummary.objects.filter(
            next_at=None, task=None, refresh_at=None, report_at=None, last_event_at__lt=tasks
        ),
        "kept GitHub answers": CachedResponse.objects.filter(
            used_at__lt=_days(UNUSED_ANSWER_DAYS, now)
        ),
        # budgets of identities not heard of for days (a person's token at a past login)
        "GitHub budgets": RateBudget.objects.filter(updated__lt=_days(UNUSED_ANSWER_DAYS, now)),
    }
    return kinds


def kept_logs() -> set[int]:
    """Logs kept whatever their age: what open breakages refer to, the newest examples of
    every pattern, promoted matches."""
    kept: set[int] = set(PromotedMatch.objects.values_list("log_id", flat=True))
    for breakage in Breakage.objects.filter(fix=None).select_related("cause"):
        on_cause = StoredLog.objects.filter(
            job__repository_id=breakage.repository_id, job__sha=breakage.cause.sha
        )
        if breakage.jobs:
            on_cause = on_cause.filter(job__name__in=breakage.jobs)
        kept.update(on_cause.values_list("pk", flat=True))
    cited = JobVerdict.objects.filter(breakage__fix=None, breakage__isnull=False)
    kept.update(StoredLog.objects.filter(job__verdict__in=cited).values_list("pk", flat=True))
    examples = settings.RETAIN_PATTERN_EXAMPLES
    if examples:
        for pattern_id in Pattern.objects.values_list("pk", flat=True):
            newest = (
                Match.objects.filter(pattern_id=pattern_id)
                .values("log_id")
                .annotate(newest=Max("job_id"))
                .order_by("-newest")
                .values_list("log_id", flat=True)[:examples]
            )
            kept.update(newest)
    return kept


def expired_logs(now: datetime | None = None) -> QuerySet[StoredLog]:
    """Stored logs of jobs that finished (or, unfinished, were recorded) too long ago."""
    cutoff = _days(settings.RETAIN_LOGS_DAYS, now or timezone.now())
    return StoredLog.objects.filter(
        Q(job__finished_at__lt=cutoff) | Q(job__finished_at=None, job__created__lt=cutoff)
    )


def _batches(logs: QuerySet[StoredLog], kept: set[int]) -> Iterator[list[int]]:
    """Ids of the logs to remove, a batch at a time, in id order."""
    after = 0
    while True:
        ids = list(
            logs.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:LOG_BATCH]
        )
        if not ids:
            return
        after = ids[-1]
        chosen = [pk for pk in ids if pk not in kept]
        if chosen:
            yield chosen


def remove_logs(ids: list[int], report: Report) -> None:
    """Remove these stored logs: rows, matches and failure lines in one transaction, then
    the objects in the log store (a failure there leaves an orphan object, never a row
    pointing at nothing)."""
    with transaction.atomic():
        rows = list(StoredLog.objects.filter(pk__in=ids).values_list("storage_key", "job_id"))
        BestMatch.objects.filter(match__log_id__in=ids).delete()
        report.removed["matches"] += Match.objects.filter(log_id__in=ids).delete()[0]
        report.removed["stored logs"] += (
            StoredLog.objects.filter(pk__in=ids).delete()[1].get(StoredLog._meta.label, 0)
        )
        jobs = {job_id for _key, job_id in rows}
        JobAttempt.objects.filter(pk__in=jobs).exclude(logs__isnull=False).update(
            log_state=LogState.EXPIRED,
            log_error=f"the logs were removed after {settings.RETAIN_LOGS_DAYS} days",
        )
    store = logstore.log_store()
    for key, _job in rows:
        try:
            store.delete(key)
        except Exception:  # the row is gone; an orphan object is only wasted space
            logger.exception("could not delete the stored log %s", key)
            report.store_errors += 1


def run(*, budget: float = float("inf"), now: datetime | None = None) -> Report:
    """Remove what is past its time, in batches, for at most `budget` seconds."""
    deadline = time.monotonic() + budget
    report = Report()
    for what, rows in expired(now).items():
        while True:
            if time.monotonic() > deadline:
                report.finished = False
                return report
            ids = list(rows.order_by().values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            with transaction.atomic():
                report.removed[what] += rows.model._default_manager.filter(pk__in=ids).delete()[0]
    for ids in _batches(expired_logs(now), kept_logs()):
        if time.monotonic() > deadline:
            report.finished = False
            return report
        remove_logs(ids, report)
    logger.info("retention: %s", report)
    return report


def preview(now: datetime | None = None) -> dict[str, int]:
    """What a pass would remove now, by kind (`citriage retention --dry-run`)."""
    counts = {what: rows.count() for what, rows in expired(now).items()}
    kept = kept_logs()
    logs = [pk for batch in _batches(expired_logs(now), kept) for pk in batch]
    counts["stored logs"] = len(logs)
    counts["matches"] = sum(
        Match.objects.filter(log_id__in=logs[i : i + BATCH]).count()
        for i in range(0, len(logs), BATCH)
    )
    counts["stored logs kept (open breakages, pattern examples, promoted)"] = len(
        set(expired_logs(now).values_list("pk", flat=True)) & kept
    )
    return counts
