"""Web UI: p50/p95 server time of the pages over a large history on PostgreSQL.

    python bench/ui.py [--jobs 100000] [--matches 1000000] [--patterns 200] [--iterations 30]
                        [--rounds N] [--page NAME ...] [--reuse]

Starts a throwaway PostgreSQL (unless CITRIAGE_DATABASE_URL is set) and fills it
with a generated history: commits with ~50 job attempts each (about 30% failed),
three steps per job, a stored log per failed job, matches of 200 patterns spread
over those logs (a few patterns are very frequent, most are rare), best matches,
verdicts, commit summaries, pull requests and posted checks. Bulk rows go in with
COPY; the logs the measured pages read are small real files in a temporary log
store. Every stored log gets its likely failure line and signature (the clusters
page groups the unmatched ones), and some breakages are annotated. A second
repository, bench/grid, has 150 default-branch commits by 200 jobs (the timeline
at 100 commits x 200 jobs). Then it times stats.refresh() and scanned_share(), and
requests every page through Django's test client in-process (server time: view,
queries, template), over varied ids, printing p50/p95 per page against the 300 ms
target; with --rounds N it measures every page N times over and prints the spread
of the p95s (the machine is shared: one round is one sample of its load).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
print = functools.partial(print, flush=True)

TARGET_MS = 300.0
DAYS = 120  # the history spans this many days, ending now
JOBS_PER_COMMIT = 50
RERUNS_PER_COMMIT = 5  # the last slots of a commit are second attempts of its first jobs
FAILED_SHARE = 0.3
NO_LOG_SHARE = 0.03  # failed jobs whose provider had no log
UNMATCHED_SHARE = 0.05  # stored logs no pattern matches
BEHIND_SHARE = 0.02  # stored logs not yet scanned with the newest patterns
REAL_LOGS = 40  # stored logs with a real file (the log viewer reads these)
RETIRED_RANKS = (2, 8, 30, 90)  # popular and rare patterns retired long ago: only old matches
OLD_SHARE = 0.3  # ... in the oldest 30% of the history
STEP_NAMES = ("Checkout code", "Install dependencies")
LAST_STEPS = ("Run tests", "Build", "Lint", "Integration tests")
REPO = "bench/ui"
GRID_REPO = "bench/grid"
GRID_COMMITS = 150
GRID_JOBS = 200
GRID_FAILED_SHARE = 0.03
SIGNATURES = 400  # distinct likely failure lines over the stored logs
BREAKAGES = 60  # annotated breakages of bench/ui's default branch


JOB_COLUMNS = (
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
    "details",
    "created",
    "updated",
)
STEP_COLUMNS = (
    "id",
    "job_id",
    "name",
    "index",
    "container",
    "status",
    "timed_out",
    "exit_code",
    "output_url",
    "has_output",
)
LOG_COLUMNS = (
    "id",
    "step_id",
    "job_id",
    "storage_key",
    "raw_bytes",
    "stripped_bytes",
    "line_count",
    "truncated",
    "stripped",
    "checksum",
    "created",
    "scanned_through",
    "scanned_at",
    "needs_full_rescan",
    "scan_error",
)
COMMIT_COLUMNS = (
    "id",
    "repository_id",
    "sha",
    "parents",
    "message",
    "author_name",
    "author_email",
    "author_login",
    "committed_at",
    "branch_position",
    "pushed_branch",
)
SUMMARY_COLUMNS = (
    "id",
    "repository_id",
    "sha",
    "counts",
    "failures",
    "excused",
    "pending",
    "foreign_failures",
    "all_excused",
    "updated",
    "digest",
)
ANALYSIS_COLUMNS = (
    "id",
    "log_id",
    "job_id",
    "candidates",
    '"line"',
    '"text"',
    "signature",
    "generic",
    "error",
    "analysed_at",
)
VERDICT_COLUMNS = (
    "job_id",
    "repository_id",
    "sha",
    "verdict",
    "excused",
    "reasons",
    "pattern_id",
    "breakage_id",
    "fixed_on_branch",
    "superseded",
    "computed_at",
)


@dataclass
class History:
    repository_id: int
    pattern_ids: list[int]
    shas: list[str]
    failed_jobs: list[int]
    passing_jobs: list[int]
    real_logs: list[tuple[int, int]]  # (log id, line count)
    matches: int


def add_failure_analyses(logs: list[Any], rng: random.Random, now: datetime) -> None:
    """Each stored log's likely failure line and signature (what scanning stores), from a
    pool of SIGNATURES lines: the unmatched logs make the clusters page's groups."""
    from citriage.failurelines.models import FailureAnalysis

    pool = [
        f"ERROR: {rng.choice(('shard', 'replica', 'lease', 'bucket'))} {n} lost its "
        f"{rng.choice(('peer', 'token', 'journal', 'segment'))} during checkpoint <n>"
        for n in range(SIGNATURES)
    ]
    weights = [1 / (rank + 1) for rank in range(SIGNATURES)]

    def rows() -> Iterable[tuple[Any, ...]]:
        for log_id, _step, job_id, *_rest in logs:
            signature = rng.choices(pool, weights)[0]
            line = rng.randint(100, 2000)
            text = signature.replace("<n>", str(rng.randint(1, 999)))
            candidates = json.dumps(
                [{"line": line, "text": text, "score": 9.0, "reason": "error marker"}]
            )
            yield (log_id, log_id, job_id, candidates, line, text, signature, False, "", now)

    copy_rows(FailureAnalysis._meta.db_table, ANALYSIS_COLUMNS, rows())


