"""The sheriff's ways in, in a real browser: pull request pages, the header's search, short
shas, a job's history, the log viewer's keys, classifying a failure, the preview of what
is posted, and the linked reasons of a known problem."""

from __future__ import annotations

import re
from typing import Any

import pytest

from citriage.ci import recording
from citriage.ci.models import FAILED_CONCLUSIONS, Commit, JobAttempt, PullRequest
from citriage.failurelines.models import FailureAnalysis
from citriage.ops.worker import run_worker
from citriage.patterns import library, scanning
from citriage.patterns.models import BestMatch, Match
from citriage.triage import breakages
from citriage.triage.models import CommitSummary, JobVerdict, Verdict
from tests import factories
from tests.browser.conftest import screenshot
from tests.browser.test_breakages import branch_with_a_pull_request
from tests.service.test_reporting import SHA
from tests.web.conftest import History

pytestmark = pytest.mark.browser


def settled(site: History) -> History:
    factories.settle()  # what the workers do with the demo's history
    return site


def busiest_pull() -> PullRequest:
    """The demo pull request pushed most often."""
    pulls = PullRequest.objects.filter(repository__name="rocket")
    return max(pulls, key=lambda p: (p.heads.count(), p.number))


def test_pull_request_page_from_the_commit_page(page: Any, site: History) -> None:
    settled(site)
    pull = busiest_pull()
    heads = list(pull.heads.values_list("sha", flat=True))
    page.goto(f"/commits/{pull.head_sha}/")
    page.locator("p.pulls a", has_text=f"#{pull.number}").click()
    page.wait_for_url(re.compile(rf"/pulls/acme/rocket/{pull.number}/$"))
    sections = page.locator("section.head")
    assert sections.count() == len(heads)
    # newest first: the current head on top, the first push last
    assert sections.first.get_attribute("data-sha") == pull.head_sha
    assert sections.last.get_attribute("data-sha") == heads[0]
    assert "current head" in sections.first.inner_text()
    latest: dict[tuple[str, str], JobAttempt] = {}
    for attempt in JobAttempt.objects.filter(sha__in=heads).order_by("attempt"):
        latest[(attempt.sha, attempt.name)] = attempt  # the latest attempt of each job
    shown = page.locator("section.head table.jobs tr.failed")
    assert shown.count() == sum(1 for a in latest.values() if a.failed)
    labels = {str(v.label) for v in Verdict}
    for badge in page.locator("section.head table.jobs .verdict").all_inner_texts():
        assert badge in labels  # what people read, not the stored names
    screenshot(page, "pull-request")

    # /pulls/<n>/ is the short way to it; the API says the same
    page.goto(f"/pulls/{pull.number}/")
    assert page.locator("section.head").count() == len(heads)
    data = page.request.get(f"/api/pulls/{pull.number}").json()
    assert [h["sha"] for h in data["heads"]] == [
        s.get_attribute("data-sha") for s in page.locator("section.head").all()
    ]


def test_search_finds_commits_pulls_jobs_and_patterns(page: Any, site: History) -> None:
    job = site.matched_job
    box = page.locator("header form.search input")

    def search(query: str) -> None:
        box.fill(query)
        with page.expect_navigation():  # wait_for_load_state() could see the old page
            box.press("Enter")

    page.goto("/")
    search(job.sha[:8])  # a short sha naming one commit: straight to it
    assert page.url.endswith(f"/commits/{job.sha}/")
    pull = PullRequest.objects.filter(repository__name="rocket").first()
    search(f"#{pull.number}")
    assert page.url.endswith(f"/pulls/acme/rocket/{pull.number}/")
    search("build-")  # a part of job names: the results list them
    assert "/search/?q=build-" in page.url
    section = page.locator("section[data-section='jobs']")
    names = set(JobAttempt.objects.filter(name__contains="build-").values_list("name", flat=True))
    assert set(section.locator("a").all_inner_texts()) == names
    section.locator("a", has_text="build-linux-gcc12").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    assert page.locator("h1").inner_text().startswith("build-linux-gcc12")
    search("docs")  # one job of that name: straight to its newest attempt
    assert page.locator("h1").inner_text().startswith("docs")
    best = BestMatch.objects.filter(job=job).select_related("pattern").get()
    search(f"pattern {best.pattern_id}")
    assert page.url.endswith(f"/patterns/{best.pattern_id}/")
    words = " ".join(best.pattern.description.split()[:2])  # words of a description
    search(words)
    found = page.locator("section[data-section='patterns'] a").all_inner_texts()
    assert f"#{best.pattern_id}" in {text.split()[0] for text in found} or page.url.endswith(
        f"/patterns/{best.pattern_id}/"
    )
    screenshot(page, "search")
    search("zzz-nothing-like-it")
    assert "Nothing found" in page.locator("main").inner_text()


