"""Clusters of unattributed failures: failed jobs no pattern explains, grouped by the
signature of their likely failure line."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, Max, Min, OuterRef, QuerySet, Window
from django.db.models.functions import Coalesce
from django.utils import timezone

from citriage import logstore
from citriage.ci.models import FAILED_CONCLUSIONS, PullRequestHead, StoredLog
from citriage.failurelines.models import FailureAnalysis
from citriage.patterns.models import BestMatch
from citriage.scanner import suggest
from citriage.scanner.signature import is_generic_signature

TREND_DAYS = 14
SAMPLE_LINES = 50  # lines a suggestion is checked against
PASSING_LOGS = 10  # stored logs of passing jobs a suggestion must not match


def flaky_days() -> int:
    """Days of history for flaky evidence; 0 (the default) turns it off."""
    return max(0, settings.CLUSTER_FLAKY_DAYS)


@dataclass
class FlakyEvidence:
    pulls: int  # distinct pull requests whose jobs failed this way
    authors: int  # their distinct authors


@dataclass
class Cluster:
    signature: str
    jobs: int
    first_seen: datetime
    last_seen: datetime
    example: str  # the newest member's likely failure line
    recent_job_ids: list[int] = field(default_factory=list)
    job_names: list[str] = field(default_factory=list)
    trend: list[int] = field(default_factory=list)
    suggestion: suggest.Suggestion | None = None
    flaky: FlakyEvidence | None = None


def unattributed() -> QuerySet[FailureAnalysis]:
    """Analyses of failed jobs with no best match and a specific signature."""
    return (
        FailureAnalysis.objects.filter(job__conclusion__in=FAILED_CONCLUSIONS, generic=False)
        .exclude(signature="")
        .filter(~Exists(BestMatch.objects.filter(job=OuterRef("job"))))
        .annotate(seen=Coalesce("job__finished_at", "job__created"))
    )


def cluster_rows(limit: int, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """(signature, jobs, first, last) of the biggest clusters, and how many there are."""
    grouped = (
        unattributed()
        .values("signature")
        .annotate(
            jobs=Count("job", distinct=True),
            first=Min("seen"),
            last=Max("seen"),
            groups=Window(Count("*")),  # every group counted in the same pass
        )
        .order_by("-jobs", "-last", "signature")
    )
    rows = list(grouped[offset : offset + limit])
    if rows:
        return rows, int(rows[0]["groups"])
    # past the end (or nothing at all): how many there are, for the last page
    return [], unattributed().values("signature").distinct().count()


def clusters(limit: int = 50, offset: int = 0) -> tuple[list[Cluster], int]:
    rows, total = cluster_rows(limit, offset)
    keys = [str(row["signature"]) for row in rows]
    # the members as the few values used, not as rows with their jobs (a thousand of each)
    members = list(
        unattributed()  # type: ignore[misc]  # "seen" is an annotation
        .filter(signature__in=keys)
        .order_by("-seen", "-id")
        .values_list("signature", "job_id", "job__name", "text", "seen")
    )
    by_key: dict[str, list[tuple[str, int, str, str, datetime]]] = defaultdict(list)
    for member in members:
        by_key[member[0]].append(member)
    days = _days()
    trend = _trend(members, days)
    evidence_days = flaky_days()
    # Passing runs of the jobs on this page, read once for all its suggestions.
    passing = passing_lines(sorted({name for _key, _job, name, _text, _seen in members}))
    result = []
    for row in rows:
        key = str(row["signature"])
        group = by_key[key]
        seen_jobs = {job_id: name for _key, job_id, name, _text, _seen in group}  # newest first
        cluster = Cluster(
            signature=key,
            jobs=int(row["jobs"]),
            first_seen=row["first"],
            last_seen=row["last"],
            example=group[0][3],
            recent_job_ids=list(seen_jobs)[:5],
            job_names=sorted(set(seen_jobs.values())),
            trend=[trend[key][day] for day in days],
        )
        texts = [text for _key, _job, _name, text, _seen in group[:SAMPLE_LINES]]
        cluster.suggestion = suggest.suggest(texts, passing)
        if evidence_days:
            cluster.flaky = flaky_evidence(key, evidence_days)
        result.append(cluster)
    return result, total


def _days() -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]


def _trend(
    members: list[tuple[str, int, str, str, datetime]], days: list[date]
) -> dict[str, Counter[date]]:
    """Distinct jobs per cluster and day (in the current time zone), from its members."""
    counts: dict[str, Counter[date]] = defaultdict(Counter)
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    seen = {
        (key, timezone.localdate(at), job_id)
        for key, job_id, _name, _text, at in members
        if at >= start
    }
    for key, day, _job in seen:
        counts[key][day] += 1
    return counts


def passing_lines(job_names: list[str]) -> list[str]:
    """Lines of stored logs of passing runs of these jobs, where any are stored."""
    logs = StoredLog.objects.filter(job__name__in=job_names, passing=True).order_by("-id")[
        :PASSING_LOGS
    ]
    lines: list[str] = []
    for key, line_count in logs.values_list("storage_key", "line_count"):
        try:
            lines.extend(logstore.load_text(key, line_count).lines())
        except Exception:  # a passing log that cannot be read just does not count
            continue
    return lines


def flaky_evidence(key: str, days: int) -> FlakyEvidence | None:
    """The same specific failure on unrelated pull requests by different authors within
    `days` of its last occurrence (never for generic signatures)."""
    if is_generic_signature(key):
        return None
    analyses = FailureAnalysis.objects.filter(signature=key, job__conclusion__in=FAILED_CONCLUSIONS)
    last = analyses.aggregate(last=Max(Coalesce("job__finished_at", "job__created")))["last"]
    if last is None:
        return None
    shas = set(
        analyses.filter(job__finished_at__gte=last - timedelta(days=days)).values_list(
            "job__sha", flat=True
        )
    )
    heads = PullRequestHead.objects.filter(sha__in=shas).values_list(
        "pull_id", "pull__author_login"
    )
    pulls = {pull for pull, _author in heads}
    authors = {author for _pull, author in heads if author}
    if len(pulls) < 2 or len(authors) < 2:
        return None
    return FlakyEvidence(pulls=len(pulls), authors=len(authors))
