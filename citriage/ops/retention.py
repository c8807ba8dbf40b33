"""What citriage forgets, and when: the daily retention sweep.

- raw webhook deliveries, once processed (`CITRIAGE_RETAIN_DELIVERIES_DAYS`, 14), and
  the counted rejections of the webhook endpoint (the same);
- finished task results, the scheduler's periodic-run rows and settled owed-work rows
  (commit rows, test-result fetches, Actions runs' artifact lists) with nothing owed any
  more (`CITRIAGE_RETAIN_TASKS_DAYS`, 7); GitHub answers kept for conditional requests
  that nobody asked for again in 2 days, and the budgets of GitHub identities not heard
  of in 2 days;
- the stored logs of jobs that finished more than `CITRIAGE_RETAIN_LOGS_DAYS` (180) ago,
  with their matches and failure lines, the object in the log store too. Kept whatever
  their age: the logs an open breakage refers to (the failed jobs on its first bad
  commit, and the failures whose verdict cites it), a pattern's examples (the newest
  `CITRIAGE_RETAIN_PATTERN_EXAMPLES` logs it matched, 10) and promoted matches. A job
  whose logs are all gone is marked "expired"; its verdict stays as it was. The CI
  configurations and expected jobs of commits first seen, and the workflow runs last
  updated, as long ago go too (nothing owed: a configuration being read stays);
- passing logs (baselines of failure lines) that a newer one of the same job and step
  replaced, or kept longer than `CITRIAGE_PASSING_LOG_KEEP_DAYS` (30);
- test results (a job's test run, its reports and results) of jobs that finished more
  than `CITRIAGE_RETAIN_TEST_RESULTS_DAYS` (180) ago, then the test sets no run uses;
  flaky-test history as old (state changes but each test's newest, ended quarantines).
  Kept: the runs of jobs an open breakage refers to, and every run holding a result of
  a test now flaky, broken or in quarantine (its evidence).

Everything goes in small batches, each its own transaction, within a time budget (a
pass that runs out of time is continued by the next one). Nothing that is owed (a
pending delivery, a task waiting or running, a summary, report, fetch or listing owed)
is touched.
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
from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage import logstore
from citriage.ci import passing
from citriage.ci.models import (
    CachedResponse,
    CommitConfig,
    ExpectedJob,
    JobAttempt,
    LogState,
    RateBudget,
    StoredLog,
    WorkflowRun,
)
from citriage.flaky.models import HealthChange, Quarantine, State, TestHealth
from citriage.github.models import Delivery, DeliveryStatus, RejectedDelivery
from citriage.ops.models import PeriodicRun
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch
from citriage.testresults.models import (
    OWED,
    RunArtifacts,
    TestFetch,
    TestResult,
    TestRun,
    TestSet,
)
from citriage.triage.models import Breakage, JobVerdict, PendingSummary

logger = logging.getLogger(__name__)
BATCH = 1000  # rows per transaction
LOG_BATCH = 100  # stored logs per transaction (each with its matches)
RUN_BATCH = 100  # test runs per transaction (each with its results)
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
    """Rows past their time, by kind, in the order they go (stored logs apart: see
    `expired_logs`)."""
    now = now or timezone.now()
    deliveries = _days(settings.RETAIN_DELIVERIES_DAYS, now)
    tasks = _days(settings.RETAIN_TASKS_DAYS, now)
    details = _days(settings.RETAIN_LOGS_DAYS, now)
    tests = _days(settings.RETAIN_TEST_RESULTS_DAYS, now)
    finished = [TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]
    old_configs = CommitConfig.objects.filter(seen_at__lt=details, due_at=None, task=None)
    old_runs = expired_test_runs(now)
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
        "settled test-result fetches": TestFetch.objects.exclude(state__in=OWED).filter(
            task=None, updated__lt=tasks
        ),
        "settled artifact lists": RunArtifacts.objects.filter(
            Q(listed_at=None) | Q(listed_at__lt=tasks), next_at=None, task=None
        ),
        "kept GitHub answers": CachedResponse.objects.filter(
            used_at__lt=_days(UNUSED_ANSWER_DAYS, now)
        ),
        # budgets of identities not heard of for days (a person's token at a past login)
        "GitHub budgets": RateBudget.objects.filter(updated__lt=_days(UNUSED_ANSWER_DAYS, now)),
        "expected jobs": ExpectedJob.objects.filter(
            Exists(old_configs.filter(repository_id=OuterRef("repository_id"), sha=OuterRef("sha")))
        ),
        "CI configurations": old_configs,
        "workflow runs": WorkflowRun.objects.filter(
            Q(updated__lt=details) | Q(updated=None, sha__in=old_configs.values("sha"))
        ),
        "test runs": old_runs,
        # sets no run uses once the old runs are gone
        "test sets": TestSet.objects.filter(created__lt=tests).exclude(
            Exists(
                TestRun.objects.filter(test_set=OuterRef("pk")).exclude(
                    pk__in=old_runs.values("pk")
                )
            )
        ),
        "flaky-test state changes": HealthChange.objects.filter(at__lt=tests).exclude(
            pk__in=HealthChange.objects.order_by()
            .values("test_id")
            .annotate(newest=Max("pk"))
            .values("newest")
        ),
        "ended quarantines": Quarantine.objects.filter(
            Q(ended_at__lt=tests) | Q(ended_at=None, expires_at__lt=tests)
        ),
    }
    return kinds


# rows per transaction where each row takes others with it
BATCHES = {"test runs": RUN_BATCH}


def breakage_jobs() -> set[int]:
    """Jobs open breakages refer to: the failed jobs on the first bad commit (of the
    breakage's jobs, when it names them) and the failures whose verdict cites one."""
    jobs: set[int] = set()
    for breakage in Breakage.objects.filter(fix=None).select_related("cause"):
        on_cause = JobAttempt.objects.filter(
            repository_id=breakage.repository_id, sha=breakage.cause.sha
        )
        if breakage.jobs:
            on_cause = on_cause.filter(name__in=breakage.jobs)
        jobs.update(on_cause.values_list("pk", flat=True))
    cited = JobVerdict.objects.filter(breakage__fix=None, breakage__isnull=False)
    jobs.update(cited.values_list("job_id", flat=True))
    return jobs


def expired_test_runs(now: datetime) -> QuerySet[models.Model]:
    """Test runs of jobs that finished too long ago, but for those of jobs open breakages
    refer to and those holding a result of a test now flaky, broken or in quarantine."""
    cutoff = _days(settings.RETAIN_TEST_RESULTS_DAYS, now)
    evidence = TestResult.objects.filter(
        Q(test_id__in=TestHealth.objects.exclude(state=State.HEALTHY).values("test_id"))
        | Q(test_id__in=Quarantine.objects.filter(Quarantine.active_q(now)).values("test_id")),
        run=OuterRef("pk"),
    )
    return (
        TestRun.objects.filter(Q(finished_at__lt=cutoff) | Q(finished_at=None, updated__lt=cutoff))
        .exclude(job_id__in=breakage_jobs())
        .exclude(Exists(evidence))
    )


def kept_logs() -> set[int]:
    """Logs kept whatever their age: what open breakages refer to, the newest examples of
    every pattern, promoted matches."""
    kept: set[int] = set(PromotedMatch.objects.values_list("log_id", flat=True))
    kept.update(StoredLog.objects.filter(job_id__in=breakage_jobs()).values_list("pk", flat=True))
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


def remove_logs(
    ids: list[int], report: Report, *, what: str = "stored logs", expire: bool = True
) -> None:
    """Remove these stored logs: rows, matches and failure lines in one transaction, then
    the objects in the log store (a failure there leaves an orphan object, never a row
    pointing at nothing). With `expire`, a job left without logs is marked expired."""
    with transaction.atomic():
        rows = list(StoredLog.objects.filter(pk__in=ids).values_list("storage_key", "job_id"))
        BestMatch.objects.filter(match__log_id__in=ids).delete()
        report.removed["matches"] += Match.objects.filter(log_id__in=ids).delete()[0]
        report.removed[what] += (
            StoredLog.objects.filter(pk__in=ids).delete()[1].get(StoredLog._meta.label, 0)
        )
        if expire:
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


def _passing_logs() -> QuerySet[StoredLog]:
    """Passing logs replaced by a newer one of their job and step, or kept too long."""
    return StoredLog.objects.filter(
        Q(pk__in=passing.replaced().values("pk")) | Q(pk__in=passing.expired().values("pk"))
    )


def _removed_with(what: str, counts: dict[str, int], model: type[models.Model]) -> Counter[str]:
    """What a deletion of `what` rows removed: the rows by `what`, the rows they took with
    them (cascades) by their models' names."""
    removed: Counter[str] = Counter()
    for label, n in counts.items():
        if label == model._meta.label:
            removed[what] += n
        elif n:
            other = model._meta.apps.get_model(label)
            removed[str(other._meta.verbose_name_plural)] += n
    return removed


def run(*, budget: float = float("inf"), now: datetime | None = None) -> Report:
    """Remove what is past its time, in batches, for at most `budget` seconds."""
    deadline = time.monotonic() + budget
    report = Report()
    for what, rows in expired(now).items():
        batch = BATCHES.get(what, BATCH)
        while True:
            if time.monotonic() > deadline:
                report.finished = False
                return report
            ids = list(rows.order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                break
            with transaction.atomic():  # (still past its time: nothing became owed since)
                _, counts = rows.filter(pk__in=ids).delete()
            report.removed += _removed_with(what, counts, rows.model)
    for ids in _batches(_passing_logs(), set()):
        if time.monotonic() > deadline:
            report.finished = False
            return report
        remove_logs(ids, report, what="passing logs", expire=False)
    for ids in _batches(expired_logs(now), kept_logs()):
        if time.monotonic() > deadline:
            report.finished = False
            return report
        remove_logs(ids, report)
    logger.info("retention: %s", report)
    return report


def preview(now: datetime | None = None) -> dict[str, int]:
    """What a pass would remove now, by kind (`citriage retention --dry-run`)."""
    now = now or timezone.now()
    kinds = expired(now)
    counts = {what: rows.count() for what, rows in kinds.items()}
    counts["test results (with their runs)"] = TestResult.objects.filter(
        run__in=kinds["test runs"].values("pk")
    ).count()
    counts["passing logs"] = _passing_logs().count()
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