def test_a_short_sha_resolves_or_offers_the_commits_it_could_be(page: Any, site: History) -> None:
    repo = factories.repository("acme/twins")
    for sha in ("abcdef1" + "0" * 33, "abcdef1" + "1" * 33, "abcdef2" + "2" * 33):
        recording.record_commit(repo, sha, parents=[], message=f"commit {sha[:8]}")
        factories.job(repo, sha=sha, conclusion="success")
    response = page.goto("/commits/abcdef2/")
    assert response.ok and page.url.endswith("/commits/abcdef2" + "2" * 33 + "/")
    page.goto("/commits/abcdef1/")
    choices = page.locator("ul.hits a")
    assert choices.count() == 2
    screenshot(page, "commit-choice")
    choices.first.click()
    page.wait_for_url(re.compile(r"/commits/abcdef1[01]{33}/$"))
    assert page.request.get("/commits/0badc0de/").status == 404


def test_job_history_log_viewer_keys_and_classifying_a_failure(writer: Any, site: History) -> None:
    page = writer
    settled(site)
    job = site.matched_job
    best = BestMatch.objects.select_related("match").get(job=job)
    page.goto(f"/jobs/{job.pk}/")
    # the history strip: this job on the default branch's newest commits (up to 30)
    on_branch = Commit.objects.filter(repository=job.repository, branch_position__isnull=False)
    cells = page.locator("#branch-history a.h")
    assert cells.count() == min(30, on_branch.count())
    # the log opens at the best match, highlighted, without any #L in the address
    target = page.locator(f"#logview li#L{best.match.line}")
    target.wait_for()
    assert "target" in (target.get_attribute("class") or "")
    assert target.is_visible()
    # "n" walks the matches of the log, "f" its likely failure lines
    lines = sorted(set(Match.objects.filter(log=best.match.log).values_list("line", flat=True)))
    page.locator("#logview").focus()
    page.keyboard.press("n")
    expected = next((n for n in lines if n > best.match.line), lines[0])
    page.wait_for_function(f"document.getElementById('logview').dataset.at === '{expected}'")
    assert "target" in (page.locator(f"#logview li#L{expected}").get_attribute("class") or "")
    analysis = FailureAnalysis.objects.get(log=best.match.log)
    failure_lines = sorted({c["line"] for c in analysis.candidates})
    page.keyboard.press("f")
    after = next((n for n in failure_lines if n > expected), failure_lines[0])
    page.wait_for_function(f"document.getElementById('logview').dataset.at === '{after}'")
    assert page.url.endswith(f"#L{after}")
    screenshot(page, "job-history-and-keys")

    # a failure no pattern explains opens at its likeliest failure line
    unmatched = (
        JobAttempt.objects.filter(
            conclusion__in=FAILED_CONCLUSIONS, name="docs", verdict__superseded=False
        )
        .exclude(best__isnull=False)
        .first()
    )
    assert unmatched is not None, "the demo should have unmatched failures"
    line = FailureAnalysis.objects.get(job=unmatched).line
    page.goto(f"/jobs/{unmatched.pk}/")
    opened = page.locator(f"#logview li#L{line}")
    opened.wait_for()
    assert "target" in (opened.get_attribute("class") or "")
    assert "broken link" in opened.inner_text()

    # classify it as flaky, with a note: a worker recomputes the verdict, shown with who
    before = JobVerdict.objects.get(job=unmatched).verdict
    assert before != Verdict.FLAKY_MARKED
    page.locator("#classify input[value='flaky']").check()
    page.locator("#classify input[name='note']").fill("the downloads site was down, see INFRA-12")
    page.locator("#classify button").click()
    page.wait_for_selector(".messages li")
    run_worker(queues=["default"], interval=0.1, batch=True)
    page.reload()
    assert page.locator("h1 .verdict").inner_text() == "flaky (marked)"
    said = page.locator(".classification").inner_text()
    assert "flaky" in said and "wanda" in said and "INFRA-12" in said
    assert "classified as flaky by wanda" in page.locator("ul.reasons").inner_text()
    verdict = JobVerdict.objects.get(job=unmatched)
    assert verdict.verdict == Verdict.FLAKY_MARKED and verdict.excused
    summary = CommitSummary.objects.get(sha=unmatched.sha, repository=unmatched.repository)
    assert summary.counts.get("flaky_marked") == 1
    screenshot(page, "job-classified")

    # a pull request's job shows the same job on the pull request's other commits
    pull = busiest_pull()
    pr_job = JobAttempt.objects.filter(sha=pull.head_sha).order_by("name").first()
    page.goto(f"/jobs/{pr_job.pk}/")
    strip = page.locator(f".pull-history[data-pull='{pull.number}'] a.h")
    assert strip.count() == pull.heads.count()
    assert strip.last.get_attribute("class").endswith("current")
    assert page.locator("dd.pulls a", has_text=f"#{pull.number}").count() == 1