def add_breakages(
    repository_id: int, branch: list[int], shas: list[str], names: list[str], rng: random.Random
) -> None:
    """BREAKAGES annotated breakages of the default branch (the newest few ongoing)."""
    from citriage.ci.models import Commit
    from citriage.triage.models import Breakage

    ids = dict(Commit.objects.filter(repository_id=repository_id).values_list("sha", "id"))
    rows = []
    for n in range(BREAKAGES):
        start = rng.randrange(len(branch) - 10)
        fix = None if n >= BREAKAGES - 3 else ids[shas[branch[start + rng.randint(1, 8)]]]
        rows.append(
            Breakage(
                repository_id=repository_id,
                cause_id=ids[shas[branch[start]]],
                fix_id=fix,
                jobs=sorted(rng.sample(names, rng.randint(1, 3))),
                description=f"breakage {n}",
                category="code",
                reporter="bench",
            )
        )
    Breakage.objects.bulk_create(rows)


def generate_grid(rng: random.Random, now: datetime) -> list[str]:
    """bench/grid: GRID_COMMITS default-branch commits by GRID_JOBS jobs, a few failing
    (runs of the same failure on consecutive commits: inferred breakages), with verdicts,
    summaries, likely failure lines and two annotated breakages."""
    from django.db import transaction

    from citriage.ci import recording
    from citriage.ci.models import Commit, JobAttempt, Step
    from citriage.ci.models import StoredLog as StoredLogModel
    from citriage.failurelines.models import FailureAnalysis
    from citriage.triage.models import Breakage, CommitSummary, JobVerdict

    repo = recording.get_repository(GRID_REPO, create=True, providers=["circleci"])
    names = [
        f"{group}-{variant}-{n}"
        for group in ("build", "test", "lint", "docs", "integration", "e2e", "bench", "pkg")
        for variant in ("linux", "macos", "win", "arm", "gpu")
        for n in range(5)
    ][:GRID_JOBS]
    shas = [f"{rng.getrandbits(160):040x}" for _ in range(GRID_COMMITS)]
    start = now - timedelta(days=10)
    offsets = {
        table: _next_id(table)
        for table in (
            Commit._meta.db_table,
            JobAttempt._meta.db_table,
            Step._meta.db_table,
            StoredLogModel._meta.db_table,
            FailureAnalysis._meta.db_table,
            CommitSummary._meta.db_table,
        )
    }
    commit_ids = [offsets[Commit._meta.db_table] + k for k in range(GRID_COMMITS)]
    # runs of failures: a job failing the same way on several consecutive commits
    broken: dict[tuple[int, str], str] = {}
    for n in range(40):
        name, first = rng.choice(names), rng.randrange(GRID_COMMITS - 6)
        for k in range(first, first + rng.randint(2, 6)):
            broken[(k, name)] = f"ERROR: {name} broke: case {n} failed at <n>"
    jobs, steps, logs, analyses, verdicts = [], [], [], [], []
    counts: dict[int, dict[str, int]] = {}
    job_id = offsets[JobAttempt._meta.db_table]
    step_id = offsets[Step._meta.db_table]
    for k, sha in enumerate(shas):
        when = start + timedelta(minutes=90 * k)
        for name in names:
            signature = broken.get((k, name))
            if signature is None and rng.random() < GRID_FAILED_SHARE:
                signature = f"ERROR: {name} flaked: case {rng.randrange(50)} at <n>"
            failed = signature is not None
            jobs.append(
                (
                    job_id,
                    repo.pk,
                    "circleci",
                    f"grid-{job_id}",
                    name,
                    "ci",
                    f"wf-{k}",
                    1,
                    "completed",
                    "failure" if failed else "success",
                    when,
                    when,
                    when + timedelta(minutes=20),
                    "",
                    "main",
                    sha,
                    commit_ids[k],
                    "fetched" if failed else "not_needed",
                    "",
                    1 if failed else 0,
                    "{}",
                    when,
                    when,
                )
            )
            steps.append(
                (
                    step_id,
                    job_id,
                    "Run",
                    0,
                    0,
                    "failed" if failed else "success",
                    False,
                    1 if failed else 0,
                    "",
                    True,
                )
            )
            if failed:
                log_id = offsets[StoredLogModel._meta.db_table] + len(logs)
                logs.append(
                    (
                        log_id,
                        step_id,
                        job_id,
                        f"grid/{job_id}.log.zst",
                        1000,
                        900,
                        40,
                        False,
                        True,
                        "0" * 64,
                        when,
                        10**9,
                        when,
                        False,
                        "",
                    )
                )
                text = signature.replace("<n>", str(rng.randint(1, 99)))
                analyses.append(
                    (
                        offsets[FailureAnalysis._meta.db_table] + len(analyses),
                        log_id,
                        job_id,
                        json.dumps(
                            [{"line": 39, "text": text, "score": 9.0, "reason": "error marker"}]
                        ),
                        39,
                        text,
                        signature,
                        False,
                        "",
                        when,
                    )
                )
                verdicts.append(
                    (
                        job_id,
                        repo.pk,
                        sha,
                        "unmatched",
                        False,
                        json.dumps(["no pattern matched the logs of the failed steps"]),
                        None,
                        None,
                        "",
                        False,
                        now,
                    )
                )
                counts.setdefault(k, {})["unmatched"] = counts.get(k, {}).get("unmatched", 0) + 1
            job_id += 1
            step_id += 1
    with transaction.atomic():
        copy_rows(
            Commit._meta.db_table,
            COMMIT_COLUMNS,
            (
                (
                    commit_ids[k],
                    repo.pk,
                    sha,
                    json.dumps([shas[k - 1]] if k else []),
                    f"Grid change {k} (#{5000 + k})",
                    "Dev",
                    "dev@example.org",
                    "dev",
                    start + timedelta(minutes=90 * k),
                    k,
                    "",
                )
                for k, sha in enumerate(shas)
            ),
        )
        copy_rows(JobAttempt._meta.db_table, JOB_COLUMNS, jobs)
        copy_rows(Step._meta.db_table, [f'"{c}"' for c in STEP_COLUMNS], steps)
        copy_rows(StoredLogModel._meta.db_table, LOG_COLUMNS, logs)
        copy_rows(FailureAnalysis._meta.db_table, ANALYSIS_COLUMNS, analyses)
        copy_rows(JobVerdict._meta.db_table, VERDICT_COLUMNS, verdicts)
        copy_rows(
            CommitSummary._meta.db_table,
            SUMMARY_COLUMNS,
            (
                (
                    offsets[CommitSummary._meta.db_table] + k,
                    repo.pk,
                    sha,
                    json.dumps(counts.get(k, {})),
                    sum(counts.get(k, {}).values()),
                    0,
                    0,
                    0,
                    not counts.get(k),
                    now,
                    "",
                )
                for k, sha in enumerate(shas)
            ),
        )
        Breakage.objects.bulk_create(
            [
                Breakage(
                    repository=repo,
                    cause_id=commit_ids[20],
                    fix_id=commit_ids[26],
                    jobs=names[:3],
                    description="fixed",
                    reporter="bench",
                ),
                Breakage(
                    repository=repo,
                    cause_id=commit_ids[GRID_COMMITS - 30],
                    fix_id=None,
                    jobs=names[40:42],
                    description="ongoing",
                    reporter="bench",
                ),
            ]
        )
    print(f"  {GRID_REPO}: {GRID_COMMITS} commits x {len(names)} jobs, {len(logs)} failed")
    return shas


