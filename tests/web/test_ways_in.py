"""The sheriff's ways in through HTTP: the commit and pull request API, search answers,
short shas, classification through the API, static files as served, hostile text in
the preview of what is posted."""

from __future__ import annotations

import gzip

import pytest
from django.test import Client

from citriage.ci import recording
from citriage.ci.models import FAILED_CONCLUSIONS, JobAttempt, PullRequest
from citriage.triage.models import JobVerdict, Verdict
from citriage.web import search
from tests import factories
from tests.web.conftest import HOSTILE_LINE, History, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def writer_client(db: None) -> Client:
    client = Client()
    client.force_login(make_user("wanda", writer=True))
    return client


def test_commit_api_by_full_or_short_sha(client: Client, history: History) -> None:
    factories.settle()
    job = history.matched_job
    full = client.get(f"/api/commits/{job.sha}").json()
    assert client.get(f"/api/commits/{job.sha[:8]}").json() == full
    assert full["sha"] == job.sha
    jobs = JobAttempt.objects.filter(sha=job.sha)
    assert {j["id"] for j in full["jobs"]} == set(jobs.values_list("id", flat=True))
    mine = next(j for j in full["jobs"] if j["id"] == job.pk)
    verdict = JobVerdict.objects.get(job=job)
    assert mine["verdict"] == verdict.verdict and mine["reasons"] == verdict.reasons
    assert mine["best_line"] == job.best.match.line
    [summary] = full["summaries"]
    assert summary["repository"] == "acme/rocket" and summary["failures"] >= 1
    assert full["checks"] == [] and full["comments"] == []  # the demo posts nothing
    assert client.get("/api/commits/0123456").status_code == 404
    assert client.get("/api/commits/xyz").status_code == 404


def test_pull_api_lists_every_head_newest_first(client: Client, history: History) -> None:
    factories.settle()
    pull = max(PullRequest.objects.filter(repository__name="rocket"), key=lambda p: p.heads.count())
    data = client.get(f"/api/pulls/{pull.number}").json()
    heads = list(pull.heads.values_list("sha", flat=True))
    assert [h["sha"] for h in data["heads"]] == heads[::-1]
    assert data["heads"][0]["current"] and data["head_sha"] == pull.head_sha
    for head in data["heads"]:
        for failure in head["failures"]:
            assert failure["verdict"] in Verdict.values
    # another repository with the same number: the number alone is ambiguous
    other = factories.repository("acme/other")
    recording.record_pull_request(other, pull.number, head_sha="e" * 40, title="Same number")
    assert client.get(f"/api/pulls/{pull.number}").status_code == 400
    assert client.get(f"/api/pulls/{pull.number}?repo=acme/other").json()["title"] == "Same number"
    page = client.get(f"/pulls/{pull.number}/").content.decode()
    assert "/pulls/acme/other/" in page and "/pulls/acme/rocket/" in page  # a choice


def test_classifying_through_the_api_needs_write_access(
    client: Client, writer_client: Client, history: History
) -> None:
    factories.settle()
    failed = JobAttempt.objects.filter(conclusion__in=FAILED_CONCLUSIONS).first()
    url = f"/api/jobs/{failed.pk}/classify"
    body = {"kind": "infra", "note": "runner lost"}
    reader = Client()
    reader.force_login(make_user("rita", writer=False))
    assert reader.post(url, body, content_type="application/json").status_code == 403
    assert client.post(url, body, content_type="application/json").status_code in (401, 403)
    answer = writer_client.post(url, body, content_type="application/json")
    assert answer.status_code == 200, answer.content
    wrong = writer_client.post(url, {"kind": "cosmic"}, content_type="application/json")
    assert wrong.status_code == 422
    factories.settle()
    data = client.get(f"/api/commits/{failed.sha}").json()
    mine = next(j for j in data["jobs"] if j["id"] == failed.pk)
    assert mine["verdict"] == "infra" and mine["classification"]["by"] == "wanda"
    assert mine["classification"]["note"] == "runner lost"


def test_search_answers(client: Client, history: History) -> None:
    job = history.matched_job
    assert client.get(f"/search/?q={job.sha[:7]}")["Location"] == f"/commits/{job.sha}/"
    pull = PullRequest.objects.filter(repository__name="rocket").first()
    assert client.get(f"/search/?q=%23{pull.number}")["Location"].endswith(f"/{pull.number}/")
    results = search.search("test")
    assert "jobs" not in results.sections or all(
        "test" in hit.label for hit in results.sections["jobs"]
    )
    assert search.search("").sections == {}
    assert search.search("abcdefg").sections == {}  # a sha prefix of nothing
    assert client.get("/search/?q=nothing-like-it").status_code == 200
    assert client.get(f"/commits/{job.sha[:9]}/")["Location"] == f"/commits/{job.sha}/"
    assert client.get("/commits/zz/").status_code == 404


def test_static_files_are_hashed_compressed_and_cached(client: Client, history: History) -> None:
    home = client.get("/").content.decode()
    start = home.index("/static/vendor/plotly/plotly.min.")
    url = home[start : home.index('"', start)]
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "max-age=315360000" in response["Cache-Control"]
    body = b"".join(response.streaming_content)
    assert len(body) < 2_000_000 and gzip.decompress(body).startswith(b"/**")
    job_page = client.get(f"/jobs/{history.matched_job.pk}/").content.decode()
    assert "plotly" not in job_page  # no chart, no plotly


def test_the_preview_keeps_hostile_log_text_as_text(client: Client, history: History) -> None:
    factories.settle()
    page = client.get(f"/commits/{history.hostile_job.sha}/").content.decode()
    preview = page[page.index('<section class="preview"') :]
    assert "No GitHub App is configured" in preview
    assert "<img src=x" not in preview and "<script>alert" not in preview
    assert HOSTILE_LINE not in preview
