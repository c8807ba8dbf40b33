"""The monitors: is a test healthy, flaky or broken, and what says so.

Each monitor reads the repository's test results over a window (MonitorConfig) and
names its evidence:

- retry: the test failed and passed on the same commit in the same job (a rerun
  attempt passed, or it passed on retry inside one run: pytest-rerunfailures,
  Surefire flakyFailure);
- rate: on the default branch, separate failure episodes (failing commits in a row,
  shorter than a breakage) at a failure rate over a threshold;
- pulls: failing with the same message (signature) on pull requests of at least two
  authors and commits while the test passed in the newest default-branch run of the
  job before each failure (unrelated changes that break a test say different things);
- similar (when the repository turns it on): a pull request failure with the same
  specific message signature as a failure episode on the default branch;
- broken: failing on every default-branch commit (of some job) since commit X, at
  least `broken_after` in a row: broken, not flaky. A streak that long which ended
  is a breakage that was fixed: not flakiness evidence either.

Infra protection: a run where more than `infra_share` of its tests failed (and at
least `infra_min_failures`) is no evidence at all.

A flaky test stays flaky until it has shown no evidence for `recovery_days`. The
check runs as owed work (citriage.flaky.tasks), never inline on ingestion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from citriage.ci.models import PullRequestHead, Repository
from citriage.flaky import signals
from citriage.flaky.config import MonitorConfig, for_repository
from citriage.flaky.models import (
    HealthChange,
    HealthCheck,
    Quarantine,
    QuarantineSource,
    State,
    TestHealth,
)
from citriage.scanner.signature import is_generic_signature
from citriage.testresults import history
from citriage.testresults.models import FAILING, Outcome, Test, TestResult, TestRun

PASSING = (history.PASSED, Outcome.FLAKY)


@dataclass
class Run:
    """A run in the window, with what the monitors need beyond history.RunInfo."""

    info: history.RunInfo
    author: str
    infra: bool


@dataclass
class Finding:
    """What one monitor found for a test."""

    monitor: str
    count: int = 0
    fired: bool = False
    text: str = ""
    last: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "monitor": self.monitor,
            "count": self.count,
            "fired": self.fired,
            "text": self.text,
            "last": self.last.isoformat() if self.last else None,
        }


@dataclass
class Assessment:
    state: str
    findings: list[Finding] = field(default_factory=list)
    broken_since: str = ""
    branch_runs: int = 0
    branch_failures: int = 0
    last_evidence_at: datetime | None = None  # with the stored one (recovery counts from it)

    @property
    def last_evidence(self) -> datetime | None:
        times = [f.last for f in self.findings if f.last is not None and f.monitor != "broken"]
        return max(times) if times else None


def _is_infra(tests: int, failing: int, config: MonitorConfig) -> bool:
    if failing < max(1, config.infra_min_failures):
        return False
    return tests <= 0 or failing > config.infra_share * tests


def load_runs(
    repository: Repository, start: datetime, end: datetime, config: MonitorConfig
) -> dict[int, Run]:
    """The repository's test runs finished in [start, end], by job attempt id."""
    rows = TestRun.objects.filter(
        repository=repository, finished_at__gte=start, finished_at__lte=end
    ).values_list(
        *history.RUN_COLUMNS,
        "tests",
        "failed",
        "errors",
        "job__commit__author_login",
        "job__commit__author_email",
    )
    runs: dict[int, Run] = {}
    pr_shas: set[str] = set()
    for row in rows:
        info = history.RunInfo(*row[: len(history.RUN_COLUMNS)])
        tests, failed, errors, login, email = row[len(history.RUN_COLUMNS) :]
        runs[info.job_id] = Run(
            info, login or email or info.branch, _is_infra(tests, failed + errors, config)
        )
        if info.position is None:
            pr_shas.add(info.sha)
    # A pull request's author is who opened it (a commit's author can be anyone).
    authors = dict(
        PullRequestHead.objects.filter(pull__repository=repository, sha__in=pr_shas)
        .exclude(pull__author_login="")
        .values_list("sha", "pull__author_login")
    )
    for run in runs.values():
        if run.info.sha in authors:
            run.author = authors[run.info.sha]
    return runs


def _short(sha: str) -> str:
    return sha[:10]


