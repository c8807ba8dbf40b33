"""Verdicts and what citriage posts on GitHub, against a fake GitHub that checks requests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from markdown_it import MarkdownIt

from citriage.ci import github_app, recording
from citriage.ci.models import Conclusion, JobAttempt, PullRequest, Repository, RerunRequest
from citriage.github import report_text, reporting
from citriage.github.events import on_issue_comment, on_status
from citriage.github.models import CommentOptOut
from citriage.patterns import library, scanning
from citriage.patterns.models import Pattern
from citriage.triage import summary as commit_summary
from citriage.triage import verdicts
from citriage.triage.models import Breakage, CommitSummary, JobVerdict, Verdict
from tests import factories
from tests.fake_github import app_private_key
from tests.fakes import FakeServer, Reply, Seen, json_reply

pytestmark = pytest.mark.django_db

SHA = "c0ffee" + "0" * 34
HOSTILE = "src/x.c:1:1: error: ping @org/team #12 </details> ```` <script>alert(1)</script>"


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeServer]:
    """A fake GitHub API: App installation, tokens, check runs, statuses, comments."""
    server = FakeServer()
    check_run = json.loads(
        (corpus / "github-api/check-runs/pygithub.CheckRun.setUp.1.json").read_text()
    )["body"]
    created_status = json.loads(
        (
            corpus / "github-api/statuses/octokit-fixtures.create-status.normalized-fixture.json"
        ).read_text()
    )[0]["response"]
    server.on("GET", "/repos/acme/rocket/installation", json_reply({"id": 4242, "app_id": 1}))
    server.on(
        "POST",
        "/app/installations/4242/access_tokens",
        json_reply({"token": "ghs_installation_token", "expires_at": "2099-01-01T00:00:00Z"}, 201),
    )
    server.on("POST", "/repos/acme/rocket/check-runs", json_reply(check_run, 201))
    server.on("PATCH", f"/repos/acme/rocket/check-runs/{check_run['id']}", json_reply(check_run))
    server.on("POST", f"/repos/acme/rocket/statuses/{SHA}", json_reply(created_status, 201))
    comments = iter(range(9001, 9100))

    def new_comment(seen: Seen) -> Reply:
        return json_reply({"id": next(comments), "body": seen.json()["body"]}, 201)

    server.on("POST", "/repos/acme/rocket/issues/7/comments", new_comment)
    server.check_run_id = check_run["id"]  # type: ignore[attr-defined]
    yield server
    server.close()


@pytest.fixture
def app_settings(github: FakeServer, log_store: Path, tmp_path: Path) -> Iterator[None]:
    pem = app_private_key()
    key_file = tmp_path / "app.pem"
    key_file.write_text(pem)
    with override_settings(
        GITHUB_APP_ID="123",
        GITHUB_PRIVATE_KEY=str(key_file),
        GITHUB_API_URL=github.url,
        PUBLIC_URL="https://citriage.example.org",
    ):
        github_app._tokens.cache_clear()
        yield
        github_app._tokens.cache_clear()


@pytest.fixture
def history(log_store: Path) -> Repository:
    """A PR commit with four failed jobs: two flaky by pattern, one passed on rerun, one new."""
    repo = recording.get_repository("acme/rocket", create=True, providers=["circleci"])
    recording.record_commit(repo, SHA, parents=[], message="Add the thing")
    recording.record_pull_request(repo, 7, head_sha=SHA, title="Add the thing", author_login="octo")
    library.create_pattern("Connection reset by peer", tags=["flaky", "network"], specificity=5)
    library.create_pattern(
        r"(\S+):(\d+):(\d+): error:",
        is_regex=True,
        tags=["compile"],
        specificity=4,
        description="compile error",
    )
    library.create_pattern("Segmentation fault", tags=["crash"], specificity=4)
    library.create_pattern("Process completed with exit code", tags=["flaky"], specificity=9)
    for name in ("test-net-1", "test-net-2"):
        factories.failed_log(
            factories.job(repo, name=name, sha=SHA), "fetching\nread: Connection reset by peer\n"
        )
    factories.failed_log(
        factories.job(repo, name="test-core", sha=SHA), "running\nSegmentation fault\n"
    )
    factories.job(repo, name="test-core", sha=SHA, conclusion="success", attempt=2)
    factories.failed_log(
        factories.job(repo, name="build", sha=SHA),
        f"cc -c x.c\n{HOSTILE}\n##[error]Process completed with exit code 1.\n",
    )
    factories.job(repo, name="lint", sha=SHA, conclusion="success")
    scanning.scan_backlog()
    return repo


def test_verdicts_and_the_commit_summary(history: Repository) -> None:
    summary = verdicts.recompute_commit(history, SHA)
    by_job = {v.job.name: v for v in JobVerdict.objects.filter(sha=SHA).select_related("job")}
    assert by_job["test-net-1"].verdict == by_job["test-net-2"].verdict == Verdict.FLAKY_PATTERN
    assert by_job["test-core"].verdict == Verdict.FLAKY_CONFIRMED
    assert "attempt 2" in by_job["test-core"].reasons[0]
    # the generic "Process completed" line has the highest specificity and a flaky tag, yet
    # it is never evidence of flakiness: the failure is new
    assert by_job["build"].verdict == Verdict.NEW
    assert any("generic" in reason for reason in by_job["build"].reasons)
    assert summary.failures == 4 and summary.excused == 3 and not summary.all_excused
    assert summary.counts == {"flaky_confirmed": 1, "flaky_pattern": 2, "new": 1}
    assert report_text.headline(summary) == (
        "3 of 4 failures flaky, 1 new failure — 1 may be caused by this change"
    )


def test_known_problem_at_the_merge_base_and_ordering(history: Repository) -> None:
    main = [f"{i:040x}" for i in range(1, 6)]
    for i, sha in enumerate(main):
        recording.record_commit(history, sha, parents=[main[i - 1]] if i else [])
    recording.record_default_branch(history, main)
    pr_base = main[2]
    Commit = recording.Commit
    Commit.objects.filter(sha=SHA).update(parents=[pr_base])
    Breakage.objects.create(
        repository=history,
        cause=Commit.objects.get(sha=main[1]),
        fix=Commit.objects.get(sha=main[4]),
        jobs=["build"],
        description="compiler upgrade",
    )
    verdicts.recompute_commit(history, SHA)
    build = JobVerdict.objects.get(job__name="build")
    assert build.verdict == Verdict.KNOWN_PROBLEM
    assert "merge base" in build.reasons[0] and main[2][:10] in build.reasons[0]
    assert CommitSummary.objects.get(sha=SHA).all_excused
    # a breakage fixed before the merge base does not cover it
    Breakage.objects.update(fix=Commit.objects.get(sha=main[2]))
    verdicts.recompute_commit(history, SHA)
    assert JobVerdict.objects.get(job__name="build").verdict == Verdict.NEW


def markdown_structure(body: str) -> tuple[str, list[str]]:
    html = MarkdownIt("commonmark").render(body)
    tags: list[str] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: Any) -> None:
            tags.append(tag)

    Tags().feed(html)
    return html, tags


def test_check_run_comment_lifecycle_on_a_fake_github(
    history: Repository, github: FakeServer, app_settings: None
) -> None:
    note = commit_summary.summarize_commit(history, SHA)
    assert "check_run" in note and "#7: comment created" in note
    token = github.seen("POST", "/app/installations/4242/access_tokens")
    assert len(token) == 1 and token[0].headers["authorization"].startswith(
        "Bearer "
    )  # the App's JWT
    [check] = github.seen("POST", "/repos/acme/rocket/check-runs")
    assert check.headers["authorization"] == "Bearer ghs_installation_token"
    sent = check.json()
    assert sent["name"] == "citriage" and sent["head_sha"] == SHA
    assert sent["status"] == "completed" and sent["conclusion"] == "failure"
    assert (
        sent["output"]["title"]
        == "3 of 4 failures flaky, 1 new failure — 1 may be caused by this change"
    )
    assert sent["details_url"] == f"https://citriage.example.org/commits/{SHA}"
    block = sent["output"]["summary"].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert sorted((row["job"], row["verdict"]) for row in json.loads(block)) == [
        ("build", "new"),
        ("test-core", "flaky_confirmed"),
        ("test-net-1", "flaky_pattern"),
        ("test-net-2", "flaky_pattern"),
    ]
    [comment] = github.seen("POST", "/repos/acme/rocket/issues/7/comments")
    body = comment.json()["body"]
    assert body.startswith("## citriage: 3 of 4 failures flaky")

    # the same inputs again: nothing is sent
    before = len(github.requests)
    commit_summary.summarize_commit(history, SHA)
    assert len(github.requests) == before

    # a change (the compile pattern is now known flaky): check run and comment are edited
    library.edit_pattern(
        Pattern.objects.get(description="compile error"), tags=["compile", "flaky"]
    )
    from citriage.patterns.tasks import rerank_pattern_task

    rerank_pattern_task.call(Pattern.objects.get(description="compile error").pk)
    github.on("PATCH", "/repos/acme/rocket/issues/comments/9001", json_reply({"id": 9001}))
    commit_summary.summarize_commit(history, SHA)
    [patched] = github.seen("PATCH", f"/repos/acme/rocket/check-runs/{github.check_run_id}")  # type: ignore[attr-defined]
    assert patched.json()["conclusion"] == "success"
    assert "not caused by this change" in patched.json()["output"]["title"]
    [edited] = github.seen("PATCH", "/repos/acme/rocket/issues/comments/9001")
    assert (
        "All" not in edited.json()["body"][:20] and "4 of 4 failures flaky" in edited.json()["body"]
    )

    # someone deleted the comment: the next change re-creates it at the bottom
    github.on(
        "PATCH", "/repos/acme/rocket/issues/comments/9001", Reply(404, b'{"message": "Not Found"}')
    )
    factories.job(history, name="build", sha=SHA, conclusion="success", attempt=2)
    commit_summary.summarize_commit(history, SHA)
    posts = github.seen("POST", "/repos/acme/rocket/issues/7/comments")
    assert len(posts) == 2
    assert not github.unexpected


def test_opt_out_is_respected(history: Repository, github: FakeServer, app_settings: None) -> None:
    note = on_issue_comment(
        history,
        {
            "action": "created",
            "comment": {"body": "/citriage opt-out please", "user": {"login": "octo"}},
        },
    )
    assert "opted out" in note and CommentOptOut.objects.filter(login="octo").exists()
    commit_summary.summarize_commit(history, SHA)
    assert github.seen("POST", "/repos/acme/rocket/check-runs")  # the check still appears
    assert not github.seen("POST", "/repos/acme/rocket/issues/7/comments")
    on_issue_comment(
        history,
        {"action": "created", "comment": {"body": "/citriage opt-in", "user": {"login": "octo"}}},
    )
    commit_summary.summarize_commit(history, SHA)
    assert len(github.seen("POST", "/repos/acme/rocket/issues/7/comments")) == 1


def test_hostile_log_text_renders_harmlessly(
    history: Repository, github: FakeServer, app_settings: None
) -> None:
    commit_summary.summarize_commit(history, SHA)
    [comment] = github.seen("POST", "/repos/acme/rocket/issues/7/comments")
    body = comment.json()["body"]
    html, tags = markdown_structure(body)
    assert "script" not in tags  # the <script> from the log is text, not an element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (
        tags.count("details") == 1 and "</details>" in html
    )  # the log's </details> closes nothing
    excerpt = html.split("<pre><code>", 1)[1].split("</code></pre>", 1)[0]
    assert "ping @org/team #12 &lt;/details&gt; ````" in excerpt  # shown verbatim, in code
    outside_code = re.sub(r"<pre><code>.*?</code></pre>", "", html, flags=re.S)
    assert "@org/team" not in outside_code  # GitHub does not notify from code blocks
    fence = body.split("<summary>", 1)[1].split("\n\n", 1)[1].split("\n", 1)[0].strip()
    assert fence == "`````"  # longer than the log's ```` run


def test_commit_status_fallback_when_checks_are_not_allowed(
    history: Repository, github: FakeServer, app_settings: None
) -> None:
    github.on(
        "POST",
        "/repos/acme/rocket/check-runs",
        Reply(403, b'{"message": "Resource not accessible by integration"}'),
    )
    note = commit_summary.summarize_commit(history, SHA)
    assert "status" in note
    [status] = github.seen("POST", f"/repos/acme/rocket/statuses/{SHA}")
    assert status.json()["context"] == "citriage" and status.json()["state"] == "failure"
    assert Repository.objects.get(pk=history.pk).settings["github_report"] == "status"


def test_new_push_turns_the_comment_into_waiting(
    history: Repository, github: FakeServer, app_settings: None
) -> None:
    commit_summary.summarize_commit(history, SHA)
    github.on("PATCH", "/repos/acme/rocket/issues/comments/9001", json_reply({"id": 9001}))
    new_head = "d" * 40
    recording.record_pull_request(
        history, 7, head_sha=new_head, title="Add the thing", author_login="octo"
    )
    assert "edited" in reporting.pull_request_pushed(history, 7)
    [edited] = github.seen("PATCH", "/repos/acme/rocket/issues/comments/9001")
    assert "dddddddddd was pushed, waiting for builds" in edited.json()["body"]
    assert PullRequest.objects.get(number=7).heads.count() == 2


def test_no_comment_while_nothing_failed(
    history: Repository, github: FakeServer, app_settings: None
) -> None:
    JobAttempt.objects.filter(sha=SHA).update(conclusion=Conclusion.SUCCESS)
    note = commit_summary.summarize_commit(history, SHA)
    assert "no failure, no comment" in note
    [check] = github.seen("POST", "/repos/acme/rocket/check-runs")
    assert (
        check.json()["conclusion"] == "success"
        and check.json()["output"]["title"] == "All jobs passed"
    )


def test_rerunning_ends_once_the_rerun_attempt_is_in(
    history: Repository, github: FakeServer, app_settings: None
) -> None:
    build = JobAttempt.objects.get(sha=SHA, name="build")
    RerunRequest.objects.create(job=build, requested_by="octo", ok=True, finished_at=build.created)
    commit_summary.summarize_commit(history, SHA)
    [comment] = github.seen("POST", "/repos/acme/rocket/issues/7/comments")
    assert "**build** — **rerunning**" in comment.json()["body"]
    # the rerun passed: the failure is flaky, and nothing is "rerunning" any more
    factories.job(history, name="build", sha=SHA, conclusion="success", attempt=2)
    github.on("PATCH", "/repos/acme/rocket/issues/comments/9001", json_reply({"id": 9001}))
    commit_summary.summarize_commit(history, SHA)
    [edited] = github.seen("PATCH", "/repos/acme/rocket/issues/comments/9001")
    assert "rerunning" not in edited.json()["body"]
    assert JobVerdict.objects.get(job=build).verdict == Verdict.FLAKY_CONFIRMED


def test_failures_citriage_did_not_analyse_are_not_reported_green(
    github: FakeServer, app_settings: None, corpus: Path
) -> None:
    repo = recording.get_repository("acme/rocket", create=True, providers=["circleci"])
    recording.record_commit(repo, SHA, message="Add the thing")
    status = json.loads((corpus / "webhooks/status/octokit.payload.json").read_text())
    on_status(repo, {**status, "sha": SHA, "state": "failure", "context": "codecov/patch"})
    note = commit_summary.summarize_commit(repo, SHA)
    assert "check_run" in note
    [check] = github.seen("POST", "/repos/acme/rocket/check-runs")
    sent = check.json()
    assert sent["conclusion"] == "failure"
    assert sent["output"]["title"] == "1 failure not analysed (other checks)"
    assert "codecov/patch" in sent["output"]["summary"]
