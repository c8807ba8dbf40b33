"""What each failure means: the one implementation of the verdict rules.

A person's classification of the failure comes first (flaky -> flaky (marked),
infra -> infra, broken trunk -> known problem; "other" keeps what the rules say, with
the person's note first among the reasons). Otherwise, in order:

1. logs not fetched yet                      -> pending
2. the same job passed on the same commit    -> flaky (confirmed)
3. a breakage of the default branch covers the job at this commit (or, for a
   pull request, at its merge base): annotated, or for a pull request also an
   inferred run of >= 2 failing commits with the same signature (not for jobs with
   failing tests: rule 4 judges those by test)
                                              -> known problem
4. every failing test of the job fails on the default branch in the same job at
   the merge base (on the default branch: at the commit before)
                                              -> known problem (the tests named,
                                                 with the commit each started failing)
4b. every failing test is flaky (citriage.flaky's monitors), quarantined, or
   failing at the merge base, and one at least is flaky or quarantined
                                              -> flaky (test) (the tests named)
5. the best match's pattern is tagged flaky   -> flaky (pattern); never when the
   matched line is generic ("Process completed with exit code 1")
6. the best match's pattern is tagged infra   -> infra
7. the job or a failed step timed out         -> timeout
8. a failing test never failed before         -> new (the tests named)
9. the provider reported no failing step      -> no log
10. nothing matched                           -> unmatched
11. otherwise                                 -> new (nothing excuses it)

Jobs without test results keep rules 1-3, 5-7 and 9-11. The failing tests of a job
and what is known of each (new, failing on the default branch since a commit, flaky,
quarantined, failed before elsewhere; the default-branch failure rate, where else it
failed) are stored with the verdict (JobVerdict.tests) for the pages and
the report.

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
    Commit,
    Conclusion,
    ExternalCheck,
    JobAttempt,
    LogState,
    Repository,
)
from citriage.flaky import quarantine, similar
from citriage.flaky.models import State, TestHealth
from citriage.patterns import scanning
from citriage.patterns.models import BestMatch, Match
from citriage.rules import latest_attempts
from citriage.scanner.boilerplate import is_generic
from citriage.testresults import history
from citriage.testresults.models import FAILING, TestResult, TestRun
from citriage.triage import expected
from citriage.triage.attribution import covering
from citriage.triage.expected import Coverage
from citriage.triage.inference import INFER_WINDOW
from citriage.triage.mergebase import merge_base
from citriage.triage.models import (
    Classification,
    CommitSummary,
    FailureClassification,
    JobVerdict,
    Verdict,
)

MAX_TESTS_KEPT = 50  # failing tests stored with a verdict (the count is kept whole)
MAX_TESTS_NAMED = 5  # failing tests named in one reason


def excused_verdicts() -> set[str]:
    return set(settings.EXCUSED_VERDICTS)


@dataclass
class Outcome:
    verdict: str
    reasons: list[str] = field(default_factory=list)
    pattern_id: int | None = None
    breakage_id: int | None = None
    fixed_on_branch: str = ""
    tests: list[dict[str, object]] = field(default_factory=list)


# What is known of a failing test of a job (JobVerdict.tests[].group).
NEW_TEST = "new"  # never failed before (on another commit or job)
ON_BRANCH = "known"  # failing on the default branch at the merge base
FAILED_BEFORE = "failed_before"  # failed before elsewhere, not failing at the merge base
FLAKY_TEST = "flaky"  # the monitors call it flaky (citriage.flaky)
QUARANTINED = "quarantined"  # quarantined: its failures are excused


@dataclass
class TestEvidence:
    """A failed job's failing tests and what is known of each."""

    __test__ = False

    tests: list[dict[str, object]]
    total: int
    where: str  # "the merge base abc123" / "the commit before on main"

    def group(self, name: str) -> list[dict[str, object]]:
        return [t for t in self.tests if t["group"] == name]

    @property
    def all_known(self) -> bool:
        return self.total > 0 and len(self.group(ON_BRANCH)) == self.total

    @property
    def all_excused(self) -> bool:
        """Every failing test is flaky, quarantined or failing at the merge base, and one
        at least is flaky or quarantined."""
        excused = self.group(FLAKY_TEST) + self.group(QUARANTINED)
        return bool(excused) and len(excused) + len(self.group(ON_BRANCH)) == self.total

    def named(self, tests: list[dict[str, object]], *, since: bool = False) -> str:
        shown = []
        for test in tests[:MAX_TESTS_NAMED]:
            text = str(test["name"])
            if since and test.get("since"):
                text += f" (failing since {str(test['since'])[:10]})"
            shown.append(text)
        more = len(tests) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def test_evidence(job: JobAttempt) -> TestEvidence | None:
    """The job's failing tests, each as new, failing on the default branch (since which
    commit) or failed before elsewhere; None when the job has no test results or none
    of its tests failed."""
    run = TestRun.objects.filter(pk=job.pk).first()
    if run is None:
        return None
    failing = list(
        TestResult.objects.filter(run=run, outcome__in=FAILING)
        .select_related("test")
        .order_by("test__suite", "test__name")
    )
    if not failing:
        return None
    ids = [r.test_id for r in failing]
    repository = job.repository
    commit = Commit.objects.filter(repository=repository, sha=job.sha).first()
    states: dict[int, history.BranchState | None] = {}
    where = ""
    if commit is not None and commit.branch_position is not None:
        high: int | None = commit.branch_position - 1
        where = f"the commit before on {repository.default_branch}"
    else:
        base = merge_base(repository, job.sha)
        high = base.branch_position if base is not None else None
        where = f"the merge base {base.sha[:10]}" if base is not None else ""
    if high is not None:
        states = history.branch_states(repository, job.name, ids, high=high, window=INFER_WINDOW)
    before = history.failed_before(ids, run)
    health = {h.test_id: h for h in TestHealth.objects.filter(test_id__in=ids)}
    quarantined = quarantine.active(repository, ids)
    seen = similar.elsewhere(
        repository,
        ids,
        sha=job.sha,
        signatures={r.test_id: r.signature for r in failing},
        days=settings.SIMILAR_DAYS,
    )
    tests: list[dict[str, object]] = []
    for row in failing:
        state = states.get(row.test_id)
        known = health.get(row.test_id)
        since = ""
        if row.test_id in quarantined:
            group = QUARANTINED
        elif state is not None and state.failing:
            group, since = ON_BRANCH, state.since
        elif known is not None and known.state == State.FLAKY:
            group = FLAKY_TEST
        elif row.test_id in before:
            group = FAILED_BEFORE
        else:
            group = NEW_TEST
        tests.append(
            {
                "id": row.test_id,
                "name": row.test.label,
                "outcome": row.outcome,
                "group": group,
                "since": since,
                "message": (row.message.splitlines() or [""])[0][:300],
                "state": known.state if known is not None else State.HEALTHY,
                "rate": _rate(known),
                "elsewhere": seen[row.test_id].describe(repository.default_branch)
                if row.test_id in seen
                else "",
            }
        )
    return TestEvidence(tests=tests, total=len(tests), where=where)


