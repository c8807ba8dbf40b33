"""Background work on patterns: scanning logs, re-ranking after edits."""

from __future__ import annotations

from django_tasks import task

from citriage.ci.models import StoredLog
from citriage.patterns import scanning, signals, stats
from citriage.patterns.models import BestMatch, Pattern


@task(queue_name="scan")
def scan_logs_task(log_ids: list[int]) -> int:
    """Scan freshly stored logs (new logs are scanned with every pattern)."""
    return scanning.scan_logs(StoredLog.objects.filter(pk__in=log_ids)).new_matches


@task(queue_name="scan")
def scan_backlog_task() -> int:
    """Bring every stored log up to date with the pattern library."""
    done = scanning.scan_backlog()
    if done and scanning.backlog().exists():
        scan_backlog_task.enqueue()  # the time budget ran out: carry on in a fresh task
    elif done:
        refresh_stats_task.enqueue()  # the backlog is done: the pages' counts catch up
    return done


@task()
def rerank_pattern_task(pattern_id: int) -> int:
    """After an edit of a pattern: best matches re-ranked, and the verdicts of the jobs it
    explains recomputed (its tags may have changed what it means)."""
    changed = scanning.rerank_jobs_with_pattern(pattern_id)
    explained = BestMatch.objects.filter(pattern_id=pattern_id).values_list("job_id", flat=True)
    signals.best_matches_changed.send(Pattern, job_ids=list(explained))
    return changed


@task()
def refresh_stats_task() -> int:
    return stats.refresh()
