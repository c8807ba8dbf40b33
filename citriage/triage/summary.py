"""Summarizing a commit: fresh verdicts and summary, then, when due, its report.

Run by one task per stale commit (citriage.triage.refresh decides when). A report
that fails (GitHub unreachable, a 5xx) stays owed and is tried again after a growing
delay, until it succeeds: it is never dropped. One held back by a rate limit is owed
again from when the limit ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from prometheus_client import Counter

from citriage import queueing
from citriage.ci.models import Commit, JobAttempt, Repository, StoredLog
from citriage.ci.tasks import request_rerun
from citriage.patterns import scanning
from citriage.providers.base import RateLimited
from citriage.triage import expected, refresh, signals, verdicts
from citriage.triage.models import CommitSummary, JobVerdict, PendingSummary, Verdict

logger = logging.getLogger(__name__)
MAX_ERROR = 2000
# Clocks of the processes that record jobs and summarize may differ by this much (jobs
# recorded this long before the last summary count as news again).
CLOCK_SLACK = timedelta(seconds=5)

REPORTS = Counter(
    "citriage_reports",
    "Reports of commits to GitHub, by outcome (posted, failed, deferred: a rate limit)",
    ["outcome"],
)


@dataclass(frozen=True)
class Outcome:
    error: str = ""  # "" when posted
    retry_at: datetime | None = None  # a rate limit: owed again from then


def _recent(repository: Repository, sha: str) -> bool:
    """Jobs of the commit finished recently (or not at all): its report may still change
    what someone does, so later verdict changes are reported too."""
    since = timezone.now() - timedelta(days=settings.REPORT_REFRESH_DAYS)
    jobs = JobAttempt.objects.filter(repository=repository, sha=sha)
    return (
        not jobs.exclude(finished_at=None).exists() or jobs.filter(finished_at__gte=since).exists()
    )


def summarize_commit(repository: Repository, sha: str) -> str:
    """Summarize and report one commit now, its cool-off notwithstanding."""
    now = timezone.now()
    PendingSummary.objects.get_or_create(repository=repository, sha=sha)
    PendingSummary.objects.filter(repository=repository, sha=sha).update(
        refresh_at=now, report_at=now, next_at=now
    )
    return summarize(repository.pk, sha)


def summarize_stale(*, rounds: int = 100) -> int:
    """Recompute, here and now, every commit whose verdicts are stale (what workers do
    when they are due; a recomputation can make others stale: their turn comes next).
    Reports whose cool-off is not over wait for it. How many commits were summarized."""
    done = 0
    for _ in range(rounds):
        stale = list(
            PendingSummary.objects.filter(refresh_at__isnull=False).values_list(
                "repository_id", "sha"
            )
        )
        if not stale:
            break
        for repository_id, sha in stale:
            summarize(repository_id, sha)
            done += 1
    return done


def summarize(repository_id: int, sha: str) -> str:
    """Recompute the commit's verdicts and summary; post its report when due."""
    pending = PendingSummary.objects.filter(repository_id=repository_id, sha=sha).first()
    if pending is None:  # pruned meanwhile: nothing is owed any more
        return "nothing owed"
    seen, now = pending.last_event_at, timezone.now()
    repository = Repository.objects.get(pk=repository_id)
    # Logs stored but not yet scanned: scanned now, so that the verdicts see their matches.
    scanning.scan_logs(StoredLog.objects.filter(job__repository=repository, job__sha=sha))
    before = CommitSummary.objects.filter(repository=repository, sha=sha).first()
    commit = Commit.objects.filter(repository=repository, sha=sha).first()
    on_branch = commit is not None and commit.branch_position is not None
    verdicts_before = _verdict_keys(repository, sha) if on_branch else {}
    coverage = expected.coverage(repository, sha, now=now)
    summary = verdicts.recompute_commit(repository, sha, coverage)
    notes = [f"{summary.failures} failure(s), {summary.excused} excused"]
    changed = before is not None and before.digest != summary.digest
    if on_branch:
        # A new result on the default branch can grow or end an inferred breakage that
        # pull requests based there rely on.
        news = _branch_news(repository, sha, pending.summarized_at, verdicts_before)
        refresh.branch_jobs_changed(news.select_related("commit"))
        if settings.AUTO_RERUN_FLAKY:
            notes.append(rerun_flaky(repository, sha))
    report_at = pending.report_at
    if report_at is None and changed and _recent(repository, sha):
        report_at = now + timedelta(seconds=settings.COOL_OFF_SECONDS)
        notes.append("verdicts changed: report owed after the cool-off")
    if coverage.expected:
        notes.append(f"{coverage.reported} of {coverage.expected} expected jobs reported")
    report_at = refresh.report_time(report_at, coverage, summary, now)
    # once posted, what is still owed: a later report when the expected jobs are in
    then = refresh.report_time(None, coverage, summary, now) if _recent(repository, sha) else None
    outcome = None
    if report_at is not None and report_at <= now:
        outcome = _report(repository, summary, notes)
    _close(pending, seen, now, report_at, outcome, then)
    return "; ".join(notes)


