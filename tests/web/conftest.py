"""A small real history for the page, API and browser tests: demo commits plus a hostile log."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, User

from citriage.ci.models import JobAttempt
from citriage.demo.history import generate_demo
from citriage.patterns import library, scanning
from citriage.patterns.models import BestMatch
from citriage.scanner import patterns as pattern_files
from citriage.web.access import WRITERS
from tests import factories

HOSTILE_LINE = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
HOSTILE_LOG = "\n".join(
    [
        "$ ./run-tests.sh",
        "collected 12 items",
        HOSTILE_LINE,
        "widget_test.py::test_render FAILED",
        "E   AssertionError: expected 3 widgets, got 2",
        "Exited with code exit status 1",
    ]
)


@dataclass
class History:
    matched_job: JobAttempt  # a failed job with a best match
    hostile_job: JobAttempt  # a failed job whose log holds HTML


def build_history() -> History:
    library.import_patterns(pattern_files.default_library())
    generate_demo(commits=24, pulls=3, jobs=6, seed=7)
    repo = factories.repository("acme/hostile")
    hostile = factories.job(repo, name="unit-tests", sha="b" * 40, step="Run tests")
    factories.failed_log(hostile, HOSTILE_LOG)
    scanning.scan_backlog(time_budget=float("inf"))
    best = BestMatch.objects.select_related("job").order_by("-job__finished_at").first()
    assert best is not None, "the demo history should have matched failures"
    return History(matched_job=best.job, hostile_job=hostile)


@pytest.fixture
def history(db: None, log_store: object) -> History:
    return build_history()


def make_user(name: str, *, writer: bool) -> User:
    user = User.objects.create_user(name, password="secret-password-1")
    if writer:
        user.groups.add(Group.objects.get_or_create(name=WRITERS)[0])
    return user