def _latest(last: datetime | None, runs: list[Run]) -> datetime | None:
    times = [r.info.finished_at for r in runs if r.info.finished_at is not None]
    if last is not None:
        times.append(last)
    return max(times) if times else None


def assess(
    test_id: int,
    jobs: list[str],
    runs: list[Run],
    signatures: dict[int, str],
    config: MonitorConfig,
    previous: TestHealth | None,
    now: datetime,
) -> Assessment:
    """The test's state from its outcomes in `runs` (filled by history.fill_outcomes):
    see the module doc. `signatures`: run id -> the failure's message signature."""
    mine = [r for r in runs if r.info.job_name in jobs and not r.infra]

    def outcome(run: Run) -> str:
        return run.info.outcomes.get(test_id, history.ABSENT)

    findings: list[Finding] = []
    # retry: failed and passed on one commit and job
    retry = Finding("retry")
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for run in mine:
        groups[(run.info.sha, run.info.job_name)].append(run)
    retried: list[str] = []
    for (sha, job), group in groups.items():
        seen = {outcome(r) for r in group}
        if Outcome.FLAKY in seen or (seen & set(FAILING) and history.PASSED in seen):
            retry.count += 1
            retried.append(f"{_short(sha)} in {job}")
            retry.last = _latest(retry.last, group)
    if retry.count:
        retry.fired = retry.count >= max(1, config.retry_min)
        retry.text = f"failed and passed on {retry.count} commit(s): {', '.join(retried[:3])}"
        findings.append(retry)

    # the default branch, per job: commits in order, each passing (any attempt passed),
    # failing, or not counted (did not run, skipped)
    rate = Finding("rate")
    broken = Finding("broken")
    assessment = Assessment(State.HEALTHY)
    episode_failures = 0
    branch_state: dict[str, list[tuple[datetime, bool]]] = {}  # job -> (time, passing)
    episode_signatures: set[str] = set()
    for job in jobs:
        commits: dict[int, list[Run]] = defaultdict(list)
        for run in mine:
            if run.info.job_name == job and run.info.position is not None:
                commits[run.info.position].append(run)
        sequence: list[tuple[int, bool, list[Run]]] = []
        for position in sorted(commits):
            group = commits[position]
            seen = {outcome(r) for r in group}
            failing_runs = [r for r in group if outcome(r) in FAILING]
            assessment.branch_runs += sum(1 for r in group if outcome(r) in (*PASSING, *FAILING))
            assessment.branch_failures += len(failing_runs)
            if seen & set(PASSING):
                sequence.append((position, True, group))
            elif failing_runs:
                sequence.append((position, False, failing_runs))
        branch_state[job] = [
            (max((r.info.finished_at for r in group if r.info.finished_at), default=now), passing)
            for _position, passing, group in sequence
        ]
        streak: list[tuple[int, bool, list[Run]]] = []
        for item in [*sequence, None]:
            if item is not None and not item[1]:
                streak.append(item)
                continue
            if streak:
                reaches_head = item is None
                if len(streak) >= config.broken_after and reaches_head:
                    broken.fired = True
                    broken.count += len(streak)
                    first = streak[0][2][0].info.sha
                    assessment.broken_since = first
                    broken.text = (
                        f"failing on every default-branch run of {job} since {_short(first)} "
                        f"({len(streak)} commits)"
                    )
                elif len(streak) < config.broken_after:
                    rate.count += 1
                    for _position, _passing, group in streak:
                        episode_failures += len(group)
                        rate.last = _latest(rate.last, group)
                        for r in group:
                            if signatures.get(r.info.job_id):
                                episode_signatures.add(signatures[r.info.job_id])
                streak = []
    if rate.count:
        share = episode_failures / assessment.branch_runs if assessment.branch_runs else 0.0
        rate.fired = (
            assessment.branch_runs >= config.rate_min_runs
            and rate.count >= config.rate_min_episodes
            and share >= config.rate_threshold
        )
        rate.text = (
            f"{rate.count} separate failure episode(s) on the default branch: "
            f"{episode_failures} of {assessment.branch_runs} runs ({share:.1%})"
        )
        findings.append(rate)

    # pull requests failing while the default branch passed, grouped by the failure's
    # message signature: two unrelated changes breaking one test say different things
    pulls = Finding("pulls")
    by_message: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    similar = Finding("similar")
    for run in mine:
        if run.info.position is not None or outcome(run) not in FAILING:
            continue
        when = run.info.finished_at or now
        signature = signatures.get(run.info.job_id, "")
        before = [p for t, p in branch_state.get(run.info.job_name, []) if t <= when]
        if before and before[-1]:
            authors, shas = by_message[signature]
            authors.add(run.author)
            shas.add(run.info.sha)
            pulls.last = when if pulls.last is None else max(pulls.last, when)
        if config.similar_evidence and signature and signature in episode_signatures:
            similar.count += 1
            similar.last = when if similar.last is None else max(similar.last, when)
    if by_message:
        signature, (authors, shas) = max(
            by_message.items(), key=lambda item: (len(item[1][0]), len(item[1][1]))
        )
        pulls.count = len(shas)
        pulls.fired = len(authors) >= config.pr_min and len(shas) >= config.pr_min
        said = "with the same message" if signature else "(no specific message)"
        pulls.text = (
            f"failed on {len(shas)} pull request commit(s) by {len(authors)} author(s) "
            f"{said} while passing on the default branch"
        )
        findings.append(pulls)
    if similar.count:
        similar.fired = True
        similar.text = (
            f"{similar.count} pull request failure(s) with the message of a failure "
            "episode on the default branch"
        )
        findings.append(similar)
    if broken.fired:
        findings.append(broken)

    assessment.findings = findings
    last = assessment.last_evidence
    if previous is not None and previous.last_evidence_at:
        last = max(filter(None, (last, previous.last_evidence_at)))
    assessment.last_evidence_at = last
    if broken.fired:
        assessment.state = State.BROKEN
    elif any(f.fired for f in findings):
        assessment.state = State.FLAKY
    elif (
        previous is not None
        and previous.state == State.FLAKY
        and last is not None
        and last >= now - timedelta(days=config.recovery_days)
    ):
        assessment.state = State.FLAKY  # recovering: not long enough without evidence
    return assessment


