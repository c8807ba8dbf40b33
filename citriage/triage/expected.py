"""Which of the jobs a commit's configuration expects have reported, and which are missing.

Each job the configuration surely asks for (citriage.ci ExpectedJob) is, at a given time:

- reported (or running): an attempt of it was recorded;
- not started: its workflow reported that it failed to start;
- skipped: a job it needs did not pass (and its condition does not run it anyway);
- waiting: not reported yet, within the grace period (which starts when the jobs it
  needs have finished, or when citriage first saw the commit);
- missing: not reported once the grace period is over, or once the commit has waited
  the longest time allowed.

A job that only may run (a condition or a name only the run knows) is never missing;
once it reports, it counts like the others. Grace period and longest wait are settings
(CITRIAGE_EXPECTED_GRACE_SECONDS, CITRIAGE_EXPECTED_WAIT_SECONDS), which a
repository's settings can override (`expected_grace_seconds`, `expected_wait_seconds`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from citriage.ci.models import (
    CommitConfig,
    Conclusion,
    ConfigState,
    ExpectedJob,
    JobAttempt,
    JobStatus,
    Provider,
    Repository,
    WorkflowRun,
)
from citriage.rules import latest_attempts

REPORTED, RUNNING, WAITING, MISSING = "reported", "running", "waiting", "missing"
SKIPPED, NOT_STARTED, MAYBE = "skipped", "not_started", "maybe"
PASSED = (Conclusion.SUCCESS, Conclusion.NEUTRAL)


def grace(repository: Repository) -> timedelta:
    seconds = repository.settings.get("expected_grace_seconds", settings.EXPECTED_GRACE_SECONDS)
    return timedelta(seconds=float(seconds))


def longest_wait(repository: Repository) -> timedelta:
    seconds = repository.settings.get("expected_wait_seconds", settings.EXPECTED_WAIT_SECONDS)
    return timedelta(seconds=float(seconds))


@dataclass
class JobState:
    name: str
    provider: str
    workflow: str
    path: str
    state: str
    reason: str
    certain: bool
    attempt: dict[str, Any] | None = None  # the latest attempt reported (pk, conclusion, ...)
    due: datetime | None = None  # waiting: when it turns missing

    @property
    def counted(self) -> bool:
        """Part of "N of M jobs reported": expected surely (and not skipped), or reported."""
        return self.state in (REPORTED, RUNNING) or (self.certain and self.state != SKIPPED)


@dataclass
class Coverage:
    """The expected jobs of one commit, as of `now`."""

    sha: str
    known: bool = False  # the configuration was read
    error: str = ""  # why it could not be read
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    jobs: list[JobState] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # workflows that failed to start
    seen_at: datetime | None = None
    bound: datetime | None = None  # the report waits for the expected jobs until then

    def named(self, state: str) -> list[JobState]:
        return [job for job in self.jobs if job.state == state]

    @property
    def expected(self) -> int:
        return sum(1 for job in self.jobs if job.counted)

    @property
    def reported(self) -> int:
        return sum(1 for job in self.jobs if job.counted and job.state in (REPORTED, RUNNING))

    @property
    def missing(self) -> list[str]:
        return [job.name for job in self.named(MISSING)]

    @property
    def outstanding(self) -> bool:
        """Expected jobs are still to report or to finish."""
        return any(job.state in (WAITING, RUNNING) for job in self.jobs if job.counted)

    @property
    def deadline(self) -> datetime | None:
        """The next time a waiting job turns missing."""
        return min((job.due for job in self.jobs if job.due is not None), default=None)


def _attempts(
    repository: Repository, shas: list[str]
) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """sha -> (provider, job name) -> the latest attempt's values."""
    rows = JobAttempt.objects.filter(repository=repository, sha__in=shas).values(
        "pk",
        "sha",
        "provider",
        "name",
        "workflow",
        "attempt",
        "status",
        "conclusion",
        "finished_at",
    )
    by_sha: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_sha[row["sha"]].append(dict(row))
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for sha, attempts in by_sha.items():
        latest = latest_attempts(
            attempts, lambda a: f"{a['provider']}\0{a['name']}", lambda a: int(a["attempt"])
        )
        out[sha] = {(a["provider"], a["name"]): a for a in latest.values()}
    return out


def _match(
    job: ExpectedJob, attempts: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, Any] | None:
    found = attempts.get((job.provider, job.name))
    if found is None and job.provider == Provider.GITHUB_ACTIONS:
        # Actions jobs recorded before GitHub sent `workflow_name` are named without it
        bare = attempts.get((job.provider, job.name.removeprefix(f"{job.workflow} / ")))
        if bare is not None and not bare["workflow"]:
            found = bare
    return found


