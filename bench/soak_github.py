"""The soak bench's GitHub, in a process of its own: tests.fake_github.FakeGitHub (the App's
installation, check runs, comments, Actions runs, jobs and job logs, a budget enforced
as GitHub does, 304s for unchanged answers), told by the bench what exists, and asked
at the end what it was sent.

    python -m bench.soak_github --port PORT --corpus DIR

Control routes (the bench's, not GitHub's):
  POST /_soak/logs    {"name": str, "log": latin-1 text}            a log variant
  POST /_soak/jobs    {"jobs": [job...], "logs": {job id: variant}} jobs as they now are
  POST /_soak/runs    {"runs": [run...]}                             workflow runs
  POST /_soak/budget  {"limit": int, "window": seconds}              the budget from now on
  GET  /_soak/stats                                                  what happened
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

import django

# tests.fake_github also configures citriage for tests (app_on): importing it needs Django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citriage.settings")
django.setup()

from tests.fake_github import FakeGitHub  # noqa: E402
from tests.fakes import FakeServer, Reply, Seen, json_reply  # noqa: E402

LOG_PATH = re.compile(r"/repos/[^/]+/[^/]+/actions/jobs/(\d+)/logs")


class SoakGitHub(FakeGitHub):
    """FakeGitHub that counts every call by kind and every log download by job."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.calls: Counter[str] = Counter()  # "GET 200", "POST 201", "GET 304", ...
        self.log_downloads: Counter[int] = Counter()
        self.variants: dict[str, bytes] = {}
        self.stats_lock = threading.Lock()

    def _answer(self, seen: Seen) -> Reply:
        reply = super()._answer(seen)
        with self.stats_lock:
            self.calls[f"{seen.method} {reply.status}"] += 1
            if (found := LOG_PATH.fullmatch(seen.path)) and reply.status == 200:
                self.log_downloads[int(found.group(1))] += 1
        return reply


def serve(port: int, corpus: Path) -> None:
    github = SoakGitHub(corpus, server=FakeServer(keep_requests=False, port=port))
    server = github.server

    def logs(seen: Seen) -> Reply:
        data = seen.json()
        github.variants[data["name"]] = data["log"].encode("latin-1")
        return json_reply({"ok": True})

    def jobs(seen: Seen) -> Reply:
        data = seen.json()
        with github.lock:
            for job in data["jobs"]:
                github.jobs[int(job["id"])] = job
            for job_id, variant in data.get("logs", {}).items():
                github.job_logs[int(job_id)] = github.variants[variant]
        return json_reply({"ok": True})

    def runs(seen: Seen) -> Reply:
        with github.lock:
            for run in seen.json()["runs"]:
                github.runs[int(run["id"])] = run
        return json_reply({"ok": True})

    def budget(seen: Seen) -> Reply:
        data = seen.json()
        with github.lock:
            github.rate_limit = int(data["limit"])
            github.rate_window = float(data["window"])
            github.window_start = time.time()
            github.used.clear()
        return json_reply({"ok": True})

    def stats(seen: Seen) -> Reply:
        with github.lock, github.stats_lock:
            created: Counter[str] = Counter(run["head_sha"] for run in github.check_runs.values())
            comments: Counter[int] = Counter(c["issue"] for c in github.comments.values())
            return json_reply(
                {
                    "calls": dict(github.calls),
                    "refused": sum(github.refused.values()),
                    "not_modified": github.not_modified,
                    "check_runs_created": dict(created),
                    "check_run_writes": github.check_run_writes,
                    "comments": {str(k): v for k, v in comments.items()},
                    "statuses": len(github.statuses),
                    "log_downloads": {str(k): v for k, v in github.log_downloads.items()},
                }
            )

    server.on("POST", "/_soak/logs", logs)
    server.on("POST", "/_soak/jobs", jobs)
    server.on("POST", "/_soak/runs", runs)
    server.on("POST", "/_soak/budget", budget)
    server.on("GET", "/_soak/stats", stats)
    print(f"fake GitHub on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.corpus)


if __name__ == "__main__":
    main()
