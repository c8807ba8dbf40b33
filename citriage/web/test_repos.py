"""Which repository a test page shows: the ones with test results, the one asked for."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpRequest

from citriage.ci.models import Repository
from citriage.testresults.models import TestRun


def repositories() -> QuerySet[Repository]:
    return Repository.objects.filter(pk__in=TestRun.objects.values("repository_id")).order_by(
        "owner", "name"
    )


def chosen(request: HttpRequest) -> Repository | None:
    name = request.GET.get("repo", "")
    repos = repositories()
    if name:
        owner, _, short = name.partition("/")
        return repos.filter(owner=owner, name=short).first()
    return repos.first()
