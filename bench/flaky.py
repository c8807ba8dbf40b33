"""Flaky-test detection against a generated history with planted truth.

    python bench/flaky.py [--days 35] [--tests 200] [--seeds 3] [--postgres]

Replays, day by day, a repository's default branch (8 commits a day) and pull requests
(8 commits a day by 8 authors), one job of `--tests` tests, stored through the real
ingestion (citriage.testresults.ingest.store), with planted truth:

- flaky tests (10% of them) failing at a known rate each: 1, 2, 5, 10 or 20% of runs;
- real breakages: a healthy test starts failing at a default-branch commit and is fixed
  3 to 15 commits later (pull requests based in between fail it too);
- pull requests' own bugs: 10% of pull request commits break a test of their own;
- infra outages: 3% of runs fail 70% of the tests;
- reruns: a failed run is rerun (a new attempt) half the time.

Every 4 simulated hours the monitors check the repository (citriage.flaky.monitors.check,
as the owed-work task does) and the failed pull-request jobs of those hours are judged
(citriage.triage.verdicts.classify). It reports, over the checks after the first week:

- precision and recall of the flaky state (planted flaky tests in state flaky);
- breakages called flaky (planted breakages whose test was in state flaky while, or
  after, it was broken; goal 0) and breakages detected as broken;
- pull request jobs failing only because of flaky tests that were excused as
  "flaky (test)" (goal >= 90%), and the precision of that verdict (goal >= 95%).

Each seed is one history; the figures are given as mean and min-max over the seeds.
SQLite in a temporary directory unless --postgres (a throwaway server).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
print = functools.partial(print, flush=True)

RATES = (0.01, 0.02, 0.05, 0.1, 0.2)
AUTHORS = [f"dev{i}" for i in range(8)]
START = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
CHECK_HOURS = 4
WARMUP_DAYS = 7


@dataclass
class Truth:
    flaky: dict[str, float] = field(default_factory=dict)  # test -> failure rate
    # (test, first bad main index, first fixed main index)
    breakages: list[tuple[str, int, int]] = field(default_factory=list)

    def broken_at(self, main_index: int) -> set[str]:
        return {t for t, start, end in self.breakages if start <= main_index < end}


@dataclass
class Scores:
    flaky_state: list[tuple[int, int, int]] = field(default_factory=list)  # tp, fp, fn per check
    breakages_called_flaky: int = 0
    breakages_detected: int = 0
    breakages: int = 0
    pr_flaky_jobs: int = 0  # PR job failures caused by flaky tests only
    pr_flaky_excused: int = 0
    excused_as_flaky_test: int = 0
    excused_correctly: int = 0
    by_rate: dict[float, list[bool]] = field(default_factory=dict)  # rate -> flagged at the end
    verdicts: dict[tuple[str, str], int] = field(default_factory=dict)  # (why, verdict) -> jobs

    def precision(self) -> float:
        tp = sum(t for t, _, _ in self.flaky_state)
        fp = sum(f for _, f, _ in self.flaky_state)
        return tp / (tp + fp) if tp + fp else 1.0

    def recall(self) -> float:
        tp = sum(t for t, _, _ in self.flaky_state)
        fn = sum(f for _, _, f in self.flaky_state)
        return tp / (tp + fn) if tp + fn else 1.0


def replay(args: argparse.Namespace, seed: int) -> Scores:
    from django.db import transaction

    from citriage.ci import recording
    from citriage.ci.models import JobAttempt, LogState, Provider
    from citriage.flaky.models import State, TestHealth
    from citriage.flaky.monitors import check
    from citriage.providers.base import JobRun
    from citriage.testreports.model import FAILED, PASSED, Case, Counts, Report
    from citriage.testresults import ingest
    from citriage.triage import verdicts
    from citriage.triage.models import Verdict

    rng = random.Random(seed)
    repository = recording.get_repository(f"bench/flaky-{seed}", create=True, providers=[])
    names = [f"test_{i:04d}" for i in range(args.tests)]
    truth = Truth()
    for name in rng.sample(names, max(1, args.tests // 10)):
        truth.flaky[name] = rng.choice(RATES)
    healthy = [n for n in names if n not in truth.flaky]
    main_total = args.days * 8
    for _ in range(max(1, args.days // 6)):
        start = rng.randrange(5, main_total - 5)
        truth.breakages.append((rng.choice(healthy), start, start + rng.randint(3, 15)))

    scores = Scores(breakages=len(truth.breakages))
    main_shas: list[str] = []
    counter = [0]
    pending_pr_jobs: list[tuple[JobAttempt, str]] = []  # job, why it failed ("flaky" or other)
    ever_flaky: set[str] = set()
    ever_broken: set[str] = set()

    def store(sha: str, when: datetime, attempt: int, failing: dict[str, str]) -> JobAttempt:
        counter[0] += 1
        run = JobRun(
            provider=Provider.UPLOAD,
            provider_id=f"{seed}-{counter[0]}",
            name="unit",
            sha=sha,
            status="completed",
            conclusion="failure" if failing else "success",
            attempt=attempt,
            finished_at=when,
        )
        job, _ = recording.record_job(repository, run)
        # An uploaded job has no log: what the fetch task records for it.
        JobAttempt.objects.filter(pk=job.pk).update(log_state=LogState.NO_LOG)
        job.log_state = LogState.NO_LOG
        cases = [
            Case(
                "tests.test_app",
                name,
                FAILED if name in failing else PASSED,
                message=failing.get(name, ""),
            )
            for name in names
        ]
        report = Report("junit", cases, Counts(tests=len(cases), failures=len(failing)))
        ingest.store(job, report, source="upload", name="junit.xml", digest=f"{seed}-{counter[0]}")
        return job

    def outcome(main_index: int, own_bug: str | None) -> tuple[dict[str, str], str]:
        """What fails in one run: (test -> message, why: "flaky" when only flaky tests
        failed, "base" when flaky tests and a breakage of the default branch, "broken"
        when only the breakage, "own" when the change's own bug, "outage")."""
        if rng.random() < 0.03:  # an outage
            failing = {n: "OSError: No space left on device" for n in names if rng.random() < 0.7}
            return failing, "outage"
        failing = {}
        for name in truth.broken_at(main_index):
            failing[name] = f"AssertionError: {name} broken"
        why = "base" if failing else "flaky"
        if own_bug:
            # a bug of its own says something of its own
            what = rng.choice(["widget", "gadget", "order", "total", "name", "cache", "user"])
            how = rng.choice(["missing", "mismatch", "not found", "is None", "wrong type"])
            failing[own_bug] = f"AssertionError: {what} {how} in {own_bug}"
            why = "own"
        flaky = {
            name: f"TimeoutError: {name} timed out waiting for the server"
            for name, rate in truth.flaky.items()
            if rng.random() < rate
        }
        if why == "base" and not flaky:
            why = "broken"
        return failing | flaky, why

    def evaluate(now: datetime, main_index: int) -> None:
        states = dict(
            TestHealth.objects.filter(repository=repository).values_list("test__name", "state")
        )
        flagged = {n for n, s in states.items() if s == State.FLAKY}
        ever_flaky.update(flagged)
        ever_broken.update(n for n, s in states.items() if s == State.BROKEN)
        if now < START + timedelta(days=WARMUP_DAYS):
            return
        planted = set(truth.flaky)
        if args.verbose and flagged - planted:
            for health in TestHealth.objects.filter(
                repository=repository, test__name__in=flagged - planted
            ).select_related("test"):
                print(f"  {now:%m-%d %H}h false flaky {health.test.name}: {health.evidence}")
        scores.flaky_state.append(
            (len(flagged & planted), len(flagged - planted), len(planted - flagged))
        )

    when = START
    for day in range(args.days):
        for hour_block in range(24 // CHECK_HOURS):
            block_end = START + timedelta(days=day, hours=(hour_block + 1) * CHECK_HOURS)
            per_block = 8 * CHECK_HOURS / 24
            commits_here = int(per_block) + (rng.random() < per_block % 1)
            when = max(when, block_end - timedelta(hours=CHECK_HOURS))
            with transaction.atomic():
                for _ in range(commits_here):
                    # a default-branch commit
                    index = len(main_shas)
                    sha = f"{rng.getrandbits(160):040x}"
                    recording.record_commit(
                        repository, sha, parents=main_shas[-1:], author_login=rng.choice(AUTHORS)
                    )
                    main_shas.append(sha)
                    recording.record_default_branch(repository, main_shas)
                    when += timedelta(minutes=rng.randint(5, 20))
                    failing, _ = outcome(index, None)
                    store(sha, when, 1, failing)
                    if failing and rng.random() < 0.5:
                        failing, _ = outcome(index, None)
                        store(sha, when + timedelta(minutes=10), 2, failing)
                    # a pull request commit, based on the head
                    sha = f"{rng.getrandbits(160):040x}"
                    recording.record_commit(
                        repository, sha, parents=main_shas[-1:], author_login=rng.choice(AUTHORS)
                    )
                    own_bug = rng.choice(healthy) if rng.random() < 0.1 else None
                    when += timedelta(minutes=rng.randint(5, 20))
                    failing, why = outcome(index, own_bug)
                    attempt = 1
                    job = store(sha, when, attempt, failing)
                    if failing and rng.random() < 0.3:
                        attempt += 1
                        failing, why = outcome(index, own_bug)
                        job = store(sha, when + timedelta(minutes=10), attempt, failing)
                    if failing:
                        pending_pr_jobs.append((job, why))
            now = max(block_end, when)
            check(repository, now=now)
            evaluate(now, len(main_shas) - 1)
            for job, why in pending_pr_jobs:
                if job.finished_at and job.finished_at < START + timedelta(days=WARMUP_DAYS):
                    continue
                verdict = verdicts.classify(JobAttempt.objects.get(pk=job.pk)).verdict
                scores.verdicts[(why, verdict)] = scores.verdicts.get((why, verdict), 0) + 1
                if why == "flaky":
                    scores.pr_flaky_jobs += 1
                    scores.pr_flaky_excused += verdict == Verdict.FLAKY_TEST
                if verdict == Verdict.FLAKY_TEST:
                    # right: flaky tests failed, and maybe tests broken at the merge base
                    scores.excused_as_flaky_test += 1
                    scores.excused_correctly += why in ("flaky", "base")
            pending_pr_jobs.clear()
    for name, _start, _end in truth.breakages:
        scores.breakages_called_flaky += name in ever_flaky
        scores.breakages_detected += name in ever_broken
    final = dict(
        TestHealth.objects.filter(repository=repository).values_list("test__name", "state")
    )
    for name, rate in truth.flaky.items():
        scores.by_rate.setdefault(rate, []).append(final.get(name) == State.FLAKY)
    return scores


def spread(values: list[float], fmt: str = "{:.1%}") -> str:
    mean = statistics.fmean(values)
    return f"{fmt.format(mean)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print each false flaky state")
    args = parser.parse_args()
    if args.postgres and not os.environ.get("CITRIAGE_DATABASE_URL"):
        script = str(ROOT / "scripts" / "with_postgres.py")
        os.execv(sys.executable, [sys.executable, script, sys.executable, *sys.argv])
    workdir = Path(tempfile.mkdtemp(prefix="citriage-flaky-bench-"))
    os.environ.setdefault("CITRIAGE_DATA_DIR", str(workdir / "data"))
    os.environ.setdefault("CITRIAGE_LOG_STORE", f"file://{workdir / 'logs'}")
    os.environ.setdefault("CITRIAGE_LOG_LEVEL", "WARNING")
    os.environ.setdefault("CITRIAGE_DEFAULT_LIBRARY", "false")
    from citriage.cli import django_setup

    django_setup()
    results: list[Scores] = []
    try:
        for seed in range(1, args.seeds + 1):
            scores = replay(args, seed)
            results.append(scores)
            print(
                f"seed {seed}: flaky state precision {scores.precision():.1%} recall "
                f"{scores.recall():.1%}; breakages called flaky {scores.breakages_called_flaky} "
                f"of {scores.breakages} (detected broken {scores.breakages_detected}); PR flaky "
                f"failures excused {scores.pr_flaky_excused}/{scores.pr_flaky_jobs}, flaky (test) "
                f"verdicts right {scores.excused_correctly}/{scores.excused_as_flaky_test}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.days} days, {args.tests} tests, {len(results)} seeds: mean (min-max)")
    print(f"flaky state precision   {spread([s.precision() for s in results])}")
    print(f"flaky state recall      {spread([s.recall() for s in results])}")
    for rate in RATES:
        flagged = [x for s in results for x in s.by_rate.get(rate, [])]
        if flagged:
            print(f"  planted at {rate:>4.0%}: flaky at the end {sum(flagged)}/{len(flagged)}")
    called = sum(s.breakages_called_flaky for s in results)
    total = sum(s.breakages for s in results)
    detected = sum(s.breakages_detected for s in results)
    print(f"breakages called flaky  {called} of {total} (goal 0); detected broken {detected}")
    excused = [s.pr_flaky_excused / s.pr_flaky_jobs for s in results if s.pr_flaky_jobs]
    right = [
        s.excused_correctly / s.excused_as_flaky_test for s in results if s.excused_as_flaky_test
    ]
    jobs = sum(s.pr_flaky_jobs for s in results)
    print(f"PR flaky failures excused {spread(excused)} of {jobs} jobs (goal >= 90%)")
    print(f"flaky (test) precision    {spread(right)} (goal >= 95%)")
    table: dict[tuple[str, str], int] = {}
    for s in results:
        for key, n in s.verdicts.items():
            table[key] = table.get(key, 0) + n
    print("pull request jobs by cause (planted) and verdict:")
    for (why, verdict), n in sorted(table.items()):
        print(f"  {why:>7} -> {verdict:<16} {n}")


if __name__ == "__main__":
    main()
