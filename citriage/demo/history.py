"""A fictional repository's CI history, fed through the same ingestion services as real data.

`acme/rocket` has a main branch of a few hundred commits (some merges, some
reverts), pull requests with several pushes each, and a couple of dozen jobs
per commit. Failures follow what real projects see: flaky network and infra
errors that pass on rerun, out-of-memory and timeouts, breakages on main that
last several commits until fixed or reverted (and that pull requests based on
them inherit), and pull requests that break things themselves.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction

from citriage.ci import recording
from citriage.ci.models import Commit, Provider, Repository
from citriage.demo.logs import generate_log
from citriage.providers.base import JobRun, StepRun
from citriage.testreports.model import FAILED, Case, Report
from citriage.testresults import ingest
from citriage.testresults.models import Source
from citriage.triage.breakages import create_breakage

REPOSITORY = "acme/rocket"
AUTHORS = ["ada", "grace", "linus", "margaret", "ken", "barbara", "dennis", "frances", "alan"]
JOBS = [
    "lint",
    "typecheck",
    "docs",
    "build-linux-gcc12",
    "build-linux-clang16",
    "build-macos-arm64",
    "build-windows-msvc",
    *[f"test-linux-py311-shard-{i}" for i in range(1, 5)],
    *[f"test-linux-py312-shard-{i}" for i in range(1, 5)],
    "test-macos-py312",
    "test-windows-py312",
    "test-gpu-cuda12",
    "integration-postgres",
    "integration-redis",
    "e2e-browser",
    "package-wheel",
    "benchmark-smoke",
]
SUBJECTS = [
    "Speed up {m} cache eviction",
    "Fix race in {m} worker shutdown",
    "Add retries to {m} client",
    "Refactor {m} config loading",
    "Bump {m} dependency pins",
    "Document {m} API",
    "Handle empty input in {m}",
    "Log slow {m} queries",
    "Tidy {m} tests",
    "Port {m} to new allocator",
]
MODULES = ["scheduler", "storage", "parser", "planner", "auth", "metrics", "codec", "queue"]

# Jobs that leave a test report (TESTS_PER_SHARD tests per shard; a few: each report
# costs the demo's generation time); a breakage of a shard fails the same tests on
# every commit it covers.
TESTED_JOBS = [f"test-linux-py311-shard-{i}" for i in range(1, 5)]
TESTS_PER_SHARD = 30
VERBS = ["parses", "rejects", "retries", "caches", "flushes", "orders", "merges", "limits"]

# Failures that are nobody's fault, per job attempt; a rerun passes most of the time.
FLAKY = [("network", 0.012), ("connection_reset", 0.006), ("infra", 0.004), ("timeout", 0.003)]
# The docs job's link check fails now and then when a linked site is down (no pattern
# knows it: the demo's unattributed failures and clusters).
FLAKY_DOCS = ("dead_link", 0.06)
FLAKY_KINDS = {name for name, _ in FLAKY} | {FLAKY_DOCS[0]}


def _failure_for_job(job: str) -> str:
    if job == "docs":
        return "dead_link"
    if job == "typecheck":
        return "api_break"
    if job == "lint":
        return "lint"
    if job.startswith("build") or job == "package-wheel":
        return "compile_error"
    return "test_failure"


@dataclass
class Breakage:
    """Jobs failing on main from one commit until a fix (or a revert)."""

    start: int  # index into the main history
    length: int
    jobs: list[str]
    failure: str
    seed: int
    fixed_by_revert: bool


@dataclass
class DemoCommit:
    sha: str
    parents: list[str]
    message: str
    author: str
    time: datetime
    on_main: bool
    breakages: list[Breakage] = field(default_factory=list)
    own_failure: tuple[list[str], str, int] | None = None  # a PR that breaks things itself


def demo_tests(job: str, failure: str | None, seed: int, rng: random.Random) -> Report:
    """The test report of a demo test job: the shard's tests, the ones a test failure
    breaks (the same ones for the same failure seed) failing, now and then one passing
    only on its retry."""
    shard = int(job.rsplit("-", 1)[1])
    failing: set[int] = set()
    if failure == "test_failure":
        chosen = random.Random(seed)
        failing = set(chosen.sample(range(TESTS_PER_SHARD), chosen.randint(1, 2)))
    flaky = rng.randrange(TESTS_PER_SHARD) if rng.random() < 0.04 else None
    report = Report(format="junit")
    for i in range(TESTS_PER_SHARD):
        module = MODULES[(shard + i) % len(MODULES)]
        case = Case(
            suite=f"tests.test_{module}.Test{module.title()}",
            name=f"test_{VERBS[i % len(VERBS)]}_{shard}_{i}",
            duration=rng.uniform(0.01, 3.0),
        )
        if i in failing:
            case.outcome = FAILED
            case.message = f"AssertionError: {module} {VERBS[i % len(VERBS)]} returned None"
            case.details = f"{case.message}\n  at tests/test_{module}.py:{40 + i}"
            report.counts.failures += 1
        elif i == flaky:
            case.retries, case.retry_message = 1, f"TimeoutError: {module} did not answer in 5 s"
            report.counts.reruns += 1
        report.cases.append(case)
    report.counts.tests = len(report.cases)
    return report


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def plan_history(
    commits: int, pulls: int, seed: int, end: datetime
) -> tuple[list[DemoCommit], list[tuple[int, list[DemoCommit], str]]]:
    """The main branch (oldest first) and the pull requests (number, heads, author)."""
    rng = random.Random(seed)
    start = end - timedelta(minutes=47 * commits)
    breakages = []
    position = 8
    while position < commits - 6:
        length = rng.randint(2, 7)
        jobs = rng.choice(
            [
                ["lint"],
                JOBS[7:11],
                ["build-linux-gcc12", "build-linux-clang16"],
                ["test-gpu-cuda12"],
                ["docs"],
            ]
        )
        breakages.append(
            Breakage(
                position,
                length,
                jobs,
                _failure_for_job(jobs[0]),
                rng.randrange(10**6),
                rng.random() < 0.4,
            )
        )
        position += length + rng.randint(12, 35)
    main: list[DemoCommit] = []
    for i in range(commits):
        parents = [main[-1].sha] if main else []
        message = rng.choice(SUBJECTS).format(m=rng.choice(MODULES)) + f" (#{1000 + i})"
        if main and rng.random() < 0.08:  # a merge commit
            parents.append(_sha("side", seed, i))
            message = f"Merge branch 'release/{i}' into main"
        when = start + timedelta(minutes=47 * i + rng.randint(0, 30))
        commit = DemoCommit(
            _sha("main", seed, i), parents, message, rng.choice(AUTHORS), when, True
        )
        for breakage in breakages:
            if breakage.start <= i < breakage.start + breakage.length:
                commit.breakages.append(breakage)
            if breakage.fixed_by_revert and i == breakage.start + breakage.length:
                culprit = main[breakage.start]
                title = culprit.message.splitlines()[0]
                commit.message = f'Revert "{title}"\n\nThis reverts commit {culprit.sha}.'
        main.append(commit)
    prs = []
    for number in range(1, pulls + 1):
        author = rng.choice(AUTHORS)
        base = rng.randrange(2, commits - 1)
        heads = []
        parent = main[base].sha
        breaks_itself = rng.random() < 0.3
        for push in range(rng.randint(1, 4)):
            # Pushed after its base, never after the history's end (nothing finishes in the future).
            when = min(main[base].time + timedelta(hours=2 * push + 1), end - timedelta(hours=2))
            commit = DemoCommit(
                _sha("pr", seed, number, push),
                [parent],
                rng.choice(SUBJECTS).format(m=rng.choice(MODULES)),
                author,
                when,
                False,
                breakages=list(main[base].breakages),
            )
            if breaks_itself and push == 0:
                job = rng.choice(JOBS)
                commit.own_failure = ([job], _failure_for_job(job), rng.randrange(10**6))
            heads.append(commit)
            parent = commit.sha
        prs.append((2000 + number, heads, author))
    return main, prs


def _steps(job: str, failing_step: str | None) -> list[StepRun]:
    names = [
        "Spin up environment",
        "Checkout code",
        "Install dependencies",
        "Build" if job.startswith(("build", "package")) else "Run tests",
    ]
    steps = []
    for index, name in enumerate(names):
        status = "success"
        if failing_step == name:
            status = "failed"
        elif failing_step is not None and names.index(failing_step) < index:
            status = "not_run"
        steps.append(StepRun(name=name, index=index, status=status, timed_out=False))
    return steps


class _Feeder:
    """Turns planned commits into job attempts and logs through `recording`."""

    def __init__(self, repository: Repository, seed: int, jobs: list[str]) -> None:
        self.repository = repository
        self.rng = random.Random(seed + 1)
        self.jobs = jobs
        self.counter = 0
        self.logs = 0

    def run_commit(self, commit: DemoCommit, branch: str) -> None:
        for job in self.jobs:
            failure, log_seed = self._failure(commit, job)
            self._record(commit, branch, job, 1, failure, log_seed)
            if failure is None:
                continue
            if failure in FLAKY_KINDS and self.rng.random() < 0.75:
                # Someone reran it; flaky failures mostly pass the second time.
                again = None if self.rng.random() < 0.85 else failure
                self._record(commit, branch, job, 2, again, self.rng.randrange(10**6))
            elif self.rng.random() < 0.2:
                self._record(commit, branch, job, 2, failure, log_seed)  # fails again

    def _failure(self, commit: DemoCommit, job: str) -> tuple[str | None, int]:
        if commit.own_failure and job in commit.own_failure[0]:
            return commit.own_failure[1], commit.own_failure[2]
        for breakage in commit.breakages:
            if job in breakage.jobs:
                return breakage.failure, breakage.seed
        for name, chance in FLAKY:
            if self.rng.random() < chance:
                return name, self.rng.randrange(10**6)
        if job == "docs" and self.rng.random() < FLAKY_DOCS[1]:
            return FLAKY_DOCS[0], self.rng.randrange(10**6)
        if job.startswith("test") and self.rng.random() < 0.003:
            return ("oom" if job == "test-gpu-cuda12" else "host_oom"), self.rng.randrange(10**6)
        return None, 0

    def _record(
        self,
        commit: DemoCommit,
        branch: str,
        job: str,
        attempt: int,
        failure: str | None,
        log_seed: int,
    ) -> None:
        self.counter += 1
        started = commit.time + timedelta(minutes=2 + attempt * 25 + self.rng.randint(0, 9))
        failing_step = None
        if failure is not None:
            failing_step = {
                "network": "Install dependencies",
                "connection_reset": "Checkout code",
                "infra": "Spin up environment",
            }.get(failure, "Build" if job.startswith(("build", "package")) else "Run tests")
        conclusion = (
            "success" if failure is None else ("timed_out" if failure == "timeout" else "failure")
        )
        run = JobRun(
            provider=Provider.CIRCLECI,
            provider_id=str(100_000 + self.counter),
            name=job,
            sha=commit.sha,
            status="completed",
            conclusion=conclusion,
            attempt=attempt,
            workflow="ci",
            workflow_id=_sha("wf", commit.sha, attempt),
            branch=branch,
            url=f"https://ci.example.invalid/acme/rocket/{100_000 + self.counter}",
            queued_at=started - timedelta(minutes=1),
            started_at=started,
            finished_at=started + timedelta(minutes=self.rng.randint(3, 40)),
            steps=_steps(job, failing_step) if failure is not None else None,
        )
        attempt_row, _changed = recording.record_job(self.repository, run)
        if job in TESTED_JOBS and failing_step in (None, "Run tests"):
            report = demo_tests(job, failure, log_seed, self.rng)
            digest = _sha("tests", attempt_row.provider_id)
            ingest.store(attempt_row, report, source=Source.UPLOAD, name="junit.xml", digest=digest)
        if failure is None:
            return
        stored = []
        for step in attempt_row.steps.filter(status="failed"):
            text = generate_log(failure, seed=log_seed, lines=self.rng.randint(150, 1200))
            stored.append(recording.store_log(step, text))
            self.logs += 1
        recording.record_logs_fetched(attempt_row, stored)


def annotate_latest_breakage(repository: Repository, main: list[DemoCommit]) -> None:
    """Someone annotated the most recent breakage of main; the older ones are left for
    citriage to infer (and to offer for annotation)."""
    planned = {id(b): b for commit in main for b in commit.breakages}
    if not planned:
        return
    latest = max(planned.values(), key=lambda b: b.start)
    end = latest.start + latest.length

    def on_branch(index: int) -> Commit:
        return Commit.objects.get(repository=repository, sha=main[index].sha)

    how = "reverted" if latest.fixed_by_revert else "fixed"
    create_breakage(
        repository,
        cause=on_branch(latest.start),
        fix=on_branch(end) if end < len(main) else None,
        jobs=latest.jobs,
        description=f"{main[latest.start].message.splitlines()[0]} broke {latest.failure}; {how}",
        category="code",
        reporter="grace",
    )


def generate_demo(
    *,
    commits: int = 200,
    pulls: int = 30,
    jobs: int | None = None,
    seed: int = 2026,
    end: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Create the demo repository's history; returns counts."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    job_names = JOBS if jobs is None else JOBS[:jobs]
    main, prs = plan_history(commits, pulls, seed, end)
    # Generated, not pulled from any provider: nothing is ever fetched or posted for it.
    repository = recording.get_repository(
        REPOSITORY, create=True, default_branch="main", providers=[], settings={"demo": True}
    )
    feeder = _Feeder(repository, seed, job_names)
    total = len(main) + sum(len(heads) for _, heads, _ in prs)
    done = 0
    for commit in main:
        with transaction.atomic():
            recording.record_commit(
                repository,
                commit.sha,
                parents=commit.parents,
                message=commit.message,
                author_name=commit.author.title(),
                author_email=f"{commit.author}@rocket.example",
                author_login=commit.author,
                committed_at=commit.time,
            )
            feeder.run_commit(commit, "main")
        done += 1
        if progress:
            progress(done, total)
    recording.record_default_branch(repository, [c.sha for c in main])
    annotate_latest_breakage(repository, main)
    for number, heads, author in prs:
        for commit in heads:
            with transaction.atomic():
                recording.record_commit(
                    repository,
                    commit.sha,
                    parents=commit.parents,
                    message=commit.message,
                    author_name=author.title(),
                    author_email=f"{author}@rocket.example",
                    author_login=author,
                    committed_at=commit.time,
                )
                recording.record_pull_request(
                    repository,
                    number,
                    head_sha=commit.sha,
                    title=heads[0].message,
                    author_login=author,
                    head_ref=f"{author}/change-{number}",
                    base_ref="main",
                    opened_at=heads[0].time,
                    updated_at=commit.time,
                )
                feeder.run_commit(commit, f"{author}/change-{number}")
            done += 1
            if progress:
                progress(done, total)
    return {"commits": total, "jobs": feeder.counter, "logs": feeder.logs}
