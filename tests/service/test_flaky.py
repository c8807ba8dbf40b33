"""Flaky tests: the monitors on a small history uploaded through the real path (default
branch c1..c12, pull requests by two authors), quarantine, verdicts and the report.

On the default branch: test_flaky fails alone at c3 and c7; test_fixed fails at c4..c6
(a breakage, fixed); test_broken fails from c9 on (broken); at c8 an infra outage fails
nearly every test. On pull requests: test_pr fails for alice and bob while passing on
the default branch; test_retry fails on one commit and passes when rerun.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from citriage.ci.models import JobAttempt, Repository
from citriage.cli import app
from citriage.flaky import config as flaky_config
from citriage.flaky import quarantine
from citriage.flaky.models import HealthChange, HealthCheck, Quarantine, State, TestHealth
from citriage.flaky.monitors import check
from citriage.github import report_text
from citriage.testresults.models import Test
from citriage.triage.models import CommitSummary, JobVerdict, Verdict
from tests import factories
from tests.flaky_history import MAIN, NAMES, build, junit, pr_commit, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def repository(log_store: Any) -> Repository:
    return build()


def health(name: str) -> TestHealth:
    return TestHealth.objects.get(test__name=name)


def test_states_with_their_evidence(repository: Repository) -> None:
    assert HealthCheck.objects.get(repository=repository).checked_at is not None
    flaky = health("test_flaky")
    assert flaky.state == State.FLAKY
    rate = {e["monitor"]: e for e in flaky.evidence}["rate"]
    assert rate["fired"] and rate["count"] == 2
    # c8's outage is no evidence: 11 runs count, 2 failed
    assert (flaky.branch_runs, flaky.branch_failures) == (11, 2)
    assert "2 of 11 runs" in rate["text"]

    fixed = health("test_fixed")  # three failing commits in a row, then fixed: a breakage
    assert fixed.state == State.HEALTHY
    assert not any(e["fired"] for e in fixed.evidence)

    broken = health("test_broken")
    assert broken.state == State.BROKEN and broken.broken_since == MAIN[8]
    assert (
        f"since {MAIN[8][:10]} (4 commits)"
        in {e["monitor"]: e for e in broken.evidence}["broken"]["text"]
    )

    pulls = health("test_pr")
    assert pulls.state == State.FLAKY
    found = {e["monitor"]: e for e in pulls.evidence}["pulls"]
    assert found["fired"] and "2 pull request commit(s) by 2 author(s)" in found["text"]

    retry = health("test_retry")
    assert retry.state == State.FLAKY
    assert {e["monitor"] for e in retry.evidence if e["fired"]} == {"retry"}

    # the outage alone said nothing about the filler tests
    assert not TestHealth.objects.filter(test__name__startswith="test_ok").exists()
    assert set(HealthChange.objects.values_list("test__name", "new")) == {
        ("test_flaky", "flaky"),
        ("test_broken", "broken"),
        ("test_pr", "flaky"),
        ("test_retry", "flaky"),
    }


def test_one_author_is_not_enough(repository: Repository) -> None:
    """Two authors where three are asked for: the evidence does not fire; the test stays
    flaky for the recovery period, healthy without one."""
    repository.settings = {"flaky": {"pr_min": 3}}
    repository.save()
    check(repository)
    assert health("test_pr").state == State.FLAKY
    assert not {e["monitor"]: e for e in health("test_pr").evidence}["pulls"]["fired"]
    repository.settings = {"flaky": {"pr_min": 3, "recovery_days": 0}}
    repository.save()
    check(repository)
    assert health("test_pr").state == State.HEALTHY
    assert HealthChange.objects.filter(test__name="test_pr", new="healthy").exists()


def test_recovery_period(repository: Repository) -> None:
    """Past the window, a flaky test without new evidence stays flaky for the recovery
    period (7 days after its last evidence), then is healthy."""
    repository.settings = {"flaky": {"window_days": 3}}
    repository.save()
    check(repository, now=timezone.now() + timedelta(days=5))
    assert health("test_flaky").state == State.FLAKY
    assert health("test_flaky").evidence == []  # nothing in the window
    check(repository, now=timezone.now() + timedelta(days=8))
    assert health("test_flaky").state == State.HEALTHY


def test_flaky_tests_excuse_a_pull_request(repository: Repository) -> None:
    pr_commit(repository, "c1" * 20, "carol")
    job = run(
        repository,
        "c1" * 20,
        {"test_flaky": "ConnectionResetError: peer reset", "test_pr": "TimeoutError: x"},
    )
    factories.work()
    factories.settle()
    verdict = JobVerdict.objects.get(job=job)
    assert verdict.verdict == Verdict.FLAKY_TEST and verdict.excused
    assert verdict.reasons[0] == (
        "every failing test (2) is flaky or quarantined: "
        "tests.test_core::test_flaky, tests.test_core::test_pr"
    )
    by_name = {t["name"]: t for t in verdict.tests}
    assert by_name["tests.test_core::test_flaky"]["group"] == "flaky"
    assert by_name["tests.test_core::test_flaky"]["rate"] == "2 of 11 runs (18%)"
    assert by_name["tests.test_core::test_pr"]["elsewhere"].startswith(
        "failed on 2 other commit(s) by 2 author(s)"
    )
    summary = CommitSummary.objects.get(sha="c1" * 20)
    assert summary.all_excused
    body = report_text.report(
        summary,
        JobVerdict.objects.filter(sha="c1" * 20).select_related("job__repository"),
        [],
        for_comment=True,
    )
    assert "**Flaky (citriage's monitors call these tests flaky)** (2)" in body
    assert "default branch: failed 2 of 11 runs (18%)" in body
    assert "— not caused by this change" in body.splitlines()[0]


def test_a_new_test_is_not_excused_by_flaky_ones(repository: Repository) -> None:
    pr_commit(repository, "d1" * 20, "dave")
    job = run(
        repository,
        "d1" * 20,
        {"test_flaky": "ConnectionResetError", "test_new": "boom"},
        names=[*NAMES, "test_new"],
    )
    factories.work()
    factories.settle()
    verdict = JobVerdict.objects.get(job=job)
    assert verdict.verdict == Verdict.NEW and not verdict.excused
    assert "1 of 2 failing test(s) are flaky or quarantined" in " ".join(verdict.reasons)


def test_quarantine_excuses_and_is_listed_apart(repository: Repository) -> None:
    pr_commit(repository, "e1" * 20, "erin")
    job = run(repository, "e1" * 20, {"test_q": "ValueError: bad"}, names=[*NAMES, "test_q"])
    factories.work()
    factories.settle()
    assert JobVerdict.objects.get(job=job).verdict == Verdict.NEW
    test = Test.objects.get(name="test_q")
    row = quarantine.add(test, by="erin", reason="tracked in #12", expires_at=None)
    with pytest.raises(quarantine.QuarantineError, match="quarantined already"):
        quarantine.add(test, by="erin", reason="again")
    factories.settle()  # the quarantine made the verdict stale
    verdict = JobVerdict.objects.get(job=job)
    assert verdict.verdict == Verdict.FLAKY_TEST and verdict.excused
    assert verdict.tests[0]["group"] == "quarantined"
    body = report_text.report(
        CommitSummary.objects.get(sha="e1" * 20),
        JobVerdict.objects.filter(sha="e1" * 20).select_related("job__repository"),
        [],
        for_comment=True,
    )
    assert "**Quarantined (failures excused)** (1)" in body
    quarantine.end(row, by="erin", reason="fixed")
    factories.settle()
    assert JobVerdict.objects.get(job=job).verdict == Verdict.NEW
    assert Quarantine.objects.get(pk=row.pk).end_reason == "fixed"


def test_expired_quarantine_is_not_active(repository: Repository) -> None:
    test = Test.objects.get(name="test_ok2")
    with pytest.raises(quarantine.QuarantineError, match="future"):
        quarantine.add(test, by="x", reason="r", expires_at=timezone.now() - timedelta(hours=1))
    quarantine.add(test, by="x", reason="r", expires_at=timezone.now() + timedelta(hours=1))
    assert test.pk in quarantine.active(repository)
    assert not quarantine.active(repository, now=timezone.now() + timedelta(hours=2))


def test_automatic_quarantine_never_for_broken(repository: Repository) -> None:
    repository.settings = {"flaky": {"auto_quarantine_days": 1}}
    repository.save()
    check(repository, now=timezone.now() + timedelta(days=2))
    auto = set(
        Quarantine.objects.filter(source="auto", ended_at=None).values_list("test__name", flat=True)
    )
    assert auto == {"test_flaky", "test_pr", "test_retry"}  # not test_broken


def test_bad_settings_are_refused() -> None:
    with pytest.raises(flaky_config.ConfigError, match="unknown flaky setting 'windw'"):
        flaky_config.parse({"windw": 3})
    with pytest.raises(flaky_config.ConfigError, match="from 0 to 1"):
        flaky_config.parse({"infra_share": 3})
    assert flaky_config.parse({"window_days": 28}).window_days == 28


def test_quarantine_api_and_the_ci_check(
    repository: Repository, live_server: Any, tmp_path: Path
) -> None:
    """A person quarantines a test through the API; `citriage tests check` in CI reads the
    quarantine from the server and passes only when every failure is quarantined."""
    writer = User.objects.create_superuser("lead", password="pw")
    client = Client()
    client.force_login(writer)
    flaky = Test.objects.get(name="test_flaky")
    answer = client.post(
        "/api/repos/acme/widgets/quarantine",
        {"test_id": flaky.pk, "reason": "tracked in #7"},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content
    again = client.post(
        "/api/repos/acme/widgets/quarantine",
        {"test_id": flaky.pk, "reason": "again"},
        content_type="application/json",
    )
    assert again.status_code == 400 and "quarantined already" in again.json()["detail"]
    assert Client().post("/api/repos/acme/widgets/quarantine", {}).status_code in (401, 403)
    listed = Client().get("/api/repos/acme/widgets/quarantine").json()
    assert [
        (q["label"], q["reason"], q["created_by"], q["active"]) for q in listed["quarantined"]
    ] == [("tests.test_core::test_flaky", "tracked in #7", "lead", True)]
    assert listed["quarantined"][0]["key"] == flaky.key

    only_flaky = tmp_path / "only_flaky.xml"
    only_flaky.write_bytes(junit({"test_flaky": "ConnectionResetError"}))
    also_pr = tmp_path / "also_pr.xml"
    also_pr.write_bytes(junit({"test_flaky": "ConnectionResetError", "test_pr": "Timeout"}))

    def check_cli(*paths: Path) -> Any:
        args = ["tests", "check", *map(str, paths), "--repo", "acme/widgets"]
        return CliRunner().invoke(app, [*args, "--url", live_server.url, "--json"])

    passed = check_cli(only_flaky)
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.output) == {
        "failing": [
            {"test": "tests.test_core::test_flaky", "quarantined": True, "reason": "tracked in #7"}
        ],
        "ok": True,
    }
    blocked = check_cli(only_flaky, also_pr)
    assert blocked.exit_code == 1
    assert {r["test"]: r["quarantined"] for r in json.loads(blocked.output)["failing"]} == {
        "tests.test_core::test_flaky": True,
        "tests.test_core::test_pr": False,
    }
    bad = tmp_path / "bad.xml"
    bad.write_text("<testsuite><testcase")
    assert check_cli(bad).exit_code == 2
    assert (
        CliRunner().invoke(app, ["tests", "check", str(only_flaky), "--repo", "x"]).exit_code == 2
    )

    row = Quarantine.objects.get(test=flaky)
    ended = client.post(f"/api/repos/acme/widgets/quarantine/{row.pk}/end?reason=fixed")
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert check_cli(only_flaky).exit_code == 1
    history = Client().get("/api/repos/acme/widgets/quarantine?history=true").json()
    assert [(q["end_reason"], q["ended_by"]) for q in history["quarantined"]] == [("fixed", "lead")]
    health = Client().get("/api/repos/acme/widgets/test-health").json()
    assert {h["label"]: h["state"] for h in health} == {
        "tests.test_core::test_flaky": "flaky",
        "tests.test_core::test_pr": "flaky",
        "tests.test_core::test_retry": "flaky",
        "tests.test_core::test_broken": "broken",
    }


def test_flaky_pages(repository: Repository) -> None:
    client = Client()
    page = client.get("/tests/flaky/").content.decode()
    broken_part, flaky_part = page.split("<h2>Flaky", 1)
    assert "tests.test_core::test_broken" in broken_part
    assert f"failing on every default-branch run of unit since {MAIN[8][:10]}" in broken_part
    for name in ("test_flaky", "test_pr", "test_retry"):
        assert f"tests.test_core::{name}" in flaky_part
    assert "2 separate failure episode(s) on the default branch" in flaky_part
    assert "tests.test_core::test_fixed" not in page
    assert '→ <span class="tag state-broken">broken</span>' in page  # the latest changes

    test = Test.objects.get(name="test_pr")
    detail = client.get(f"/tests/{test.pk}/").content.decode()
    assert '<span class="tag state-flaky">flaky</span>' in detail
    assert "failed on 2 other commit(s) by 2 author(s)" in detail
    assert "not quarantined" in detail

    quarantine.add(test, by="lead", reason="tracked in #9")
    listing = client.get("/tests/quarantine/").content.decode()
    now_part, history_part = listing.split("<h2>History", 1)
    assert "tests.test_core::test_pr" in now_part and "tracked in #9" in now_part
    assert "None yet." in history_part
    job = JobAttempt.objects.get(sha="a1" * 20)
    job_page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<span class="tag state-quarantined">quarantined</span>' in job_page
