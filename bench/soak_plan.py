"""A generated hour of a busy project's GitHub traffic (PyTorch-like), for bench/soak.py.

Commits start through a window of wall time: pull-request pushes (three in four;
they come in bursts, as stacks of PRs are pushed together; a PR is opened or pushed
to again) and pushes to the default branch. Each commit runs several workflows
(pull, lint, inductor, trunk, ...) with many jobs; each job is queued, runs and
completes (a `workflow_job` delivery each, and GitHub Actions' `check_run`), a
share of them fail with a real log of the shared corpus, and a share of those are
rerun (a new job of the next run attempt, which mostly passes: flaky). Each
workflow run is requested and completes (`workflow_run`, after which citriage
reads the run's jobs). Payloads are the corpus's recorded deliveries with the
generated values put in.

The plan also says what the fake GitHub must know when (a job once it completed, a
run once it completed), and what the bench must find afterwards (every job, every
failed job's log, a report per commit, a comment per failing PR).
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.gha_corpus import load, run_view_log

REPO = "pytorch/pytorch"
TEMPLATES = {
    "workflow_job": "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json",
    "workflow_run": "webhooks/workflow_run/pytorch-torchci.workflow_run.completed.json",
    "push": "webhooks/push/pytorch-torchci.push.json",
    "pull_request": "webhooks/pull_request/pytorch-torchci.pull_request.synchronize.json",
    "check_run": "webhooks/check_run/octokit.completed.payload.json",
}
# Real failed logs of the corpus; the first is a `gh run view --log` file whose steps are
# known (its failed step named), the others raw job logs (steps made up).
LOGS = {
    "gradle": ("logs/github-actions/cidiff/cidiff_11/fail.log", "build cidiff"),
    "maven": ("logs/github-actions/cidiff/cidiff_57/fail.log", None),
    "bazel": ("logs/github-actions/cidiff/google_auto_693/fail.log", None),
    "pytorch": ("logs/pytorch-gha/full/error_log1.txt", None),
    "cuda-init": ("logs/pytorch-gha/torchci-fixtures/log_cudagraph_cuda_init_fail.txt", None),
    "engine": ("logs/pytorch-gha/torchci-fixtures/log_engine_cuda_init_fail.txt", None),
    "sentinels": ("logs/pytorch-gha/torchci-fixtures/log_multi_root_cause_sentinels.txt", None),
}
STEPS = ["Set up job", "Checkout PyTorch", "Setup Linux", "Pull docker image", "Build", "Test"]
TAIL = ["Upload test artifacts", "Teardown Linux", "Post job cleanup.", "Complete job"]
WORKFLOWS = {  # workflow -> share of a commit's jobs
    "pull": 0.55,
    "lint": 0.12,
    "inductor": 0.15,
    "linux-binary-manywheel": 0.08,
    "trunk": 0.10,
}
TAIL_SECONDS = 40  # a commit's jobs run for up to about this long after it is pushed
PLATFORMS = [
    "linux-jammy-py3.10-gcc11",
    "linux-focal-cuda12.4-py3.10",
    "win-vs2022-cpu-py3",
    "macos-py3-arm64",
]
SUITES = ["test (default", "test (distributed", "test (inductor", "build", "test (dynamo"]


@dataclass
class Delivery:
    at: float  # seconds after the step starts
    event: str
    payload: dict[str, Any]
    sha: str
    changes_state: bool  # a workflow_job: the commit's last one starts its cool-off
    register: tuple[str, dict[str, Any]] | None = None  # tell the fake GitHub first


@dataclass
class Plan:
    deliveries: list[Delivery] = field(default_factory=list)
    commits: dict[str, str] = field(default_factory=dict)  # sha -> "pr N" or "main"
    jobs: set[int] = field(default_factory=set)
    failed_jobs: set[int] = field(default_factory=set)
    failing_prs: set[int] = field(default_factory=set)  # their last head failed: a comment is owed
    prs: set[int] = field(default_factory=set)

    @property
    def duration(self) -> float:
        return max(d.at for d in self.deliveries) if self.deliveries else 0.0


class Generator:
    """Plans, seeded; ids never repeat across the plans of one generator."""

    def __init__(
        self, corpus: Path, seed: int, *, jobs_pr: int, jobs_main: int, fail: float, rerun: float
    ) -> None:
        self.rng = random.Random(seed)
        self.templates = {event: load(corpus / path) for event, path in TEMPLATES.items()}
        self.templates["check_run"]["check_run"]["app"] = {
            "slug": "github-actions",
            "name": "GitHub Actions",
        }
        self.jobs_pr, self.jobs_main, self.fail, self.rerun = jobs_pr, jobs_main, fail, rerun
        self.ids = itertools.count(5_000_000_000)
        self.pr_numbers = itertools.count(100_001)
        self.open_prs: list[int] = []
        self.head_failed: dict[int, bool] = {}  # PR -> whether its last pushed head failed
        self.pushed: dict[int, datetime] = {}  # PR -> when it was last pushed
        self.main_head = "0" * 40
        self.logs, self.log_steps = self._logs(corpus)

    def _logs(
        self, corpus: Path
    ) -> tuple[dict[str, bytes], dict[str, list[dict[str, Any]] | None]]:
        logs: dict[str, bytes] = {}
        steps: dict[str, list[dict[str, Any]] | None] = {}
        for name, (path, failed_step) in LOGS.items():
            if failed_step:
                raw, known, _ = run_view_log(corpus / path, {failed_step})
                logs[name], steps[name] = raw, known
            else:
                logs[name], steps[name] = (corpus / path).read_bytes(), None
        return logs, steps

    def _payload(self, event: str) -> dict[str, Any]:
        payload = copy.deepcopy(self.templates[event])
        payload["repository"]["full_name"] = REPO
        payload["repository"]["name"], payload["repository"]["default_branch"] = "pytorch", "main"
        return dict(payload)

    def _sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def plan(self, rate: float, window: float, start: datetime) -> Plan:
        """Commits starting through `window` seconds, as many as make about `rate`
        deliveries a second over the plan; its times are then stretched or squeezed a
        little so that the rate is exactly `rate`."""
        plan = Plan()
        wanted = rate * (window + TAIL_SECONDS)
        per_commit = 4.3 * (0.75 * self.jobs_pr + 0.25 * self.jobs_main)  # deliveries, roughly
        gap = window * per_commit / wanted  # seconds between pushes, on average
        at = 0.0
        while len(plan.deliveries) < wanted:
            # pushes in time order: a branch's last push in the plan is its head
            at += self.rng.expovariate(1 / gap)
            if self.rng.random() < 0.25:
                self._main_push(plan, at, start)
            else:  # a stack of 1-3 pull requests pushed together
                for _ in range(self.rng.choice([1, 1, 2, 3])):
                    self._pr_push(plan, at + self.rng.uniform(0, 2), start)
        plan.deliveries.sort(key=lambda d: d.at)
        first = plan.deliveries[0].at
        scale = len(plan.deliveries) / rate / max(1.0, plan.deliveries[-1].at - first)
        for delivery in plan.deliveries:  # (the payloads' own times keep their order)
            delivery.at = (delivery.at - first) * scale
        plan.failing_prs = {number for number in plan.prs if self.head_failed[number]}
        return plan

    def _main_push(self, plan: Plan, at: float, start: datetime) -> None:
        sha = self._sha()
        payload = self._payload("push")
        payload.update(
            ref="refs/heads/main",
            before=self.main_head,
            after=sha,
            forced=False,
            created=False,
            deleted=False,
        )
        commit = {
            "id": sha,
            "message": f"[inductor] a change ({sha[:7]})",
            "timestamp": _iso(start, at),
            "author": {"name": "A Developer", "email": "dev@example.org", "username": "dev"},
        }
        payload["commits"], payload["head_commit"] = [commit], commit
        self.main_head = sha
        plan.commits[sha] = "main"
        plan.deliveries.append(Delivery(at, "push", payload, sha, False))
        self._workflows(plan, sha, "main", None, at, start, self.jobs_main)

    def _pr_push(self, plan: Plan, at: float, start: datetime) -> None:
        sha = self._sha()
        # a PR pushed again is one last pushed seconds ago at least (GitHub's times are
        # whole seconds: two pushes of a branch within one would have no order)
        when = start + timedelta(seconds=at)
        settled = [n for n in self.open_prs if (when - self.pushed[n]).total_seconds() > 2]
        opened = not settled or self.rng.random() < 0.3
        number = next(self.pr_numbers) if opened else self.rng.choice(settled)
        if opened:
            self.open_prs.append(number)
        self.pushed[number] = when
        payload = self._payload("pull_request")
        payload["action"], payload["number"] = ("opened" if opened else "synchronize"), number
        pull = payload["pull_request"]
        pull.update(
            number=number,
            state="open",
            merged=False,
            title=f"[dynamo] change #{number}",
            updated_at=_iso(start, at),
            created_at=_iso(start, at),
        )
        pull["head"].update(sha=sha, ref=f"gh/dev/{number}/head")
        pull["base"]["ref"] = "main"
        pull["user"]["login"] = f"dev{number % 50}"
        plan.commits[sha] = f"pr {number}"
        plan.prs.add(number)
        plan.deliveries.append(Delivery(at, "pull_request", payload, sha, False))
        failed = self._workflows(
            plan, sha, f"gh/dev/{number}/head", number, at, start, self.jobs_pr
        )
        self.head_failed[number] = failed

    def _workflows(
        self,
        plan: Plan,
        sha: str,
        branch: str,
        pr: int | None,
        at: float,
        start: datetime,
        jobs: int,
    ) -> bool:
        """Every workflow run of a commit; whether some job failed."""
        count = max(len(WORKFLOWS), round(self.rng.gauss(jobs, jobs * 0.2)))
        failed_any = False
        for workflow, share in WORKFLOWS.items():
            run_id = next(self.ids)
            names = [
                f"{self.rng.choice(PLATFORMS)} / {self.rng.choice(SUITES)}, {k + 1}, 5, linux.2xlarge)"
                for k in range(max(1, round(count * share)))
            ]
            ends: dict[int, float] = {}
            first = at + self.rng.uniform(0, 2)
            run = {
                "id": run_id,
                "name": workflow,
                "head_sha": sha,
                "head_branch": branch,
                "event": "pull_request" if pr else "push",
                "pull_requests": [{"number": pr}] if pr else [],
                "head_commit": {"id": sha, "message": "a change"},
            }
            self._run_event(plan, run, 1, "requested", "", first, start, sha)
            reruns = []
            run_failed = False
            for name in names:
                _job, done, failed = self._job(
                    plan, run_id, workflow, name, sha, branch, 1, first, start
                )
                ends[1] = max(ends.get(1, 0.0), done)
                run_failed |= failed
                if failed and self.rng.random() < self.rerun:
                    reruns.append((name, done))
            failed_any |= run_failed
            conclusion = "failure" if run_failed else "success"
            self._run_event(plan, run, 1, "completed", conclusion, ends[1] + 0.5, start, sha)
            if reruns:
                again = max(done for _, done in reruns) + self.rng.uniform(2, 6)
                self._run_event(plan, run, 2, "requested", "", again, start, sha)
                rerun_failed = False
                for name, _ in reruns:
                    _, done, failed = self._job(
                        plan, run_id, workflow, name, sha, branch, 2, again, start, flaky=True
                    )
                    ends[2] = max(ends.get(2, 0.0), done)
                    rerun_failed |= failed
                conclusion = "failure" if rerun_failed else "success"
                self._run_event(plan, run, 2, "completed", conclusion, ends[2] + 0.5, start, sha)
        return failed_any

    def _run_event(
        self,
        plan: Plan,
        run: dict[str, Any],
        attempt: int,
        status: str,
        conclusion: str,
        at: float,
        start: datetime,
        sha: str,
    ) -> None:
        payload = self._payload("workflow_run")
        body = payload["workflow_run"]
        body.update(
            run,
            run_attempt=attempt,
            status=status,
            conclusion=conclusion or None,
            created_at=_iso(start, at),
            updated_at=_iso(start, at),
        )
        payload["action"] = status
        register = ("runs", {"runs": [dict(body)]}) if status == "completed" else None
        plan.deliveries.append(Delivery(at, "workflow_run", payload, sha, False, register))

    def _job(
        self,
        plan: Plan,
        run_id: int,
        workflow: str,
        name: str,
        sha: str,
        branch: str,
        attempt: int,
        at: float,
        start: datetime,
        *,
        flaky: bool = False,
    ) -> tuple[dict[str, Any], float, bool]:
        job_id = next(self.ids)
        queued = at + self.rng.uniform(0, 3)
        began = queued + self.rng.uniform(1, 8)
        done = began + self.rng.uniform(5, 30)
        failed = self.rng.random() < (0.3 if flaky else self.fail)
        variant = self.rng.choice(list(LOGS)) if failed else None
        steps = self._steps(variant, began, done, start, failed)
        job = {
            "id": job_id,
            "run_id": run_id,
            "run_attempt": attempt,
            "head_sha": sha,
            "head_branch": branch,
            "name": name,
            "workflow_name": workflow,
            "labels": ["linux.2xlarge"],
            "runner_name": f"i-{job_id:x}",
            "html_url": f"https://github.com/{REPO}/actions/runs/{run_id}/job/{job_id}",
            "created_at": _iso(start, queued),
        }
        plan.jobs.add(job_id)
        if failed:
            plan.failed_jobs.add(job_id)
        for status, when in (("queued", queued), ("in_progress", began), ("completed", done)):
            payload = self._payload("workflow_job")
            state = dict(
                job, status=status, conclusion=None, started_at=None, completed_at=None, steps=[]
            )
            if status != "queued":
                state["started_at"] = _iso(start, began)
                state["steps"] = [
                    dict(s, status="in_progress", conclusion=None, completed_at=None)
                    for s in steps[:1]
                ]
            if status == "completed":
                state.update(
                    conclusion="failure" if failed else "success",
                    completed_at=_iso(start, done),
                    steps=steps,
                )
            payload["workflow_job"], payload["action"] = state, status
            register = None
            if status == "completed":
                logs = {str(job_id): variant} if variant else {}
                register = ("jobs", {"jobs": [state], "logs": logs})
            plan.deliveries.append(Delivery(when, "workflow_job", payload, sha, True, register))
        check = self._payload("check_run")
        check["check_run"].update(
            id=job_id,
            name=name,
            head_sha=sha,
            status="completed",
            conclusion="failure" if failed else "success",
            completed_at=_iso(start, done),
        )
        plan.deliveries.append(Delivery(done + 0.2, "check_run", check, sha, False))
        return job, done, failed

    def _steps(
        self, variant: str | None, began: float, done: float, start: datetime, failed: bool
    ) -> list[dict[str, Any]]:
        known = self.log_steps.get(variant) if variant else None
        if known:
            span = (done - began) / len(known)
            return [
                dict(
                    step,
                    started_at=_iso(start, began + k * span),
                    completed_at=_iso(start, began + (k + 1) * span),
                )
                for k, step in enumerate(known)
            ]
        names = STEPS + TAIL
        span = (done - began) / len(names)
        return [
            {
                "name": step,
                "number": k + 1,
                "status": "completed",
                "conclusion": "failure"
                if failed and step == "Test"
                else (
                    "skipped"
                    if failed and k > len(STEPS) - 1 and step != "Complete job"
                    else "success"
                ),
                "started_at": _iso(start, began + k * span),
                "completed_at": _iso(start, began + (k + 1) * span),
            }
            for k, step in enumerate(names)
        ]


def _iso(start: datetime, at: float) -> str:
    return (start + timedelta(seconds=at)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def body(delivery: Delivery) -> bytes:
    return json.dumps(delivery.payload).encode()
