"""Reading test history: what a test did in which runs, on the default branch and elsewhere.

A run's outcome for a test: its result row if it has one (failed, error, skipped,
flaky), else "passed" when the test is in the run's set of tests that ran, else
"absent" (it did not run there, or only the failures are known: a log was read).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

import numpy as np
from django.db.models import QuerySet

from citriage.ci.models import Repository
from citriage.testresults.models import FAILING, Outcome, TestResult, TestRun, TestSet

PASSED = "passed"
ABSENT = "absent"
SET_CACHE = 256  # decoded test sets kept in memory (a few KB to a few hundred KB each)


@lru_cache(maxsize=SET_CACHE)
def _set_ids(set_id: int) -> np.ndarray:
    row = TestSet.objects.only("ids").get(pk=set_id)
    return row.test_ids()


def ran_in(set_id: int | None, test_ids: Sequence[int]) -> np.ndarray:
    """Which of `test_ids` are in the set (booleans, in order)."""
    if set_id is None:
        return np.zeros(len(test_ids), dtype=bool)
    return np.isin(np.asarray(test_ids, dtype=np.int64), _set_ids(set_id))


@dataclass
class RunInfo:
    """One run, as history shows it."""

    job_id: int
    job_name: str
    sha: str
    attempt: int
    branch: str
    finished_at: datetime | None
    position: int | None  # on the default branch; None elsewhere
    set_id: int | None
    outcomes: dict[int, str] = field(default_factory=dict)  # test id -> outcome


RUN_COLUMNS = (
    "job_id",
    "job_name",
    "sha",
    "job__attempt",
    "job__branch",
    "finished_at",
    "job__commit__branch_position",
    "test_set_id",
)


def _run_rows(runs: QuerySet[TestRun]) -> list[RunInfo]:
    """The runs as history shows them (only the columns it needs: a page reads hundreds)."""
    return [RunInfo(*row) for row in runs.values_list(*RUN_COLUMNS)]


def fill_outcomes(runs: list[RunInfo], test_ids: Sequence[int]) -> None:
    """Each run's outcome for each of these tests (two queries whatever the numbers)."""
    if not runs or not test_ids:
        return
    rows: dict[tuple[int, int], str] = {
        (run_id, test_id): outcome
        for run_id, test_id, outcome in TestResult.objects.filter(
            run_id__in=[r.job_id for r in runs], test_id__in=list(test_ids)
        ).values_list("run_id", "test_id", "outcome")
    }
    membership: dict[int | None, np.ndarray] = {}
    for run in runs:
        if run.set_id not in membership:
            membership[run.set_id] = ran_in(run.set_id, test_ids)
        ran = membership[run.set_id]
        for index, test_id in enumerate(test_ids):
            found = rows.get((run.job_id, test_id))
            run.outcomes[test_id] = found or (PASSED if ran[index] else ABSENT)


def runs_of(
    repository: Repository | int,
    job_names: Sequence[str],
    *,
    limit: int,
    branch_positions: tuple[int | None, int | None] | None = None,
    before: datetime | None = None,
) -> list[RunInfo]:
    """The newest runs of these jobs (optionally only on the default branch, between
    positions [low, high]), newest first."""
    runs = TestRun.objects.filter(repository=repository, job_name__in=list(job_names))
    if before is not None:
        runs = runs.filter(finished_at__lte=before)
    order = ["-finished_at", "-job_id"]
    if branch_positions is not None:
        low, high = branch_positions
        runs = runs.filter(job__commit__branch_position__isnull=False)
        if low is not None:
            runs = runs.filter(job__commit__branch_position__gte=low)
        if high is not None:
            runs = runs.filter(job__commit__branch_position__lte=high)
        order = ["-job__commit__branch_position", "-job__attempt"]
    return _run_rows(runs.order_by(*order)[:limit])


@dataclass
class BranchState:
    """A test on the default branch at or before a point: failing there (since which
    commit), passing, or not known."""

    failing: bool
    since: str = ""  # the oldest commit of the run of failures that reaches the point
    since_position: int | None = None
    last_seen: str = ""  # the newest default-branch commit where the test ran


def branch_states(
    repository: Repository,
    job_name: str,
    test_ids: Sequence[int],
    *,
    high: int,
    window: int,
) -> dict[int, BranchState | None]:
    """For each test: its state in `job_name` on the default branch at position `high`
    (or the newest earlier commit where it ran). Per commit, a pass in any attempt
    makes it passing (a pass on rerun is flakiness, not breakage)."""
    runs = runs_of(repository, [job_name], limit=window, branch_positions=(None, high))
    fill_outcomes(runs, test_ids)
    by_commit: dict[int, list[RunInfo]] = defaultdict(list)
    for run in runs:
        assert run.position is not None
        by_commit[run.position].append(run)
    states: dict[int, BranchState | None] = {}
    for test_id in test_ids:
        state: BranchState | None = None
        for position in sorted(by_commit, reverse=True):
            outcomes = {run.outcomes[test_id] for run in by_commit[position]}
            sha = by_commit[position][0].sha
            passed = bool(outcomes & {PASSED, Outcome.FLAKY})
            failing = bool(outcomes & set(FAILING)) and not passed
            if not passed and not failing:
                continue  # did not run there (or skipped): look further back
            if state is None:
                state = BranchState(failing=failing, last_seen=sha)
                if not failing:
                    break
            if not failing:
                break
            state.since, state.since_position = sha, position
        states[test_id] = state
    return states


def failed_before(test_ids: Sequence[int], run: TestRun) -> set[int]:
    """Which of these tests failed in some other job or commit before this run."""
    rows = TestResult.objects.filter(test_id__in=list(test_ids), outcome__in=FAILING).exclude(
        run__sha=run.sha, run__job_name=run.job_name
    )
    if run.finished_at is not None:
        rows = rows.filter(finished_at__lt=run.finished_at)
    return set(rows.values_list("test_id", flat=True).distinct())
