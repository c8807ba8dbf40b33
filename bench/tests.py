"""Test results: ingestion speed and page times at scale, on PostgreSQL.

    python bench/tests.py [--cases 50000] [--sustained 1000000] [--results 20000000]
                          [--rounds 3] [--iterations 30]

Starts a throwaway PostgreSQL (unless CITRIAGE_DATABASE_URL is set). Three parts:

1. One generated JUnit report of 50,000 test cases (pytest layout: 1% failing with
   tracebacks, 2% skipped, 0.2% passing after a Surefire-style flaky failure) uploaded
   and stored (parse, test identities, results, the run's test set, one transaction):
   for a job whose tests are all new, and for the next commit (tests known). The
   baseline, timed in the same rounds, is a bare `xml.etree.ElementTree` parse of the
   same bytes. Target: under 3 s.
2. Sustained: reports of 25,000 cases for successive commits of one job, each uploaded
   and then everything it made owed run by one worker (`run_worker --batch`: the
   uploaded job's log state, verdicts, summaries), until `--sustained` test cases are
   in. Target: 1,000,000 test cases an hour with one worker.
3. Pages: a generated history of `--results` stored test-case results (10 jobs x 2,000
   tests, default-branch commits and pull requests; failures, breakages, flaky and
   skipped tests) written with COPY, then /tests/<id>/, the job page (its test list),
   the job's test API and /tests/ requested in-process over varied ids, p50/p95.
   Target p95 under 300 ms.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
print = functools.partial(print, flush=True)

TARGET_INGEST_S = 3.0
TARGET_PER_HOUR = 1_000_000
TARGET_MS = 300.0
TRACEBACK = """self = <tests.test_{module}.Test{cls} object at 0x7f3a2c1d5e80>

    def test_{name}(self):
        result = compute({n}, mode="{mode}")
>       assert result == expected({n})
E       AssertionError: assert {a} == {b}
E        +  where {a} = compute({n}, mode='{mode}')

