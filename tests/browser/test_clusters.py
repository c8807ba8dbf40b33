"""The clusters page in a real browser: rows, trend, hostile text, the suggestion link."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from citriage.failurelines import analysis
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def clusters(transactional_db: None, log_store: object) -> list[int]:
    repo = factories.repository()
    job_ids = []
    for i in range(3):
        attempt = factories.job(repo, name="integration", sha=f"{i:040x}")
        factories.failed_log(
            attempt, f"setup\nTimeoutError: broker 10.1.0.{i}:9092 did not answer in {i + 3}s\n"
        )
        job_ids.append(attempt.pk)
    hostile = factories.job(repo, name="ui")
    factories.failed_log(hostile, 'Error: <img src=x onerror="alert(1)"> failed to render\n')
    analysis.analyse_backlog()
    return job_ids


def test_clusters_page_shows_clusters_and_links_the_workbench(
    page: Any, clusters: list[int]
) -> None:
    page.goto("/clusters/")
    rows = page.locator("tr.cluster")
    assert rows.count() == 2
    first = rows.nth(0)
    assert first.locator("td.num").inner_text() == "3"
    assert "TimeoutError: broker" in first.locator("code.line").inner_text()
    assert first.locator("svg.spark").count() == 1
    # Log text is text, never markup.
    assert page.locator("img[src=x]").count() == 0
    assert 'onerror="alert(1)"' in rows.nth(1).locator("code.line").inner_text()
    href = first.locator("a.suggest").get_attribute("href")
    query = parse_qs(urlparse(href).query)
    assert urlparse(href).path == "/patterns/new/"
    assert int(query["job"][0]) in clusters
    expression, is_regex = query["expression"][0], query["regex"] == ["1"]
    line = first.locator("code.line").inner_text()
    assert re.search(expression, line) if is_regex else expression in line