def test_commit_page_previews_what_is_posted_with_labels_failures_first(
    page: Any, site: History
) -> None:
    settled(site)
    pull = PullRequest.objects.filter(repository__name="rocket").first()
    summaries = CommitSummary.objects.filter(failures__gt=0, repository__name="rocket")
    sha = next((s.sha for s in summaries if s.sha == pull.head_sha), summaries.first().sha)
    page.goto(f"/commits/{sha}/")
    rows = page.locator("table.jobs tbody tr")
    classes = [rows.nth(i).get_attribute("class") or "" for i in range(rows.count())]
    failed = [c == "failed" for c in classes]
    assert failed[0] and failed == sorted(failed, reverse=True)  # failures first
    badges = page.locator("ul.counts .verdict").all_inner_texts()
    assert badges and all(b in {str(v.label) for v in Verdict} for b in badges)
    assert "_" not in " ".join(badges)  # labels, not internal names
    preview = page.locator("section.preview")
    assert "No GitHub App is configured" in preview.locator(".delivery").inner_text()
    title = preview.locator(".check-title").inner_text()
    assert re.match(r"\d+ ", title) and "failure" in title, title
    assert preview.locator(".check-summary details summary").count() >= 1  # rendered, not text
    assert "```" not in preview.locator(".check-summary").inner_text()
    if sha == pull.head_sha:
        assert preview.locator(".comment-preview h2").inner_text().startswith("citriage:")
    sha_box = page.locator("h1 code.sha").bounding_box()
    assert sha_box["height"] < 24  # one line
    screenshot(page, "commit-preview")


def test_known_problem_reasons_link_the_breakage_and_the_merge_base(
    page: Any, site: History
) -> None:
    repo, main = branch_with_a_pull_request()
    breakage = breakages.create_breakage(
        repo,
        cause=Commit.objects.get(repository=repo, sha=main[2]),
        jobs=["build"],
        description="engine.c lost its declaration",
        issue_url="https://issues.example.org/ENG-7",
    )
    factories.settle()
    job = JobAttempt.objects.get(repository=repo, sha=SHA, name="build")
    assert job.verdict.verdict == Verdict.KNOWN_PROBLEM
    page.goto(f"/jobs/{job.pk}/")
    reasons = page.locator("ul.reasons")
    assert reasons.locator(f"a[href='/breakages/{breakage.pk}/']").count() == 1
    base = reasons.locator(f"a[href='/commits/{main[2][:10]}/']")
    assert base.count() == 1
    # a short sha: the merge base's page (or, here, where the fake shas share their first
    # ten digits, the commits it could be)
    base.click()
    page.wait_for_url(f"**/commits/{main[2][:10]}/")
    assert page.locator(f"a[href='/commits/{main[2]}/']").count() == 1
    page.goto(f"/breakages/{breakage.pk}/")
    issue = page.locator("a.issue")
    assert issue.get_attribute("href") == "https://issues.example.org/ENG-7"
    screenshot(page, "breakage-issue-link")


def test_an_excerpt_is_centred_on_the_match(page: Any, site: History) -> None:
    repo = site.hostile_job.repository
    attempt = factories.job(repo, name="wide-lines", sha="d" * 40)
    long_line = "x" * 600 + " (Caused by NewConnectionError: refused) " + "y" * 600
    factories.failed_log(attempt, f"start\n{long_line}\nExited with code 1\n")
    library.create_pattern("Caused by NewConnectionError", specificity=20)
    scanning.scan_backlog(time_budget=float("inf"))
    page.goto(f"/jobs/{attempt.pk}/")
    shown = page.locator("h2:has-text('Best match') + p code.matched")
    assert shown.locator("mark").inner_text() == "Caused by NewConnectionError"
    text = shown.inner_text()
    assert text.startswith("…") and text.endswith("…") and len(text) <= 305
    screenshot(page, "excerpt-centred")
