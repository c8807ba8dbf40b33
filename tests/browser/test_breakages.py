"""Annotating a breakage on the timeline grid in a real browser: the verdicts of the
branch and of a pull request based on it change, and so does the posted check run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from citriage.ci import recording
from citriage.ci.models import Repository
from citriage.ops.worker import run_worker
from citriage.triage import summary
from citriage.triage.models import Breakage, JobVerdict, Verdict
from tests import factories
from tests.browser.conftest import screenshot
from tests.fakes import FakeServer, json_reply
from tests.service.test_reporting import SHA, app_settings, github  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser
BASE = "/repos/acme/launch"
LOG = "make\nsrc/engine.c:41:7: error: 'thrust' undeclared\n"


def branch_with_a_pull_request() -> tuple[Repository, list[str]]:
    """acme/launch: five main commits, `build` failing on the third only (one commit is
    weak evidence), and pull request #7 based on it failing `build` the same way."""
    repo = recording.get_repository("acme/launch", create=True, providers=["circleci"])
    main = [f"{i:040x}" for i in range(1, 6)]
    for i, sha in enumerate(main):
        recording.record_commit(
            repo, sha, parents=[main[i - 1]] if i else [], message=f"Step {i} (#{40 + i})"
        )
    recording.record_default_branch(repo, main)
    for i, sha in enumerate(main):
        for name in ("build", "lint"):
            if name == "build" and i == 2:
                factories.failed_log(factories.job(repo, name=name, sha=sha), LOG)
            else:
                factories.job(repo, name=name, sha=sha, conclusion="success")
    recording.record_commit(repo, SHA, parents=[main[2]], message="Add the thing")
    recording.record_pull_request(repo, 7, head_sha=SHA, title="Add the thing", author_login="octo")
    factories.failed_log(factories.job(repo, name="build", sha=SHA, branch="thing"), LOG)
    factories.job(repo, name="lint", sha=SHA, conclusion="success", branch="thing")
    factories.settle()  # what the workers do with it
    return repo, main


def test_annotating_a_breakage_on_the_grid(
    writer: Any,
    corpus: Path,
    github: FakeServer,  # noqa: F811
    app_settings: None,  # noqa: F811
    settings: Any,
) -> None:
    repo, main = branch_with_a_pull_request()  # reported after the (default) cool-off
    settings.COOL_OFF_SECONDS = 0
    settings.REPORT_REFRESH_DAYS = 10_000  # the factories' jobs finished on a fixed past date
    # the fake GitHub of the reporting tests, answering for this repository too
    check_run = json.loads(
        (corpus / "github-api/check-runs/pygithub.CheckRun.setUp.1.json").read_text()
    )["body"]
    github.on("GET", f"{BASE}/installation", json_reply({"id": 4242, "app_id": 1}))
    github.on("POST", f"{BASE}/check-runs", json_reply(check_run, 201))
    github.on("PATCH", f"{BASE}/check-runs/{check_run['id']}", json_reply(check_run))
    github.on("POST", f"{BASE}/issues/7/comments", json_reply({"id": 9001}, 201))
    github.on("PATCH", f"{BASE}/issues/comments/9001", json_reply({"id": 9001}))
    summary.summarize_commit(repo, SHA)
    [first] = github.seen("POST", f"{BASE}/check-runs")
    assert first.json()["conclusion"] == "failure"
    # (the summary scans the logs first: the default library knows this compile error)
    assert JobVerdict.objects.get(sha=SHA, job__name="build").verdict == Verdict.NEW

    page = writer
    page.goto("/timeline/?repo=acme/launch")
    cell = page.locator(f'tr[data-sha="{main[2]}"] td.c').first
    assert cell.locator("a").get_attribute("class") == "v-new"
    cell.click()  # selects the cell (the job page opens with ctrl-click)
    assert page.url.endswith("/timeline/?repo=acme/launch")
    assert "1 commit(s), 1 job(s)" in page.locator("#selection").inner_text()
    page.fill("input[name=description]", "engine.c lost its declaration")
    page.click("#mark-start")
    page.wait_for_selector(".messages li")
    assert "starts at" in page.locator(".messages").inner_text()

    breakage = Breakage.objects.get(repository=repo)
    assert breakage.cause.sha == main[2] and breakage.jobs == ["build"]
    assert breakage.reporter == "wanda" and breakage.history.get().action == "created"
    # the verdicts it touches are recomputed by a worker, moments later
    run_worker(queues=["default"], interval=0.1, batch=True)
    page.reload()
    cell = page.locator(f'tr[data-sha="{main[2]}"] td.c').first
    assert "bk" in (cell.get_attribute("class") or "")
    assert cell.locator("a").get_attribute("class") == "v-known_problem"
    screenshot(page, "timeline-annotated")

    pull = JobVerdict.objects.get(sha=SHA, job__name="build")
    assert pull.verdict == Verdict.KNOWN_PROBLEM and pull.breakage == breakage
    [updated] = github.seen("PATCH", f"{BASE}/check-runs/{check_run['id']}")
    body = updated.json()
    assert body["conclusion"] == "success"
    assert "known problem" in body["output"]["title"]
    assert f"breakage #{breakage.pk}" in body["output"]["summary"]

    page.goto(f"/breakages/{breakage.pk}/")
    assert "engine.c lost its declaration" in page.locator("main").inner_text()
