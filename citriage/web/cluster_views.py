"""The clusters page: unattributed failures grouped by signature, with a suggested pattern."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from citriage.triage import clusters as queries
from citriage.web import charts

PER_PAGE = 50


def workbench_url(expression: str, is_regex: bool, job_id: int) -> str:
    """The pattern workbench, opened on a suggestion and a job to test it on."""
    try:
        base = reverse("web:workbench")
    except NoReverseMatch:
        base = "/patterns/new/"
    query = urlencode({"expression": expression, "regex": int(is_regex), "job": job_id})
    return f"{base}?{query}"


def clusters(request: HttpRequest) -> HttpResponse:
    asked = request.GET.get("page", "")
    number = int(asked) if asked.isdigit() and int(asked) > 0 else 1
    # One pass of the (costly) grouping gives the page and the count; a page past the
    # end is asked again as the last one.
    found, total = queries.clusters(PER_PAGE, (number - 1) * PER_PAGE)
    page = Paginator(range(total), PER_PAGE).get_page(number)
    if page.number != number:
        found, total = queries.clusters(PER_PAGE, (page.number - 1) * PER_PAGE)
    rows = []
    for cluster in found:
        link = None
        if cluster.suggestion and cluster.recent_job_ids:
            link = workbench_url(
                cluster.suggestion.expression,
                cluster.suggestion.is_regex,
                cluster.recent_job_ids[0],
            )
        rows.append(
            {"cluster": cluster, "sparkline": charts.sparkline(cluster.trend), "workbench": link}
        )
    return render(
        request,
        "web/clusters.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "trend_days": queries.TREND_DAYS,
            "flaky_days": queries.flaky_days(),
        },
    )
