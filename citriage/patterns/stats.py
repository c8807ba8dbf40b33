"""Pattern frequencies and trends, materialized for the pages (see PatternStats)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncWeek
from django.utils import timezone

from citriage.ci.models import StoredLog
from citriage.patterns.models import BestMatch, Match, Pattern, PatternStats

WEEKS = 12


def week_starts(now: datetime | None = None, weeks: int = WEEKS) -> list[datetime]:
    now = now or timezone.now()
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def refresh() -> int:
    """Recompute every pattern's stats in one grouped pass over the matches.

    Matched jobs are counted per pattern and week of the job's end: a job ends in one
    week, so the weeks' counts add up to the pattern's matched jobs, and its first and
    last seen are the weeks' extremes.
    """
    weeks = week_starts()
    matched: Counter[int] = Counter()
    ends: dict[int, list[datetime]] = defaultdict(list)
    weekly: dict[int, dict[datetime, int]] = defaultdict(dict)
    rows_by_week = (
        Match.objects.values("pattern_id", week=TruncWeek("job__finished_at"))
        .annotate(
            jobs=Count("job", distinct=True),
            first=Min("job__finished_at"),
            last=Max("job__finished_at"),
        )
        .order_by()
    )
    for row in rows_by_week:
        pattern_id = row["pattern_id"]
        matched[pattern_id] += row["jobs"]
        if row["week"] is not None:  # jobs with no end time have no week, first or last
            ends[pattern_id] += [row["first"], row["last"]]
            weekly[pattern_id][row["week"]] = row["jobs"]
    best = dict(BestMatch.objects.values_list("pattern_id").annotate(n=Count("job")))
    rows = []
    for pattern_id in Pattern.objects.values_list("id", flat=True):
        per_week = weekly.get(pattern_id, {})
        rows.append(
            PatternStats(
                pattern_id=pattern_id,
                matched_jobs=matched[pattern_id],
                best_jobs=best.get(pattern_id, 0),
                first_seen=min(ends[pattern_id], default=None),
                last_seen=max(ends[pattern_id], default=None),
                weekly=[per_week.get(week, 0) for week in weeks],
            )
        )
    with transaction.atomic():
        PatternStats.objects.all().delete()
        PatternStats.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def scanned_share() -> tuple[dict[int, int], int]:
    """For every pattern id: how many stored logs are already scanned with it; and the total."""
    histogram = dict(
        StoredLog.objects.filter(needs_full_rescan=False, passing=False)
        .values_list("scanned_through")
        .annotate(n=Count("id"))
    )
    total = StoredLog.objects.filter(passing=False).count()
    ids = sorted(Pattern.objects.values_list("id", flat=True))
    watermarks = sorted(histogram)
    shares = {}
    for pattern_id in ids:
        shares[pattern_id] = sum(histogram[w] for w in watermarks if w >= pattern_id)
    return shares, total
