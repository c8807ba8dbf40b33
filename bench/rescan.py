"""Retroactive rescan: applying one new pattern to every stored log, against reading + rg.

    python bench/rescan.py [--logs 2000] [--database-url postgres://...]

Stores N generated failed-step logs through the real ingestion service, scans
them with the default library, then adds one pattern and times the backlog
scan that applies it to all of them (one process, as one worker would). In
the same run it times the baseline: reading the same compressed logs from the
log store, decompressing them, and running ripgrep over the text.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logs", type=int, default=2000)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="citriage-bench-"))
    os.environ["CITRIAGE_DATA_DIR"] = str(workdir / "data")
    if args.database_url:
        os.environ["CITRIAGE_DATABASE_URL"] = args.database_url
    os.environ.setdefault("CITRIAGE_LOG_LEVEL", "WARNING")
    from citriage.cli import django_setup

    django_setup()
    from citriage import logstore
    from citriage.ci import recording
    from citriage.ci.models import StoredLog
    from citriage.demo.logs import FAILURES, generate_log
    from citriage.patterns import library, scanning
    from citriage.providers.base import JobRun, StepRun
    from citriage.scanner import patterns as pattern_files

    library.import_patterns(pattern_files.default_library())
    repo = recording.get_repository("bench/rescan", create=True)
    kinds = [None, *FAILURES]
    print(f"storing {args.logs} logs ...", flush=True)
    for i in range(args.logs):
        run = JobRun(
            provider="circleci",
            provider_id=str(i),
            name=f"job-{i % 50}",
            sha=f"{i:040x}",
            status="completed",
            conclusion="failure",
            steps=[StepRun(name="Run tests", index=0, status="failed")],
        )
        job, _ = recording.record_job(repo, run)
        recording.store_log(
            job.steps.get(), generate_log(kinds[i % len(kinds)], seed=i, lines=300 + i % 700)
        )
    scanning.scan_backlog(time_budget=float("inf"))
    logs = list(StoredLog.objects.values_list("storage_key", "stripped_bytes"))
    text_bytes = sum(size for _, size in logs)

    expression = "exceeded the maximum execution time"
    library.create_pattern(expression, description="benchmark pattern")
    start = time.perf_counter()
    scanned = scanning.scan_backlog(time_budget=float("inf"))
    citriage_seconds = time.perf_counter() - start
    assert scanned == len(logs), (scanned, len(logs))

    # Baseline: the same compressed logs read and decompressed, streamed through one rg.
    rg = shutil.which("rg")
    start = time.perf_counter()
    searcher = (
        subprocess.Popen(
            [rg, "-F", "--count", expression, "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
        if rg
        else None
    )
    for key, _size in logs:
        text = logstore.log_store().get(key)
        if searcher is not None and searcher.stdin is not None:
            searcher.stdin.write(text)
    if searcher is not None and searcher.stdin is not None:
        searcher.stdin.close()
        searcher.wait()
    baseline = time.perf_counter() - start

    print(
        f"\n{len(logs)} stored logs, {text_bytes / 1e6:.1f} MB of text, database: "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(
        f"  citriage: apply one new pattern to every log   {citriage_seconds:7.2f} s  "
        f"({len(logs) / citriage_seconds:7.0f} logs/s)"
    )
    if rg:
        print(
            f"  baseline: read + decompress + rg the same logs {baseline:7.2f} s  "
            f"({len(logs) / baseline:7.0f} logs/s)"
        )
        ratio = citriage_seconds / baseline
        print(
            f"  ratio citriage / baseline: {ratio:.2f}x (target <= 2x: "
            f"{'ok' if ratio <= 2 else 'above target'})"
        )
    else:
        print(f"  baseline: read + decompress the same logs      {baseline:7.2f} s")
        print("  rg: not installed (apt-get install ripgrep); the baseline has no search in it")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
