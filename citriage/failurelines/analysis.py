"""Computing and storing the failure lines of stored logs.

The scanning service `analyse`s the log it has just read and `save`s the
analysis in the transaction that writes the matches and the watermark: with
them, or not at all. Logs the scan does not read (no pattern to run) are
caught up by `analyse_backlog`, which the scheduler's sweep queues.

Where a passing log of the same job and step is kept (citriage.ci.passing), it is
the baseline: lines it has too say little. The analysis notes which one it was.
"""

from __future__ import annotations

import functools
import logging

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from citriage import locking, logstore
from citriage.ci import passing
from citriage.ci.models import Step, StoredLog
from citriage.failurelines.models import FailureAnalysis
from citriage.scanner.failure_lines import Baseline, find_failure_lines
from citriage.scanner.logtext import LogText
from citriage.scanner.signature import is_generic_signature, signature

logger = logging.getLogger(__name__)

CANDIDATES = 5
MAX_TEXT = 2000


@functools.lru_cache(maxsize=16)
def _baseline(storage_key: str, line_count: int) -> Baseline:
    """What a kept passing log says (its key names its content: cached per process, for
    the failed logs of one job and step analysed one after another)."""
    return Baseline.of(logstore.load_text(storage_key, line_count))


def baseline_for(log_id: int) -> tuple[Step | None, Baseline | None]:
    """The passing log to compare stored log `log_id` with (its step), and what it says;
    none where no passing log of the same job and step is kept, or it cannot be read."""
    passing_log = passing.baseline_of(log_id)
    if passing_log is None:
        return None, None
    try:
        return passing_log.step, _baseline(passing_log.storage_key, passing_log.line_count)
    except Exception:  # removed meanwhile, or unreadable: the failed log is analysed alone
        logger.exception("reading passing log %s failed", passing_log.pk)
        return None, None


def _analysis(log_id: int, job_id: int, text: LogText) -> FailureAnalysis:
    baseline_step, baseline = baseline_for(log_id)
    found = find_failure_lines(text, limit=CANDIDATES, baseline=baseline)
    best = found[0] if found else None
    key = signature(best.text) if best else ""
    return FailureAnalysis(
        log_id=log_id,
        job_id=job_id,
        baseline=baseline_step,
        candidates=[
            {"line": c.line, "text": c.text[:MAX_TEXT], "score": c.score, "reason": c.reason}
            for c in found
        ],
        line=best.line if best else None,
        text=best.text[:MAX_TEXT] if best else "",
        signature=key,
        generic=is_generic_signature(key),
    )


def analysed(log_ids: list[int]) -> set[int]:
    """Which of these logs have their analysis already (one query for a scan's batch)."""
    return set(FailureAnalysis.objects.filter(log_id__in=log_ids).values_list("log_id", flat=True))


def analyse(log_id: int, job_id: int, text: LogText) -> FailureAnalysis:
    """The analysis of a log just read (not saved); the caller skips logs `analysed`
    already. A failure of the finder is kept on it as its error."""
    try:
        return _analysis(log_id, job_id, text)
    except Exception as exc:  # the finder must never stop a scan
        logger.exception("finding the failure lines of log %s failed", log_id)
        return FailureAnalysis(log_id=log_id, job_id=job_id, error=_describe(exc))


def save(analysis: FailureAnalysis) -> None:
    """Store an analysis in the caller's transaction (one already stored wins)."""
    try:
        with transaction.atomic():  # a savepoint: a clash must not spoil the scan's transaction
            analysis.save()
    except IntegrityError:
        pass  # stored meanwhile by the backfill: one analysis per log is enough


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def backlog() -> QuerySet[StoredLog]:
    """Stored logs of failed steps without an analysis yet."""
    return StoredLog.objects.filter(analysis__isnull=True, passing=False)


def analyse_backlog(*, limit: int = 200) -> int:
    """Analyse up to `limit` stored logs that have none yet (on SQLite outside any
    transaction, written in a short one: see citriage.locking)."""
    with locking.claim_transaction():
        rows = backlog()
        if locking.locks_rows():
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        claimed = list(
            rows.order_by("id").values_list("id", "job_id", "storage_key", "line_count")[:limit]
        )
        analyses = []
        for log_id, job_id, key, line_count in claimed:
            try:
                analyses.append(_analysis(log_id, job_id, logstore.load_text(key, line_count)))
            except Exception as exc:  # an unreadable log is recorded, the others go on
                logger.exception("analysing log %s failed", log_id)
                analyses.append(FailureAnalysis(log_id=log_id, job_id=job_id, error=_describe(exc)))
        with transaction.atomic():
            present = set(
                StoredLog.objects.filter(pk__in=[a.log_id for a in analyses]).values_list(
                    "id", flat=True
                )
            )  # a log deleted meanwhile gets none
            FailureAnalysis.objects.bulk_create(
                [a for a in analyses if a.log_id in present], ignore_conflicts=True
            )
    return len(claimed)