def _rate(health: TestHealth | None) -> str:
    """The default-branch failure rate over the monitors' window, as the report shows it."""
    if health is None or health.rate is None:
        return ""
    return f"{health.branch_failures} of {health.branch_runs} runs ({health.rate:.0%})"


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
    said = FailureClassification.objects.filter(job=job).first()
    if said is None:
        return _by_rules(job)
    reason = said.describe()
    if said.kind == Classification.BROKEN_TRUNK:
        coverage = covering(job)  # an annotated or inferred breakage names the culprit
        if coverage is None:
            return Outcome(Verdict.KNOWN_PROBLEM, [reason], _pattern_id(job))
        return Outcome(
            Verdict.KNOWN_PROBLEM,
            [reason, coverage.reason(job.name)],
            _pattern_id(job),
            coverage.breakage.pk if coverage.breakage else None,
            coverage.fixed_on_branch,
        )
    if said.kind in (Classification.FLAKY, Classification.INFRA):
        verdict = Verdict.FLAKY_MARKED if said.kind == Classification.FLAKY else Verdict.INFRA
        return Outcome(verdict, [reason], _pattern_id(job))
    outcome = _by_rules(job)
    outcome.reasons.insert(0, reason)
    return outcome


def _pattern_id(job: JobAttempt) -> int | None:
    match, _ = evidence(job)
    return match.pattern_id if match else None


def _by_rules(job: JobAttempt) -> Outcome:
    if job.log_state in (LogState.PENDING, LogState.PENDING_RETRY):
        return Outcome(Verdict.PENDING, ["the logs of the failed steps are not fetched yet"])
    if job.log_state == LogState.EXPIRED:  # the evidence is gone: what it said stands
        kept = JobVerdict.objects.filter(job=job).first()
        if kept is not None:
            return Outcome(
                kept.verdict,
                kept.reasons,
                kept.pattern_id,
                kept.breakage_id,
                kept.fixed_on_branch,
                kept.tests,
            )
        return Outcome(Verdict.NO_LOG, [job.log_error or "the logs were removed (retention)"])
    tests = test_evidence(job)
    outcome = _classify(job, tests)
    outcome.tests = tests.tests[:MAX_TESTS_KEPT] if tests else []
    return outcome


def _classify(job: JobAttempt, tests: TestEvidence | None) -> Outcome:
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
    # Failing tests say more than "the job failed the same way": an inferred breakage
    # could hide a new failing test behind an old one.
    if coverage is not None and not (coverage.inferred is not None and tests is not None):
        return Outcome(
            Verdict.KNOWN_PROBLEM,
            [coverage.reason(job.name)],
            pattern_id,
            coverage.breakage.pk if coverage.breakage else None,
            coverage.fixed_on_branch,
        )
    return _classify_rest(job, match, described, pattern_id, tests)


