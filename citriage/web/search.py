"""The header's search: a commit (full or short sha), a pull request (#123), a job name,
a pattern (id or text), a test name. One unambiguous hit goes straight to its page."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Max, Q
from django.urls import reverse

from citriage.ci.models import Commit, JobAttempt, PullRequest
from citriage.patterns.models import Pattern

SHA_PREFIX = re.compile(r"^[0-9a-f]{7,40}$")
PULL = re.compile(r"^(?:#|pr\s*|pull\s*)(\d+)$", re.IGNORECASE)
PATTERN = re.compile(r"^(?:pattern\s*#?|p)(\d+)$", re.IGNORECASE)
LIMIT = 20


@dataclass
class Hit:
    url: str
    label: str
    detail: str = ""


@dataclass
class Results:
    query: str
    sections: dict[str, list[Hit]] = field(default_factory=dict)

    @property
    def hits(self) -> list[Hit]:
        return [hit for hits in self.sections.values() for hit in hits]


def shas_with_prefix(prefix: str, limit: int = LIMIT) -> list[str]:
    """Full shas of known commits (recorded, or seen on a job) starting with `prefix`.
    A range rather than LIKE: the sha indexes serve it whatever the collation."""
    prefix = prefix.lower()
    span = Q(sha__gte=prefix, sha__lt=prefix + "g")  # "g" follows every hex digit
    found = set(Commit.objects.filter(span).order_by("sha").values_list("sha", flat=True)[:limit])
    attempts = JobAttempt.objects.filter(span).order_by("sha").values_list("sha", flat=True)
    found |= set(attempts.distinct()[:limit])
    return sorted(found)[:limit]


def pull_url(pull: PullRequest) -> str:
    repository = pull.repository
    return reverse("web:pull", args=[repository.owner, repository.name, pull.number])


def _commits(query: str) -> list[Hit]:
    if not SHA_PREFIX.match(query.lower()):
        return []
    shas = shas_with_prefix(query)
    titles = {c.sha: c for c in Commit.objects.filter(sha__in=shas).select_related("repository")}
    hits = []
    for sha in shas:
        commit = titles.get(sha)
        detail = f"{commit.repository.full_name}: {commit.title}" if commit else ""
        hits.append(Hit(reverse("web:commit", args=[sha]), sha[:12], detail))
    return hits


def _pulls(query: str) -> list[Hit]:
    found = PULL.match(query) or (re.match(r"^(\d+)$", query))
    if not found:
        return []
    pulls = PullRequest.objects.filter(number=int(found.group(1))).select_related("repository")
    return [
        Hit(pull_url(p), f"{p.repository.full_name}#{p.number}", f"{p.title} ({p.state})")
        for p in pulls[:LIMIT]
    ]


def _jobs(query: str) -> list[Hit]:
    if len(query) < 2:
        return []
    rows = (
        JobAttempt.objects.filter(name__icontains=query)
        .values("name")
        .annotate(newest=Max("id"))
        .order_by("name")[:LIMIT]
    )
    return [
        Hit(reverse("web:job", args=[row["newest"]]), row["name"], "its newest attempt")
        for row in rows
    ]


def _patterns(query: str) -> list[Hit]:
    by_id = PATTERN.match(query) or re.match(r"^(\d+)$", query)
    rows = Pattern.objects.none()
    if by_id:
        rows = Pattern.objects.filter(pk=int(by_id.group(1)))
    elif len(query) >= 3:
        rows = Pattern.objects.filter(
            Q(expression__icontains=query) | Q(description__icontains=query)
        ).order_by("is_retired", "-id")
    return [
        Hit(
            reverse("web:pattern", args=[p.pk]),
            f"#{p.pk} {p.expression[:100]}",
            p.description + (" (retired)" if p.is_retired else ""),
        )
        for p in rows[:LIMIT]
    ]


def _tests(query: str) -> list[Hit]:
    """Test names: test results are not stored yet (issue #17). When they are, look the
    name up among the stored test cases here and link each to its failures."""
    return []


SECTIONS: list[tuple[str, Callable[[str], list[Hit]]]] = [
    ("commits", _commits),
    ("pull requests", _pulls),
    ("jobs", _jobs),
    ("patterns", _patterns),
    ("tests", _tests),
]


def search(query: str) -> Results:
    query = query.strip()[:200]
    results = Results(query)
    if not query:
        return results
    for name, find in SECTIONS:
        if hits := find(query):
            results.sections[name] = hits
    return results


def only_target(results: Results) -> str | None:
    """Where to go straight away: a commit or pull request the query names unambiguously
    (a sha prefix, #123), or the single hit of any kind."""
    hits = results.hits
    if len(hits) == 1:
        return hits[0].url
    query = results.query
    strong = {"commits": SHA_PREFIX.match(query.lower()), "pull requests": PULL.match(query)}
    for name, named in strong.items():
        section = results.sections.get(name, [])
        if named and len(section) == 1:
            return section[0].url
    return None