tests/test_{module}.py:{line}: AssertionError"""


def junit_report(cases: int, *, seed: int, commit: int = 0) -> bytes:
    """A pytest-like JUnit report: `cases` test cases in classes of 100."""
    rng = random.Random(seed)
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">')
    out.write(f'<testsuite name="pytest" errors="0" failures="0" skipped="0" tests="{cases}">')
    for i in range(cases):
        module, cls, name = i // 1000, (i // 100) % 10, f"case_{i}"
        classname = f"tests.test_module{module}.TestGroup{cls}"
        roll = rng.random()
        out.write(f'<testcase classname="{classname}" name="test_{name}" time="{rng.random():.4f}"')
        if roll < 0.01 or (i % 997 == 0 and commit % 5 != 0):
            a, b = rng.randint(1, 99), rng.randint(100, 199)
            body = TRACEBACK.format(
                module=module, cls=cls, name=name, n=i, mode="fast", a=a, b=b, line=i % 400 + 10
            )
            out.write(
                f'><failure message="AssertionError: assert {a} == {b}">{escape(body)}</failure>'
            )
            out.write("</testcase>")
        elif roll < 0.03:
            out.write(
                '><skipped type="pytest.skip" message="needs a GPU">skip</skipped></testcase>'
            )
        elif roll < 0.032:
            out.write('><flakyFailure message="timed out after 5 s" type="TimeoutError">')
            out.write("<stackTrace>TimeoutError: timed out</stackTrace></flakyFailure></testcase>")
        else:
            out.write("/>")
    out.write("</testsuite></testsuites>")
    return out.getvalue().encode()


def cpu_seconds() -> float:
    """CPU time of this process and of its PostgreSQL backend (a local server): on the
    shared machine wall-clock times move with the other work, CPU time much less."""
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [(pid,)] = cursor.fetchall()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return time.process_time() + backend


def spread(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):.2f} s "
        f"(min {min(samples):.2f}, max {max(samples):.2f}, n={len(samples)})"
    )


def part_ingest(args: argparse.Namespace) -> None:
    from citriage.ci import recording
    from citriage.testresults import uploads

    report = junit_report(args.cases, seed=1)
    print(f"\n1. one report of {args.cases:,} test cases ({len(report) / 1e6:.1f} MB)")
    new_times, known_times, parse_times = [], [], []
    new_cpu, known_cpu = [], []
    for round_number in range(args.rounds):
        start = time.perf_counter()
        ET.parse(io.BytesIO(report))
        parse_times.append(time.perf_counter() - start)
        # a repository of its own: every test is new
        repository = recording.get_repository(f"bench/ingest-{round_number}", create=True)
        job = "unit"
        sha = f"{round_number + 1:040x}"
        start, cpu = time.perf_counter(), cpu_seconds()
        [stored] = uploads.upload(
            repository, sha=sha, job_name=job, attempt=1, files=[("r.xml", io.BytesIO(report))]
        )
        new_times.append(time.perf_counter() - start)
        new_cpu.append(cpu_seconds() - cpu)
        assert stored.stored and stored.counts["tests"] == args.cases, stored
        # the next commit: same tests, known
        changed = report.replace(b"needs a GPU", b"needs a TPU")
        start, cpu = time.perf_counter(), cpu_seconds()
        [stored] = uploads.upload(
            repository,
            sha=f"{round_number + 101:040x}",
            job_name=job,
            attempt=1,
            files=[("r.xml", io.BytesIO(changed))],
        )
        known_times.append(time.perf_counter() - start)
        known_cpu.append(cpu_seconds() - cpu)
        assert stored.stored
    baseline = statistics.median(parse_times)
    for label, times, cpus in (
        ("new tests", new_times, new_cpu),
        ("known tests", known_times, known_cpu),
    ):
        verdict = "met" if max(times) < TARGET_INGEST_S else "NOT met"
        cpu_verdict = "met" if max(cpus) < TARGET_INGEST_S else "NOT met"
        print(
            f"  stored, {label:<12} {spread(times)}; "
            f"{statistics.median(times) / baseline:.1f}x the bare parse; target < 3 s: {verdict}"
        )
        print(
            f"    CPU (this process + its PostgreSQL backend) {spread(cpus)}; < 3 s: {cpu_verdict}"
        )
    print(f"  baseline: ElementTree.parse of the same bytes {spread(parse_times)}")
    print(f"  load average: {os.getloadavg()[0]:.1f} (2 cores)")


def part_sustained(args: argparse.Namespace) -> None:
    from citriage.ci import recording
    from citriage.ops.worker import run_worker
    from citriage.testresults import uploads
    from citriage.testresults.models import TestResult, TestRun

    repository = recording.get_repository("bench/sustained", create=True)
    per_report = 25_000
    reports = max(1, args.sustained // per_report)
    print(f"\n2. sustained: {reports} reports of {per_report:,} cases, one worker")
    run_worker(queues=["*"], interval=0, batch=True)  # nothing owed before we start
    start = time.perf_counter()
    per_report_seconds = []
    for n in range(reports):
        begin = time.perf_counter()
        report = junit_report(per_report, seed=1000 + n, commit=n)
        uploads.upload(
            repository,
            sha=f"{n + 1:x}".rjust(40, "a"),
            job_name="integration",
            attempt=1,
            files=[("r.xml", io.BytesIO(report))],
        )
        run_worker(queues=["*"], interval=0, batch=True)
        per_report_seconds.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - start
    cases = reports * per_report
    rate = cases / elapsed * 3600
    runs = TestRun.objects.filter(repository=repository).count()
    rows = TestResult.objects.filter(repository=repository).count()
    verdict = "met" if rate >= TARGET_PER_HOUR else "NOT met"
    print(
        f"  {cases:,} cases in {elapsed:.0f} s: {rate:,.0f} cases/hour "
        f"({rate / TARGET_PER_HOUR:.1f}x the target of 1,000,000: {verdict}); "
        f"per report {spread(per_report_seconds)}; {runs} runs, {rows:,} result rows"
    )


def generate_history(args: argparse.Namespace) -> dict[str, Any]:
    """`--results` test-case results: 10 jobs x 2,000 tests over default-branch commits and
    pull requests, written with COPY (what ingestion would have stored)."""
    import numpy as np
    from django.db import connection, transaction
    from django.db.models import Max

    from bench.ui import COMMIT_COLUMNS, copy_rows
    from citriage.ci import recording
    from citriage.ci.models import Commit, JobAttempt
    from citriage.testresults.models import Test, TestResult, TestRun, TestSet, encode_ids

    rng = random.Random(args.seed)
    jobs, tests_per_job = 10, 2_000
    # ids above the rows the other parts stored
    base = {
        model: (model.objects.aggregate(top=Max("pk"))["top"] or 0)
        for model in (Commit, Test, TestSet, JobAttempt, TestResult)
    }
    # the sets grow from 1,600 to 2,000 tests: 1,800 a run on average
    runs_total = max(jobs, -(-args.results // 1_750))
    commits = runs_total // jobs
    branch_commits = commits * 4 // 5
    repo = recording.get_repository("bench/tests", create=True, providers=["circleci"])
    now = datetime.now().astimezone()
    start = now - timedelta(days=120)
    shas = [f"{rng.getrandbits(160):040x}" for _ in range(commits)]
    when = [start + timedelta(days=120) * (k / commits) for k in range(commits)]
    names = [f"test-shard-{j}" for j in range(jobs)]
    with transaction.atomic():
        copy_rows(
            Commit._meta.db_table,
            COMMIT_COLUMNS,
            (
                (
                    base[Commit] + k + 1,
                    repo.pk,
                    shas[k],
                    json.dumps([]),
                    f"change {k}",
                    "dev",
                    "d@e.org",
                    "dev",
                    when[k],
                    k + 1 if k < branch_commits else None,
                    "",
                )
                for k in range(commits)
            ),
        )
        # tests: each job its own 2,000 (added over time: the first 1,600 from the start)
        test_rows = []
        test_id = base[Test]
        ids_of_job: list[list[int]] = []
        for j in range(jobs):
            ids = []
            for t in range(tests_per_job):
                test_id += 1
                ids.append(test_id)
                test_rows.append(
                    (
                        test_id,
                        repo.pk,
                        f"{test_id:040x}",
                        f"tests.shard{j}.TestGroup{t // 100}",
                        f"test_case_{t}",
                        "",
                        start,
                        0,
                        None,
                        None,
                        json.dumps([names[j]]),
                    )
                )
            ids_of_job.append(ids)
        copy_rows(
            Test._meta.db_table,
            (
                "id",
                "repository_id",
                "key",
                "suite",
                "name",
                "file",
                "first_seen",
                "failures",
                "last_failed_at",
                "first_failed_at",
                "jobs",
            ),
            test_rows,
        )
        # sets: tests join in steps of 40 every 1/10 of the history
        set_rows, set_of = [], {}
        set_id = base[TestSet]
        for j in range(jobs):
            for step in range(11):
                count = 1_600 + 40 * step
                ids = np.array(ids_of_job[j][:count], dtype=np.int64)
                set_id += 1
                set_rows.append(
                    (set_id, repo.pk, TestSet.digest_of(ids), count, encode_ids(ids), start)
                )
                set_of[(j, step)] = (set_id, count)
        copy_rows(
            TestSet._meta.db_table,
            ("id", "repository_id", "digest", "count", "ids", "created"),
            set_rows,
        )
        job_rows, run_rows, result_rows = [], [], []
        result_id = base[TestResult]
        broken: dict[tuple[int, int], tuple[int, int]] = {}  # (job, test) -> (from, to)
        for j in range(jobs):
            for _ in range(15):  # breakages: a test failing on consecutive commits
                first = rng.randrange(branch_commits)
                broken[(j, rng.randrange(1_600))] = (first, first + rng.randint(2, 40))
        flaky = {(j, rng.randrange(1_600)) for j in range(jobs) for _ in range(20)}
        skipped = {(j, t) for j in range(jobs) for t in range(0, 1_600, 80)}
        job_id = first_job = base[JobAttempt]
        failing_jobs = []
        for k in range(commits):
            step = min(10, k * 10 // commits)
            for j in range(jobs):
                job_id += 1
                set_id, count = set_of[(j, step)]
                results = []
                for t in range(count):
                    span = broken.get((j, t))
                    if span and span[0] <= k < span[1] and k < branch_commits:
                        results.append((t, "failed", "AssertionError: assert 3 == 4"))
                    elif (j, t) in flaky and rng.random() < 0.05:
                        results.append((t, "failed", "TimeoutError: timed out after 30 s"))
                    elif (j, t) in flaky and rng.random() < 0.03:
                        results.append((t, "flaky", "TimeoutError: timed out after 30 s"))
                    elif (j, t) in skipped:
                        results.append((t, "skipped", "needs a GPU"))
                    elif k >= branch_commits and rng.random() < 0.0005:
                        results.append((t, "failed", "KeyError: 'coupon'"))
                failed = sum(1 for r in results if r[1] == "failed")
                conclusion = "failure" if failed else "success"
                job_rows.append(
                    (
                        job_id,
                        repo.pk,
                        "circleci",
                        str(job_id),
                        names[j],
                        "",
                        "",
                        1,
                        "completed",
                        conclusion,
                        when[k],
                        when[k],
                        when[k],
                        "",
                        "main" if k < branch_commits else f"pr-{k}",
                        shas[k],
                        base[Commit] + k + 1,
                        "not_needed",
                        "",
                        0,
                        None,
                        None,
                        "{}",
                        when[k],
                        when[k],
                    )
                )
                run_rows.append(
                    (
                        job_id,
                        repo.pk,
                        shas[k],
                        names[j],
                        when[k],
                        set_id,
                        json.dumps(["circleci"]),
                        count,
                        count - len(results) + sum(1 for r in results if r[1] == "flaky"),
                        failed,
                        0,
                        sum(1 for r in results if r[1] == "skipped"),
                        sum(1 for r in results if r[1] == "flaky"),
                        when[k],
                    )
                )
                if failed:
                    failing_jobs.append(job_id)
                for t, outcome, message in results:
                    result_id += 1
                    result_rows.append(
                        (
                            result_id,
                            job_id,
                            ids_of_job[j][t],
                            outcome,
                            0,
                            message,
                            "",
                            "",
                            message.split(":")[0] + ": <signature>",
                            None,
                            repo.pk,
                            when[k],
                        )
                    )
        copy_rows(
            JobAttempt._meta.db_table,
            (
                "id",
                "repository_id",
                "provider",
                "provider_id",
                "name",
                "workflow",
                "workflow_id",
                "attempt",
                "status",
                "conclusion",
                "queued_at",
                "started_at",
                "finished_at",
                "url",
                "branch",
                "sha",
                "commit_id",
                "log_state",
                "log_error",
                "fetch_attempts",
                "fetch_after",
                "fetch_task",
                "details",
                "created",
                "updated",
            ),
            job_rows,
        )
        copy_rows(
            TestRun._meta.db_table,
            (
                "job_id",
                "repository_id",
                "sha",
                "job_name",
                "finished_at",
                "test_set_id",
                "sources",
                "tests",
                "passed",
                "failed",
                "errors",
                "skipped",
                "flaky",
                "updated",
            ),
            run_rows,
        )
        copy_rows(
            TestResult._meta.db_table,
            (
                "id",
                "run_id",
                "test_id",
                "outcome",
                "retries",
                "message",
                "details",
                "kind",
                "signature",
                "duration",
                "repository_id",
                "finished_at",
            ),
            result_rows,
        )
        with connection.cursor() as cursor:
            for model in (Commit, Test, TestSet, JobAttempt, TestResult):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT MAX(id) FROM {table}))"
                )
            cursor.execute(
                f"UPDATE {Test._meta.db_table} t SET failures = f.n, last_failed_at = f.last, "
                f"first_failed_at = f.first FROM (SELECT test_id, COUNT(*) n, "
                f"MAX(finished_at) last, MIN(finished_at) first FROM {TestResult._meta.db_table} "
                "WHERE outcome = 'failed' GROUP BY test_id) f WHERE t.id = f.test_id"
            )
            cursor.execute("ANALYZE")
    stored = sum(r[7] for r in run_rows)
    busiest = sorted(broken, key=lambda key: broken[key][0] - broken[key][1])[:5]
    return {
        "stored": stored,
        "rows": len(result_rows),
        "runs": len(run_rows),
        "tests": [ids_of_job[j][t] for j, t in busiest]
        + rng.sample([i for ids in ids_of_job for i in ids], 25),
        "jobs": rng.sample(failing_jobs, 25) + rng.sample(range(first_job + 1, job_id + 1), 5),
    }


def part_pages(args: argparse.Namespace) -> None:
    from django.test import Client

    from bench.ui import measure

    print(f"\n3. pages over {args.results:,} stored test-case results (generating ...)")
    begin = time.perf_counter()
    history = generate_history(args)
    print(
        f"  generated in {time.perf_counter() - begin:.0f} s: {history['stored']:,} results "
        f"in {history['runs']:,} runs, {history['rows']:,} result rows (failed, skipped, flaky)"
    )
    client = Client(HTTP_HOST="127.0.0.1")
    pages = [
        ("test details", [f"/tests/{pk}/" for pk in history["tests"]]),
        ("job page (test list)", [f"/jobs/{pk}/" for pk in history["jobs"]]),
        ("job tests API", [f"/api/jobs/{pk}/tests" for pk in history["jobs"]]),
        ("test API", [f"/api/tests/{pk}" for pk in history["tests"]]),
        ("tests list", ["/tests/", "/tests/?q=case_17", "/tests/?days=60"]),
    ]
    print(f"  {'page':<22} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}   target p95 < 300 ms")
    for page, urls in pages:
        timing = measure(client, page, urls, args.iterations)
        p95 = timing.percentile(95)
        verdict = "met" if p95 < TARGET_MS else "NOT met"
        print(
            f"  {page:<22} {timing.percentile(50):8.1f} {p95:8.1f} {timing.queries:8d}   "
            f"{verdict} (slowest {timing.slowest})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--sustained", type=int, default=1_000_000)
    parser.add_argument("--results", type=int, default=20_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--only", choices=["ingest", "sustained", "pages"], action="append")
    args = parser.parse_args()
    if not os.environ.get("CITRIAGE_DATABASE_URL"):
        script = str(ROOT / "scripts" / "with_postgres.py")
        os.execv(sys.executable, [sys.executable, script, sys.executable, *sys.argv])
    workdir = Path(tempfile.mkdtemp(prefix="citriage-tests-bench-"))
    os.environ.setdefault("CITRIAGE_DATA_DIR", str(workdir / "data"))
    os.environ.setdefault("CITRIAGE_LOG_STORE", f"file://{workdir / 'logs'}")
    os.environ.setdefault("CITRIAGE_LOG_LEVEL", "WARNING")
    os.environ.setdefault("CITRIAGE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    os.environ.setdefault("CITRIAGE_VERDICT_REFRESH_SECONDS", "0")
    from citriage.cli import django_setup

    django_setup(static=True)
    parts = args.only or ["ingest", "sustained", "pages"]
    try:
        if "ingest" in parts:
            part_ingest(args)
        if "sustained" in parts:
            part_sustained(args)
        if "pages" in parts:
            part_pages(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
