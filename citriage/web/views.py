from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from citriage.ci.models import FAILED_CONCLUSIONS, JobAttempt
from citriage.patterns import scanning
from citriage.patterns.models import BestMatch


def home(request: HttpRequest) -> HttpResponse:
    failed = (
        JobAttempt.objects.filter(conclusion__in=FAILED_CONCLUSIONS)
        .select_related("repository", "best__pattern", "best__match")
        .order_by("-finished_at", "-id")[:50]
    )
    frequent = (
        BestMatch.objects.values("pattern_id", "pattern__expression", "pattern__description")
        .annotate(jobs=Count("job"))
        .order_by("-jobs")[:15]
    )
    return render(
        request,
        "web/home.html",
        {"failed": failed, "frequent": frequent, "progress": scanning.scan_progress()},
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: answers without touching the database."""
    return JsonResponse({"status": "ok"})