def _next_id(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
        return int(cursor.fetchone()[0])


def model_defaults(table: str, columns: Sequence[str]) -> dict[str, Any]:
    """The NOT NULL columns of the table's model missing from columns, with the model's
    defaults: those defaults live in Django, not in the database, so COPY needs them
    spelled out (the models gain such columns faster than this benchmark)."""
    from django.apps import apps
    from django.db import models

    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    given = {column.strip('"') for column in columns}
    defaults: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.column in given or field.null:
            continue
        value = field.get_default()  # "" for a text column without a default
        if value is None:
            continue  # no default: COPY says which column is missing
        defaults[f'"{field.column}"'] = (
            json.dumps(value) if isinstance(field, models.JSONField) else value
        )
    return defaults


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into a table (explicit ids; sequences are reset afterwards); the model's
    other NOT NULL columns get its defaults."""
    from django.db import connection

    defaults = model_defaults(table, columns)
    tail = tuple(defaults.values())
    connection.ensure_connection()
    count = 0
    sql = f"COPY {table} ({', '.join([*columns, *defaults])}) FROM STDIN"
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row((*row, *tail))
            count += 1
    return count


def generate(args: argparse.Namespace) -> History:
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from bench.common import generated_patterns
    from citriage import logstore
    from citriage.ci import recording
    from citriage.ci.models import Commit, JobAttempt, PullRequest, PullRequestHead, Step
    from citriage.ci.models import StoredLog as StoredLogModel
    from citriage.demo.logs import FAILURES, MODULES, generate_log
    from citriage.failurelines.models import FailureAnalysis
    from citriage.github.models import PostedCheck, PostedComment
    from citriage.patterns import library
    from citriage.patterns.models import BestMatch, Match, Pattern
    from citriage.scanner.logtext import read_log
    from citriage.triage.models import CommitSummary, JobVerdict

    rng = random.Random(args.seed)
    now = datetime.now().astimezone()
    start_of_history = now - timedelta(days=DAYS)
    repo = recording.get_repository(REPO, create=True, providers=["circleci"])
    library.import_patterns(generated_patterns(args.patterns, first_id=1))
    patterns = list(Pattern.objects.prefetch_related("tags").order_by("id"))
    pattern_ids = [p.pk for p in patterns]
    tag_of = {p.pk: (p.tag_names() or ("runtime",))[0] for p in patterns}
    specificity = {p.pk: p.specificity for p in patterns}
    # Zipf-like popularity in a shuffled order: a few patterns explain most failures.
    ranked = pattern_ids[:]
    rng.shuffle(ranked)
    popularity = [1 / (rank + 1) ** 1.1 for rank in range(len(ranked))]
    top = max(pattern_ids)
    names = [f"test-{MODULES[i % len(MODULES)]}-{i // len(MODULES)}" for i in range(45)]

    commits = max(1, args.jobs // JOBS_PER_COMMIT)
    shas = [f"{rng.getrandbits(160):040x}" for _ in range(commits)]
    commit_time = [start_of_history + timedelta(days=DAYS) * (k / commits) for k in range(commits)]
    pulls = max(1, commits // 7)
    pr_of_commit = {k: rng.randrange(pulls) + 1 for k in range(commits) if k % 4 == 3}
    with transaction.atomic():
        copy_rows(
            Commit._meta.db_table,
            COMMIT_COLUMNS,
            (
                (
                    k + 1,
                    repo.pk,
                    shas[k],
                    json.dumps([shas[k - 1]] if k else []),
                    f"Change {k}: tidy the {MODULES[k % len(MODULES)]} module\n\nDetails.",
                    f"Dev {k % 40}",
                    f"dev{k % 40}@example.org",
                    f"dev{k % 40}",
                    commit_time[k],
                    None if k in pr_of_commit else k,
                    "",
                )
                for k in range(commits)
            ),
        )
        copy_rows(
            PullRequest._meta.db_table,
            (
                "id",
                "repository_id",
                "number",
                "title",
                "author_login",
                "state",
                "merged",
                "head_sha",
                "head_ref",
                "base_ref",
                "opened_at",
                "closed_at",
            ),
            (
                (
                    n,
                    repo.pk,
                    n,
                    f"Pull {n}",
                    f"dev{n % 40}",
                    "open",
                    False,
                    "",
                    f"pr-{n}",
                    "main",
                    start_of_history,
                    None,
                )
                for n in range(1, pulls + 1)
            ),
        )
        copy_rows(
            PullRequestHead._meta.db_table,
            ("id", "pull_id", "sha", "seen_at"),
            (
                (i + 1, pull, shas[k], commit_time[k])
                for i, (k, pull) in enumerate(sorted(pr_of_commit.items()))
            ),
        )
        last_head: dict[int, str] = {pull: shas[k] for k, pull in sorted(pr_of_commit.items())}
        with connection.cursor() as cursor:
            for pull, sha in last_head.items():
                cursor.execute(
                    f"UPDATE {PullRequest._meta.db_table} SET head_sha = %s WHERE id = %s",
                    [sha, pull],
                )

    # Jobs, steps and logs, decided up front; matches are streamed afterwards.
    jobs: list[tuple[Any, ...]] = []
    steps: list[tuple[Any, ...]] = []
    logs: list[tuple[Any, ...]] = []
    job_commit: dict[int, int] = {}
    failed_jobs, passing_jobs = [], []
    job_id = step_id = 0
    for k in range(commits):
        for slot in range(JOBS_PER_COMMIT):
            rerun = slot >= JOBS_PER_COMMIT - RERUNS_PER_COMMIT
            name = names[slot - (JOBS_PER_COMMIT - RERUNS_PER_COMMIT)] if rerun else names[slot]
            failed = rng.random() < FAILED_SHARE
            job_id += 1
            job_commit[job_id] = k
            finished = min(now, commit_time[k] + timedelta(minutes=rng.randint(5, 90 + 60 * rerun)))
            has_log = failed and rng.random() >= NO_LOG_SHARE
            log_state = "not_needed" if not failed else ("fetched" if has_log else "no_log")
            jobs.append(
                (
                    job_id,
                    repo.pk,
                    "circleci",
                    str(job_id),
                    name,
                    "build-and-test",
                    f"wf-{k}",
                    2 if rerun else 1,
                    "completed",
                    "failure" if failed else "success",
                    finished - timedelta(minutes=30),
                    finished - timedelta(minutes=25),
                    finished,
                    f"https://circleci.example/job/{job_id}",
                    f"pr-{pr_of_commit[k]}" if k in pr_of_commit else "main",
                    shas[k],
                    k + 1,
                    log_state,
                    "",
                    1 if failed else 0,
                    "{}",
                    finished,
                    finished,
                )
            )
            (failed_jobs if failed else passing_jobs).append(job_id)
            last = LAST_STEPS[slot % len(LAST_STEPS)]
            for index, step_name in enumerate((*STEP_NAMES, last)):
                step_id += 1
                step_failed = failed and index == 2
                steps.append(
                    (
                        step_id,
                        job_id,
                        step_name,
                        index,
                        0,
                        "failed" if step_failed else "success",
                        False,
                        1 if step_failed else 0,
                        "",
                        True,
                    )
                )
                if step_failed and has_log:
                    behind = rng.random() < BEHIND_SHARE
                    logs.append(
                        [
                            len(logs) + 1,
                            step_id,
                            job_id,
                            f"{repo.pk}/{job_id}/{step_id}-bench.log.zst",
                            40_000,
                            30_000,
                            rng.randint(300, 3000),
                            False,
                            True,
                            "0" * 64,
                            finished,
                            top - 20 if behind else top,
                            finished,
                            False,
                            "",
                        ]
                    )
    # A few logs get real, small files (the log viewer and its API read them).
    real_logs = []
    kinds = list(FAILURES)
    for n, row in enumerate(logs[:: max(1, len(logs) // REAL_LOGS)][:REAL_LOGS]):
        text = read_log(generate_log(kinds[n % len(kinds)], seed=n, lines=400 + 50 * n))
        logstore.log_store().put(row[3], text.data)
        row[4], row[5], row[6] = text.raw_bytes, text.stripped_bytes, text.line_count
        row[9] = logstore.checksum(text.data)
        real_logs.append((row[0], text.line_count))
    print(
        f"  {commits} commits, {len(jobs)} jobs ({len(failed_jobs)} failed), "
        f"{len(steps)} steps, {len(logs)} stored logs",
    )

    with transaction.atomic():
        copy_rows(JobAttempt._meta.db_table, JOB_COLUMNS, jobs)
        copy_rows(Step._meta.db_table, [f'"{c}"' for c in STEP_COLUMNS], steps)
        copy_rows(StoredLogModel._meta.db_table, LOG_COLUMNS, logs)

    # Matches: about args.matches spread unevenly over the logs that match anything.
    matched_logs = [row for row in logs if rng.random() >= UNMATCHED_SHARE]
    weights = [rng.lognormvariate(0, 0.8) for _ in matched_logs]
    scale = args.matches / sum(weights)
    per_log = [min(int(w * scale), row[6]) for w, row in zip(weights, matched_logs, strict=True)]
    shortfall = args.matches - sum(per_log)
    for i in range(len(per_log)):
        if shortfall <= 0:
            break
        extra = min(shortfall, matched_logs[i][6] - per_log[i])
        per_log[i] += extra
        shortfall -= extra
    best: dict[int, tuple[tuple[int, int], int, int]] = {}  # job -> (rank, match id, pattern)

    retired = {ranked[rank] for rank in RETIRED_RANKS}
    Pattern.objects.filter(pk__in=retired).update(
        is_retired=True, retired_at=start_of_history + timedelta(days=DAYS * OLD_SHARE)
    )
    fallback = next(p for p in ranked if p <= top - 20 and p not in retired)
    old_logs = int(len(matched_logs) * OLD_SHARE)

    def match_rows() -> Iterable[tuple[Any, ...]]:
        match_id = 0
        for n, (row, count) in enumerate(zip(matched_logs, per_log, strict=True)):
            log_id, job, line_count, scanned = row[0], row[2], row[6], row[11]
            lines = rng.sample(range(1, line_count + 1), count)
            chosen = rng.choices(ranked, popularity, k=count)
            for line, pattern_id in zip(lines, chosen, strict=True):
                if pattern_id > scanned or (pattern_id in retired and n >= old_logs):
                    pattern_id = fallback  # not scanned with it yet, or it was retired by then
                match_id += 1
                text = (
                    f"E   {patterns[pattern_id - 1].expression[:90]} "
                    f"(src/{MODULES[line % len(MODULES)]}/unit_{line}.py:{line})"
                )
                rank = (specificity[pattern_id], line)
                if job not in best or rank > best[job][0]:
                    best[job] = (rank, match_id, pattern_id)
                yield (match_id, log_id, pattern_id, job, line, 4, 4 + len(text) // 2, "[]", text)

    start = time.perf_counter()
    with transaction.atomic():
        matches = copy_rows(
            Match._meta.db_table,
            ("id", "log_id", "pattern_id", "job_id", "line", "start", '"end"', "captures", "text"),
            match_rows(),
        )
    print(f"  {matches} matches copied in {time.perf_counter() - start:.1f} s")

    verdict_counts: dict[int, dict[str, int]] = {}
    excused_counts: dict[int, int] = {}

    def verdict_rows() -> Iterable[tuple[Any, ...]]:
        has_log = {row[2] for row in logs}
        for job in failed_jobs:
            found = best.get(job)
            if found:
                tag = tag_of[found[2]]
                verdict = {"flaky": "flaky_pattern", "infra": "infra"}.get(tag, "new")
                reasons = [f"best match: pattern #{found[2]} ({tag})"]
            else:
                verdict = "unmatched" if job in has_log else "no_log"
                reasons = ["no pattern matches the log" if job in has_log else "no log"]
            excused = verdict in ("flaky_pattern", "infra")
            k = job_commit[job]
            counts = verdict_counts.setdefault(k, {})
            counts[verdict] = counts.get(verdict, 0) + 1
            excused_counts[k] = excused_counts.get(k, 0) + excused
            yield (
                job,
                repo.pk,
                shas[k],
                verdict,
                excused,
                json.dumps(reasons),
                found[2] if found else None,
                None,
                "",
                False,
                now,
            )

    with transaction.atomic():
        copy_rows(
            BestMatch._meta.db_table,
            ("job_id", "match_id", "pattern_id", "updated"),
            ((job, match_id, pattern_id, now) for job, (_, match_id, pattern_id) in best.items()),
        )
        copy_rows(JobVerdict._meta.db_table, VERDICT_COLUMNS, verdict_rows())
        copy_rows(
            CommitSummary._meta.db_table,
            SUMMARY_COLUMNS,
            (
                (
                    k + 1,
                    repo.pk,
                    shas[k],
                    json.dumps(counts),
                    sum(counts.values()),
                    excused_counts.get(k, 0),
                    0,
                    0,
                    excused_counts.get(k, 0) == sum(counts.values()),
                    now,
                    "",
                )
                for k, counts in verdict_counts.items()
            ),
        )
        copy_rows(
            PostedCheck._meta.db_table,
            (
                "id",
                "repository_id",
                "sha",
                "kind",
                "external_id",
                "conclusion",
                "title",
                "body_hash",
                "posted_at",
            ),
            (
                (k + 1, repo.pk, shas[k], "check_run", k + 1, "neutral", "citriage", "0" * 64, now)
                for k in verdict_counts
            ),
        )
        copy_rows(
            PostedComment._meta.db_table,
            (
                "id",
                "repository_id",
                "pull_number",
                "comment_id",
                "head_sha",
                "body_hash",
                "body",
                "posted_at",
            ),
            (
                (pull, repo.pk, pull, pull, sha, "0" * 64, f"Failures on {sha[:8]}: ...", now)
                for pull, sha in last_head.items()
            ),
        )
    add_failure_analyses(logs, rng, now)
    add_breakages(repo.pk, [k for k in range(commits) if k not in pr_of_commit], shas, names, rng)
    generate_grid(rng, now)
    models = [
        FailureAnalysis,
        Commit,
        PullRequest,
        PullRequestHead,
        JobAttempt,
        Step,
        StoredLogModel,
        Match,
        CommitSummary,
        PostedCheck,
        PostedComment,
    ]
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)
        # As autovacuum would have by now: planner statistics and visibility maps.
        cursor.execute("VACUUM ANALYZE")
    return History(
        repository_id=repo.pk,
        pattern_ids=pattern_ids,
        shas=shas,
        failed_jobs=failed_jobs,
        passing_jobs=passing_jobs,
        real_logs=real_logs,
        matches=matches,
    )


@dataclass
class Timing:
    page: str
    samples: list[float]
    queries: int
    slowest: str

    def percentile(self, p: int) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(client: Any, page: str, urls: list[str], iterations: int) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(urls[0])  # first request: connection and template caches
    samples, queries, slowest = [], 0, urls[0]
    for i in range(iterations):
        url = urls[i % len(urls)]
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            samples.append((time.perf_counter() - start) * 1000)
        if samples[-1] == max(samples):
            slowest = url
        if response.status_code not in (200, 302):  # the search answers a sha with a redirect
            raise SystemExit(f"{url} answered {response.status_code}")
        queries = max(queries, len(captured))
    return Timing(page, samples, queries, slowest)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--matches", type=int, default=1_000_000)
    parser.add_argument("--patterns", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=30, help="requests per page")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every page this many times over"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the history already in CITRIAGE_DATABASE_URL (from an earlier run)",
    )
    parser.add_argument(
        "--page",
        action="append",
        help="measure only this page (its name as printed; repeatable)",
    )
    args = parser.parse_args()
    if not os.environ.get("CITRIAGE_DATABASE_URL"):
        script = str(ROOT / "scripts" / "with_postgres.py")
        os.execv(sys.executable, [sys.executable, script, sys.executable, *sys.argv])

    workdir = Path(tempfile.mkdtemp(prefix="citriage-ui-"))
    os.environ.setdefault("CITRIAGE_DATA_DIR", str(workdir / "data"))
    os.environ.setdefault("CITRIAGE_LOG_STORE", f"file://{workdir / 'logs'}")
    os.environ.setdefault("CITRIAGE_LOG_LEVEL", "WARNING")
    os.environ.setdefault("CITRIAGE_DEFAULT_LIBRARY", "false")  # it builds its own library
    os.environ.setdefault("CITRIAGE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
    from citriage.cli import django_setup

    django_setup(static=True)
    from django.test import Client

    from citriage.ci.models import JobAttempt, StoredLog
    from citriage.patterns import stats
    from citriage.patterns.models import Match, Pattern

    try:
        if args.reuse:
            history = existing_history()
        else:
            print(
                f"generating {args.jobs} job attempts, {args.matches} matches, "
                f"{args.patterns} patterns on PostgreSQL ..."
            )
            start = time.perf_counter()
            history = generate(args)
            generation = time.perf_counter() - start
            print(f"  generated in {generation:.0f} s")

        refresh_seconds = min(timed(stats.refresh) for _ in range(2))
        share_seconds = min(timed(stats.scanned_share) for _ in range(3))
        rng = random.Random(args.seed + 1)
        by_matches = list(
            Pattern.objects.order_by("-stats__matched_jobs").values_list("id", flat=True)
        )
        popular, rare = by_matches[:5], by_matches[5:]
        pattern_urls = [f"/patterns/{pk}/" for pk in popular + rng.sample(rare, 10)]
        pattern_urls += [f"/patterns/{popular[0]}/?page=50", f"/patterns/{popular[1]}/?page=3"]
        retired = Pattern.objects.filter(is_retired=True).values_list("id", flat=True)
        pattern_urls += [f"/patterns/{pk}/" for pk in retired]  # matches only long ago
        jobs = rng.sample(history.failed_jobs, 25) + rng.sample(history.passing_jobs, 5)
        commits = rng.sample(history.shas, 30)
        real = history.real_logs
        pages: list[tuple[str, list[str]]] = [
            ("home", ["/"]),
            (
                "patterns",
                [
                    "/patterns/",
                    "/patterns/?page=2",
                    "/patterns/?sort=-matched_jobs",
                    "/patterns/?tag=flaky",
                    "/patterns/?text=Storage",
                    "/patterns/?sort=last_seen",
                ],
            ),
            ("pattern details", pattern_urls),
            ("build (job) details", [f"/jobs/{pk}/" for pk in jobs]),
            ("commit", [f"/commits/{sha}/" for sha in commits]),
            (
                "API log lines",
                [
                    f"/api/logs/{log_id}/lines?start={rng.randint(1, max(1, lines - 200))}&count=200"
                    for log_id, lines in real
                ],
            ),
            ("unattributed", ["/unattributed/", "/unattributed/?page=3"]),
            ("flakiness", ["/flaky/", f"/flaky/?pattern={popular[0]}"]),
            *sheriff_pages(history, rng),
        ]
        if args.page:
            unknown = set(args.page) - {page for page, _urls in pages}
            if unknown:
                raise SystemExit(f"no such page: {', '.join(sorted(unknown))}")
            pages = [(page, urls) for page, urls in pages if page in args.page]
        client = Client(HTTP_HOST="127.0.0.1")
        rounds = [
            [measure(client, page, urls, args.iterations) for page, urls in pages]
            for _ in range(args.rounds)
        ]
        timings = rounds[-1]

        print(
            f"\nhistory: {JobAttempt.objects.count()} job attempts, "
            f"{Match.objects.count()} matches, {Pattern.objects.count()} patterns, "
            f"{StoredLog.objects.count()} stored logs; PostgreSQL; "
            f"{args.iterations} requests per page (Django test client, in-process)"
        )
        print(f"  stats.refresh()          {refresh_seconds * 1000:8.0f} ms")
        print(f"  stats.scanned_share()    {share_seconds * 1000:8.0f} ms")
        print(f"\n  {'page':<24} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8}   target p95 < 300 ms")
        for t in timings:
            p95 = t.percentile(95)
            verdict = "ok" if p95 < TARGET_MS else "above target"
            print(f"  {t.page:<24} {t.percentile(50):8.1f} {p95:8.1f} {t.queries:8d}   {verdict}")
        print("\n  slowest request of each page:")
        for t in timings:
            print(f"  {t.page:<24} {max(t.samples):8.1f} ms  {t.slowest}")
        if len(rounds) > 1:
            print(f"\n  p95 over {len(rounds)} rounds (ms): median, min-max; p50 median")
            for i, (page, _urls) in enumerate(pages):
                p95s = sorted(r[i].percentile(95) for r in rounds)
                p50s = sorted(r[i].percentile(50) for r in rounds)
                worst = "ok" if p95s[len(p95s) // 2] < TARGET_MS else "above target"
                print(
                    f"  {page:<24} {p95s[len(p95s) // 2]:8.1f} {p95s[0]:8.1f}-{p95s[-1]:<8.1f}"
                    f" {p50s[len(p50s) // 2]:8.1f}   {worst}"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def sheriff_pages(history: History, rng: random.Random) -> list[tuple[str, list[str]]]:
    """The sheriff's ways in and the branch pages: pull requests, search, a job's history
    (branch and pull request commits), the timeline at 100 commits x 200 jobs, health,
    clusters, breakages."""
    from citriage.ci.models import JobAttempt, PullRequest

    pulls = list(PullRequest.objects.filter(repository_id=history.repository_id))
    chosen = rng.sample(pulls, min(20, len(pulls)))
    on_pulls = list(
        JobAttempt.objects.filter(repository_id=history.repository_id)
        .exclude(branch="main")
        .values_list("id", flat=True)[:5000]
    )
    on_branch = list(
        JobAttempt.objects.filter(repository_id=history.repository_id, branch="main").values_list(
            "id", flat=True
        )[:5000]
    )
    shas = rng.sample(history.shas, 5)
    searches = [f"/search/?q={sha[:9]}" for sha in shas]  # one commit: a redirect
    searches += [f"/search/?q=%23{p.number}" for p in chosen[:5]]  # #123: a redirect
    searches += ["/search/?q=test-core", "/search/?q=Storage", "/search/?q=lease+failed"]
    searches += ["/search/?q=nothing-matches-this", "/search/?q=12"]
    return [
        ("pull request", [f"/pulls/{REPO}/{p.number}/" for p in chosen]),
        ("search", searches),
        ("job + history (main)", [f"/jobs/{pk}/" for pk in rng.sample(on_branch, 15)]),
        ("job + history (PR)", [f"/jobs/{pk}/" for pk in rng.sample(on_pulls, 15)]),
        (
            "timeline 100x200",
            [f"/timeline/?repo={GRID_REPO}&per=100&green=1&page={n}" for n in (1, 2)],
        ),
        ("health", [f"/health/?repo={REPO}"]),
        ("clusters", ["/clusters/", "/clusters/?page=2"]),
        ("breakages", [f"/breakages/?repo={REPO}"]),
    ]


def existing_history() -> History:
    from citriage.ci.models import FAILED_CONCLUSIONS, Commit, JobAttempt, Repository, StoredLog
    from citriage.logstore import log_store
    from citriage.patterns.models import Pattern

    repo = Repository.objects.get(owner=REPO.split("/")[0], name=REPO.split("/")[1])
    jobs = JobAttempt.objects.filter(repository=repo)
    real = [
        (pk, lines)
        for pk, key, lines in StoredLog.objects.filter(checksum__regex="[1-9a-f]").values_list(
            "id", "storage_key", "line_count"
        )
        if log_store().exists(key)
    ]
    return History(
        repository_id=repo.pk,
        pattern_ids=list(Pattern.objects.values_list("id", flat=True)),
        shas=list(Commit.objects.filter(repository=repo).values_list("sha", flat=True)),
        failed_jobs=list(
            jobs.filter(conclusion__in=FAILED_CONCLUSIONS).values_list("id", flat=True)
        ),
        passing_jobs=list(jobs.filter(conclusion="success").values_list("id", flat=True)),
        real_logs=real,
        matches=0,
    )


if __name__ == "__main__":
    main()