@dataclass
class CheckResult:
    checked: int = 0
    changed: list[int] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items()))
        return f"{self.checked} test(s) checked ({states or 'none'}); {len(self.changed)} changed"


def check(repository: Repository, *, now: datetime | None = None) -> CheckResult:
    """Judge every test of the repository that failed in the window (and every test not
    healthy before); store states, changes and automatic quarantines; tell triage which
    tests changed (verdicts that name them go stale)."""
    now = now or timezone.now()
    config = for_repository(repository)
    start = now - timedelta(days=config.window_days)
    runs = load_runs(repository, start, now, config)
    last_checked = (
        HealthCheck.objects.filter(repository=repository)
        .values_list("checked_at", flat=True)
        .first()
    )
    results = TestResult.objects.filter(
        repository=repository,
        finished_at__gte=start,
        finished_at__lte=now,
        outcome__in=[*FAILING, Outcome.FLAKY],
    ).values_list("run_id", "test_id", "signature")
    signatures: dict[int, dict[int, str]] = defaultdict(dict)  # test -> run -> signature
    for run_id, test_id, signature in results:
        run = runs.get(run_id)
        if run is None or run.infra:
            continue
        signatures[test_id][run_id] = "" if is_generic_signature(signature) else signature
    previous = {h.test_id: h for h in TestHealth.objects.filter(repository=repository)}
    candidates = set(signatures) | {t for t, h in previous.items() if h.state != State.HEALTHY}
    jobs_of = dict(Test.objects.filter(pk__in=candidates).values_list("pk", "jobs"))
    # Outcomes: default-branch runs, and runs of a commit and job that ran more than once.
    attempts: dict[tuple[str, str], int] = defaultdict(int)
    for run in runs.values():
        attempts[(run.info.sha, run.info.job_name)] += 1
    needed = [
        r
        for r in runs.values()
        if not r.infra
        and (r.info.position is not None or attempts[(r.info.sha, r.info.job_name)] > 1)
    ]
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in needed:
        by_job[run.info.job_name].append(run)
    for job, job_runs in by_job.items():
        ids = [t for t in candidates if job in (jobs_of.get(t) or [])]
        history.fill_outcomes([r.info for r in job_runs], ids)
    # The results of the other runs (pull request runs that ran once) come from the rows.
    outcomes_of = dict(
        ((run_id, test_id), outcome)
        for run_id, test_id, outcome in TestResult.objects.filter(
            run_id__in=[r for rows in signatures.values() for r in rows],
            test_id__in=list(signatures),
        ).values_list("run_id", "test_id", "outcome")
    )
    for (run_id, test_id), outcome in outcomes_of.items():
        if run_id in runs:
            runs[run_id].info.outcomes[test_id] = outcome
    result = CheckResult()
    all_runs = list(runs.values())
    with transaction.atomic():
        for test_id in sorted(candidates):
            if test_id not in jobs_of:
                continue
            before = previous.get(test_id)
            found = assess(
                test_id,
                list(jobs_of[test_id] or []),
                all_runs,
                signatures.get(test_id, {}),
                config,
                before,
                now,
            )
            _store(repository, test_id, found, before, now, result)
        result.changed += quarantine_upkeep(repository, config, now, last_checked)
        if result.changed:
            changed = sorted(set(result.changed))
            signals.test_health_changed.send(
                sender=Repository, repository=repository, test_ids=changed
            )
    return result


