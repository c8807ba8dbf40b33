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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from prometheus_client import Counter

from citriage import locking, logstore
from citriage.ci.models import StoredLog
from citriage.failurelines import analysis as failure_lines
from citriage.failurelines.models import FailureAnalysis
from citriage.patterns import signals
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch
from citriage.scanner import patterns as scanner_patterns
from citriage.scanner import ranking
from citriage.scanner.engine import Match as Found
from citriage.scanner.engine import PatternSet

logger = logging.getLogger(__name__)

MAX_MATCH_TEXT = 2000
SCANNED = Counter("citriage_logs_scanned", "Stored logs scanned (brought up to date)")
TRANSACTION_SECONDS = 2.0  # a scan commits this often, so that early kills still progress


def highest_pattern_id() -> int:
    return Pattern.objects.aggregate(top=Max("id"))["top"] or 0


def scanned_logs() -> QuerySet[StoredLog]:
    """The stored logs patterns run on: failed steps' (passing runs' logs are baselines)."""
    return StoredLog.objects.filter(passing=False)


def backlog(top: int | None = None) -> QuerySet[StoredLog]:
    """Logs that are not yet scanned with every pattern."""
    top = highest_pattern_id() if top is None else top
    return scanned_logs().filter(Q(needs_full_rescan=True) | Q(scanned_through__lt=top))


ScanFields = tuple[int, str, bool, tuple[str, ...], int | None]


@functools.lru_cache(maxsize=32)
def _compiled(patterns: tuple[ScanFields, ...], time_limit: float) -> PatternSet:
    return PatternSet(
        (
            scanner_patterns.Pattern(
                id=pattern_id,
                expression=expression,
                is_regex=is_regex,
                applicable_steps=steps,
                lines_from_end=lines_from_end,
            )
            for pattern_id, expression, is_regex, steps, lines_from_end in patterns
        ),
        time_limit=time_limit,
    )


def pattern_set_between(low: int, high: int) -> PatternSet:
    """The active patterns with low < id <= high, compiled once per process."""
    rows = Pattern.objects.filter(id__gt=low, id__lte=high, is_retired=False).order_by("id")
    # The fields that decide matching are the cache key (they never change for an id,
    # but an id can come back after a deletion on SQLite).
    key = tuple(
        (pattern_id, expression, is_regex, tuple(steps or ()), lines_from_end)
        for pattern_id, expression, is_regex, steps, lines_from_end in rows.values_list(
            "id", "expression", "is_regex", "applicable_steps", "lines_from_end"
        )
    )
    return _compiled(key, settings.PATTERN_SECONDS)


@dataclass
class ScanOutcome:
    logs: int = 0  # logs brought up to date
    new_matches: int = 0
    patterns: int = 0  # patterns run (the largest set used)


def scan_log(log_id: int, *, full: bool = False) -> ScanOutcome:
    """Bring one log up to date with the pattern library (or rescan it from scratch)."""
    return scan_logs(StoredLog.objects.filter(pk=log_id), full=full)


@dataclass
class _ScannedLog:
    """What scanning one log found, not yet written."""

    log_id: int
    job_id: int
    read_at: tuple[int, bool]  # (scanned_through, needs_full_rescan) when it was read
    start: int  # patterns above this id were run
    matches: list[Found] = field(default_factory=list)
    analysis: FailureAnalysis | None = None
    error: str = ""


