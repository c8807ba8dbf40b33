"""The pattern workbench: try an expression on one log, and backtest it over stored history.

Nothing here writes to the database: a candidate pattern is compiled and scanned in
memory, and compared with what the stored matches say today.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings

from citriage.ci.models import FAILED_CONCLUSIONS, Conclusion, StoredLog
from citriage.logstore import load_text
from citriage.patterns.models import Match, Pattern, PromotedMatch
from citriage.scanner import engine, ranking
from citriage.scanner import patterns as scanner_patterns
from citriage.scanner.logtext import LogText

CANDIDATE_ID = 2**62  # newer than any stored pattern, as a saved one would be
MAX_SHOWN_MATCHES = 200
MAX_SHOWN_TEXT = 400
# Tries running at once in one web process: the others' threads stay free for webhook
# deliveries and pages, which must never wait behind someone's costly expression.
TRY_SLOTS = threading.BoundedSemaphore(1)


class Busy(Exception):
    """Every try slot of this process is taken: the caller should try again shortly."""


@lru_cache(maxsize=4)
def _cached_text(storage_key: str, line_count: int) -> LogText:
    return load_text(storage_key, line_count)


def stored_text(log: StoredLog) -> LogText:
    """The stripped text of a stored log; the few last ones read stay in memory, so a
    log viewer paging through a 100 MB log decompresses it once."""
    return _cached_text(log.storage_key, log.line_count)


def candidate(
    expression: str,
    *,
    is_regex: bool,
    applicable_steps: tuple[str, ...] = (),
    lines_from_end: int | None = None,
    specificity: int = 1,
) -> scanner_patterns.Pattern:
    """A validated, unsaved pattern; PatternError says what is wrong with it."""
    pattern = scanner_patterns.Pattern(
        id=CANDIDATE_ID,
        expression=expression,
        is_regex=is_regex,
        applicable_steps=applicable_steps,
        lines_from_end=lines_from_end,
        specificity=specificity,
    )
    try:
        return pattern.validated()
    except scanner_patterns.PatternError as exc:
        raise scanner_patterns.PatternError(
            str(exc).replace(pattern.label, "the expression", 1)
        ) from None


@dataclass
class TryResult:
    total: int
    matches: list[dict[str, object]]
    timed_out: str = ""  # why it stopped, when it ran out of time on this log


def _shown(match: engine.Match) -> dict[str, object]:
    text, start, end = match.text, match.start, match.end
    if len(text) > MAX_SHOWN_TEXT:
        left = max(0, start - MAX_SHOWN_TEXT // 4)
        text = text[left : left + MAX_SHOWN_TEXT]
        start, end = start - left, min(end - left, len(text))
    return {"line": match.line, "text": text, "start": start, "end": end}


def try_on_log(pattern: scanner_patterns.Pattern, log: StoredLog) -> TryResult:
    """The pattern's matches in the log, within CITRIAGE_PATTERN_SECONDS; Busy when this
    process already runs a try."""
    if not TRY_SLOTS.acquire(blocking=False):
        raise Busy("another try is running here; try again in a moment")
    try:
        pattern_set = engine.PatternSet([pattern], time_limit=settings.PATTERN_SECONDS)
        report = pattern_set.run(stored_text(log), log.step.name)
    finally:
        TRY_SLOTS.release()
    found = report.matches
    return TryResult(
        len(found),
        [_shown(m) for m in found[:MAX_SHOWN_MATCHES]],
        next(iter(report.timed_out.values()), ""),
    )


@dataclass(frozen=True)
class _Ranked:
    pattern_id: int
    line: int
    position: tuple[int, int, int]
    match_id: int | None


@dataclass
class JobHit:
    job_id: int
    name: str
    sha: str
    branch: str
    line: int
    text: str
    current_pattern: int | None
    becomes_best: bool


@dataclass
class Backtest:
    logs_scanned: int = 0
    logs_total: int = 0
    complete: bool = True
    failed_jobs_matched: int = 0
    best_match_changes: int = 0
    passing_logs_scanned: int = 0
    passing_logs_matched: int = 0
    timed_out_logs: int = 0  # logs it ran out of time on (saved, it would be retired)
    jobs: list[JobHit] = field(default_factory=list)


def _logs_to_scan(limit: int) -> list[StoredLog]:
    """Newest logs first: failed jobs' logs, and passing jobs' logs where stored."""
    wanted = [*FAILED_CONCLUSIONS, Conclusion.SUCCESS]
    return list(
        StoredLog.objects.filter(job__conclusion__in=wanted)
        .select_related("job", "step")
        .order_by("-job__finished_at", "-id")[:limit]
    )


def _stored_candidates(job_ids: list[int]) -> dict[int, list[_Ranked]]:
    by_job: dict[int, list[_Ranked]] = defaultdict(list)
    rows = Match.objects.filter(job_id__in=job_ids).values_list(
        "job_id", "id", "pattern_id", "line", "log__step__index", "log__step__container"
    )
    for job_id, match_id, pattern_id, line, step_index, container in rows.iterator():
        by_job[job_id].append(_Ranked(pattern_id, line, (step_index, container, line), match_id))
    return by_job


def backtest(
    pattern: scanner_patterns.Pattern,
    *,
    max_logs: int = 5000,
    time_budget: float = 20.0,
    shown: int = 50,
) -> Backtest:
    """Scan the newest stored logs with the candidate and compare with today's best matches."""
    compiled = engine.PatternSet([pattern], time_limit=settings.PATTERN_SECONDS)
    logs = _logs_to_scan(max_logs)
    result = Backtest(logs_total=len(logs))
    deadline = time.monotonic() + time_budget
    first_hit: dict[int, tuple[StoredLog, engine.Match]] = {}
    for log in logs:
        if time.monotonic() > deadline:
            result.complete = False
            break
        report = compiled.run(stored_text(log), log.step.name)
        found = report.matches
        result.timed_out_logs += bool(report.timed_out)
        result.logs_scanned += 1
        passing = log.job.conclusion == Conclusion.SUCCESS
        result.passing_logs_scanned += passing
        if not found:
            continue
        if passing:
            result.passing_logs_matched += 1
        elif log.job_id not in first_hit:
            first_hit[log.job_id] = (log, found[-1])  # the later line ranks higher
    result.failed_jobs_matched = len(first_hit)
    if not first_hit:
        return result
    rank_info: dict[int, ranking.RankedPattern] = {
        row.id: row
        for row in Pattern.objects.filter(
            id__in=Match.objects.filter(job_id__in=list(first_hit)).values("pattern_id")
        )
    }
    rank_info[CANDIDATE_ID] = pattern
    current = dict(
        Match.objects.filter(best_for__job_id__in=list(first_hit)).values_list(
            "job_id", "pattern_id"
        )
    )
    stored = _stored_candidates(list(first_hit))
    # A person chose the best match of a promoted job; a new pattern does not override it.
    promoted = set(
        PromotedMatch.objects.filter(job_id__in=list(first_hit)).values_list("job_id", flat=True)
    )
    for job_id, (log, match) in first_hit.items():
        position = (log.step.index, log.step.container, match.line)
        hit = _Ranked(CANDIDATE_ID, match.line, position, None)
        best = ranking.best_match(
            [*stored[job_id], hit], rank_info.get, position=lambda m: m.position
        )
        becomes_best = job_id not in promoted and best is hit
        result.best_match_changes += becomes_best
        if len(result.jobs) < shown:
            result.jobs.append(
                JobHit(
                    job_id=job_id,
                    name=log.job.name,
                    sha=log.job.sha,
                    branch=log.job.branch,
                    line=match.line,
                    text=str(_shown(match)["text"]),
                    current_pattern=current.get(job_id),
                    becomes_best=becomes_best,
                )
            )
    return result


def matches_by_line(log: StoredLog, first: int, last: int) -> dict[int, list[dict[str, int]]]:
    """Stored matches of a log between two lines, for highlighting in the log viewer."""
    spans: dict[int, list[dict[str, int]]] = defaultdict(list)
    for line, start, end, pattern_id in Match.objects.filter(
        log=log, line__gte=first, line__lte=last
    ).values_list("line", "start", "end", "pattern_id"):
        spans[line].append({"start": start, "end": end, "pattern": pattern_id})
    return dict(spans)
