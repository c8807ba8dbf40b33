"""What each failure means: the one implementation of the verdict rules.

For a failed job attempt, in order:

1. logs not fetched yet                      -> pending
2. the same job passed on the same commit    -> flaky (confirmed)
3. a breakage of the default branch covers the job at this commit (or, for a
   pull request, at its merge base): annotated, or for a pull request also an
   inferred run of >= 2 failing commits with the same signature
                                              -> known problem
4. the best match's pattern is tagged flaky   -> flaky (pattern); never when the
   matched line is generic ("Process completed with exit code 1")
5. the best match's pattern is tagged infra   -> infra
6. the job or a failed step timed out         -> timeout
7. the provider reported no failing step      -> no log
8. nothing matched                            -> unmatched
9. otherwise                                  -> new (nothing excuses it)

A job whose logs were removed by retention keeps the verdict it had.

Verdicts are stored (JobVerdict) and a per-commit summary (CommitSummary) is
kept with them; pages and GitHub reports read those rows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from citriage.ci.models import (
    FAILED_CONCLUSIONS,
    Conclusion,
    ExternalCheck,
    JobAttempt,
    LogState,
    Repository,
)
from citriage.patterns import scanning
from citriage.patterns.models import BestMatch, Match
from citriage.rules import latest_attempts
from citriage.scanner.boilerplate import is_generic
from citriage.triage.attribution import covering
from citriage.triage.models import CommitSummary, JobVerdict, Verdict


def excused_verdicts() -> set[str]:
    return set(settings.EXCUSED_VERDICTS)


@dataclass
class Outcome:
    verdict: str
    reasons: list[str] = field(default_factory=list)
    pattern_id: int | None = None
    breakage_id: int | None = None
    fixed_on_branch: str = ""


def _describe(match: Match, what: str = "best match") -> str:
    pattern = match.pattern
    tags = ", ".join(pattern.tag_names()) or "no tags"
    return (
        f"{what}: pattern #{pattern.pk} {pattern.description or pattern.expression!r} "
        f"({tags}) on line {match.line} of step {match.log.step.name!r}"
    )


def evidence(job: JobAttempt) -> tuple[Match | None, list[str]]:
    """The match that explains the failure: the best match, unless its line is generic
    (then the best of the other matches, ranked the same way)."""
    best = (
        BestMatch.objects.filter(job=job)
        .select_related("match__pattern", "match__log__step")
        .first()
    )
    if best is None:
        return None, []
    if not is_generic(best.match.text):
        return best.match, [_describe(best.match)]
    notes = [_describe(best.match) + " — a generic line: it says a step failed, not why"]
    other = scanning.ranked_matches([job.pk], keep=lambda text: not is_generic(text))[job.pk]
    if other is None:
        return None, notes
    match = Match.objects.select_related("pattern", "log__step").get(pk=other)
    return match, [_describe(match, "best specific match"), *notes]


def classify(job: JobAttempt) -> Outcome:
    """The verdict of one failed job attempt, with the reasons (see the module doc)."""
    if job.log_state in (LogState.PENDING, LogState.PENDING_RETRY):
        return Outcome(Verdict.PENDING, ["the logs of the failed steps are not fetched yet"])
    if job.log_state == LogState.EXPIRED:  # the evidence is gone: what it said stands
        kept = JobVerdict.objects.filter(job=job).first()
        if kept is not None:
            return Outcome(
                kept.verdict, kept.reasons, kept.pattern_id, kept.breakage_id, kept.fixed_on_branch
            )
        return Outcome(Verdict.NO_LOG, [job.log_error or "the logs were removed (retention)"])
    passed = (
        JobAttempt.objects.filter(
            repository_id=job.repository_id,
            sha=job.sha,
            name=job.name,
            conclusion=Conclusion.SUCCESS,
        )
        .exclude(pk=job.pk)
        .order_by("attempt")
        .first()
    )
    match, described = evidence(job)
    pattern_id = match.pattern_id if match else None
    if passed is not None:
        return Outcome(
            Verdict.FLAKY_CONFIRMED,
            [f"attempt {passed.attempt} of {job.name!r} on this commit passed"],
            pattern_id,
        )
    coverage = covering(job)
    if coverage is not None:
        return Outcome(
            Verdict.KNOWN_PROBLEM,
            [coverage.reason(job.name)],
            pattern_id,
            coverage.breakage.pk if coverage.breakage else None,
            coverage.fixed_on_branch,
        )
    if match is not None:
        tags = set(match.pattern.tag_names())
        if "flaky" in tags:
            return Outcome(Verdict.FLAKY_PATTERN, described, pattern_id)
        if "infra" in tags:
            return Outcome(Verdict.INFRA, described, pattern_id)
    timed_out = job.conclusion == Conclusion.TIMED_OUT or job.steps.filter(timed_out=True).exists()
    if timed_out:
        return Outcome(Verdict.TIMEOUT, ["the job timed out", *described], pattern_id)
    if job.log_state == LogState.NO_LOG:
        return Outcome(Verdict.NO_LOG, ["the provider reported no failed step with output"])
    if job.log_state == LogState.ERROR:
        return Outcome(Verdict.UNMATCHED, [f"the logs could not be fetched: {job.log_error[:300]}"])
    if match is None:
        return Outcome(
            Verdict.UNMATCHED, described or ["no pattern matched the logs of the failed steps"]
        )
    return Outcome(Verdict.NEW, described, pattern_id)


def recompute_jobs(jobs: Iterable[JobAttempt]) -> None:
    """Store fresh verdicts for these job attempts (none for those that did not fail)."""
    jobs = list(jobs)
    JobVerdict.objects.filter(
        job__in=[j for j in jobs if j.conclusion not in FAILED_CONCLUSIONS]
    ).delete()
    failed = [j for j in jobs if j.conclusion in FAILED_CONCLUSIONS]
    top: dict[tuple[int, str, str], int] = {}  # the latest attempt of each job
    for repository_id, sha in {(j.repository_id, j.sha) for j in failed}:
        attempts = JobAttempt.objects.filter(repository_id=repository_id, sha=sha)
        for name, attempt in attempts.values_list("name", "attempt"):
            key = (repository_id, sha, name)
            top[key] = max(top.get(key, 0), attempt)
    excused = excused_verdicts()
    for job in failed:
        outcome = classify(job)
        JobVerdict.objects.update_or_create(
            job=job,
            defaults={
                "repository_id": job.repository_id,
                "sha": job.sha,
                "verdict": outcome.verdict,
                "excused": outcome.verdict in excused,
                "reasons": outcome.reasons,
                "pattern_id": outcome.pattern_id,
                "breakage_id": outcome.breakage_id,
                "fixed_on_branch": outcome.fixed_on_branch,
                "superseded": top.get((job.repository_id, job.sha, job.name), 0) > job.attempt,
                "computed_at": timezone.now(),
            },
        )


def recompute_commit(repository: Repository, sha: str) -> CommitSummary:
    """Every verdict of the commit, and its summary."""
    jobs = JobAttempt.objects.filter(repository=repository, sha=sha).select_related("repository")
    with transaction.atomic():
        recompute_jobs(jobs)
        return recompute_summary(repository.pk, sha)


def recompute_summary(repository_id: int, sha: str) -> CommitSummary:
    """Counts by verdict over the jobs of the commit: one entry per job (its latest
    failed attempt), so a job that failed and then passed counts once, as flaky.
    Failed checks citriage does not analyse (other CI, other apps) are counted apart
    and keep the commit from being all excused."""
    verdicts = JobVerdict.objects.filter(repository_id=repository_id, sha=sha).select_related("job")
    latest = latest_attempts(verdicts, lambda v: v.job.name, lambda v: v.job.attempt)
    counts = Counter(v.verdict for v in latest.values())
    excused = sum(1 for v in latest.values() if v.excused)
    foreign = sorted(
        check.name
        for check in ExternalCheck.objects.filter(repository_id=repository_id, sha=sha)
        if check.failed
    )
    digest = hashlib.sha256(
        json.dumps(
            [
                sorted(
                    (v.job_id, v.verdict, v.reasons, v.pattern_id, v.breakage_id, v.superseded)
                    for v in verdicts
                ),
                foreign,
            ],
            default=str,
        ).encode()
    ).hexdigest()
    values = {
        "counts": dict(sorted(counts.items())),
        "failures": len(latest),
        "excused": excused,
        "pending": counts.get(Verdict.PENDING, 0),
        "foreign_failures": len(foreign),
        "all_excused": excused == len(latest) and not foreign,
    }
    summary, created = CommitSummary.objects.get_or_create(
        repository_id=repository_id,
        sha=sha,
        defaults={**values, "digest": digest, "changed_at": timezone.now()},
    )
    if not created and summary.digest != digest:
        for name, value in values.items():
            setattr(summary, name, value)
        summary.digest, summary.changed_at = digest, timezone.now()
        summary.save()
    return summary
