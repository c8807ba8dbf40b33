"""Verdicts by test, the report's failing-test groups, the test pages and API, on a small
history built through the real upload path: the default branch breaks test A at c2, a
pull request based at c3 fails A (a known problem) or also a brand-new test C (new)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.test import Client

from citriage.ci import recording
from citriage.ci.models import JobAttempt, Provider, Repository
from citriage.github import report_text
from citriage.ops.worker import run_worker
from citriage.testresults import uploads
from citriage.testresults.models import Test
from citriage.triage.models import CommitSummary, JobVerdict, Verdict
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

MAIN = [f"{n}" * 40 for n in "1234"]  # c1..c4 on the default branch
PR_KNOWN = "a" * 40
PR_NEW = "b" * 40


def junit(**outcomes: str) -> bytes:
    """A pytest-style report: test name -> "pass" or a failure message."""
    cases = []
    for name, outcome in outcomes.items():
        body = "" if outcome == "pass" else f'<failure message="{outcome}">{outcome}</failure>'
        cases.append(f'<testcase classname="tests.test_core" name="{name}">{body}</testcase>')
    return f'<testsuite name="pytest">{"".join(cases)}</testsuite>'.encode()


def run(repository: Repository, sha: str, report: bytes, job: str = "unit") -> JobAttempt:
    uploads.upload(
        repository, sha=sha, job_name=job, attempt=1, files=[("junit.xml", io.BytesIO(report))]
    )
    return JobAttempt.objects.get(repository=repository, sha=sha, name=job)


@pytest.fixture
def history(log_store: Any) -> dict[str, JobAttempt]:
    repository = recording.get_repository(
        "acme/widgets", create=True, providers=[Provider.CIRCLECI]
    )
    parent: list[str] = []
    for sha in MAIN:
        recording.record_commit(repository, sha, parents=parent, message=f"commit {sha[:1]}")
        parent = [sha]
    recording.record_default_branch(repository, MAIN)
    for sha in (PR_KNOWN, PR_NEW):
        recording.record_commit(repository, sha, parents=[MAIN[2]], message="a change")
    jobs = {
        "c1": run(repository, MAIN[0], junit(test_a="pass", test_b="pass")),
        "c2": run(repository, MAIN[1], junit(test_a="assert 1 == 2", test_b="pass")),
        "c3": run(repository, MAIN[2], junit(test_a="assert 1 == 3", test_b="pass")),
        "known": run(repository, PR_KNOWN, junit(test_a="assert 1 == 4", test_b="pass")),
        "new": run(repository, PR_NEW, junit(test_a="assert 1 == 5", test_b="pass", test_c="boom")),
        "c4": run(repository, MAIN[3], junit(test_a="pass", test_b="pass")),
    }
    run_worker(queues=["*"], interval=0, batch=True)  # uploaded jobs have no log to fetch
    factories.settle()
    return jobs


def verdict_of(job: JobAttempt) -> JobVerdict:
    return JobVerdict.objects.get(job=job)


def test_failures_judged_by_test(history: dict[str, JobAttempt]) -> None:
    first = verdict_of(history["c2"])  # where test_a started failing: new
    assert first.verdict == Verdict.NEW
    assert "never failed before: tests.test_core::test_a" in first.reasons[0]
    on_branch = verdict_of(history["c3"])  # the next commit: already failing
    assert on_branch.verdict == Verdict.KNOWN_PROBLEM
    assert f"failing since {MAIN[1][:10]}" in on_branch.reasons[0]
    known = verdict_of(history["known"])
    assert known.verdict == Verdict.KNOWN_PROBLEM and known.excused
    assert "at the merge base 3333333333" in known.reasons[0]
    assert f"tests.test_core::test_a (failing since {MAIN[1][:10]})" in known.reasons[0]
    assert known.tests == [
        {
            "id": Test.objects.get(name="test_a").pk,
            "name": "tests.test_core::test_a",
            "outcome": "failed",
            "group": "known",
            "since": MAIN[1],
            "message": "assert 1 == 4",
            # c2 and c3 failed, c4 passed: one episode, not yet flaky (citriage.flaky)
            "state": "healthy",
            "rate": "2 of 4 runs (50%)",
            "elsewhere": "failed on 1 other commit(s) by 1 author(s) and on main at "
            f"{MAIN[2][:10]} since {known.tests[0]['elsewhere'][-10:]}",
        }
    ]
    new = verdict_of(history["new"])
    assert new.verdict == Verdict.NEW and not new.excused
    assert new.reasons[0] == "1 failing test(s) never failed before: tests.test_core::test_c"
    assert {t["name"]: t["group"] for t in new.tests} == {
        "tests.test_core::test_a": "known",
        "tests.test_core::test_c": "new",
    }
    assert not JobVerdict.objects.filter(job=history["c4"]).exists()  # it passed


def test_the_report_groups_failing_tests(history: dict[str, JobAttempt]) -> None:
    summary = CommitSummary.objects.get(sha=PR_NEW)
    verdicts = list(JobVerdict.objects.filter(sha=PR_NEW).select_related("job__repository"))
    body = report_text.report(summary, verdicts, [], for_comment=True)
    assert "### Failing tests" in body
    new_part = body.split("**New: never failed before** (1)", 1)[1]
    assert new_part.lstrip().startswith("- `tests.test_core::test_c` in unit: boom")
    assert (
        f"**Already failing on the default branch at the merge base** (1)\n\n"
        f"- `tests.test_core::test_a` in unit, failing since `{MAIN[1][:10]}`"
    ) in body
    check = report_text.report(summary, verdicts, [])
    rows = json.loads(check.split("```json\n", 1)[1].split("\n```", 1)[0])
    shown = [
        {k: v for k, v in row.items() if k in ("name", "outcome", "group", "since", "rate")}
        for row in rows[0]["failed_tests"]
    ]
    assert shown == [
        {
            "name": "tests.test_core::test_a",
            "outcome": "failed",
            "group": "known",
            "since": MAIN[1],
            "rate": "2 of 4 runs (50%)",
        },
        {
            "name": "tests.test_core::test_c",
            "outcome": "failed",
            "group": "new",
            "since": None,
            "rate": None,
        },
    ]


def test_test_pages_and_api(history: dict[str, JobAttempt]) -> None:
    client = Client()
    test_a = Test.objects.get(name="test_a")
    listing = client.get("/tests/").content.decode()
    assert "Most failing, last 14 days" in listing
    assert (
        f'href="/tests/{test_a.pk}/">tests.test_core::test_a</a> <span class="muted">4 failures'
        in listing
    )
    # the newest default-branch run (c4) passed everything
    assert "Nothing: every test passed in the newest run of each job." in listing
    found = client.get("/tests/?q=test_a").content.decode().split("<h2>Tests matching")[1]
    found = found.split("</table>")[0]
    assert "tests.test_core::test_a" in found and "tests.test_core::test_b" not in found

    page = client.get(f"/tests/{test_a.pk}/").content.decode()
    strip = page.split("<h3>On main</h3>", 1)[1].split("</div>", 1)[0]
    assert strip.count('class="cell o-') == 4
    assert [c.split('"')[0] for c in strip.split('class="cell o-')[1:]] == [
        "passed",
        "failed",
        "failed",
        "passed",
    ]
    other = page.split("<h3>Pull requests and other branches</h3>", 1)[1].split("</div>", 1)[0]
    assert other.count("o-failed") == 2
    assert "<code>assert &lt;n&gt; == &lt;n&gt;</code>" in page  # four messages, one signature

    job_page = client.get(f"/jobs/{history['new'].pk}/").content.decode()
    assert "3 ran: 1 passed, 2 failed" in job_page
    assert "tests.test_core::test_c" in job_page
    commit_page = client.get(f"/commits/{PR_NEW}/").content.decode()
    assert "New: never failed before" in commit_page
    assert "Failing on the default branch at the merge base" in commit_page

    api = client.get(f"/api/tests/{test_a.pk}").json()
    assert [c["outcome"] for c in api["history"] if c["default_branch"]] == [
        "passed",
        "failed",
        "failed",
        "passed",
    ]
    assert api["failures"] == 4 and api["signatures"][0]["count"] == 4
    job_tests = client.get(f"/api/jobs/{history['new'].pk}/tests").json()
    assert (job_tests["tests"], job_tests["failed"]) == (3, 2)
    by_name = {r["name"]: r["history"] for r in job_tests["results"]}
    assert by_name["tests.test_core::test_a"] == ["passed", "failed", "failed", "passed"][::-1]
    assert client.get("/api/tests?q=test_b").json()[0]["name"] == "test_b"
