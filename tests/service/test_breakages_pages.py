"""The timeline grid, breakage pages and health plots, through the Django test client."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from citriage.ci import recording
from citriage.ci.models import Commit, Repository
from citriage.patterns import library, scanning
from citriage.triage import breakages
from citriage.triage.models import Breakage, JobVerdict, Verdict
from tests import factories

pytestmark = pytest.mark.django_db

JOBS = [f"build-{i}" for i in range(3)] + [f"test-shard-{i}" for i in range(5)] + ["lint"]
LOG = "cc -c a.c\na.c:3:9: error: unknown type name 'sizet'\n"


@pytest.fixture
def history(log_store: Path) -> tuple[Repository, list[Commit]]:
    """12 main commits, every job on each; build-1 broken on commits 3..6; commit 9
    reverts commit 8; a pull request based on commit 4."""
    repo = factories.repository("acme/rocket")
    library.create_pattern(r"(\S+):(\d+):\d+: error:", is_regex=True, specificity=4)
    shas = [f"{i:040x}" for i in range(1, 13)]
    for i, sha in enumerate(shas):
        message = f"Change {i} (#{100 + i})"
        if i == 9:
            message = f'Revert "Change 8 (#108)"\n\nThis reverts commit {shas[8]}.'
        recording.record_commit(
            repo,
            sha,
            parents=[shas[i - 1]] if i else [],
            message=message,
            author_login="ada",
            committed_at=factories.T0 + timedelta(hours=i),
        )
    recording.record_default_branch(repo, shas)
    for i, sha in enumerate(shas):
        for job in JOBS:
            if job == "build-1" and 3 <= i <= 6:
                factories.failed_log(factories.job(repo, name=job, sha=sha), LOG)
            else:
                factories.job(repo, name=job, sha=sha, conclusion="success")
    pr = "ab" * 20
    recording.record_commit(repo, pr, parents=[shas[4]], message="feature")
    recording.record_pull_request(repo, 5, head_sha=pr, title="feature", author_login="octo")
    factories.failed_log(factories.job(repo, name="build-1", sha=pr, branch="feature"), LOG)
    scanning.scan_backlog()
    factories.settle()
    return repo, list(Commit.objects.filter(sha__in=shas).order_by("branch_position"))


@pytest.fixture
def writer(client: Client) -> Client:
    user = User.objects.create_user("ada", password="pw", is_staff=True)
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_timeline_grid(
    client: Client, history: tuple[Repository, list[Commit]], django_assert_max_num_queries: Any
) -> None:
    repo, main = history
    breakages.create_breakage(repo, cause=main[3], fix=main[7], jobs=["build-1"])
    factories.settle()
    with django_assert_max_num_queries(25):
        response = client.get("/timeline/?repo=acme/rocket")
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr data-sha="([0-9a-f]{40})"', html)
    assert rows == [c.sha for c in reversed(main)]  # newest first
    # all-green jobs are hidden by default: only build-1 failed
    assert re.findall(r'<th class="job" title="([^"]+)"', html) == ["build-1"]
    assert "show 8 all-green jobs" in html
    # a cell per attempt, with the verdict's icon and colour; the breakage overlaid
    grid = html[html.index("<tbody>") :]
    assert grid.count('class="v-known_problem"') == 4
    assert grid.count('<td class="c bk inf"') == 4  # commits 3..6 of build-1, also inferred
    assert grid.count('<td class="c') == len(main)
    assert "↩ reverts" in html and main[8].sha[:8] in html
    assert 'class="in-revert"' in html
    assert "https://github.com/acme/rocket/pull/101" in html
    assert "mark breakage start" not in html  # reading only

    html = client.get("/timeline/?repo=acme/rocket&green=1&per=10").content.decode()
    assert len(re.findall(r'<th class="job"', html)) == len(JOBS)
    assert len(re.findall(r"<tr data-sha=", html)) == 10 and "older →" in html
    html = client.get("/timeline/?repo=acme/rocket&green=1&per=10&page=2").content.decode()
    assert len(re.findall(r"<tr data-sha=", html)) == 2 and "← newer" in html


def test_timeline_queries_do_not_grow_with_the_grid(
    client: Client, log_store: Path, django_assert_max_num_queries: Any
) -> None:
    repo = factories.repository("acme/big")
    shas = [f"{i:040x}" for i in range(1, 41)]
    for i, sha in enumerate(shas):
        recording.record_commit(repo, sha, parents=[shas[i - 1]] if i else [], message=f"c{i}")
    recording.record_default_branch(repo, shas)
    for i, sha in enumerate(shas):
        for j in range(30):
            factories.job(
                repo,
                name=f"job-{j}",
                sha=sha,
                conclusion="failure" if (i + j) % 7 == 0 else "success",
            )
    with django_assert_max_num_queries(25):
        response = client.get("/timeline/?repo=acme/big&green=1")
    assert response.status_code == 200
    assert response.content.decode().count('<td class="c') == 40 * 30


def test_marking_a_breakage_on_the_grid(
    client: Client, writer: Client, history: tuple[Repository, list[Commit]]
) -> None:
    _repo, main = history
    pr_verdict = JobVerdict.objects.get(sha="ab" * 20)
    # inferred (four commits failing the same way at the merge base): already known
    assert pr_verdict.verdict == Verdict.KNOWN_PROBLEM and pr_verdict.breakage is None

    form = {"repo": "acme/rocket", "action": "start", "sha": [main[4].sha, main[3].sha]}
    form |= {"job": ["build-1"], "description": "bad header", "category": "code"}
    response = writer.post("/timeline/mark", form, follow=True)
    breakage = Breakage.objects.get()
    assert breakage.cause == main[3] and breakage.jobs == ["build-1"] and breakage.fix is None
    assert breakage.reporter == "ada" and "starts at" in messages_of(response)[0]
    factories.settle()
    pr_verdict.refresh_from_db()
    assert pr_verdict.verdict == Verdict.KNOWN_PROBLEM and pr_verdict.breakage == breakage

    # a fix before the cause is refused, with the reason, and nothing changes
    bad = {"repo": "acme/rocket", "action": "fix", "breakage": breakage.pk, "sha": main[1].sha}
    response = writer.post("/timeline/mark", bad, follow=True)
    assert "must come after" in messages_of(response)[0]
    breakage.refresh_from_db()
    assert breakage.fix is None
    fix = {"repo": "acme/rocket", "action": "fix", "breakage": breakage.pk, "sha": main[7].sha}
    writer.post("/timeline/mark", fix)
    assert writer.post("/timeline/mark", bad | {"next": "//evil.example"})["Location"] == (
        "/timeline/"
    )
    add = {"repo": "acme/rocket", "action": "add-jobs", "breakage": breakage.pk}
    writer.post("/timeline/mark", add | {"sha": main[5].sha, "job": ["lint", "build-0"]})
    breakage.refresh_from_db()
    assert breakage.fix == main[7] and breakage.jobs == ["build-0", "build-1", "lint"]
    assert [h.action for h in breakage.history.all()] == ["created", "edited", "edited"]
    factories.settle()
    verdict = JobVerdict.objects.get(sha="ab" * 20)
    assert verdict.breakage == breakage and verdict.fixed_on_branch == main[7].sha

    # reading is not writing
    client.logout()
    response = client.post("/timeline/mark", form)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    User.objects.create_user("bob", password="pw")
    reader = Client()
    reader.login(username="bob", password="pw")
    assert reader.post("/timeline/mark", form).status_code == 403
    assert Breakage.objects.count() == 1


def test_breakage_list_detail_and_edit(
    writer: Client, history: tuple[Repository, list[Commit]]
) -> None:
    _repo, main = history
    html = writer.get("/breakages/?repo=acme/rocket").content.decode()
    assert "No breakage annotated yet" in html
    # the inferred run is offered for annotation
    assert "build-1" in html and main[3].sha[:8] in html and main[7].sha[:8] in html
    suggestion = {
        "repo": "acme/rocket",
        "cause": main[3].sha,
        "fix": main[7].sha,
        "jobs": "build-1",
        "description": "pattern x",
        "category": "code",
    }
    response = writer.post("/breakages/new", suggestion)
    factories.settle()
    breakage = Breakage.objects.get()
    assert response["Location"] == f"/breakages/{breakage.pk}/"
    html = writer.get("/breakages/?repo=acme/rocket").content.decode()
    row = re.search(rf'<a href="/breakages/{breakage.pk}/">.*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(0), re.S)
    assert cells[1] == "4"  # commits 3..6
    assert cells[-2] == "1"  # the pull request commit it excuses
    assert "Nothing inferred that is not annotated" in html

    page = writer.get(f"/breakages/{breakage.pk}/")
    assert page.status_code == 200 and "History" in page.content.decode()
    edit = suggestion | {"fix": main[2].sha}
    response = writer.post(f"/breakages/{breakage.pk}/", edit)
    assert response.status_code == 400 and "must come after" in response.content.decode()
    breakage.refresh_from_db()
    assert breakage.fix == main[7]
    response = writer.post(
        f"/breakages/{breakage.pk}/", edit | {"fix": "", "jobs": "build-1\nlint"}
    )
    assert response.status_code == 302
    breakage.refresh_from_db()
    assert breakage.fix is None and breakage.jobs == ["build-1", "lint"]
    assert writer.post(f"/breakages/{breakage.pk}/", edit | {"cause": "123"}).status_code == 400
    html = writer.get(f"/breakages/{breakage.pk}/").content.decode()
    assert "edited" in html and "ongoing" in html

    # the revert of commit 8 reverts a commit inside the (now ongoing) span
    assert "revert closes this breakage" in html
    writer.post(f"/breakages/{breakage.pk}/close-by-revert", {"revert": main[9].sha})
    breakage.refresh_from_db()
    assert breakage.fix == main[9]
    writer.post(f"/breakages/{breakage.pk}/delete")
    assert not Breakage.objects.exists()
    factories.settle()
    assert JobVerdict.objects.get(sha="ab" * 20).breakage is None


def test_health_page(client: Client, history: tuple[Repository, list[Commit]]) -> None:
    repo, main = history
    breakages.create_breakage(repo, cause=main[3], fix=main[7], jobs=["build-1"])
    factories.settle()
    response = client.get("/health/?repo=acme/rocket")
    assert response.status_code == 200
    html = response.content.decode()
    figures = {
        name: json.loads(body)
        for name, body in re.findall(
            r'<script type="application/json" id="(fig-[a-z]+)">(.*?)</script>', html, re.S
        )
    }
    assert set(figures) == {"fig-shares", "fig-fix", "fig-lag"}
    shares = {t["name"]: sum(t["y"]) for t in figures["fig-shares"]["data"]}
    assert shares["known breakage"] > 0 and shares["unexplained"] == 0
    annotated, inferred = figures["fig-fix"]["data"]
    assert annotated["y"] == [4.0]  # commit 3 to commit 7
    assert inferred["x"] == [f"build-1 {main[3].sha[:7]}"] and inferred["y"] == [4.0]
    assert figures["fig-lag"]["data"][0]["y"][-1] == 0  # the head is all green
    assert "0 commits behind the head" in html


def test_admin_edits_are_validated_and_kept_in_the_history(
    client: Client, history: tuple[Repository, list[Commit]]
) -> None:
    repo, main = history
    breakage = breakages.create_breakage(repo, cause=main[3], jobs=["build-1"], reporter="ada")
    client.force_login(User.objects.create_superuser("root", password="pw"))
    url = f"/admin/triage/breakage/{breakage.pk}/change/"
    assert client.get(url).status_code == 200
    [edit] = breakage.history.all()
    form = {
        "repository": repo.pk,
        "cause": main[3].pk,
        "fix": main[1].pk,  # before the cause: refused
        "jobs": '["build-1", "lint"]',
        "description": "from the admin",
        "category": "infra",
        "reporter": "ada",
        "created_0": "2026-11-01",
        "created_1": "12:00:00",
        "history-TOTAL_FORMS": "1",
        "history-INITIAL_FORMS": "1",
        "history-MIN_NUM_FORMS": "0",
        "history-MAX_NUM_FORMS": "1000",
        "history-0-id": edit.pk,
        "history-0-breakage": breakage.pk,
    }
    response = client.post(url, form)
    assert response.status_code == 200 and "must come after" in response.content.decode()
    response = client.post(url, form | {"fix": main[6].pk})
    assert response.status_code == 302
    breakage.refresh_from_db()
    assert breakage.fix == main[6] and breakage.jobs == ["build-1", "lint"]
    latest = breakage.history.last()
    assert latest is not None and latest.editor == "root"
    assert latest.changes["fix"] == [None, main[6].sha] and "category" in latest.changes


def test_breakages_api(history: tuple[Repository, list[Commit]]) -> None:
    from ninja.testing import TestClient

    from citriage.web.branch_api import router

    repo, main = history
    api = TestClient(router)
    assert api.get("/breakages?repo=acme/rocket").json() == []
    assert api.get("/breakages?repo=acme/nothing").status_code == 404
    [run] = api.get("/breakages/inferred?repo=acme/rocket").json()
    assert (run["job"], run["first_bad"], run["last_bad"], run["commits"]) == (
        "build-1",
        main[3].sha,
        main[6].sha,
        4,
    )
    assert run["fix"] == main[7].sha and not run["weak"] and not run["ongoing"]

    breakage = breakages.create_breakage(repo, cause=main[3], jobs=["build-1"], reporter="ada")
    breakages.update_breakage(breakage, editor="bob", fix=main[7])
    [listed] = api.get("/breakages?repo=acme/rocket&ongoing=false").json()
    assert listed["cause"] == main[3].sha and listed["fix"] == main[7].sha
    assert api.get("/breakages?repo=acme/rocket&ongoing=true").json() == []
    assert api.get("/breakages?repo=acme/rocket&job=lint").json() == []
    detail = api.get(f"/breakages/{breakage.pk}").json()
    assert [h["action"] for h in detail["history"]] == ["created", "edited"]
    assert detail["history"][1]["changes"] == {"fix": [None, main[7].sha]}
    # covering a pull request commit at its merge base (commit 4), not after the fix
    assert [b["id"] for b in api.get(f"/breakages/at/{'ab' * 20}?repo=acme/rocket").json()] == [
        breakage.pk
    ]
    assert api.get(f"/breakages/at/{main[8].sha}?repo=acme/rocket").json() == []
    assert api.get(f"/breakages/at/{'9' * 40}?repo=acme/rocket").status_code == 404
