"""The test pages: /tests/ (search, most failing, most flaky, failing on the default
branch now), /tests/<id>/ (history, failures by signature, where it ran), the upload
tokens; and the test parts of the job and commit pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count, Max, Min, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from citriage.ci.models import JobAttempt, Repository
from citriage.testresults import history, uploads
from citriage.testresults.models import FAILING, Outcome, Test, TestResult, TestRun, UploadToken
from citriage.triage.models import JobVerdict, Verdict
from citriage.web.access import write_required
from citriage.web.flaky_views import job_test_health, test_flaky_parts
from citriage.web.test_repos import chosen, repositories

WINDOW_DAYS = 14
HISTORY_SHOWN = 100
JOB_HISTORY = 20  # default-branch runs shown beside each failed test of a job
LISTED = 25


def search(q: str, *, repo: str = "", failing: bool = False) -> QuerySet[Test]:
    tests = Test.objects.select_related("repository")
    if repo:
        owner, _, short = repo.partition("/")
        tests = tests.filter(repository__owner=owner, repository__name=short)
    if q:
        tests = tests.filter(Q(name__icontains=q) | Q(suite__icontains=q))
    if failing:
        tests = tests.filter(failures__gt=0)
    return tests.order_by("-last_failed_at", "suite", "name")


def _ranked(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    ranked = list(rows.values("test_id").annotate(n=Count("id")).order_by("-n")[:LISTED])
    found = Test.objects.in_bulk([r["test_id"] for r in ranked])
    return [{"test": found[r["test_id"]], "n": r["n"]} for r in ranked if r["test_id"] in found]


def failing_on_branch(repository: Repository) -> list[dict[str, Any]]:
    """Tests failing in the newest default-branch run of each job."""
    tops = (
        TestRun.objects.filter(repository=repository, job__commit__branch_position__isnull=False)
        .values("job_name")
        .annotate(top=Max("job__commit__branch_position"))
    )
    rows: list[dict[str, Any]] = []
    for top in tops:
        runs = TestRun.objects.filter(
            repository=repository,
            job_name=top["job_name"],
            job__commit__branch_position=top["top"],
        )
        passed_somewhere = set(
            TestResult.objects.filter(run__in=runs, outcome=Outcome.FLAKY).values_list(
                "test_id", flat=True
            )
        )
        for result in (
            TestResult.objects.filter(run__in=runs, outcome__in=FAILING)
            .select_related("test", "run")
            .order_by("test__suite", "test__name")[:LISTED]
        ):
            if result.test_id not in passed_somewhere:
                rows.append({"result": result, "job": top["job_name"], "sha": result.run.sha})
    return rows[:LISTED]


def tests_page(request: HttpRequest) -> HttpResponse:
    repository = chosen(request)
    q = request.GET.get("q", "").strip()
    try:
        days = max(1, min(365, int(request.GET.get("days", WINDOW_DAYS))))
    except ValueError:
        days = WINDOW_DAYS
    since = timezone.now() - timedelta(days=days)
    context: dict[str, Any] = {
        "repository": repository,
        "repositories": repositories(),
        "q": q,
        "days": days,
    }
    if repository is not None:
        in_window = TestResult.objects.filter(repository=repository, finished_at__gte=since)
        flaky_jobs = JobVerdict.objects.filter(
            repository=repository, verdict=Verdict.FLAKY_CONFIRMED
        ).values("job_id")
        context |= {
            "found": list(search(q, repo=repository.full_name)[:100]) if q else None,
            "most_failing": _ranked(in_window.filter(outcome__in=FAILING)),
            "most_flaky": _ranked(
                in_window.filter(
                    Q(outcome=Outcome.FLAKY) | Q(outcome__in=FAILING, run_id__in=flaky_jobs)
                )
            ),
            "failing_now": failing_on_branch(repository),
            "tests": Test.objects.filter(repository=repository).count(),
        }
    return render(request, "web/tests.html", context)


def history_of(test: Test, *, limit: int = HISTORY_SHOWN) -> list[dict[str, Any]]:
    """The test's outcome in the newest runs of the jobs it ran in (runs where it did
    not run left out), newest first."""
    runs = history.runs_of(test.repository_id, test.jobs, limit=limit * 3)
    history.fill_outcomes(runs, [test.pk])
    ran = [r for r in runs if r.outcomes[test.pk] != history.ABSENT][:limit]
    messages_of = dict(
        TestResult.objects.filter(test=test, run_id__in=[r.job_id for r in ran]).values_list(
            "run_id", "message"
        )
    )
    return [
        {
            "job_id": r.job_id,
            "job": r.job_name,
            "sha": r.sha,
            "attempt": r.attempt,
            "branch": r.branch,
            "default_branch": r.position is not None,
            "finished_at": r.finished_at,
            "outcome": r.outcomes[test.pk],
            "message": (messages_of.get(r.job_id) or "")[:300],
        }
        for r in ran
    ]


def signatures_of(test: Test) -> list[dict[str, Any]]:
    rows = (
        TestResult.objects.filter(test=test, outcome__in=[*FAILING, Outcome.FLAKY])
        .values("signature")
        .annotate(
            n=Count("id"),
            first=Min("finished_at"),
            last=Max("finished_at"),
            example=Max("message"),
        )
        .order_by("-n")[:20]
    )
    return [
        {
            "signature": r["signature"],
            "count": r["n"],
            "first": r["first"],
            "last": r["last"],
            "example": (r["example"] or "")[:500],
        }
        for r in rows
    ]


def test_page(request: HttpRequest, pk: int) -> HttpResponse:
    test = get_object_or_404(Test.objects.select_related("repository"), pk=pk)
    cells = history_of(test)
    where: dict[str, int] = {}
    for cell in cells:
        where[cell["job"]] = where.get(cell["job"], 0) + 1
    context = {
        "test": test,
        "branch_cells": [c for c in cells if c["default_branch"]][::-1],
        "other_cells": [c for c in cells if not c["default_branch"]][::-1],
        "signatures": signatures_of(test),
        "where": sorted(where.items(), key=lambda item: -item[1]),
        "failures": TestResult.objects.filter(test=test, outcome__in=FAILING).count(),
        "shown": len(cells),
        **test_flaky_parts(test),
    }
    return render(request, "web/test.html", context)


test_page.__test__ = False  # type: ignore[attr-defined]


def job_test_list(job: JobAttempt) -> tuple[TestRun, list[dict[str, Any]]] | None:
    """The job's test counts, and its tests that did not simply pass (failing first),
    each with its newest outcomes in the same job on the default branch."""
    run = TestRun.objects.filter(pk=job.pk).first()
    if run is None:
        return None
    # failing first, then passed on retry (skipped tests are counted, not listed)
    shown = list(
        run.results.filter(outcome__in=[*FAILING, Outcome.FLAKY])
        .select_related("test")
        .order_by("outcome", "test__suite", "test__name")[:100]
    )
    shown.sort(key=lambda r: r.outcome == Outcome.FLAKY)
    runs = history.runs_of(
        job.repository_id, [job.name], limit=JOB_HISTORY + 1, branch_positions=(None, None)
    )
    runs = [r for r in runs if r.job_id != job.pk][:JOB_HISTORY]
    history.fill_outcomes(runs, [r.test_id for r in shown])
    states = job_test_health([r.test_id for r in shown], job.repository)
    rows = [
        {
            "result": result,
            "state": states.get(result.test_id, ""),
            "history": [
                {"outcome": info.outcomes[result.test_id], "sha": info.sha, "job_id": info.job_id}
                for info in runs
            ],
        }
        for result in shown
    ]
    return run, rows


def commit_tests(verdicts: list[JobVerdict]) -> list[dict[str, Any]]:
    """The failing tests of a commit's failed jobs (latest attempts), grouped as the
    report groups them."""
    groups: dict[str, list[dict[str, Any]]] = {
        "new": [],
        "known": [],
        "failed_before": [],
        "flaky": [],  # flaky tests: issue #18 fills this group
    }
    for verdict in verdicts:
        for test in verdict.tests:
            groups.setdefault(str(test.get("group")), []).append({**test, "job": verdict.job})
    titles = {
        "new": "New: never failed before",
        "known": "Failing on the default branch at the merge base",
        "failed_before": "Failed before on other changes",
        "flaky": "Flaky",
    }
    return [
        {"key": key, "title": titles.get(key, key), "tests": tests}
        for key, tests in groups.items()
        if tests
    ]


# -- upload tokens ------------------------------------------------------------------


class TokenForm(forms.Form):
    repository = forms.ModelChoiceField(queryset=Repository.objects.order_by("owner", "name"))
    name = forms.CharField(required=False, max_length=100)


@write_required
def tokens_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            row, token = uploads.create_token(
                form.cleaned_data["repository"],
                name=form.cleaned_data["name"],
                created_by=request.user.get_username(),
            )
            messages.success(
                request,
                f"Upload token for {row.repository.full_name} (shown only now): {token}",
            )
            return redirect("web:test-tokens")
    else:
        form = TokenForm()
    tokens = UploadToken.objects.select_related("repository")
    return render(request, "web/test_tokens.html", {"form": form, "tokens": tokens})


@require_POST
@write_required
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(UploadToken, pk=pk)
    uploads.revoke(row)
    messages.success(request, f"Token {row.prefix}… of {row.repository.full_name} is revoked.")
    return redirect("web:test-tokens")