def scan_logs(
    logs: QuerySet[StoredLog],
    *,
    full: bool = False,
    limit: int = 200,
    max_seconds: float = TRANSACTION_SECONDS,
) -> ScanOutcome:
    """Bring up to `limit` of `logs` up to date, reading them for about `max_seconds` at
    most (at least one log): a worker killed at any moment loses at most that much.

    Logs another worker holds are skipped (PostgreSQL); logs already up to
    date are left alone unless `full` asks for a rescan from scratch. On SQLite the logs
    are read outside any transaction (see citriage.locking) and what was found is written
    in a short one, for the logs nobody scanned or marked for a rescan meanwhile.
    """
    outcome = ScanOutcome()
    deadline = time.monotonic() + max_seconds
    with locking.claim_transaction():
        top = highest_pattern_id()
        logs = logs.filter(passing=False)
        if not full:
            logs = logs.filter(Q(needs_full_rescan=True) | Q(scanned_through__lt=top))
        if locking.locks_rows():
            logs = logs.select_for_update(skip_locked=True, of=("self",))
        rows = list(
            logs.order_by("id").values_list(
                "id",
                "job_id",
                "storage_key",
                "line_count",
                "scanned_through",
                "needs_full_rescan",
                "step__name",
            )[:limit]
        )
        if not rows:
            return outcome
        scanned: list[_ScannedLog] = []
        timed_out: dict[int, str] = {}  # pattern id -> why it was stopped
        sets: dict[int, PatternSet] = {}
        analysed = failure_lines.analysed([row[0] for row in rows])
        for log_id, job_id, key, line_count, low, needs_full, step in rows:
            if scanned and time.monotonic() > deadline:
                break  # the rest waits for the next round
            start = 0 if (full or needs_full) else low
            log = _ScannedLog(log_id, job_id, (low, needs_full), start)
            scanned.append(log)
            if start not in sets:
                sets[start] = pattern_set_between(start, top)
            pattern_set = sets[start]
            outcome.patterns = max(outcome.patterns, len(pattern_set))
            if not len(pattern_set):
                continue
            try:
                text = logstore.load_text(key, line_count)
                report = pattern_set.run(text, step=step)
                if log_id not in analysed:  # a second opinion, stored with the matches
                    log.analysis = failure_lines.analyse(log_id, job_id, text)
            except Exception as exc:  # a broken stored log must not stop the others
                logger.exception("scanning log %s failed", log_id)
                log.error = f"{type(exc).__name__}: {exc}"[:2000]
                continue
            for pattern_id, reason in report.timed_out.items():
                timed_out.setdefault(pattern_id, f"on log {log_id}: {reason}")
            log.matches = list(report.matches)
        with transaction.atomic():  # SQLite: the only time the database is held
            stored = _store_scanned(scanned, top)
            retire_timed_out(timed_out)
    outcome.logs = len(stored)
    outcome.new_matches = sum(len(log.matches) for log in stored)
    SCANNED.inc(len(stored))
    return outcome


def _store_scanned(scanned: list[_ScannedLog], top: int) -> list[_ScannedLog]:
    """Write the matches, watermarks and analyses of the scanned logs that are still as
    they were read (a log scanned by another worker meanwhile, marked for a rescan or
    deleted is left out); returns the logs written."""
    now_at = {
        log_id: (through, needs_full)
        for log_id, through, needs_full in StoredLog.objects.filter(
            pk__in=[log.log_id for log in scanned]
        ).values_list("id", "scanned_through", "needs_full_rescan")
    }
    stored = [log for log in scanned if now_at.get(log.log_id) == log.read_at]
    touched_jobs = set()
    for log in stored:
        if log.start == 0:
            Match.objects.filter(log_id=log.log_id).delete()
            touched_jobs.add(log.job_id)
        if log.analysis is not None:
            failure_lines.save(log.analysis)
        Match.objects.bulk_create(
            (
                Match(
                    log_id=log.log_id,
                    job_id=log.job_id,
                    pattern_id=m.pattern_id,
                    line=m.line,
                    start=m.start,
                    end=m.end,
                    captures=list(m.captures),
                    text=m.text[:MAX_MATCH_TEXT],
                )
                for m in log.matches
            ),
            batch_size=1000,
            ignore_conflicts=True,
        )
        if log.matches:
            touched_jobs.add(log.job_id)
    # A log that could not be read moves on too (its error is kept on the row;
    # a full rescan can be asked for once it is repaired).
    StoredLog.objects.filter(pk__in=[log.log_id for log in stored]).update(
        scanned_through=top, scanned_at=timezone.now(), needs_full_rescan=False, scan_error=""
    )
    for log in stored:
        if log.error:
            StoredLog.objects.filter(pk=log.log_id).update(scan_error=log.error)
    update_best_matches(touched_jobs)
    return stored


