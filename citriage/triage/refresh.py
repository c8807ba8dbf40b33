"""When verdicts are recomputed: the one place that decides.

Inputs change in many places: ci records job attempts, foreign checks and ended log
fetches; patterns changes best matches and what patterns mean; people edit
breakages; a result on the default branch can grow or end an inferred breakage that
pull requests rely on. Each change only marks the commits it touches as stale (one
UPDATE per commit, in the transaction of the change): nothing is recomputed on the
path that records data.

A stale commit is summarized by one task (citriage.triage.summary), queued by a
worker once the commit has been quiet for CITRIAGE_VERDICT_REFRESH_SECONDS, so a
burst of changes costs one recomputation. A change that is new CI data (a job
recorded, a check, a fetch that ended) also makes a report owed: it is posted once
the commit has been quiet for CITRIAGE_COOL_OFF_SECONDS, or, where the commit's CI
configuration says which jobs to expect, when they are all in (`report_time`).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.signals import post_save, pre_delete, pre_save
from django.utils import timezone

from citriage.ci import signals as ci_signals
from citriage.ci.models import FAILED_CONCLUSIONS, Commit, Conclusion, JobAttempt, Repository
from citriage.flaky import signals as flaky_signals
from citriage.patterns import signals as pattern_signals
from citriage.testresults import signals as test_signals
from citriage.testresults.models import FAILING, TestResult
from citriage.triage.expected import Coverage
from citriage.triage.inference import INFER_WINDOW
from citriage.triage.models import Breakage, CommitSummary, MergeBase, PendingSummary

Span = tuple[int | None, int | None, Sequence[str]]


def touch(repository_id: int, shas: Iterable[str], *, live: bool) -> None:
    """These commits changed: their verdicts are stale; with `live` (new CI data), their
    report is owed too, once the commit has been quiet for the cool-off.

    On the path of every recorded job: one prepared UPDATE per commit (an INSERT the
    first time), no query built by the ORM.
    """
    now = timezone.now()
    refresh = now + timedelta(seconds=settings.VERDICT_REFRESH_SECONDS)
    report = now + timedelta(seconds=settings.COOL_OFF_SECONDS) if live else None
    adapt = connection.ops.adapt_datetimefield_value
    for sha in sorted(set(shas)):
        with connection.cursor() as cursor:
            cursor.execute(
                _touch_sql(live),
                [adapt(now), adapt(refresh), adapt(refresh)]
                + ([adapt(report)] if live else [])
                + [repository_id, sha],
            )
            if cursor.rowcount:
                continue
        try:
            with transaction.atomic():
                PendingSummary.objects.create(
                    repository_id=repository_id,
                    sha=sha,
                    last_event_at=now,
                    events=1,
                    refresh_at=refresh,
                    next_at=refresh,
                    report_at=report,
                )
        except IntegrityError:  # created meanwhile by another transaction
            touch(repository_id, [sha], live=live)


@functools.cache
def _touch_sql(live: bool) -> str:
    report = ", report_at = %s" if live else ""
    return (
        f"UPDATE {PendingSummary._meta.db_table} SET last_event_at = %s, events = events + 1, "
        "refresh_at = COALESCE(refresh_at, %s), next_at = COALESCE(refresh_at, %s)"
        f"{report} WHERE repository_id = %s AND sha = %s"
    )


def report_time(
    owed_at: datetime | None, coverage: Coverage, summary: CommitSummary, now: datetime
) -> datetime | None:
    """When the commit's report is next due (None: nothing is owed). `owed_at` is what the
    cool-off says (set by `touch` for new CI data).

    Where the commit's configuration says which jobs to expect, the report waits for
    them instead: it is due as soon as every expected job has finished or is missing
    (at once; after the cool-off while logs of failures are still being read), and
    otherwise when the next job turns missing or when the commit has waited the longest
    time allowed (then it is posted with what is in). Failures that nothing excuses are
    told early, after the cool-off, and the report is updated when the rest is in."""
    if not coverage.known or not coverage.expected:
        return owed_at
    if not coverage.outstanding or (coverage.bound is not None and now >= coverage.bound):
        if owed_at is None or summary.pending:
            return owed_at
        return min(owed_at, now)
    wake = min(t for t in (coverage.deadline, coverage.bound) if t is not None)
    if owed_at is not None and summary.failures > summary.excused:
        return min(owed_at, wake)
    return wake


def jobs_changed(jobs: Iterable[JobAttempt], *, live: bool = False) -> None:
    """The verdicts of these job attempts may have changed."""
    by_repository: dict[int, set[str]] = defaultdict(set)
    for job in jobs:
        by_repository[job.repository_id].add(job.sha)
    for repository_id, shas in by_repository.items():
        touch(repository_id, shas, live=live)


# -- what a change touches ------------------------------------------------------------


def affected_jobs(
    repository: Repository, *, low: int, high: int | None, names: Sequence[str] | None
) -> list[JobAttempt]:
    """Failed job attempts whose verdict can depend on the branch between positions
    [low, high]: on those default-branch commits, and on commits whose merge base is there."""
    span = Q(branch_position__gte=low)
    if high is not None:
        span &= Q(branch_position__lte=high)
    branch_shas = Commit.objects.filter(span, repository=repository).values("sha")
    based = Q(base__branch_position__gte=low)
    if high is not None:
        based &= Q(base__branch_position__lte=high)
    pr_shas = MergeBase.objects.filter(based, repository=repository).values("sha")
    jobs = JobAttempt.objects.filter(
        Q(sha__in=branch_shas) | Q(sha__in=pr_shas),
        repository=repository,
        conclusion__in=FAILED_CONCLUSIONS,
    )
    if names is not None:
        jobs = jobs.filter(name__in=list(names))
    return list(jobs.only("id", "repository_id", "sha"))


def breakage_changed(
    repository: Repository, spans: Iterable[Span], breakage_id: int | None = None
) -> None:
    """A breakage was created, edited or deleted: `spans` are its old and new (cause
    position, last broken position, jobs). Every verdict it can touch goes stale."""
    jobs: list[JobAttempt] = []
    for low, high, names in spans:
        if low is not None:
            jobs += affected_jobs(repository, low=low, high=high, names=names or None)
    if breakage_id is not None:
        jobs += JobAttempt.objects.filter(verdict__breakage_id=breakage_id).only(
            "id", "repository_id", "sha"
        )
    jobs_changed(jobs)


def branch_jobs_changed(jobs: Iterable[JobAttempt]) -> None:
    """Default-branch job attempts changed (a new result, a new best match): inferred runs
    around them may have grown, shrunk or changed their failure, so the pull request
    failures whose merge base lies between the neighbouring passes go stale."""
    regions: dict[tuple[int, str], tuple[int, int]] = {}
    for job in jobs:
        commit = job.commit
        if commit is None or commit.branch_position is None:
            continue
        key = (job.repository_id, job.name)
        low, high = regions.get(key, (commit.branch_position, commit.branch_position))
        regions[key] = (min(low, commit.branch_position), max(high, commit.branch_position))
    targets: list[JobAttempt] = []
    for (repository_id, name), (low, high) in regions.items():
        passes = JobAttempt.objects.filter(
            repository_id=repository_id, name=name, conclusion=Conclusion.SUCCESS
        )
        before = (
            passes.filter(commit__branch_position__lt=low)
            .order_by("-commit__branch_position")
            .values_list("commit__branch_position", flat=True)
            .first()
        )
        after = (
            passes.filter(commit__branch_position__gt=high)
            .order_by("commit__branch_position")
            .values_list("commit__branch_position", flat=True)
            .first()
        )
        based = MergeBase.objects.filter(
            repository_id=repository_id,
            base__branch_position__gte=before if before is not None else low - INFER_WINDOW,
            base__branch_position__lte=after if after is not None else high + INFER_WINDOW,
        ).values("sha")
        targets += JobAttempt.objects.filter(
            repository_id=repository_id,
            name=name,
            sha__in=based,
            conclusion__in=FAILED_CONCLUSIONS,
        ).only("id", "repository_id", "sha")
    jobs_changed(targets)


# -- receivers: what the apps below, and breakage edits, say --------------------------


def _jobs_recorded(sender: Any, repository: Repository, jobs: list[JobAttempt], **_: Any) -> None:
    touch(repository.pk, {job.sha for job in jobs}, live=True)


def _commit_changed(sender: Any, repository: Repository, sha: str, **_: Any) -> None:
    touch(repository.pk, [sha], live=True)


def _test_results_stored(sender: Any, job: JobAttempt, **_: Any) -> None:
    touch(job.repository_id, [job.sha], live=True)


def _test_health_changed(
    sender: Any, repository: Repository, test_ids: list[int], **_: Any
) -> None:
    """Tests turned flaky, broken or healthy, or were quarantined or released: the recent
    verdicts that name them as failing go stale (not a report of their own: a changed
    verdict of a recent commit is reported by the summary)."""
    since = timezone.now() - timedelta(days=settings.SIMILAR_DAYS)
    shas = (
        TestResult.objects.filter(test_id__in=test_ids, outcome__in=FAILING, finished_at__gte=since)
        .values_list("run__sha", flat=True)
        .distinct()
    )
    touch(repository.pk, list(shas), live=False)


def _best_matches_changed(sender: Any, job_ids: list[int], **_: Any) -> None:
    jobs_changed(JobAttempt.objects.filter(pk__in=job_ids).only("id", "repository_id", "sha"))


def _span(breakage: Breakage) -> Span:
    cause = breakage.cause.branch_position if breakage.cause_id else None
    fix = breakage.fix.branch_position if breakage.fix_id and breakage.fix else None
    return cause, (None if fix is None else fix - 1), list(breakage.jobs)


def _breakage_before_save(sender: type[Breakage], instance: Breakage, **_: Any) -> None:
    old = Breakage.objects.filter(pk=instance.pk).select_related("cause", "fix").first()
    instance._old_span = _span(old) if old else None  # type: ignore[attr-defined]


def _breakage_saved(
    sender: type[Breakage], instance: Breakage, raw: bool = False, **_: Any
) -> None:
    if raw:
        return
    spans = [_span(instance)]
    old = getattr(instance, "_old_span", None)
    if old is not None:
        spans.append(old)
    breakage_changed(instance.repository, spans, instance.pk)


def _breakage_before_delete(sender: type[Breakage], instance: Breakage, **_: Any) -> None:
    # The verdicts citing it lose the link on delete: mark them now.
    breakage_changed(instance.repository, [_span(instance)], instance.pk)


def connect() -> None:
    ci_signals.jobs_recorded.connect(_jobs_recorded, dispatch_uid="triage-jobs-recorded")
    ci_signals.commit_changed.connect(_commit_changed, dispatch_uid="triage-commit-changed")
    test_signals.test_results_stored.connect(
        _test_results_stored, dispatch_uid="triage-test-results-stored"
    )
    flaky_signals.test_health_changed.connect(
        _test_health_changed, dispatch_uid="triage-test-health-changed"
    )
    pattern_signals.best_matches_changed.connect(
        _best_matches_changed, dispatch_uid="triage-best-matches-changed"
    )
    pre_save.connect(_breakage_before_save, sender=Breakage, dispatch_uid="triage-bk-pre-save")
    post_save.connect(_breakage_saved, sender=Breakage, dispatch_uid="triage-bk-saved")
    pre_delete.connect(_breakage_before_delete, sender=Breakage, dispatch_uid="triage-bk-pre-del")
