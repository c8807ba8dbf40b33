"""Pages of the App-manifest registration (staff only)."""

from __future__ import annotations

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from citriage.github import setup
from citriage.providers.base import ProviderError


@staff_member_required
def start(request: HttpRequest) -> HttpResponse:
    org = request.GET.get("org", "").strip() or None
    return render(
        request,
        "github/setup.html",
        {
            "manifest": json.dumps(setup.manifest(), indent=2),
            "action": setup.registration_url(org),
            "org": org or "",
        },
    )


@staff_member_required
def done(request: HttpRequest) -> HttpResponse:
    code = request.GET.get("code", "")
    if not code:
        return render(
            request, "github/setup_done.html", {"error": "GitHub sent no code."}, status=400
        )
    try:
        app = setup.convert(code)
    except ProviderError as exc:
        return render(
            request,
            "github/setup_done.html",
            {"error": f"GitHub refused the code: {exc}"},
            status=502,
        )
    return render(
        request,
        "github/setup_done.html",
        {
            "app": app,
            "environment": setup.environment(app),
            "install_url": f"{app.get('html_url', '')}/installations/new",
        },
    )
