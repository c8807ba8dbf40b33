"""What a newcomer meets in the first hour, in a real browser: static files (plotly only
where a chart is, compressed, cached for long), the demo's unattributed failures,
/system/ saying what failed and what waits, the timeline's inferred breakages and group
labels, pages that read well (pagination, filters, charts, 404, favicon)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from citriage.ci import recording
from citriage.ci.models import FAILED_CONCLUSIONS, Commit, JobAttempt, Repository, RerunRequest
from citriage.ci.tasks import sync_job_task
from citriage.github.deliveries import Received, store_delivery
from citriage.ops.sweeps import SWEEPS
from citriage.ops.worker import run_worker
from citriage.patterns import library
from citriage.triage import breakages, refresh, summary
from citriage.triage.models import Breakage, PendingSummary
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_breakages import branch_with_a_pull_request
from tests.fakes import FakeServer, json_reply
from tests.service.test_reporting import SHA, app_settings, github  # noqa: F401 - fixtures
from tests.web.conftest import History

pytestmark = pytest.mark.browser


def scripts_loaded(page: Any, url: str) -> list[Any]:
    """The responses of the scripts a page loads."""
    seen: list[Any] = []
    page.on("response", lambda r: seen.append(r) if r.request.resource_type == "script" else None)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return seen


def test_plotly_only_where_a_chart_is_compressed_and_cached(page: Any, site: History) -> None:
    without = scripts_loaded(page, f"/jobs/{site.matched_job.pk}/")
    assert without and not any("plotly" in r.url for r in without)
    loaded = [r for r in scripts_loaded(page, "/") if "plotly" in r.url]
    assert len(loaded) == 1
    plotly = loaded[0]
    assert re.search(r"/static/vendor/plotly/plotly\.min\.[0-9a-f]{12}\.js$", plotly.url)
    headers = plotly.all_headers()
    assert headers.get("content-encoding") == "gzip"
    assert "max-age=315360000" in headers["cache-control"]
    assert int(headers["content-length"]) < 2_000_000  # 4.8 MB as sent uncompressed before
    page.locator(".plot[data-rendered='1'] .main-svg").first.wait_for()

    # a pattern nothing matched draws no empty chart (and loads no plotly)
    lonely = library.create_pattern("this text is in no log at all")
    scripts = scripts_loaded(page, f"/patterns/{lonely.pk}/")
    assert not any("plotly" in r.url for r in scripts)
    assert page.locator(".plot").count() == 0
    assert "nothing to chart" in page.locator(".no-charts").inner_text()

    # /favicon.ico is the site's icon; an unknown page keeps the header and the search
    icon = page.request.get("/favicon.ico")
    assert icon.ok and icon.headers["content-type"].startswith("image/svg")
    missing = page.request.get("/no/such/page/")
    assert missing.status == 404
    page.set_content(missing.text())  # (a 404 in the address bar is a console error)
    assert page.locator("header nav a").count() >= 8
    assert page.locator("header form.search input").count() == 1
    assert "There is no page at" in page.locator("main").inner_text()


def test_patterns_filter_pagination_and_health_axes(page: Any, site: History) -> None:
    page.goto("/patterns/")
    retired = page.locator("select#id_retired option")
    assert retired.first.inner_text() == "any"
    assert retired.all_inner_texts() == ["any", "no", "yes"]
    pages = page.locator("ul.pagination")
    assert pages.count() == 1  # the default library's 204 patterns, 50 a page
    style = pages.evaluate("e => [getComputedStyle(e).display, getComputedStyle(e).listStyleType]")
    assert style == ["flex", "none"]
    link = page.locator("ul.pagination li a").first
    assert link.evaluate("e => getComputedStyle(e).borderTopStyle") == "solid"
    screenshot(page, "patterns-pagination")
    page.locator("select#id_retired").select_option("yes")
    with page.expect_navigation():
        page.locator("form.filters button").click()
    assert "retired=true" in page.url

    page.goto("/health/")
    page.locator(".plot[data-rendered='1'] .main-svg").first.wait_for()
    page.wait_for_function("document.querySelectorAll('.plot[data-rendered=\"1\"]').length === 3")
    for plot in page.locator(".plot[data-rendered='1']").all():
        box = plot.bounding_box()
        for tick in plot.locator(".xtick text").all():
            label = tick.bounding_box()
            if label is None:
                continue
            # every x-axis label lies inside its chart (no clipped dates or names)
            assert label["y"] + label["height"] <= box["y"] + box["height"] + 1
            assert label["x"] >= box["x"] - 1
    screenshot(page, "health")


def test_demo_has_unattributed_failures_and_clusters(page: Any, site: History) -> None:
    page.goto("/unattributed/")
    assert "Every failure is explained" not in page.locator("main").inner_text()
    assert page.locator("table tbody tr td", has_text="docs").count() >= 1
    page.goto("/clusters/")
    rows = page.locator("tr.cluster")
    assert rows.count() >= 1
    assert "broken link" in rows.first.inner_text()
    screenshot(page, "clusters-demo")


@pytest.mark.usefixtures("app_settings")
def test_system_names_failures_with_their_error_and_cool_offs(
    page: Any,
    site: History,
    github: FakeServer,  # noqa: F811
) -> None:
    # a delivery that cannot be processed
    store_delivery(Received("guid-broken-1", "pull_request", "opened", "acme/x", "[1, 2]"))
    # a task that raises
    sync_job_task.enqueue(999_999, "circleci", "1")  # no such repository
    run_worker(queues=["*"], interval=0, batch=True)
    # a report GitHub refuses (no check runs here): it stays owed, with the error
    repo, main = branch_with_a_pull_request()
    github.on("GET", "/repos/acme/launch/installation", json_reply({"id": 4242, "app_id": 1}))
    summary.summarize_commit(repo, SHA)
    failing = PendingSummary.objects.get(repository=repo, sha=SHA)
    assert failing.report_attempts == 1 and failing.report_error
    # commits whose report waits out its cool-off (the demo's, and one more)
    refresh.touch(repo.pk, [main[4]], live=True)
    now = timezone.now()
    cooling = PendingSummary.objects.filter(
        next_at__isnull=False, report_at__gt=now, report_attempts=0
    ).count()

    page.goto("/system/")
    deliveries = page.locator("table.failed-deliveries").inner_text()
    assert "the payload is not a JSON object" in deliveries
    assert "DoesNotExist" in page.locator("table.failed-tasks").inner_text()
    reports = page.locator("table.failing-reports").inner_text()
    assert SHA[:10] in reports and failing.report_error[:40] in reports
    said = page.locator("#cooling").inner_text()
    assert said.startswith(f"{cooling} commit") and "not stuck" in said
    assert cooling >= 1
    screenshot(page, "system-failures")


def test_timeline_inferred_breakages_group_labels_and_the_ongoing_default(
    writer: Any, site: History
) -> None:
    page = writer
    repository = Repository.objects.get(owner="acme", name="rocket")
    branch = list(
        Commit.objects.filter(repository=repository, branch_position__isnull=False).order_by(
            "branch_position"
        )
    )
    old = breakages.create_breakage(
        repository, cause=branch[1], jobs=["lint"], description="ongoing, older cause"
    )
    breakages.create_breakage(
        repository, cause=branch[3], fix=branch[5], jobs=["lint"], description="fixed, newer"
    )
    assert Breakage.objects.filter(repository=repository, fix__isnull=True).count() >= 1
    page.goto("/timeline/?repo=acme/rocket&green=1")
    # the menu starts on the newest ongoing breakage, not on the first listed
    chosen = page.locator("select[name=breakage]").evaluate("s => s.value")
    ongoing = Breakage.objects.filter(repository=repository, fix__isnull=True).order_by(
        "-cause__branch_position"
    )
    assert int(chosen) == ongoing.first().pk
    assert old.pk in set(ongoing.values_list("pk", flat=True))
    # every group label is whole
    for label in page.locator("th.group div").all():
        whole = label.evaluate(
            "d => d.scrollWidth <= d.clientWidth + 1 && d.scrollHeight <= d.clientHeight + 1"
        )
        assert whole, label.inner_text()
    assert page.locator("th.group.narrow").count() >= 1  # "lint", "docs": upright
    screenshot(page, "timeline-groups")


def test_inferred_breakages_stand_out(page: Any, site: History) -> None:
    repo = recording.get_repository("acme/inferred", create=True, providers=["circleci"])
    main = [f"{i:x}".rjust(40, "e") for i in range(1, 7)]
    for i, sha in enumerate(main):
        recording.record_commit(repo, sha, parents=[main[i - 1]] if i else [], message=f"c{i}")
    recording.record_default_branch(repo, main)
    for i, sha in enumerate(main):
        if i in (2, 3, 4):
            attempt = factories.job(repo, name="build", sha=sha)
            factories.failed_log(attempt, "make\nsrc/engine.c:41:7: error: 'thrust' undeclared\n")
        else:
            factories.job(repo, name="build", sha=sha, conclusion="success")
    factories.settle()
    page.goto("/timeline/?repo=acme/inferred")
    cells = page.locator("td.c.inf")
    assert cells.count() == 3
    colour = cells.first.evaluate("c => getComputedStyle(c).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")  # a fill, not a faint hatch
    screenshot(page, "timeline-inferred")


@pytest.mark.usefixtures("app_settings")
def test_rerun_answers_at_once_and_the_demo_never_calls_out(
    writer: Any,
    site: History,
    github: FakeServer,  # noqa: F811
) -> None:
    page = writer
    # no CircleCI token: the page says so at once; nothing is queued, nothing is called
    with override_settings(CIRCLECI_TOKEN=""):
        page.goto(f"/jobs/{site.hostile_job.pk}/")
        page.locator("button", has_text="Rerun job").click()
        said = page.locator(".messages li").inner_text()
    assert said == "Cannot rerun: CircleCI is not configured: set CITRIAGE_CIRCLECI_TOKEN"
    refused = RerunRequest.objects.get(job=site.hostile_job)
    assert refused.finished_at is not None and not refused.ok
    screenshot(page, "rerun-not-configured")

    # with a token and a GitHub App, the demo's jobs still go nowhere: a rerun is refused,
    # and the sweeps, the worker and a report owed for a demo commit call nobody about it
    circleci = FakeServer()
    try:
        with override_settings(CIRCLECI_TOKEN="t", CIRCLECI_URL=circleci.url + "/api"):
            demo_job = JobAttempt.objects.filter(
                repository__name="rocket", conclusion__in=FAILED_CONCLUSIONS
            ).first()
            assert demo_job is not None
            page.goto(f"/jobs/{demo_job.pk}/")
            page.locator("button", has_text="Rerun job").click()
            said = page.locator(".messages li").inner_text()
            assert said == "Cannot rerun: acme/rocket is the generated demo: it has no CI provider"
            refresh.touch(demo_job.repository_id, [demo_job.sha], live=True)
            PendingSummary.objects.filter(repository=demo_job.repository).update(
                next_at=timezone.now(), report_at=timezone.now()
            )
            for sweep in SWEEPS:
                sweep.run()
            run_worker(queues=["*"], interval=0, batch=True)
            for sweep in SWEEPS:
                sweep.run()
            run_worker(queues=["*"], interval=0, batch=True)
        called = [f"{r.method} {r.path}" for r in circleci.requests + github.requests]
        assert not [c for c in called if "rocket" in c or "rerun" in c], called
        assert circleci.requests, "the watched repository (acme/hostile) is backfilled"
        assert RerunRequest.objects.get(job=demo_job).finished_at is not None
    finally:
        circleci.close()
