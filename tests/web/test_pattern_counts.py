"""Counts the pages show: the pattern stats sweep, a pattern page's plots and match list,
the home page's failures per day.

Their queries were rewritten for speed on large histories (bench/ui.py); these pin what
they show.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
from django.test import Client

from citriage.ci.models import JobAttempt
from citriage.patterns import library, scanning, stats
from citriage.patterns.models import Match, Pattern, PatternStats
from citriage.web import views
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.db]
LINE = "FATAL: disk quota exceeded on /scratch"
_shas = iter(range(1, 10_000))


def _hit(name: str, finished_at: datetime | None, *, times: int = 1) -> JobAttempt:
    """A failed job whose log holds LINE `times` times, ending at `finished_at`."""
    job = factories.job(factories.repository(), name=name, sha=f"{next(_shas):040x}")
    factories.failed_log(job, "\n".join(["setup ok", *[LINE] * times, "exit 1"]))
    JobAttempt.objects.filter(pk=job.pk).update(finished_at=finished_at)
    return job


@pytest.fixture
def weeks() -> list[datetime]:
    return stats.week_starts()


def test_refresh_counts_jobs_weeks_and_best_matches(
    log_store: object, weeks: list[datetime]
) -> None:
    pattern = library.create_pattern(LINE, description="quota")
    other = library.create_pattern("setup ok", specificity=-5)
    long_ago = weeks[0] - timedelta(weeks=30)
    _hit("unit", weeks[-1] + timedelta(hours=3), times=3)  # several matches, one job
    _hit("unit", weeks[-1] + timedelta(hours=5))
    _hit("lint", weeks[-3] + timedelta(days=2))
    _hit("lint", long_ago)  # matched, but before the trend's weeks
    _hit("e2e", None)  # no end time: counted, but in no week
    scanning.scan_backlog(time_budget=float("inf"))

    assert stats.refresh() == Pattern.objects.count()
    row = PatternStats.objects.get(pattern=pattern)
    assert row.matched_jobs == 5
    assert row.best_jobs == 5  # the more specific pattern wins in every job
    assert row.first_seen == long_ago
    assert row.last_seen == weeks[-1] + timedelta(hours=5)
    assert row.weekly == [0] * 9 + [1, 0, 2]
    setup = PatternStats.objects.get(pattern=other)
    assert (setup.matched_jobs, setup.best_jobs) == (5, 0)


def _figure(html: str, name: str) -> dict[str, list[object]]:
    found = re.search(rf'id="fig-{name}">(.*?)</script>', html, re.S)
    assert found, f"no fig-{name} on the page"
    return json.loads(found.group(1))["data"][0]  # type: ignore[no-any-return]


def test_pattern_page_plots_and_newest_first_matches_of_an_old_pattern(
    client: Client, log_store: object, weeks: list[datetime]
) -> None:
    pattern = library.create_pattern(LINE)
    old = weeks[0] - timedelta(weeks=20)
    # Long-ago hits spread over weeks (two jobs ending at the same moment), and one recent.
    for i in range(28):
        _hit("unit" if i % 3 else "lint", old + timedelta(days=2 * i), times=1 + i % 2)
    _hit("e2e", old + timedelta(days=2 * 27))
    recent = _hit("unit", weeks[-2] + timedelta(days=1))
    scanning.scan_backlog(time_budget=float("inf"))
    expected = sorted(
        Match.objects.filter(pattern=pattern).select_related("job"),
        key=lambda m: (m.job.finished_at, m.pk),
        reverse=True,
    )
    assert len(expected) == 44

    shown = []
    for page in (1, 2, 3):
        html = client.get(f"/patterns/{pattern.pk}/?page={page}").content.decode()
        shown += [
            (int(job), int(log), int(line))
            for job, log, line in re.findall(r'href="/jobs/(\d+)/\?log=(\d+)#L(\d+)"', html)
        ]
    assert shown == [(m.job_id, m.log_id, m.line) for m in expected]

    jobs_plot = _figure(html, "jobs")
    assert dict(zip(jobs_plot["y"], jobs_plot["x"], strict=True)) == {
        "unit": 19,
        "lint": 10,
        "e2e": 1,
    }
    weekly = _figure(html, "weekly")
    assert weekly["y"] == [0] * 10 + [1, 0]
    steps = _figure(html, "steps")
    assert dict(zip(steps["y"], steps["x"], strict=True)) == {"Run tests": 30}
    assert recent.pk == shown[0][0]


def test_home_plot_counts_failures_from_midnight_of_the_first_day_shown(
    client: Client, log_store: object
) -> None:
    days = views._days()
    first = views._start_of(days[0])
    for finished_at, conclusion in [
        (first - timedelta(minutes=1), "failure"),  # the day before: not shown
        (first, "failure"),
        (first + timedelta(days=3), "success"),  # passed: not a failure
        (views._start_of(days[-1]) + timedelta(minutes=1), "timed_out"),
    ]:
        job = factories.job(
            factories.repository(), sha=f"{next(_shas):040x}", conclusion=conclusion
        )
        JobAttempt.objects.filter(pk=job.pk).update(finished_at=finished_at)

    html = client.get("/").content.decode()
    traces = json.loads(re.search(r'id="fig-failures">(.*?)</script>', html, re.S).group(1))["data"]  # type: ignore[union-attr]
    assert traces[0]["x"] == [day.isoformat() for day in days]
    per_day = [sum(trace["y"][i] for trace in traces) for i in range(len(days))]
    assert per_day == [1] + [0] * (len(days) - 2) + [1]


def test_pattern_text_filter_with_a_nul_is_refused_and_a_tab_is_found(client: Client) -> None:
    library.create_pattern("a\tb")
    refused = client.get("/api/patterns", {"text": "a\x00b"})
    assert refused.status_code == 400 and "NUL" in refused.json()["detail"]
    assert [p["expression"] for p in client.get("/api/patterns", {"text": "A\tB"}).json()] == [
        "a\tb"
    ]
