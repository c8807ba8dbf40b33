"""Every page on a real history: it renders, escapes log text, and guards every change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from citriage.ci.models import StoredLog
from citriage.ops.worker import run_worker
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch
from tests.web.conftest import HOSTILE_LINE, History, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer_client(db: None) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(make_user("wanda", writer=True))
    return client


def _pages(history: History) -> list[str]:
    job = history.matched_job
    best = BestMatch.objects.get(job=job)
    return [
        "/",
        "/patterns/",
        "/patterns/?tag=flaky&text=error",
        f"/patterns/{best.pattern_id}/",
        "/patterns/new/",
        f"/patterns/new/?job={job.pk}&expression=Error&regex=0",
        f"/patterns/new/?supersedes={best.pattern_id}",
        f"/jobs/{job.pk}/",
        f"/jobs/{history.hostile_job.pk}/",
        f"/commits/{job.sha}/",
        "/unattributed/",
        "/flaky/",
        "/system/",
        "/timeline/",
        "/breakages/",
        "/health/",
    ]


def test_every_page_renders_with_its_data(client: Client, history: History) -> None:
    for url in _pages(history):
        response = client.get(url)
        assert response.status_code == 200, url
    job_page = client.get(f"/jobs/{history.matched_job.pk}/").content.decode()
    best = BestMatch.objects.select_related("match").get(job=history.matched_job)
    assert f'data-log="{best.match.log_id}"' in job_page  # the viewer opens on the best match's log
    assert f"#{best.pattern_id}" in job_page
    home = client.get("/").content.decode()
    assert 'id="fig-failures"' in home and '"type": "bar"' in home


def test_log_and_pattern_text_is_escaped_everywhere(client: Client, history: History) -> None:
    Pattern.objects.create(expression="<script>alert('p')</script>", description="<b>bold</b>")
    for url in [f"/jobs/{history.hostile_job.pk}/", "/unattributed/", "/patterns/?text=script"]:
        page = client.get(url).content.decode()
        assert "<img src=x" not in page and "<script>alert" not in page, url
    assert (
        "&lt;script&gt;alert(&#x27;p&#x27;)&lt;/script&gt;"
        in client.get("/patterns/?text=script").content.decode()
    )
    log = StoredLog.objects.get(job=history.hostile_job)
    lines = client.get(f"/api/logs/{log.pk}/lines?start=1&count=10").json()
    assert lines["lines"][2] == HOSTILE_LINE  # JSON carries it as data; the viewer sets textContent


def test_changes_need_login_and_write_access(client: Client, history: History) -> None:
    job = history.matched_job
    pattern = BestMatch.objects.get(job=job).pattern
    posts = [
        (f"/patterns/{pattern.pk}/retire", {}),
        (f"/patterns/{pattern.pk}/edit", {"specificity": "77"}),
        (f"/jobs/{job.pk}/rescan", {}),
        ("/patterns/new/", {"expression": "boom", "specificity": "1"}),
    ]
    for url, data in posts:
        response = client.post(url, data)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    reader = Client()
    reader.force_login(make_user("rita", writer=False))
    for url, data in posts:
        assert reader.post(url, data).status_code == 403, url
    api = reader.post(f"/api/jobs/{job.pk}/rescan", content_type="application/json")
    assert api.status_code in (401, 403)  # CSRF token missing, or no write access
    assert client.post(f"/api/jobs/{job.pk}/rescan").status_code == 401
    pattern.refresh_from_db()
    assert not pattern.is_retired and pattern.specificity != 77
    assert not Pattern.objects.filter(expression="boom").exists()


def test_api_writes_check_csrf(history: History) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("wanda", writer=True))
    job = history.matched_job
    refused = client.post(f"/api/jobs/{job.pk}/rescan", content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.content.decode()
    client.get("/patterns/new/")  # sets the CSRF cookie, as the page does for its script
    token = client.cookies["csrftoken"].value
    done = client.post(
        f"/api/jobs/{job.pk}/rescan", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert done.status_code == 200, done.content
    assert StoredLog.objects.filter(job=job, needs_full_rescan=True).exists()


def test_forms_check_csrf(history: History) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("wanda", writer=True))
    pattern = BestMatch.objects.get(job=history.matched_job).pattern
    assert client.post(f"/patterns/{pattern.pk}/retire").status_code == 403
    pattern.refresh_from_db()
    assert not pattern.is_retired


def test_workbench_saves_a_pattern_that_the_backlog_applies(
    writer_client: Client, history: History
) -> None:
    response = writer_client.post(
        "/patterns/new/",
        {
            "expression": r"AssertionError: expected \d+ widgets",
            "is_regex": "on",
            "description": "widget count",
            "tags": "flaky",
            "specificity": "50",
        },
    )
    assert response.status_code == 302
    created = Pattern.objects.get(description="widget count")
    assert response["Location"] == f"/patterns/{created.pk}/"
    assert created.author == "wanda" and created.tag_names() == ("flaky",)
    progress = writer_client.get(f"/patterns/{created.pk}/progress").json()
    assert progress["scanned"] == 0 and progress["total"] == StoredLog.objects.count()

    from citriage.patterns import scanning

    scanning.scan_backlog(time_budget=float("inf"))
    assert (
        writer_client.get(f"/patterns/{created.pk}/progress").json()["scanned"] == progress["total"]
    )
    page = writer_client.get(f"/patterns/{created.pk}/").content.decode()
    assert "<mark>AssertionError: expected 3 widgets</mark>, got 2" in page  # the match marked
    assert BestMatch.objects.get(job=history.hostile_job).pattern_id == created.pk


def test_workbench_refuses_a_hostile_regex_with_a_clear_error(
    writer_client: Client, history: History
) -> None:
    response = writer_client.post(
        "/patterns/new/", {"expression": "(a+)+$", "is_regex": "on", "specificity": "1"}
    )
    assert response.status_code == 400
    assert "backtrack" in response.content.decode()
    assert not Pattern.objects.filter(expression="(a+)+$").exists()


def backtest(client: Client, candidate: dict[str, Any]) -> dict[str, Any]:
    """Queue a backtest, let a worker run it, read its result as the page polls for it."""
    queued = client.post(
        "/api/workbench/backtest", json.dumps(candidate), content_type="application/json"
    )
    assert queued.status_code == 202, queued.content
    state = client.get(f"/api/workbench/backtest/{queued.json()['id']}").json()
    assert state["status"] == "ready" and state["result"] is None  # no worker yet
    run_worker(queues=["scan"], interval=0, batch=True)
    state = client.get(f"/api/workbench/backtest/{queued.json()['id']}").json()
    assert state["status"] == "successful", state
    result: dict[str, Any] = state["result"]
    return result


@pytest.mark.django_db(transaction=True)  # a worker runs the backtests
def test_try_and_backtest(writer_client: Client, history: History) -> None:
    client = writer_client
    log = StoredLog.objects.get(job=history.hostile_job)
    tried = client.post(
        "/api/workbench/try",
        json.dumps({"expression": r"expected (\d+) widgets", "is_regex": True, "log_id": log.pk}),
        content_type="application/json",
    ).json()
    assert tried["total"] == 1
    (match,) = tried["matches"]
    assert (
        match["line"] == 5 and match["text"][match["start"] : match["end"]] == "expected 3 widgets"
    )

    found = backtest(client, {"expression": "expected 3 widgets", "specificity": 100})
    assert found["complete"] and found["failed_jobs_matched"] == 1
    assert found["best_match_changes"] == 1  # the hostile job has no best match today
    assert found["jobs"][0]["job_id"] == history.hostile_job.pk

    # The best match of a matched demo job is taken over only by a stronger pattern.
    best = BestMatch.objects.select_related("match").get(job=history.matched_job)
    line = best.match.text
    weak = backtest(client, {"expression": line, "specificity": -5})
    strong = backtest(client, {"expression": line, "specificity": 999})
    assert (
        weak["failed_jobs_matched"] >= 1
        and weak["failed_jobs_matched"] == strong["failed_jobs_matched"]
    )
    assert strong["best_match_changes"] == strong["failed_jobs_matched"]
    assert weak["best_match_changes"] < strong["best_match_changes"]

    bad = client.post(
        "/api/workbench/try",
        json.dumps({"expression": "(unclosed", "is_regex": True, "log_id": log.pk}),
        content_type="application/json",
    )
    assert bad.status_code == 400 and "the expression" in bad.json()["detail"]
    refused = client.post(
        "/api/workbench/backtest",
        json.dumps({"expression": "(a+)+$", "is_regex": True}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and "backtrack" in refused.json()["detail"]


def test_trying_and_backtesting_need_write_access(client: Client, history: History) -> None:
    """They cost CPU: nobody anonymous (or without write access) may start them."""
    log = StoredLog.objects.get(job=history.hostile_job)
    attempts = [
        ("/api/workbench/try", {"expression": "widgets", "log_id": log.pk}),
        ("/api/workbench/backtest", {"expression": "widgets"}),
    ]
    for path, body in attempts:
        response = client.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code == 401, path
    reader = Client()
    reader.force_login(make_user("rita", writer=False))
    for path, body in attempts:
        response = reader.post(path, json.dumps(body), content_type="application/json")
        assert response.status_code == 403, path
    page = client.get("/patterns/new/").content.decode()
    assert 'data-can-write="0"' in page and 'id="backtest"' not in page


def test_promote_rescan_and_edit(writer_client: Client, history: History) -> None:
    job = history.matched_job
    best = BestMatch.objects.get(job=job)
    other = Match.objects.filter(job=job).exclude(pk=best.match_id).first()
    if other is None:  # give the job a second match: a pattern on another of its lines
        pytest.skip("the chosen demo job has a single match")
    response = writer_client.post(f"/jobs/{job.pk}/promote", {"match": other.pk})
    assert response.status_code == 302
    assert PromotedMatch.objects.get(job=job).line == other.line
    assert BestMatch.objects.get(job=job).match_id == other.pk

    writer_client.post(f"/jobs/{job.pk}/rescan")
    assert set(StoredLog.objects.filter(job=job).values_list("needs_full_rescan", flat=True)) == {
        True
    }

    pattern = best.pattern
    writer_client.post(
        f"/patterns/{pattern.pk}/edit",
        {"description": "edited", "tags": "infra", "specificity": "7"},
    )
    pattern.refresh_from_db()
    assert (pattern.description, pattern.specificity, pattern.tag_names()) == (
        "edited",
        7,
        ("infra",),
    )
    writer_client.post(f"/patterns/{pattern.pk}/retire")
    pattern.refresh_from_db()
    assert pattern.is_retired


def test_reading_can_require_login(client: Client, history: History, settings: object) -> None:
    settings.REQUIRE_LOGIN = True  # type: ignore[attr-defined]
    page = client.get("/patterns/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    assert client.get("/api/patterns").status_code == 401
    assert client.get("/healthz").status_code == 200
    client.force_login(make_user("rita", writer=False))
    assert client.get("/patterns/").status_code == 200


def test_log_lines_window_and_bounds(client: Client, history: History) -> None:
    log = StoredLog.objects.get(job=history.hostile_job)
    window = client.get(f"/api/logs/{log.pk}/lines?start=4&count=2").json()
    assert window["start"] == 4 and window["line_count"] == 6
    assert window["lines"] == [
        "widget_test.py::test_render FAILED",
        "E   AssertionError: expected 3 widgets, got 2",
    ]
    past_end = client.get(f"/api/logs/{log.pk}/lines?start=50&count=10").json()
    assert past_end["lines"] == []
    assert client.get(f"/api/logs/{log.pk}/lines?count=100000").status_code == 422
    assert client.get("/api/logs/999999/lines").status_code == 404


def test_nul_characters_get_a_clear_400_and_change_nothing(
    writer_client: Client, history: History
) -> None:
    before = Pattern.objects.count()
    assert writer_client.get("/api/jobs?sha=ab%00cd").status_code == 400
    assert writer_client.get("/patterns/?text=%00").status_code == 400
    refused = writer_client.post(
        "/api/patterns",
        '{"expression": "boom\\u0000", "description": "x"}',
        content_type="application/json",
    )
    assert refused.status_code == 400 and "NUL" in refused.json()["detail"]
    form = writer_client.post("/patterns/new/", {"expression": "a\x00b", "specificity": "1"})
    assert form.status_code == 400
    assert Pattern.objects.count() == before
    # An escaped backslash before "u0000" is plain text, not a NUL.
    allowed = writer_client.post(
        "/api/patterns",
        '{"expression": "literal \\\\u0000 in a log", "description": "x"}',
        content_type="application/json",
    )
    assert allowed.status_code == 201, allowed.content
    assert Pattern.objects.get(pk=allowed.json()["id"]).expression == "literal \\u0000 in a log"


def test_job_page_shows_the_likely_failure_lines(client: Client, history: History) -> None:
    page = client.get(f"/jobs/{history.hostile_job.pk}/").content.decode()
    assert "Likely failure lines" in page
    assert "AssertionError: expected 3 widgets, got 2" in page.split("Likely failure lines")[1]


def test_api_paging_bounds_are_checked(client: Client, history: History) -> None:
    assert client.get("/api/clusters?offset=99999999999999999999").status_code == 422
    assert client.get("/api/clusters?limit=0").status_code == 422
    assert client.get("/api/clusters?limit=5").status_code == 200


def test_pattern_list_api_reports_coverage_in_a_few_queries(
    client: Client, history: History, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(6):
        rows = client.get("/api/patterns").json()
    assert len(rows) == Pattern.objects.count() > 200
    logs = StoredLog.objects.count()
    assert all(row["logs_total"] == logs for row in rows)
    assert {row["logs_scanned"] for row in rows} == {logs}  # the history is fully scanned
