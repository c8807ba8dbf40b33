"""Scanning stored logs, incrementally and retroactively, and keeping best matches current.

A log's scan state is a watermark: it has been scanned with every pattern whose
id is at most `scanned_through` (retired patterns excepted). Pattern ids only
grow and a pattern's expression never changes, so a new pattern is simply one
above every log's watermark: the backlog is "logs below the highest pattern
id", and bringing a log up to date reads it once for just the new patterns.
Matches and the watermark are written in one transaction, so a worker killed
at any instant leaves either the old state or the new one.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from citriage import logstore
from citriage.ci.models import StoredLog
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch
from citriage.scanner import ranking
from citriage.scanner.engine import PatternSet

logger = logging.getLogger(__name__)

MAX_MATCH_TEXT = 2000


def highest_pattern_id() -> int:
    return Pattern.objects.aggregate(top=Max("id"))["top"] or 0


def backlog(top: int | None = None) -> QuerySet[StoredLog]:
    """Logs that are not yet scanned with every pattern."""
    top = highest_pattern_id() if top is None else top
    return StoredLog.objects.filter(Q(needs_full_rescan=True) | Q(scanned_through__lt=top))


@functools.lru_cache(maxsize=32)
def _compiled(pattern_ids: tuple[int, ...]) -> PatternSet:
    patterns = Pattern.objects.filter(id__in=pattern_ids).prefetch_related("tags")
    return PatternSet([p.to_scanner() for p in patterns])


def pattern_set_between(low: int, high: int) -> PatternSet:
    """The active patterns with low < id <= high, compiled once per process."""
    rows = list(
        Pattern.objects.filter(id__gt=low, id__lte=high, is_retired=False)
        .order_by("id")
        .values_list("id", flat=True)
    )
    # An id names an immutable expression, so the ids are the whole cache key.
    return _compiled(tuple(rows))


@dataclass
class ScanOutcome:
    log_id: int
    new_matches: int
    patterns: int
    skipped: bool = False


def scan_log(log_id: int, *, full: bool = False) -> ScanOutcome:
    """Bring one log up to date with the pattern library (or rescan it from scratch)."""
    with transaction.atomic():
        locked = StoredLog.objects.select_for_update(skip_locked=True).filter(pk=log_id)
        log = locked.select_related("step", "job").first()
        if log is None:  # gone, or another worker holds it
            return ScanOutcome(log_id, 0, 0, skipped=True)
        top = highest_pattern_id()
        full = full or log.needs_full_rescan
        low = 0 if full else log.scanned_through
        if low >= top and not full:
            return ScanOutcome(log_id, 0, 0, skipped=True)
        pattern_set = pattern_set_between(low, top)
        if full:
            Match.objects.filter(log=log).delete()
        found = []
        if len(pattern_set):
            text = logstore.load_text(log.storage_key, log.line_count)
            found = pattern_set.scan(text, step=log.step.name)
        Match.objects.bulk_create(
            [
                Match(
                    log=log,
                    job_id=log.job_id,
                    pattern_id=m.pattern_id,
                    line=m.line,
                    start=m.start,
                    end=m.end,
                    captures=list(m.captures),
                    text=m.text[:MAX_MATCH_TEXT],
                )
                for m in found
            ],
            batch_size=1000,
            ignore_conflicts=True,
        )
        log.scanned_through = top
        log.scanned_at = timezone.now()
        log.needs_full_rescan = False
        log.scan_error = ""
        log.save(update_fields=["scanned_through", "scanned_at", "needs_full_rescan", "scan_error"])
        if found or full:
            update_best_matches([log.job_id])
    return ScanOutcome(log_id, len(found), len(pattern_set))


def scan_backlog(*, time_budget: float = 300.0, batch: int = 100) -> int:
    """Scan logs from the backlog until none is left or the time budget is spent."""
    deadline = time.monotonic() + time_budget
    done = 0
    while time.monotonic() < deadline:
        ids = list(backlog().order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            break
        progressed = False
        for log_id in ids:
            try:
                outcome = scan_log(log_id)
            except Exception as exc:  # a broken stored log must not stop the others
                logger.exception("scanning log %s failed", log_id)
                _record_scan_error(log_id, exc)
                progressed = True
                continue
            progressed |= not outcome.skipped
            done += not outcome.skipped
            if time.monotonic() >= deadline:
                break
        if not progressed:  # everything left is being scanned by other workers
            break
    return done


def _record_scan_error(log_id: int, exc: Exception) -> None:
    # The log is set to the current watermark so the backlog moves on; the
    # error is kept on the row and a full rescan can be asked for by hand.
    StoredLog.objects.filter(pk=log_id).update(
        scan_error=f"{type(exc).__name__}: {exc}"[:2000],
        scanned_through=highest_pattern_id(),
        needs_full_rescan=False,
        scanned_at=timezone.now(),
    )


def request_full_rescan(logs: QuerySet[StoredLog]) -> int:
    """Mark logs for a rescan from scratch (the backlog picks them up)."""
    return logs.update(needs_full_rescan=True)


# -- best matches --------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    match_id: int
    pattern_id: int
    line: int
    log_id: int
    step_index: int
    container: int


@dataclass(frozen=True)
class _RankInfo:
    id: int
    specificity: int
    is_retired: bool
    is_regex: bool


def update_best_matches(job_ids: Iterable[int]) -> list[int]:
    """Recompute the best match of these jobs from their stored matches (no log is read).

    Returns the ids of the jobs whose best match changed.
    """
    job_ids = list(job_ids)
    if not job_ids:
        return []
    rows = Match.objects.filter(job_id__in=job_ids).values_list(
        "id", "job_id", "pattern_id", "line", "log_id", "log__step__index", "log__step__container"
    )
    by_job: dict[int, list[_Candidate]] = {job_id: [] for job_id in job_ids}
    pattern_ids = set()
    for match_id, job_id, pattern_id, line, log_id, step_index, container in rows:
        by_job[job_id].append(_Candidate(match_id, pattern_id, line, log_id, step_index, container))
        pattern_ids.add(pattern_id)
    info = {
        row[0]: _RankInfo(*row)
        for row in Pattern.objects.filter(id__in=pattern_ids).values_list(
            "id", "specificity", "is_retired", "is_regex"
        )
    }
    promoted = {
        p.job_id: (p.log_id, p.pattern_id, p.line)
        for p in PromotedMatch.objects.filter(job_id__in=job_ids)
    }
    current = dict(BestMatch.objects.filter(job_id__in=job_ids).values_list("job_id", "match_id"))
    changed = []
    for job_id, candidates in by_job.items():
        best = ranking.best_match(
            candidates,
            info.get,
            position=lambda c: (c.step_index, c.container, c.line),
            promoted=promoted.get(job_id),
            key_of=lambda c: (c.log_id, c.pattern_id, c.line),
        )
        if best is None:
            if job_id in current:
                BestMatch.objects.filter(job_id=job_id).delete()
                changed.append(job_id)
        elif current.get(job_id) != best.match_id:
            BestMatch.objects.update_or_create(
                job_id=job_id, defaults={"match_id": best.match_id, "pattern_id": best.pattern_id}
            )
            changed.append(job_id)
    if changed:
        from citriage.patterns import signals

        signals.best_matches_changed(changed)
    return changed


def rerank_jobs_with_pattern(pattern_id: int, *, batch: int = 500) -> int:
    """After a mutable edit (specificity, retired): recompute the jobs this pattern matched."""
    job_ids = list(
        Match.objects.filter(pattern_id=pattern_id).values_list("job_id", flat=True).distinct()
    )
    changed = 0
    for start in range(0, len(job_ids), batch):
        with transaction.atomic():
            changed += len(update_best_matches(job_ids[start : start + batch]))
    return changed


def scan_progress() -> dict[str, int]:
    top = highest_pattern_id()
    total = StoredLog.objects.count()
    behind = backlog(top).count()
    return {"logs": total, "up_to_date": total - behind, "backlog": behind, "highest_pattern": top}


def pattern_coverage(pattern: Pattern) -> tuple[int, int]:
    """(logs already scanned with this pattern, all logs)."""
    total = StoredLog.objects.count()
    scanned = StoredLog.objects.filter(
        scanned_through__gte=pattern.pk, needs_full_rescan=False
    ).count()
    return scanned, total