def _store(
    repository: Repository,
    test_id: int,
    found: Assessment,
    before: TestHealth | None,
    now: datetime,
    result: CheckResult,
) -> None:
    result.checked += 1
    result.states[found.state] = result.states.get(found.state, 0) + 1
    evidence = [f.as_dict() for f in found.findings]
    old_state = before.state if before is not None else State.HEALTHY
    values = {
        "repository": repository,
        "state": found.state,
        "since": before.since if before is not None and old_state == found.state else now,
        "broken_since": found.broken_since,
        "evidence": evidence,
        "last_evidence_at": found.last_evidence_at,
        "branch_runs": found.branch_runs,
        "branch_failures": found.branch_failures,
        "checked_at": now,
    }
    TestHealth.objects.update_or_create(test_id=test_id, defaults=values)
    if old_state != found.state:
        HealthChange.objects.create(
            test_id=test_id,
            repository=repository,
            at=now,
            old=old_state,
            new=found.state,
            evidence=evidence,
        )
        result.changed.append(test_id)


def quarantine_upkeep(
    repository: Repository, config: MonitorConfig, now: datetime, last_checked: datetime | None
) -> list[int]:
    """Automatic quarantines: begun for tests flaky for `auto_quarantine_days`, ended for
    tests no longer flaky (a broken test is never excused automatically). Quarantines
    that expired since the last check. The tests whose quarantine changed."""
    changed: list[int] = []
    active = Quarantine.objects.filter(Quarantine.active_q(now), repository=repository)
    quarantined = set(active.values_list("test_id", flat=True))
    for row in active.filter(source=QuarantineSource.AUTOMATIC).exclude(
        test__health__state=State.FLAKY
    ):
        state = (
            TestHealth.objects.filter(test_id=row.test_id).values_list("state", flat=True).first()
        )
        row.ended_at, row.ended_by = now, "citriage"
        row.end_reason = "broken, not flaky" if state == State.BROKEN else "no longer flaky"
        row.save(update_fields=["ended_at", "ended_by", "end_reason"])
        changed.append(row.test_id)
    if config.auto_quarantine_days:
        long_flaky = TestHealth.objects.filter(
            repository=repository,
            state=State.FLAKY,
            since__lte=now - timedelta(days=config.auto_quarantine_days),
        ).exclude(test_id__in=quarantined)
        for health in long_flaky:
            Quarantine.objects.create(
                repository=repository,
                test_id=health.test_id,
                source=QuarantineSource.AUTOMATIC,
                reason=f"flaky since {health.since:%Y-%m-%d}",
                created_by="citriage",
                created=now,
            )
            changed.append(health.test_id)
    # Expired since the last check: the verdicts that excused them are stale.
    if last_checked is not None:
        changed += Quarantine.objects.filter(
            repository=repository,
            ended_at__isnull=True,
            expires_at__gt=last_checked,
            expires_at__lte=now,
        ).values_list("test_id", flat=True)
    return changed
