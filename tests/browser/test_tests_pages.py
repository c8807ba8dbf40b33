"""The test pages in a real browser: the lists, a test's history strip with its failures by
signature, the job and commit pages' failing tests, upload tokens made and revoked, and
hostile test names and messages shown as text."""

from __future__ import annotations

import io
from typing import Any

import pytest
from playwright.sync_api import expect

from citriage.ci import recording
from citriage.ci.models import JobAttempt, Provider
from citriage.ops.worker import run_worker
from citriage.testresults import uploads
from citriage.testresults.models import Test, UploadToken
from tests import factories
from tests.browser.conftest import screenshot

MAIN = [f"{n}" * 40 for n in "123456"]
PR = "e" * 40
HOSTILE = '<img src=x onerror="alert(1)">'


def junit(cases: dict[str, str]) -> bytes:
    rows = []
    for name, outcome in cases.items():
        if outcome == "pass":
            body = ""
        elif outcome == "skip":
            body = "<skipped/>"
        else:
            body = f'<failure message="{outcome}">{outcome}\n  at line 12</failure>'
        rows.append(f'<testcase classname="tests.test_cart" name="{name}">{body}</testcase>')
    return f'<testsuite name="pytest">{"".join(rows)}</testsuite>'.encode()


@pytest.fixture
def tested(transactional_db: None, log_store: object) -> dict[str, Any]:
    repository = recording.get_repository("acme/shop", create=True, providers=[Provider.CIRCLECI])
    parent: list[str] = []
    for sha in MAIN:
        recording.record_commit(repository, sha, parents=parent, message=f"change {sha[0]}")
        parent = [sha]
    recording.record_default_branch(repository, MAIN)
    recording.record_commit(repository, PR, parents=[MAIN[-1]], message="add coupons")
    hostile_message = HOSTILE.replace('"', "&quot;").replace("<", "&lt;")
    outcomes = {
        MAIN[0]: {"test_total": "pass", "test_tax": "pass", "test_slow": "skip"},
        MAIN[1]: {"test_total": "pass", "test_tax": "assert 19 == 20", "test_slow": "skip"},
        MAIN[2]: {"test_total": "pass", "test_tax": "pass", "test_slow": "skip"},
        MAIN[3]: {"test_total": "assert 7 == 8", "test_tax": "pass", "test_slow": "skip"},
        MAIN[4]: {"test_total": "assert 7 == 9", "test_tax": "pass", "test_slow": "skip"},
        MAIN[5]: {"test_total": "assert 7 == 10", "test_tax": "pass", "test_slow": "skip"},
        PR: {
            "test_total": "assert 7 == 11",
            "test_tax": "pass",
            "test_slow": "skip",
            "test_coupon["
            + HOSTILE.replace('"', "&quot;").replace("<", "&lt;")
            + "]": hostile_message,
        },
    }
    for sha, cases in outcomes.items():
        uploads.upload(
            repository,
            sha=sha,
            job_name="unit",
            attempt=1,
            files=[("junit.xml", io.BytesIO(junit(cases)))],
        )
    run_worker(queues=["*"], interval=0, batch=True)
    factories.settle()
    return {
        "pr_job": JobAttempt.objects.get(sha=PR),
        "total": Test.objects.get(name="test_total"),
    }


def test_test_pages(page: Any, tested: dict[str, Any]) -> None:
    page.goto("/tests/")
    failing_now = page.locator("section.failing-now li")
    assert failing_now.count() == 1 and "test_total" in failing_now.inner_text()
    assert "test_total" in page.locator("section.most-failing li").first.inner_text()
    screenshot(page, "tests")

    page.fill("form.test-search input[name=q]", "coupon")
    page.click("form.test-search button")
    found = page.locator("table.tests-found tbody tr")
    expect(found).to_have_count(1)  # waits for the answer page: count() alone would not
    assert HOSTILE in found.inner_text()  # shown as text, never run
    screenshot(page, "tests-search")
    # the header's search finds tests by name too (here the only hit: straight to it)
    page.fill("header form.search input[name=q]", "test_tot")
    page.press("header form.search input[name=q]", "Enter")
    page.wait_for_url(f"**/tests/{tested['total'].pk}/")
    page.fill("header form.search input[name=q]", "test_")
    page.press("header form.search input[name=q]", "Enter")
    page.wait_for_url("**/search/?q=test_")
    names = page.locator("section[data-section='tests'] a").all_inner_texts()
    assert {"test_total", "test_tax", "test_slow"} <= set(names)
    screenshot(page, "search-tests")

    page.goto(f"/tests/{tested['total'].pk}/")
    cells = page.locator(".strip").first.locator(".cell")
    assert cells.count() == 6
    classes = [cells.nth(i).get_attribute("class") for i in range(6)]
    assert classes == ["cell o-passed"] * 3 + ["cell o-failed"] * 3
    assert page.locator(".strip").nth(1).locator(".cell.o-failed").count() == 1  # the PR
    assert page.locator("table.signatures tbody tr").count() == 1
    assert "assert <n> == <n>" in page.locator("table.signatures").inner_text()
    cells.nth(3).hover()
    screenshot(page, "test")

    page.goto(f"/jobs/{tested['pr_job'].pk}/")
    rows = page.locator("table.job-tests tbody tr")
    assert rows.count() == 2
    assert "test_total" in rows.nth(1).inner_text() or "test_total" in rows.nth(0).inner_text()
    assert page.locator("table.job-tests .strip.small .cell").count() >= 6
    screenshot(page, "job-tests")

    page.goto(f"/commits/{PR}/")
    groups = page.locator(".tests-groups h3")
    assert groups.count() == 2
    assert "New: never failed before" in groups.nth(0).inner_text()
    assert "Failing on the default branch" in groups.nth(1).inner_text()
    assert f"failing since {MAIN[3][:10]}" in page.locator(".tests-groups").inner_text()
    # the preview of what is posted, below them, lists the same tests (hostile names as text)
    summary = page.locator("section.preview .check-summary")
    assert summary.locator("h3", has_text="Failing tests").count() == 1
    listed = summary.inner_text()
    assert "test_total" in listed and HOSTILE in listed
    assert summary.locator("img").count() == 0
    screenshot(page, "commit-tests")
    assert page.problems == []


def test_upload_tokens_made_and_revoked(writer: Any, tested: dict[str, Any]) -> None:
    page = writer
    page.goto("/tests/tokens/")
    page.select_option("select[name=repository]", label="acme/shop")
    page.fill("input[name=name]", "Jenkins")
    page.click("form.token-form button")
    message = page.locator("ul.messages li").inner_text()
    token = message.rsplit(": ", 1)[1].strip()
    assert token.startswith("ctr_")
    row = UploadToken.objects.get(name="Jenkins")
    assert uploads.repository_for(token) == row.repository
    assert token not in page.locator("table.tokens").inner_text()  # shown once, not listed
    screenshot(page, "test-tokens")
    page.click("table.tokens button")
    assert "revoked" in page.locator("ul.messages li").inner_text()
    assert uploads.repository_for(token) is None
    assert page.problems == []
