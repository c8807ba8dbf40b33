"""Pattern frequencies and trends, materialized for the pages (see PatternStats)."""

from __future__ import annotations

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
    """Recompute every pattern's stats in a few grouped queries."""
    weeks = week_starts()
    seen = {
        row["pattern_id"]: row
        for row in Match.objects.values("pattern_id").annotate(
            jobs=Count("job", distinct=True),
            first=Min("job__finished_at"),
            last=Max("job__finished_at"),
        )
    }
    best = dict(BestMatch.objects.values_list("pattern_id").annotate(n=Count("job")))
    weekly: dict[int, dict[datetime, int]] = {}
    for row in (
        Match.objects.filter(job__finished_at__gte=weeks[0])
        .annotate(week=TruncWeek("job__finished_at"))
        .values("pattern_id", "week")
        .annotate(jobs=Count("job", distinct=True))
    ):
        weekly.setdefault(row["pattern_id"], {})[row["week"]] = row["jobs"]
    rows = []
    for pattern_id in Pattern.objects.values_list("id", flat=True):
        found = seen.get(pattern_id, {})
        per_week = weekly.get(pattern_id, {})
        rows.append(
            PatternStats(
                pattern_id=pattern_id,
                matched_jobs=found.get("jobs", 0),
                best_jobs=best.get(pattern_id, 0),
                first_seen=found.get("first"),
                last_seen=found.get("last"),
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
        StoredLog.objects.filter(needs_full_rescan=False)
        .values_list("scanned_through")
        .annotate(n=Count("id"))
    )
    total = StoredLog.objects.count()
    ids = sorted(Pattern.objects.values_list("id", flat=True))
    watermarks = sorted(histogram)
    shares = {}
    for pattern_id in ids:
        shares[pattern_id] = sum(histogram[w] for w in watermarks if w >= pattern_id)
    return shares, total
