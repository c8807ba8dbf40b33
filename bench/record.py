"""Recording jobs: what the apps above ci add to the cost of recording a job attempt.

    python bench/record.py [--jobs 300] [--rounds 5] [--database-url postgres://...]

Records N default-branch job attempts (25 jobs per commit, one in eight failed with
its steps), each in its own transaction as webhooks do, through ci.recording, in two
ways that alternate round by round on fresh commits:

- bare: ci alone, with every receiver of ci's signals (patterns, triage, github)
  disconnected: the cost of recording itself;
- pipeline: as citriage runs, receivers connected (they note the commit as stale
  and its report as owed; verdicts are recomputed later, by a task);
- with the App: the pipeline with a GitHub App configured, so that every commit and
  job seen also owes its commit's CI configuration (one row per commit).

Prints the seconds of each round and the median ratio pipeline / bare (target:
recording costs no more with the pipeline than without; before the one-way
pipeline, a post_save signal recomputed verdicts inline: 1.85 s against 0.69 s),
and with the App / pipeline (what owing the configurations adds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

JOBS_PER_COMMIT = 25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="citriage-bench-"))
    os.environ["CITRIAGE_DATA_DIR"] = str(workdir / "data")
    os.environ["CITRIAGE_DEFAULT_LIBRARY"] = "false"
    if args.database_url:
        os.environ["CITRIAGE_DATABASE_URL"] = args.database_url
    os.environ.setdefault("CITRIAGE_LOG_LEVEL", "WARNING")
    from citriage.cli import django_setup

    django_setup()
    from citriage.ci import recording, signals
    from citriage.providers.base import JobRun, StepRun

    repository = recording.get_repository("bench/record", create=True, providers=["circleci"])
    ids = iter(range(1, 10**9))
    start = datetime(2026, 11, 1, tzinfo=UTC)

    def record_round() -> float:
        commits = [f"{next(ids):040x}" for _ in range(args.jobs // JOBS_PER_COMMIT)]
        for sha in commits:
            recording.record_commit(repository, sha, message="bench")
        recording.record_default_branch(repository, commits)  # default-branch jobs
        began = time.perf_counter()
        for k in range(args.jobs):
            number = next(ids)
            failed = k % 8 == 0
            recording.record_job(
                repository,
                JobRun(
                    provider="circleci",
                    provider_id=str(number),
                    name=f"job-{k % JOBS_PER_COMMIT}",
                    sha=commits[k // JOBS_PER_COMMIT],
                    status="completed",
                    conclusion="failure" if failed else "success",
                    branch="main",
                    finished_at=start + timedelta(seconds=number),
                    steps=[
                        StepRun(name="Checkout code", index=0, status="success"),
                        StepRun(
                            name="Run tests", index=1, status="failed" if failed else "success"
                        ),
                    ],
                ),
            )
        return time.perf_counter() - began

    everyone = [signals.jobs_recorded, signals.logs_stored, signals.commit_changed]
    connected: list[list[Any]] = [list(s.receivers) for s in everyone]

    def bare() -> float:
        for signal in everyone:
            signal.receivers = []
            signal.sender_receivers_cache.clear()
        try:
            return record_round()
        finally:
            for signal, receivers in zip(everyone, connected, strict=True):
                signal.receivers = list(receivers)
                signal.sender_receivers_cache.clear()

    def with_app() -> float:
        from django.test import override_settings

        with override_settings(GITHUB_APP_ID="1", GITHUB_PRIVATE_KEY="(not used: no call)"):
            return record_round()

    record_round()  # warm up: caches, prepared statements
    ratios, bare_times, pipeline_times, app_ratios = [], [], [], []
    for _ in range(args.rounds):
        b = bare()
        p = record_round()
        a = with_app()
        bare_times.append(b)
        pipeline_times.append(p)
        ratios.append(p / b)
        app_ratios.append(a / p)
        print(
            f"  bare {b:.3f} s   pipeline {p:.3f} s   with the App {a:.3f} s   "
            f"ratio {p / b:.2f}   App/pipeline {a / p:.2f}",
            flush=True,
        )
    print(
        f"recording {args.jobs} default-branch jobs: bare {statistics.median(bare_times):.3f} s "
        f"({min(bare_times):.3f}-{max(bare_times):.3f}), pipeline "
        f"{statistics.median(pipeline_times):.3f} s "
        f"({min(pipeline_times):.3f}-{max(pipeline_times):.3f}); median ratio "
        f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}); "
        "target: no more than bare (the verdicts are recomputed later, by a task)"
    )
    print(
        f"owing each commit's CI configuration (App configured): median ratio "
        f"{statistics.median(app_ratios):.2f} ({min(app_ratios):.2f}-{max(app_ratios):.2f}) "
        "of the pipeline"
    )


if __name__ == "__main__":
    main()
