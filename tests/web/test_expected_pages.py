"""Expected jobs that did not report, on the timeline, the commit page and /health/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from citriage.ci.models import ExpectedJob
from citriage.triage.models import CommitSummary
from tests.fake_github import FakeGitHub, app_on
from tests.web.expected_history import REPO, branch_with_missing_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture
def github(corpus: Path, log_store: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus)
    with app_on(fake):
        yield fake
    fake.close()


def test_missing_and_awaited_jobs_on_the_timeline(
    client: Client, github: FakeGitHub, django_assert_max_num_queries: Any
) -> None:
    _repository, shas = branch_with_missing_jobs(github)
    assert ExpectedJob.objects.filter(sha=shas[0]).count() == 4
    with django_assert_max_num_queries(25):
        html = client.get(f"/timeline/?repo={REPO}").content.decode()
    columns = re.findall(r'<th class="job" title="([^"]+)"', html)
    # every job passed where it ran: the columns shown are those not reported somewhere
    assert columns == ["Build / lint", "Build / test (1)", "Build / test (2)"]
    rows = dict(re.findall(r'<tr data-sha="([0-9a-f]{40})"[^>]*>(.*?)</tr>', html, re.DOTALL))
    assert (
        rows[shas[1]].count('class="miss"') == 1
        and 'title="Build / lint: expected' in rows[shas[1]]
    )
    assert rows[shas[2]].count('class="wait"') == 3
    assert "miss" not in rows[shas[0]] and "wait" not in rows[shas[0]]
    assert '<span class="tally">3 of 4 jobs reported</span>' in rows[shas[1]]
    assert '<span class="tally">1 of 4 jobs reported</span>' in rows[shas[2]]


def test_the_commit_page_lists_what_did_not_report(client: Client, github: FakeGitHub) -> None:
    _repository, shas = branch_with_missing_jobs(github)
    html = client.get(f"/commits/{shas[1]}/").content.decode()
    assert "3 of 4 jobs reported, <strong>1 missing</strong>" in html
    assert "1 expected job missing" in html  # in the summary line
    row = re.search(r'<tr class="unreported missing">(.*?)</tr>', html, re.DOTALL)
    assert row is not None and "Build / lint" in row.group(1) and ">missing<" in row.group(1)
    awaited = client.get(f"/commits/{shas[2]}/").content.decode()
    assert awaited.count('<tr class="unreported waiting">') == 3
    assert "not reported yet" in awaited


def test_health_counts_commits_with_missing_jobs(client: Client, github: FakeGitHub) -> None:
    _repository, shas = branch_with_missing_jobs(github)
    assert CommitSummary.objects.get(sha=shas[1]).missing_jobs == ["Build / lint"]
    html = client.get(f"/health/?repo={REPO}").content.decode()
    assert "1 of 3 built commits miss jobs their CI configuration expects" in html
    assert f'<a href="/commits/{shas[1]}/"><code>{shas[1][:8]}</code></a> 1 missing' in html
