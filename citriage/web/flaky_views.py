"""The flaky-test pages: /tests/flaky/ (flaky and broken tests with their trend and
evidence, the latest state changes), /tests/quarantine/ (quarantined tests and their
history; quarantining and releasing), and the flaky parts of the test and job pages."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from citriage.ci.models import FAILED_CONCLUSIONS, JobAttempt, Repository
from citriage.flaky import quarantine, similar
from citriage.flaky.config import for_repository
from citriage.flaky.models import HealthChange, Quarantine, State, TestHealth
from citriage.testresults.models import FAILING, Outcome, Test, TestResult
from citriage.triage import similar as similar_jobs
from citriage.web import charts
from citriage.web.access import write_required
from citriage.web.test_repos import chosen, repositories

TREND_DAYS = 28


def _days(count: int) -> list[date]:
    today = timezone.localdate()
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def _trends(test_ids: list[int], days: list[date]) -> dict[int, list[int]]:
    """Failures (and passes on retry) per day of each test."""
    start = timezone.make_aware(datetime.combine(days[0], datetime.min.time()))
    counts: dict[int, Counter[date]] = defaultdict(Counter)
    rows = (
        TestResult.objects.filter(
            test_id__in=test_ids, finished_at__gte=start, outcome__in=[*FAILING, Outcome.FLAKY]
        )
        .annotate(day=TruncDate("finished_at"))
        .values_list("test_id", "day")
    )
    for test_id, day in rows:
        counts[test_id][day] += 1
    return {t: [counts[t][d] for d in days] for t in test_ids}


def flaky_page(request: HttpRequest) -> HttpResponse:
    repository = chosen(request)
    context: dict[str, Any] = {"repository": repository, "repositories": repositories()}
    if repository is not None:
        rows = list(
            TestHealth.objects.filter(repository=repository)
            .exclude(state=State.HEALTHY)
            .select_related("test")
            .order_by("state", "-since")
        )
        days = _days(TREND_DAYS)
        trends = _trends([h.test_id for h in rows], days)
        active = quarantine.active(repository, [h.test_id for h in rows])
        listed: list[dict[str, Any]] = [
            {
                "health": h,
                "spark": charts.sparkline(trends[h.test_id]),
                "failures": sum(trends[h.test_id]),
                "quarantine": active.get(h.test_id),
                "evidence": [e for e in h.evidence if e.get("fired")] or h.evidence,
            }
            for h in rows
        ]
        context |= {
            "broken": [r for r in listed if r["health"].state == State.BROKEN],
            "flaky": [r for r in listed if r["health"].state == State.FLAKY],
            "changes": HealthChange.objects.filter(repository=repository).select_related("test")[
                :30
            ],
            "config": for_repository(repository),
            "trend_days": TREND_DAYS,
        }
    return render(request, "web/flaky_tests.html", context)


class QuarantineForm(forms.Form):
    test = forms.IntegerField(label="test id")
    reason = forms.CharField(max_length=2000)
    days = forms.IntegerField(
        min_value=1, max_value=365, required=False, label="expires after (days)"
    )


def quarantine_page(request: HttpRequest) -> HttpResponse:
    repository = chosen(request)
    context: dict[str, Any] = {"repository": repository, "repositories": repositories()}
    if repository is not None:
        now = timezone.now()
        rows = list(
            Quarantine.objects.filter(repository=repository).select_related("test", "test__health")
        )
        context |= {
            "active": [q for q in rows if q.active_at(now)],
            "past": [q for q in rows if not q.active_at(now)][:100],
            "form": QuarantineForm(initial={"test": request.GET.get("test", "")}),
        }
    return render(request, "web/quarantine.html", context)


@require_POST
@write_required
def quarantine_add(request: HttpRequest) -> HttpResponse:
    form = QuarantineForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not quarantined: {form.errors.as_text()}")
        return redirect("web:quarantine")
    test = get_object_or_404(
        Test.objects.select_related("repository"), pk=form.cleaned_data["test"]
    )
    days = form.cleaned_data.get("days")
    try:
        quarantine.add(
            test,
            by=request.user.get_username(),
            reason=form.cleaned_data["reason"],
            expires_at=timezone.now() + timedelta(days=days) if days else None,
        )
    except quarantine.QuarantineError as exc:
        messages.error(request, f"Not quarantined: {exc}")
    else:
        messages.success(request, f"{test.label} is quarantined: its failures are excused.")
    return redirect(f"/tests/quarantine/?repo={test.repository.full_name}")


@require_POST
@write_required
def quarantine_end(request: HttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Quarantine.objects.select_related("test", "repository"), pk=pk)
    quarantine.end(
        row, by=request.user.get_username(), reason=request.POST.get("reason", "") or "ended"
    )
    messages.success(request, f"{row.test.label} is no longer quarantined.")
    return redirect(f"/tests/quarantine/?repo={row.repository.full_name}")


def test_flaky_parts(test: Test) -> dict[str, Any]:
    """The test page's health, quarantine history and where it failed lately."""
    repository: Repository = test.repository
    seen = similar.elsewhere(repository, [test.pk], sha="").get(test.pk)
    return {
        "health": TestHealth.objects.filter(test=test).first(),
        "quarantines": list(test.quarantines.all()),
        "quarantined": quarantine.active(repository, [test.pk]).get(test.pk),
        "elsewhere": seen.describe(repository.default_branch) if seen else "",
        "health_changes": list(test.health_changes.all()[:10]),
    }


def job_similar(job: JobAttempt) -> similar_jobs.Similar | None:
    if job.conclusion not in FAILED_CONCLUSIONS:
        return None
    return similar_jobs.similar_to(job)


def job_test_health(test_ids: list[int], repository: Repository) -> dict[int, str]:
    """The state shown beside each test of a job: quarantined, flaky, broken."""
    states = dict(
        TestHealth.objects.filter(test_id__in=test_ids)
        .exclude(state=State.HEALTHY)
        .values_list("test_id", "state")
    )
    for test_id in quarantine.active(repository, test_ids):
        states[test_id] = "quarantined"
    return states
