"""The flaky-test pages in a real browser: flaky and broken tests with their evidence and
trend, a flaky test's page, quarantining a test and ending it (its history), and a failed
job's similar failures."""

from __future__ import annotations

from typing import Any

import pytest

from citriage.ci import recording
from citriage.failurelines import analysis
from citriage.flaky.models import Quarantine
from citriage.testresults.models import Test
from tests import factories, flaky_history
from tests.browser.conftest import screenshot

LOG = "Running the suite\n{line}\nProcess completed with exit code 1\n"
LINE = "FATAL: could not connect to the cache server widget-cache.internal: connection refused"


@pytest.fixture
def flaky_repo(transactional_db: None, log_store: object) -> Any:
    return flaky_history.build()


def test_flaky_and_test_pages(page: Any, flaky_repo: Any) -> None:
    page.goto("/tests/flaky/?repo=acme/widgets")
    tables = page.locator("table.flaky-tests")
    broken, flaky = tables.nth(0), tables.nth(1)
    assert broken.locator("tbody tr").count() == 1
    assert "test_broken" in broken.inner_text() and "failing on every" in broken.inner_text()
    assert flaky.locator("tbody tr").count() == 3
    assert "separate failure episode(s)" in flaky.inner_text()
    assert flaky.locator("svg.spark").count() == 3  # the trend
    assert page.locator("ul.health-changes li").count() == 4
    screenshot(page, "flaky-tests")

    test = Test.objects.get(name="test_pr")
    page.goto(f"/tests/{test.pk}/")
    assert page.locator("dd .tag.state-flaky").inner_text() == "flaky"
    assert "with the same message" in page.locator("ul.evidence").inner_text()
    assert "failed on 2 other commit(s) by 2 author(s)" in page.locator("dd.elsewhere").inner_text()
    screenshot(page, "test-flaky")
    assert page.problems == []


def test_quarantine_made_and_ended(writer: Any, flaky_repo: Any) -> None:
    page = writer
    test = Test.objects.get(name="test_flaky")
    page.goto(f"/tests/{test.pk}/")
    page.click("text=quarantine it")
    assert page.locator("input[name=test]").input_value() == str(test.pk)
    page.fill("input[name=reason]", "tracked in #31")
    page.fill("input[name=days]", "14")
    page.click("form.quarantine-form button")
    assert "is quarantined" in page.locator("ul.messages li").inner_text()
    rows = page.locator("table.quarantined tbody tr")
    assert rows.count() == 1 and "tracked in #31" in rows.inner_text()
    row = Quarantine.objects.get(test=test)
    assert row.created_by == "wanda" and row.expires_at is not None
    screenshot(page, "quarantine")

    page.fill("table.quarantined input[name=reason]", "fixed the race")
    page.click("table.quarantined button")
    assert "no longer quarantined" in page.locator("ul.messages li").inner_text()
    history = page.locator("table.quarantine-history tbody tr")
    assert history.count() == 1 and "by wanda: fixed the race" in history.inner_text()
    screenshot(page, "quarantine-history")
    assert page.problems == []


def test_similar_failures_on_the_job_page(
    page: Any, transactional_db: None, log_store: Any
) -> None:
    repo = factories.repository()
    jobs = []
    for sha, author in (("1" * 40, "alice"), ("2" * 40, "bob"), ("3" * 40, "carol")):
        recording.record_commit(repo, sha, author_login=author)
        job = factories.job(repo, sha=sha, branch=f"feature-{author}")
        factories.failed_log(job, LOG.format(line=LINE))
        jobs.append(job)
    while analysis.analyse_backlog():
        pass
    page.goto(f"/jobs/{jobs[0].pk}/")
    section = page.locator("section.similar-failures")
    assert "seen on 2 other commit(s) by 2 author(s)" in section.inner_text()
    assert section.locator("tbody tr").count() == 2
    screenshot(page, "job-similar-failures")
    assert page.problems == []
