"""The pages in a real browser: they load cleanly, plots render, the workbench and the log
viewer work end to end, and hostile log text stays text."""

from __future__ import annotations

import re
from typing import Any

from citriage.ci.models import StoredLog
from citriage.ops.worker import run_worker
from citriage.patterns.models import BestMatch, Match, Pattern
from tests.browser.conftest import screenshot
from tests.web.conftest import HOSTILE_LINE, History

HEALTH_PLOTS = 3


def test_every_page_loads_without_errors_and_plots_render(page: Any, site: History) -> None:
    job = site.matched_job
    best = BestMatch.objects.get(job=job)
    pages = {
        "home": ("/", 1),
        "patterns": ("/patterns/", 0),
        "pattern": (f"/patterns/{best.pattern_id}/", 3),
        "workbench": (f"/patterns/new/?job={job.pk}", 0),
        "job": (f"/jobs/{job.pk}/", 0),
        "commit": (f"/commits/{job.sha}/", 0),
        "unattributed": ("/unattributed/", 0),
        "flaky": ("/flaky/", 2),
        "system": ("/system/", 0),
        "timeline": ("/timeline/", 0),
        "breakages": ("/breakages/", 0),
        "health": ("/health/", HEALTH_PLOTS),
        "api-docs": ("/api/docs", 0),
    }
    for name, (url, plots) in pages.items():
        response = page.goto(url)
        assert response is not None and response.ok, url
        page.wait_for_load_state("networkidle")
        if plots:
            rendered = page.locator(".plot[data-rendered='1'] .main-svg")
            rendered.first.wait_for()
            assert page.locator(".plot[data-rendered='1']").count() == plots, url
        screenshot(page, name)
    assert page.problems == []


def test_log_viewer_jumps_to_and_highlights_a_match(page: Any, site: History) -> None:
    best = BestMatch.objects.select_related("match").get(job=site.matched_job)
    page.goto(f"/jobs/{site.matched_job.pk}/")
    page.locator(f"a.jump[data-line='{best.match.line}']").first.click()
    target = page.locator(f"#logview li#L{best.match.line}")
    target.wait_for()
    assert "target" in (target.get_attribute("class") or "")
    assert target.locator("mark").count() >= 1
    assert best.match.text.strip()[:40] in target.inner_text()
    assert target.is_visible()
    screenshot(page, "job-log-viewer")


def test_log_viewer_pages_through_a_long_log(page: Any, site: History) -> None:
    from tests import factories

    lines = [f"line {n} of a long log" for n in range(1, 200_001)]
    lines[150_000] = "FATAL: disk quota exceeded on /var/lib/build"
    attempt = factories.job(site.hostile_job.repository, name="long-job", sha="c" * 40)
    log = factories.failed_log(attempt, "\n".join(lines))
    Pattern.objects.create(expression="disk quota exceeded", specificity=10)
    from citriage.patterns import scanning

    scanning.scan_backlog(time_budget=float("inf"))
    match = Match.objects.get(log=log)
    page.goto(f"/jobs/{attempt.pk}/#L{match.line}")
    target = page.locator(f"#logview li#L{match.line}")
    target.wait_for()
    assert "disk quota exceeded" in target.inner_text()
    assert page.locator("#logview li").count() < 200  # only the lines in view are in the page
    page.locator("#logview").evaluate("view => { view.scrollTop = 0; }")
    page.locator("#logview li#L1").wait_for()
    assert page.locator("#logview li#L1").inner_text().startswith("1")


def test_hostile_log_line_shows_as_text(page: Any, site: History) -> None:
    log = StoredLog.objects.get(job=site.hostile_job)
    page.goto(f"/jobs/{site.hostile_job.pk}/?log={log.pk}#L3")
    line = page.locator("#logview li#L3")
    line.wait_for()
    assert HOSTILE_LINE in line.inner_text()
    assert page.locator("#logview img").count() == 0
    assert page.locator("#logview script").count() == 0
    screenshot(page, "hostile-log")


def test_new_pattern_from_a_line_backtest_save_and_rescan(writer: Any, site: History) -> None:
    page = writer
    log = StoredLog.objects.get(job=site.hostile_job)
    page.goto(f"/jobs/{site.hostile_job.pk}/?log={log.pk}#L5")
    line = page.locator("#logview li#L5")
    line.wait_for()
    line.hover()
    line.locator("a.new-pattern").click()
    page.wait_for_url(re.compile(r"/patterns/new/"))

    expression = page.locator("#id_expression")
    assert expression.input_value() == "E   AssertionError: expected 3 widgets, got 2"
    # Generalise the line into a regex, as a person would, and watch the live matches.
    expression.fill(r"AssertionError: expected \d+ widgets, got \d+")
    page.locator("#id_is_regex").check()
    page.locator("#id_specificity").fill("50")  # more specific than the generic library rules
    # The live result follows the last edit: the mark shrinks to what the regex matches.
    page.wait_for_function(
        "document.querySelector('#try-results mark')?.textContent"
        " === 'AssertionError: expected 3 widgets, got 2'"
    )
    assert page.locator("#try-status").inner_text() == "1 matching line"

    # Opened from a line, the page backtested it at once; a worker answers that first.
    run_worker(queues=["scan"], interval=0, batch=True)
    page.wait_for_function("!document.getElementById('backtest').disabled")
    page.locator("#backtest").click()
    status = page.locator("#backtest-status")
    page.wait_for_function(  # queued: a worker runs it, the page polls
        "document.getElementById('backtest-status').textContent === 'Waiting for a worker…'"
    )
    run_worker(queues=["scan"], interval=0, batch=True)
    page.wait_for_function(
        "document.getElementById('backtest-status').dataset.matched !== undefined"
    )
    assert status.inner_text().startswith("Matches 1 failed job")
    assert page.locator("#backtest-results tbody tr").count() == 1
    page.locator("#id_description").fill("widget count mismatch")
    page.locator("#id_tags").fill("flaky")
    screenshot(page, "workbench")

    page.locator("#save").click()
    page.wait_for_url(re.compile(r"/patterns/\d+/$"))
    created = Pattern.objects.get(description="widget count mismatch")
    progress = page.locator("#progress")
    assert progress.inner_text().startswith("0 of")  # the retroactive scan is queued, not done

    run_worker(queues=["default", "scan"], interval=0.1, batch=True)  # a worker picks it up
    page.wait_for_function(
        f"document.getElementById('progress').dataset.scanned === '{StoredLog.objects.count()}'",
        timeout=30_000,
    )
    page.wait_for_selector("table.matches details.context")  # the page reloaded with matches
    assert "expected 3 widgets, got 2" in page.locator("table.matches").inner_text()
    page.locator("table.matches details.context summary").first.click()
    page.locator("table.matches pre.excerpt .line.match").wait_for()
    assert "expected 3 widgets" in page.locator("pre.excerpt .line.match").inner_text()
    assert BestMatch.objects.get(job=site.hostile_job).pattern_id == created.pk
    screenshot(page, "pattern-after-save")
