"""Similar failures: has this failure happened elsewhere lately? ("is it my fault?")

For a failed job: other failed jobs of the repository in the last days (CITRIAGE_SIMILAR_DAYS)
on other commits with the same signature (citriage.triage.signatures: the best specific
pattern match with its captures, or the signature of the likely failure line), and with a
near-identical failure line: PostgreSQL's pg_trgm similarity where the extension is
installed, else the share of normalised tokens two signatures have in common (the same
comparison on SQLite). Never from generic lines ("exit code 1") nor from a job that is
only known by its failed step or conclusion.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from citriage.ci.models import FAILED_CONCLUSIONS, JobAttempt, PullRequestHead
from citriage.failurelines.models import FailureAnalysis
from citriage.patterns.models import BestMatch
from citriage.scanner.signature import is_generic_signature
from citriage.triage.signatures import failure_signatures

NEAR = 0.7  # similarity (trigram or token overlap) of a near-identical line
MAX_COMPARED = 5000  # failure lines compared without pg_trgm, or read with it (the newest)
MAX_LISTED = 50
_TOKEN = re.compile(r"<\w+>|[A-Za-z_][\w.]*|\S")


@dataclass
class Seen:
    job_id: int
    name: str
    sha: str
    branch: str
    on_default_branch: bool
    author: str
    finished_at: datetime | None
    how: str  # "same signature" / "near-identical line (0.83)"


@dataclass
class Similar:
    signature: str  # the label of the failure's signature
    seen: list[Seen] = field(default_factory=list)
    method: str = ""  # how near lines were compared

    def summary(self, default_branch: str) -> str:
        """ "seen on 5 other commits by 4 authors since 2026-11-03, and on main at abc123"."""
        others = [s for s in self.seen if not s.on_default_branch]
        branch = [s for s in self.seen if s.on_default_branch]
        parts = []
        if others:
            authors = {s.author for s in others if s.author}
            commits = {s.sha for s in others}
            parts.append(f"on {len(commits)} other commit(s) by {len(authors) or 1} author(s)")
        if branch:
            parts.append(f"on {default_branch} at {branch[0].sha[:10]}")
        if not parts:
            return ""
        first = min((s.finished_at for s in self.seen if s.finished_at), default=None)
        since = f" since {first:%Y-%m-%d}" if first else ""
        return "seen " + ", and ".join(parts) + since


def tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(text.lower()))


def token_similarity(a: str, b: str) -> float:
    """The share of tokens two normalised lines have in common (Jaccard)."""
    left, right = tokens(a), tokens(b)
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


@functools.cache
def has_trigrams() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def _trigram_near(lines: QuerySet[FailureAnalysis], line: str) -> list[tuple[int, str, float]]:
    """Of `lines`, those near-identical to `line` by pg_trgm, most similar first (then the
    newest). Recent failures repeat a few hundred lines over tens of thousands of jobs: the
    similarity is worked out once per distinct line, not once per job."""
    distinct_sql, params = lines.values("signature").distinct().query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pg_trgm.similarity_threshold = %s", [NEAR])
        # MATERIALIZED: else PostgreSQL pushes the `%` test into the DISTINCT, row by row.
        cursor.execute(
            f"WITH recent AS MATERIALIZED ({distinct_sql}) "
            "SELECT signature, similarity(signature, %s) FROM recent WHERE signature %% %s",
            [*params, line, line],
        )
        scores = {text: score for text, score in cursor.fetchall() if score >= NEAR}
    rows = (
        lines.filter(signature__in=list(scores))
        .order_by("-job__finished_at", "-job_id")
        .values_list("job_id", "signature")[:MAX_COMPARED]
    )
    near = sorted(rows, key=lambda row: -scores[row[1]])  # stable: the newest first on ties
    return [(job_id, text, scores[text]) for job_id, text in near[:MAX_LISTED]]


def similar_to(job: JobAttempt, *, days: int | None = None) -> Similar | None:
    """The job's failure elsewhere in the last `days` (None: its failure has no specific
    signature)."""
    days = settings.SIMILAR_DAYS if days is None else days
    signature = failure_signatures([job.pk]).get(job.pk)
    if signature is None or not signature.key.startswith(("pattern:", "line:")):
        return None
    since = (job.finished_at or timezone.now()) - timedelta(days=days)
    recent = JobAttempt.objects.filter(
        repository_id=job.repository_id,
        conclusion__in=FAILED_CONCLUSIONS,
        finished_at__gte=since,
    ).exclude(sha=job.sha)
    found: dict[int, str] = {}
    if signature.key.startswith("pattern:"):
        pattern_id = int(signature.key.split(":", 2)[1])
        candidates = BestMatch.objects.filter(pattern_id=pattern_id, job__in=recent).values_list(
            "job_id", flat=True
        )
        same = failure_signatures(list(candidates[: MAX_LISTED * 4]))
        found |= {i: "same signature" for i, s in same.items() if s.key == signature.key}
    line = (
        FailureAnalysis.objects.filter(job=job, generic=False)
        .exclude(signature="")
        .order_by("log__step__index")
        .values_list("signature", flat=True)
        .first()
    )
    method = ""
    if line and not is_generic_signature(line):
        lines = FailureAnalysis.objects.filter(job__in=recent, generic=False).exclude(signature="")
        for other in lines.filter(signature=line).values_list("job_id", flat=True)[:MAX_LISTED]:
            found.setdefault(other, "same signature")
        near: Iterable[tuple[int, str, float]]
        if has_trigrams():
            method = "pg_trgm similarity"
            near = _trigram_near(lines.exclude(signature=line), line)
        else:
            method = "shared tokens"
            rows = lines.exclude(signature=line).order_by("-id").values_list("job_id", "signature")
            near = [
                (other, text, score)
                for other, text in rows[:MAX_COMPARED]
                if (score := token_similarity(line, text)) >= NEAR
            ]
        for other, text, score in near:
            if not is_generic_signature(text):
                found.setdefault(other, f"near-identical line ({score:.2f})")
    jobs = list(
        JobAttempt.objects.filter(pk__in=list(found))
        .select_related("commit")
        .order_by("-finished_at")[:MAX_LISTED]
    )
    pulls = dict(
        PullRequestHead.objects.filter(sha__in={j.sha for j in jobs})
        .exclude(pull__author_login="")
        .values_list("sha", "pull__author_login")
    )
    seen = []
    for row in jobs:
        commit = row.commit
        author = pulls.get(row.sha) or (
            (commit.author_login or commit.author_email) if commit else ""
        )
        seen.append(
            Seen(
                job_id=row.pk,
                name=row.name,
                sha=row.sha,
                branch=row.branch,
                on_default_branch=commit is not None and commit.branch_position is not None,
                author=author or row.branch,
                finished_at=row.finished_at,
                how=found[row.pk],
            )
        )
    return Similar(signature=signature.label, seen=seen, method=method)