def _classify_rest(
    job: JobAttempt,
    match: Match | None,
    described: list[str],
    pattern_id: int | None,
    tests: TestEvidence | None,
) -> Outcome:
    """Rules 4 to 11 (see the module doc)."""
    if tests is not None and tests.all_known:
        known = tests.group(ON_BRANCH)
        return Outcome(
            Verdict.KNOWN_PROBLEM,
            [
                f"every failing test ({tests.total}) already fails in {job.name!r} on "
                f"{job.repository.default_branch} at {tests.where}: "
                + tests.named(known, since=True)
            ],
            pattern_id,
        )
    if tests is not None and tests.all_excused:
        excused = tests.group(FLAKY_TEST) + tests.group(QUARANTINED)
        reasons = [
            f"every failing test ({tests.total}) is flaky or quarantined: {tests.named(excused)}"
        ]
        if known := tests.group(ON_BRANCH):
            reasons.append(
                f"{len(known)} of them already fail on the default branch at {tests.where}: "
                + tests.named(known, since=True)
            )
        return Outcome(Verdict.FLAKY_TEST, reasons, pattern_id)
    test_notes = _test_notes(tests)
    if match is not None:
        tags = set(match.pattern.tag_names())
        if "flaky" in tags:
            return Outcome(Verdict.FLAKY_PATTERN, described + test_notes, pattern_id)
        if "infra" in tags:
            return Outcome(Verdict.INFRA, described + test_notes, pattern_id)
    timed_out = job.conclusion == Conclusion.TIMED_OUT or job.steps.filter(timed_out=True).exists()
    if timed_out:
        return Outcome(Verdict.TIMEOUT, ["the job timed out", *described, *test_notes], pattern_id)
    if tests is not None and tests.group(NEW_TEST):
        new = tests.group(NEW_TEST)
        reason = f"{len(new)} failing test(s) never failed before: {tests.named(new)}"
        return Outcome(Verdict.NEW, [reason, *test_notes[1:], *described], pattern_id)
    if test_notes and job.log_state in (LogState.NO_LOG, LogState.ERROR):
        return Outcome(Verdict.UNMATCHED, test_notes, pattern_id)
    if job.log_state == LogState.NO_LOG:
        return Outcome(Verdict.NO_LOG, ["the provider reported no failed step with output"])
    if job.log_state == LogState.ERROR:
        return Outcome(Verdict.UNMATCHED, [f"the logs could not be fetched: {job.log_error[:300]}"])
    if match is None:
        return Outcome(
            Verdict.UNMATCHED,
            (described or ["no pattern matched the logs of the failed steps"]) + test_notes,
        )
    return Outcome(Verdict.NEW, described + test_notes, pattern_id)


def _test_notes(tests: TestEvidence | None) -> list[str]:
    """What the failing tests say, when they do not decide the verdict themselves."""
    if tests is None:
        return []
    notes = []
    if new := tests.group(NEW_TEST):
        notes.append(f"{len(new)} failing test(s) never failed before: {tests.named(new)}")
    if before := tests.group(FAILED_BEFORE):
        notes.append(
            f"{len(before)} failing test(s) failed before on other changes, but not on "
            f"the default branch at {tests.where or 'the merge base'}: {tests.named(before)}"
        )
    if known := tests.group(ON_BRANCH):
        notes.append(
            f"{len(known)} of {tests.total} failing test(s) already fail on the default "
            f"branch: {tests.named(known, since=True)}"
        )
    if excused := tests.group(FLAKY_TEST) + tests.group(QUARANTINED):
        notes.append(
            f"{len(excused)} of {tests.total} failing test(s) are flaky or quarantined: "
            f"{tests.named(excused)}"
        )
    return notes


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
                "tests": outcome.tests,
                "superseded": top.get((job.repository_id, job.sha, job.name), 0) > job.attempt,
                "computed_at": timezone.now(),
            },
        )


def recompute_commit(
    repository: Repository, sha: str, coverage: Coverage | None = None
) -> CommitSummary:
    """Every verdict of the commit, and its summary."""
    jobs = JobAttempt.objects.filter(repository=repository, sha=sha).select_related("repository")
    with transaction.atomic():
        recompute_jobs(jobs)
        return recompute_summary(repository.pk, sha, coverage or expected.coverage(repository, sha))


def recompute_summary(repository_id: int, sha: str, coverage: Coverage) -> CommitSummary:
    """Counts by verdict over the jobs of the commit: one entry per job (its latest
    failed attempt), so a job that failed and then passed counts once, as flaky.
    Failed checks citriage does not analyse (other CI, other apps) are counted apart
    and keep the commit from being all excused, as do expected jobs that are missing
    and workflows that failed to start."""
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
                    (
                        v.job_id,
                        v.verdict,
                        v.reasons,
                        v.pattern_id,
                        v.breakage_id,
                        v.superseded,
                        v.tests,
                    )
                    for v in verdicts
                ),
                foreign,
                coverage.missing,
                coverage.not_started,
                coverage.reported,
                coverage.expected,
                len(coverage.named(expected.WAITING)),
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
        "expected_jobs": coverage.expected,
        "reported_jobs": coverage.reported,
        "waiting_jobs": len(coverage.named(expected.WAITING)),
        "missing_jobs": coverage.missing,
        "not_started": coverage.not_started,
        "all_excused": excused == len(latest)
        and not foreign
        and not coverage.missing
        and not coverage.not_started,
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