def retire_timed_out(timed_out: dict[int, str]) -> None:
    """Patterns that ran out of their time on a log are retired, saying why: one such
    pattern must not cost every later scan its time again. (To use it again, write a
    new pattern from it that runs in bounded time: the workbench shows its cost.)"""
    for pattern_id, reason in timed_out.items():
        rows = Pattern.objects.filter(pk=pattern_id, is_retired=False)
        if rows.update(
            is_retired=True, retired_at=timezone.now(), retired_reason=f"stopped {reason}"[:500]
        ):
            logger.warning("pattern %s retired: stopped %s", pattern_id, reason)


def scan_backlog(*, time_budget: float = 300.0, batch: int = 200) -> int:
    """Scan logs from the backlog until none is left or the time budget is spent."""
    deadline = time.monotonic() + time_budget
    done = 0
    while time.monotonic() < deadline:
        outcome = scan_logs(StoredLog.objects.all(), limit=batch)
        if not outcome.logs:
            break  # nothing left, or everything left is held by other workers
        done += outcome.logs
    return done


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


def ranked_matches(
    job_ids: list[int], *, keep: Callable[[str], bool] | None = None
) -> dict[int, int | None]:
    """The best match id of each job (DESIGN.md §4 ranking), from the stored matches.

    `keep` filters on the matched line's text (e.g. to leave generic lines out).
    """
    fields = [
        "id",
        "job_id",
        "pattern_id",
        "line",
        "log_id",
        "log__step__index",
        "log__step__container",
    ]
    if keep is not None:
        fields.append("text")
    by_job: dict[int, list[_Candidate]] = {job_id: [] for job_id in job_ids}
    pattern_ids = set()
    for row in Match.objects.filter(job_id__in=job_ids).values_list(*fields):
        if keep is not None and not keep(row[7]):
            continue
        match_id, job_id, pattern_id, line, log_id, step_index, container = row[:7]
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
    best_ids: dict[int, int | None] = {}
    for job_id, candidates in by_job.items():
        best = ranking.best_match(
            candidates,
            info.get,
            position=lambda c: (c.step_index, c.container, c.line),
            promoted=promoted.get(job_id),
            key_of=lambda c: (c.log_id, c.pattern_id, c.line),
        )
        best_ids[job_id] = best.match_id if best else None
    return best_ids


def update_best_matches(job_ids: Iterable[int]) -> list[int]:
    """Recompute the best match of these jobs from their stored matches (no log is read).

    Returns the ids of the jobs whose best match changed.
    """
    job_ids = list(job_ids)
    if not job_ids:
        return []
    best_ids = ranked_matches(job_ids)
    current = dict(BestMatch.objects.filter(job_id__in=job_ids).values_list("job_id", "match_id"))
    patterns = dict(
        Match.objects.filter(id__in=[m for m in best_ids.values() if m]).values_list(
            "id", "pattern_id"
        )
    )
    changed = []
    for job_id, match_id in best_ids.items():
        if match_id is None:
            if job_id in current:
                BestMatch.objects.filter(job_id=job_id).delete()
                changed.append(job_id)
        elif current.get(job_id) != match_id:
            BestMatch.objects.update_or_create(
                job_id=job_id, defaults={"match_id": match_id, "pattern_id": patterns[match_id]}
            )
            changed.append(job_id)
    if changed:
        signals.best_matches_changed.send(Pattern, job_ids=changed)
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
    total = scanned_logs().count()
    behind = backlog(top).count()
    return {"logs": total, "up_to_date": total - behind, "backlog": behind, "highest_pattern": top}


def pattern_coverage(pattern: Pattern) -> tuple[int, int]:
    """(logs already scanned with this pattern, all logs)."""
    total = scanned_logs().count()
    scanned = (
        scanned_logs().filter(scanned_through__gte=pattern.pk, needs_full_rescan=False).count()
    )
    return scanned, total