def coverages(
    repository: Repository, shas: list[str], *, now: datetime | None = None
) -> dict[str, Coverage]:
    """The coverage of each of these commits (in a handful of queries)."""
    now = now or timezone.now()
    configs = {c.sha: c for c in CommitConfig.objects.filter(repository=repository, sha__in=shas)}
    expected: dict[str, list[ExpectedJob]] = defaultdict(list)
    for row in ExpectedJob.objects.filter(repository=repository, sha__in=list(configs)).order_by(
        "name"
    ):
        expected[row.sha].append(row)
    attempts = _attempts(repository, list(configs))
    failed_runs: dict[str, list[str]] = defaultdict(list)
    for run in WorkflowRun.objects.filter(repository=repository, sha__in=list(configs)):
        if run.failed_to_start:
            failed_runs[run.sha].append(run.name or run.path)
    wait, window = grace(repository), longest_wait(repository)
    out = {}
    for sha in shas:
        config = configs.get(sha)
        if config is None:
            out[sha] = Coverage(sha)
            continue
        coverage = Coverage(
            sha,
            known=config.state == ConfigState.READ,
            error=config.error if config.state == ConfigState.ERROR else "",
            problems=list(config.problems),
            notes=list(config.notes),
            not_started=sorted(set(failed_runs.get(sha, []))),
            seen_at=config.seen_at,
            bound=config.seen_at + window,
        )
        coverage.jobs = _states(
            expected.get(sha, []), attempts.get(sha, {}), coverage, now=now, wait=wait
        )
        out[sha] = coverage
    return out


def coverage(repository: Repository, sha: str, *, now: datetime | None = None) -> Coverage:
    return coverages(repository, [sha], now=now)[sha]


def _states(
    rows: list[ExpectedJob],
    attempts: dict[tuple[str, str], dict[str, Any]],
    coverage: Coverage,
    *,
    now: datetime,
    wait: timedelta,
) -> list[JobState]:
    by_name = {row.name: row for row in rows}
    states: dict[str, JobState] = {}
    ready: dict[str, datetime | None] = {}  # when a job can report at the latest (its needs done)
    not_started = set(coverage.not_started)
    over = coverage.bound is not None and now >= coverage.bound

    def state_of(name: str, trail: frozenset[str]) -> JobState:
        if name in states:
            return states[name]
        row = by_name[name]
        found = _match(row, attempts)
        state = JobState(
            row.name, row.provider, row.workflow, row.path, WAITING, row.reason, row.certain
        )
        needs = [n for n in row.needs if n in by_name and n not in trail]
        if found is not None:
            state.attempt = found
            state.state = REPORTED if found["status"] == JobStatus.COMPLETED else RUNNING
        elif row.provider == Provider.GITHUB_ACTIONS and row.workflow in not_started:
            state.state, state.reason = NOT_STARTED, f"workflow {row.workflow} failed to start"
        else:
            needed = [state_of(n, trail | {name}) for n in needs]
            blocked = [
                n
                for n in needed
                if n.state in (SKIPPED, NOT_STARTED)
                or (n.state == REPORTED and n.attempt and n.attempt["conclusion"] not in PASSED)
            ]
            if blocked and not row.after_failure:
                state.state = SKIPPED
                state.reason = f"{blocked[0].name} did not pass"
            elif not row.certain:
                state.state = MAYBE
            else:
                start = _ready_at(needed, ready, coverage.seen_at)
                ready[name] = start + wait if start is not None else None
                if over or (start is not None and now >= start + wait):
                    state.state = MISSING
                    state.reason = _missing_reason(row, wait)
                else:
                    state.due = start + wait if start is not None else None
        states[name] = state
        return state

    for row in rows:
        state_of(row.name, frozenset())
    return [states[row.name] for row in rows]


def _ready_at(
    needed: list[JobState], ready: dict[str, datetime | None], seen: datetime | None
) -> datetime | None:
    """When a job could have reported at the latest: once every job it needs finished (a
    missing one counts as finished when it turned missing); None while one is outstanding."""
    times = [seen]
    for job in needed:
        if job.state == REPORTED and job.attempt is not None:
            times.append(job.attempt["finished_at"] or seen)
        elif job.state == MISSING:
            times.append(ready.get(job.name))
        elif job.state in (WAITING, RUNNING, MAYBE):
            return None
    known = [t for t in times if t is not None]
    return max(known) if known else None


def _missing_reason(row: ExpectedJob, wait: timedelta) -> str:
    minutes = round(wait.total_seconds() / 60)
    what = f"workflow {row.workflow} of {row.path}" if row.path else f"workflow {row.workflow}"
    return f"expected by {what}; not reported within {minutes} min of when it could start"