def _verdict_keys(repository: Repository, sha: str) -> dict[int, tuple[Any, ...]]:
    """What the commit's verdicts say that inferred runs read (a failure's kind and match)."""
    rows = JobVerdict.objects.filter(repository=repository, sha=sha).values_list(
        "job_id", "verdict", "pattern_id", "breakage_id"
    )
    return {job_id: tuple(rest) for job_id, *rest in rows}


def _branch_news(
    repository: Repository, sha: str, since: datetime | None, before: dict[int, tuple[Any, ...]]
) -> QuerySet[JobAttempt]:
    """The jobs of a default-branch commit that are news to the runs inferred around it:
    all of them the first time; then those recorded anew since the last summary and those
    whose verdict changed (a new best match). Each costs queries, and a commit on the
    default branch is summarized again with every burst of its jobs."""
    jobs = JobAttempt.objects.filter(repository=repository, sha=sha)
    if since is None:
        return jobs
    after = _verdict_keys(repository, sha)
    moved = [pk for pk in before.keys() | after.keys() if before.get(pk) != after.get(pk)]
    return jobs.filter(Q(updated__gte=since - CLOCK_SLACK) | Q(pk__in=moved))


def _report(repository: Repository, summary: CommitSummary, notes: list[str]) -> Outcome:
    """Post the report; what came of it."""
    try:
        for _receiver, note in signals.report_due.send(
            CommitSummary, repository=repository, summary=summary
        ):
            notes.extend(note if isinstance(note, list) else [str(note)])
    except RateLimited as exc:  # owed again once the limit ends
        REPORTS.labels("deferred").inc()
        notes.append(f"report deferred: {exc}")
        error = f"rate limited: {exc}"[:MAX_ERROR]
        return Outcome(error, datetime.fromtimestamp(exc.until, tz=UTC))
    except Exception as exc:  # whatever failed, the report stays owed
        REPORTS.labels("failed").inc()
        logger.warning("report of %s on %s failed: %s", summary.sha[:10], repository, exc)
        notes.append(f"report failed, will retry: {exc}")
        return Outcome(f"{type(exc).__name__}: {exc}"[:MAX_ERROR] or type(exc).__name__)
    REPORTS.labels("posted").inc()
    return Outcome()


def _close(
    pending: PendingSummary,
    seen: datetime,
    now: datetime,
    report_at: datetime | None,
    outcome: Outcome | None,
    then: datetime | None = None,
) -> None:
    """What is still owed: fresh verdicts again if changes arrived meanwhile; the report
    if it is not due yet or failed (then after a growing delay) or was held back by a
    rate limit (then from when it ends, no try counted), or, once posted, again at
    `then` (expected jobs are still to come)."""
    with transaction.atomic():
        row = PendingSummary.objects.select_for_update().get(pk=pending.pk)
        if row.last_event_at == seen:  # no change arrived while this ran
            row.refresh_at, row.report_at = None, report_at
        row.task, row.summarized_at = None, now
        if outcome is None:
            pass
        elif not outcome.error:
            row.reported_at, row.report_attempts, row.report_error = now, 0, ""
            if row.report_at is None or row.report_at <= now:
                # (a later one stays: new data arrived meanwhile); else the report owed
                # when the expected jobs are in, if they are still to come
                row.report_at = then
        elif outcome.retry_at is not None:  # a rate limit: not a failed try
            row.report_at = max(row.report_at or now, outcome.retry_at)
            row.report_error = outcome.error
        else:
            row.report_attempts += 1
            delay = timedelta(seconds=queueing.backoff(row.report_attempts, first=15.0))
            row.report_at = max(row.report_at or now, now + delay)
            row.report_error = outcome.error
        owed = [t for t in (row.refresh_at, row.report_at) if t is not None]
        row.next_at = min(owed) if owed else None
        row.save()


def rerun_flaky(repository: Repository, sha: str) -> str:
    """Rerun flaky-pattern failures on the default branch (once per job attempt)."""
    flaky = JobVerdict.objects.filter(
        repository=repository,
        sha=sha,
        verdict=Verdict.FLAKY_PATTERN,
        superseded=False,
        job__reruns__isnull=True,
    ).select_related("job__repository")
    requests = [request_rerun(v.job, requested_by="citriage", automatic=True) for v in flaky]
    return f"{len(requests)} flaky job(s) queued for an automatic rerun"
