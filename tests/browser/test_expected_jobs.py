"""Expected jobs that never reported, in a real browser: the timeline's missing and
awaited cells (with their titles) and the commit page's rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import screenshot
from tests.fake_github import FakeGitHub, app_on
from tests.web.expected_history import REPO, branch_with_missing_jobs

pytestmark = pytest.mark.browser


@pytest.fixture
def github(corpus: Path, transactional_db: None, log_store: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus)
    with app_on(fake):
        yield fake
    fake.close()


def test_missing_cells_on_the_timeline_and_the_commit_page(page: Any, github: FakeGitHub) -> None:
    _repository, shas = branch_with_missing_jobs(github)
    page.goto(f"/timeline/?repo={REPO}")
    missing = page.locator(f'tr[data-sha="{shas[1]}"] td.c span.miss')
    assert missing.count() == 1
    assert missing.get_attribute("title") == "Build / lint: expected, never reported: missing"
    assert page.locator(f'tr[data-sha="{shas[2]}"] td.c span.wait').count() == 3
    assert page.locator(f'tr[data-sha="{shas[1]}"] .tally').inner_text() == "3 of 4 jobs reported"
    # the marks are drawn, not hidden: a visible red mark for the missing job
    box = missing.bounding_box()
    assert box is not None and box["width"] > 5 and box["height"] > 5
    colour = missing.evaluate("e => getComputedStyle(e).color")
    assert colour == "rgb(207, 34, 46)"
    screenshot(page, "timeline-missing-jobs")
    page.locator(f'tr[data-sha="{shas[1]}"] th.commit a').first.click()
    page.wait_for_url(f"**/commits/{shas[1]}/")
    row = page.locator("tr.unreported.missing")
    assert row.count() == 1 and "Build / lint" in row.inner_text()
    assert "3 of 4 jobs reported" in page.locator("#expected-tally").inner_text()
    screenshot(page, "commit-missing-jobs")
