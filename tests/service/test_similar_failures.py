"""Similar failures of a job: the same failure line elsewhere, near-identical lines (pg_trgm
on PostgreSQL where installed, shared tokens otherwise), never generic lines."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from citriage.ci import recording
from citriage.failurelines import analysis
from citriage.failurelines.models import FailureAnalysis
from citriage.triage import similar
from tests import factories

pytestmark = pytest.mark.django_db

LOG = """Collecting dependencies
Installing the package
Running the suite
{line}
Process completed with exit code 1
"""
LINE = "FATAL: could not connect to the cache server widget-cache.internal: connection refused"
NEAR = (
    "FATAL: could not connect to the cache server widget-cache.internal: connection refused by peer"
)
OTHER = "TypeError: unsupported operand type(s) for +: 'Widget' and 'Gadget' in the renderer"


def failed(repo: Any, sha: str, line: str, *, branch: str, author: str) -> Any:
    recording.record_commit(repo, sha, author_login=author)
    job = factories.job(repo, sha=sha, branch=branch)
    factories.failed_log(job, LOG.format(line=line))
    return job


def test_similar_failures_of_a_job(log_store: Any) -> None:
    repo = factories.repository()
    mine = failed(repo, "1" * 40, LINE, branch="feature-a", author="alice")
    same = failed(repo, "2" * 40, LINE, branch="fix-b", author="bob")
    near = failed(repo, "3" * 40, NEAR, branch="feature-c", author="carol")
    near_again = failed(repo, "6" * 40, NEAR, branch="feature-f", author="carol")
    other = failed(repo, "4" * 40, OTHER, branch="feature-d", author="dave")
    generic = failed(repo, "5" * 40, "", branch="feature-e", author="erin")
    while analysis.analyse_backlog():
        pass
    assert FailureAnalysis.objects.get(job=mine).text == LINE  # the line the finder picked

    found = similar.similar_to(mine)
    assert found is not None
    how = {s.job_id: s.how for s in found.seen}
    assert how[same.pk] == "same signature"
    assert how[near.pk].startswith("near-identical line (")
    assert how[near_again.pk] == how[near.pk]  # each job of a near-identical line is listed
    assert other.pk not in how and generic.pk not in how
    assert found.method == ("pg_trgm similarity" if similar.has_trigrams() else "shared tokens")
    if connection.vendor == "postgresql":
        assert similar.has_trigrams()  # the migration installed the extension
    assert found.summary("main").startswith("seen on 3 other commit(s) by 2 author(s) since ")
    # a job known only by its failed step has no similar failures
    assert similar.similar_to(generic) is None

    page = Client().get(f"/jobs/{mine.pk}/").content.decode()
    assert "Similar failures" in page and "seen on 3 other commit(s) by 2 author(s)" in page
    assert f"/jobs/{near.pk}/" in page


def test_token_similarity() -> None:
    assert similar.token_similarity(LINE, LINE) == 1.0
    assert similar.token_similarity(LINE, NEAR) >= similar.NEAR
    assert similar.token_similarity(LINE, OTHER) < 0.3
    assert similar.token_similarity("", LINE) == 0.0
