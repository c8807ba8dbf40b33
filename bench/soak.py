"""Soak: citriage as deployed, under a busy project's traffic, rate after rate.

    python bench/soak.py [--rates 16,32,48,64] [--window 90] [--cool-off 20] [--workers 2]

Starts a throwaway PostgreSQL (scripts/with_postgres.py), moto's S3 server for the
log store, a fake GitHub serving the shared corpus (bench/soak_github.py: the App's
installation, check runs and comments, Actions jobs and their real logs, a budget
of calls enforced as GitHub does), then citriage as separate processes: `citriage
migrate`, `citriage web` (gunicorn), `--workers` `citriage worker`s and a `citriage
scheduler`, with the default pattern library.

Each rate is a step: a generated hour of a PyTorch-like project (bench/soak_plan.py:
many jobs per commit, bursts of pushed PRs, about 7% of jobs failing, reruns, pushes
to main) compressed so that its commits start within `--window` seconds, sent as
signed webhooks at about RATE deliveries a second. The step then waits for every
commit's report and checks what citriage did against what was sent: every delivery
accepted and processed, every job recorded, every failed job's log fetched once and
scanned, one check run per commit and at most one comment per PR (one per failing
PR), nothing lost or duplicated. It reports the lag from a commit's last job event
to its report beyond the cool-off (p50/p95/max), queue depth over time, CPU and
memory per process and GitHub API calls per commit; the figures of citriage's side
are read from its `/metrics`. A rate passes when nothing is lost and the lag stays
under cool-off + 60 s. A step waits for every report and for the work owed to drain
(while `--minutes` allow) before it checks, so a rate that is too high is reported
as late, not as lost, unless something was. The bench stops at the first rate that
does not pass (or when `--minutes` would be exceeded) and states the highest that
passed and the capacity per worker.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from with_postgres import Cluster  # noqa: E402

from bench.soak_plan import REPO, Generator, Plan, body  # noqa: E402

print = functools.partial(print, flush=True)
CORPUS = ROOT.parent / "shared" / "corpus"
SECRET = "soak-webhook-secret"
BUCKET = "soak-logs"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> Samples:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(
        value
        for (metric, have), value in samples.items()
        if metric == name and set(labels.items()) <= set(have)
    )


def histogram_quantile(
    before: Samples, after: Samples, name: str, q: float, **labels: str
) -> float:
    """The q-quantile of a histogram's observations between two scrapes (bucket bound)."""
    buckets: dict[float, float] = defaultdict(float)
    for (metric, have), value in after.items():
        if metric == f"{name}_bucket" and set(labels.items()) <= set(have):
            bound = float(dict(have)["le"])
            buckets[bound] += value - before.get((metric, have), 0.0)
    if not buckets or not buckets[float("inf")]:
        return 0.0
    wanted = q * buckets[float("inf")]
    return next(bound for bound in sorted(buckets) if buckets[bound] >= wanted)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the processes ---------------------------------------------------------------------


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)  # for a group not started here (PostgreSQL)
    children: bool = True  # its child processes count as its own

    def tree(self) -> list[psutil.Process]:
        roots = [self.process.pid] if self.process else self.pids
        found = []
        for pid in roots:
            try:
                root = psutil.Process(pid)
                found += [root, *(root.children(recursive=True) if self.children else [])]
            except psutil.NoSuchProcess:
                pass
        return found


class Usage:
    """CPU seconds and peak memory of each service, between start() and stop()."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services
        self.cpu0: dict[str, float] = {}
        self.peak: dict[str, float] = defaultdict(float)

    @staticmethod
    def cpu(service: Service) -> float:
        """CPU seconds of the service's processes so far, with those of children that
        ended (a PostgreSQL backend, a gunicorn worker): their parent has collected them."""
        seconds = 0.0
        for process in service.tree():
            try:
                times = process.cpu_times()
                seconds += times.user + times.system
                if service.children:
                    seconds += times.children_user + times.children_system
            except psutil.NoSuchProcess:
                pass
        return seconds

    def start(self) -> None:
        self.cpu0 = {s.name: self.cpu(s) for s in self.services}
        self.peak.clear()
        self.began = time.monotonic()

    def sample(self) -> None:
        for service in self.services:
            rss = 0
            for process in service.tree():
                with contextlib.suppress(psutil.NoSuchProcess):
                    rss += process.memory_info().rss
            self.peak[service.name] = max(self.peak[service.name], rss / 2**20)

    def report(self) -> dict[str, tuple[float, float, float]]:
        """Per service: cores used on average, peak memory (MB), CPU seconds."""
        wall = time.monotonic() - self.began
        report = {}
        for service in self.services:
            seconds = self.cpu(service) - self.cpu0.get(service.name, 0.0)
            report[service.name] = (seconds / wall, self.peak[service.name], seconds)
        return report


class Stack:
    """PostgreSQL, the S3 server, the fake GitHub and citriage's processes."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="citriage-soak-"))
        self.services: list[Service] = []
        self.cluster: Cluster | None = None

    def start(self) -> None:
        args = self.args
        database = os.environ.get("CITRIAGE_DATABASE_URL")
        if not database:
            self.cluster = Cluster()
            database = self.cluster.url
            postmaster = int((Path(self.cluster.data) / "postmaster.pid").read_text().split()[0])
            self.services.append(Service("postgresql", pids=[postmaster]))
        s3_port, github_port = free_port(), free_port()
        self.s3_url = f"http://127.0.0.1:{s3_port}"
        self.github_url = f"http://127.0.0.1:{github_port}"
        moto = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        self._spawn("s3 (moto)", [moto, "-H", "127.0.0.1", "-p", str(s3_port)], os.environ.copy())
        fake_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self._spawn(
            "fake GitHub",
            [
                sys.executable,
                "-m",
                "bench.soak_github",
                "--port",
                str(github_port),
                "--corpus",
                str(CORPUS),
            ],
            fake_env,
        )
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self.workdir / "app.pem"
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("CITRIAGE_", "PROMETHEUS_"))
            },
            "CITRIAGE_DATA_DIR": str(self.workdir / "data"),
            "CITRIAGE_DATABASE_URL": database,
            "CITRIAGE_LOG_STORE": f"s3://{BUCKET}/logs",
            "CITRIAGE_LOG_STORE_ENDPOINT": self.s3_url,
            "AWS_ACCESS_KEY_ID": "soak",
            "AWS_SECRET_ACCESS_KEY": "soak-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "CITRIAGE_GITHUB_WEBHOOK_SECRET": SECRET,
            "CITRIAGE_GITHUB_APP_ID": "1",
            "CITRIAGE_GITHUB_PRIVATE_KEY": str(pem),
            "CITRIAGE_GITHUB_API_URL": self.github_url,
            "CITRIAGE_PUBLIC_URL": self.url,
            "CITRIAGE_COOL_OFF_SECONDS": str(args.cool_off),
            "CITRIAGE_MIGRATE_ON_START": "false",
            "CITRIAGE_HTTP_BACKOFF": "0.2",
            "CITRIAGE_LOG_LEVEL": "WARNING",
        }
        self._wait_for(f"{self.github_url}/_soak/stats")
        citriage = [sys.executable, "-m", "citriage.cli"]
        for step in (
            ["migrate"],
            ["repos", "add", REPO, "--provider", "github-actions", "--default-branch", "main"],
        ):
            done = subprocess.run([*citriage, *step], env=self.env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"citriage {' '.join(step)} failed:\n{done.stdout}{done.stderr}")
        web = [
            "web",
            "--port",
            str(self.web_port),
            "--workers",
            str(args.web_workers),
            "--threads",
            "2",
        ]
        self._spawn("web (gunicorn)", [*citriage, *web], self.env)
        for n in range(args.workers):
            worker = [*citriage, "worker", "--interval", "0.2"]
            if args.profile:  # cProfile of each worker, written when it stops
                out = args.profile / f"worker-{n + 1}.prof"
                worker = [sys.executable, "-m", "cProfile", "-o", str(out), *worker[1:]]
            self._spawn(f"worker {n + 1}", worker, self.env)
        self._spawn("scheduler", [*citriage, "scheduler"], self.env)
        self._wait_for(f"{self.url}/readyz?queue=1")
        self.services.append(Service("soak bench (sender)", pids=[os.getpid()], children=False))

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.workdir / f"{name.split()[0]}-{len(self.services)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.services.append(Service(name, process))

    def _wait_for(self, url: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        sys.exit(f"{url} did not answer in {seconds:.0f} s; logs in {self.workdir}")

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.process is not None and service.process.poll() is None:
                service.process.terminate()
        for service in self.services:
            if service.process is not None:
                try:
                    service.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    service.process.kill()
        if self.cluster is not None:
            self.cluster.remove()
        if not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)


# -- one step --------------------------------------------------------------------------


@dataclass
class StepResult:
    rate: float
    sent: int = 0
    accepted: int = 0
    commits: int = 0
    lags: list[float] = field(default_factory=list)
    unreported: int = 0
    worker_ms_per_delivery: float = 0.0
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and not self.unreported and max(self.lags, default=0) <= 60


def sign(payload: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest()


def send(stack: Stack, plan: Plan, out: StepResult) -> dict[str, float]:
    """Deliver the plan on its schedule; when each commit's last job event was accepted."""
    last_job_event: dict[str, float] = {}
    codes: Counter[int] = Counter()
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "http"):
            local.http = httpx.Client(timeout=60)
        return local.http

    def deliver(item: Any) -> None:
        http = client()
        if item.register is not None:
            kind, data = item.register
            http.post(f"{stack.github_url}/_soak/{kind}", json=data).raise_for_status()
        payload = body(item)
        headers = {
            "X-GitHub-Event": item.event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(payload),
            "Content-Type": "application/json",
        }
        status = 0
        for attempt in range(3):  # a kept-alive connection the server closed meanwhile:
            try:  # delivered again, with the same GUID, as GitHub's redelivery would
                response = http.post(
                    f"{stack.url}/webhooks/github", content=payload, headers=headers
                )
                # a redelivery answered "duplicate" (200): the first try was received
                status = 202 if attempt and response.status_code == 200 else response.status_code
                break
            except httpx.TransportError:
                time.sleep(0.5)
        with lock:
            codes[status] += 1
            if item.changes_state:
                last_job_event[item.sha] = max(last_job_event.get(item.sha, 0.0), time.time())

    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        futures = []
        for item in plan.deliveries:
            delay = start + item.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(deliver, item))
        for future in futures:
            future.result()
    out.sent = len(plan.deliveries)
    out.accepted = codes[202]
    if codes[202] != out.sent:
        out.problems.append(f"deliveries answered {dict(codes)}")
    return last_job_event


def run_step(
    stack: Stack,
    generator: Generator,
    rate: float,
    args: argparse.Namespace,
    usage: Usage,
    hard_stop: float,
) -> StepResult:
    out = StepResult(rate)
    plan = generator.plan(rate, args.window, datetime.now(UTC))
    out.commits = len(plan.commits)
    span = plan.duration
    # the fake's budget: --budget calls an hour, the hour compressed as the plan is
    hour = args.window + 60
    httpx.post(
        f"{stack.github_url}/_soak/budget", json={"limit": args.budget, "window": hour}
    ).raise_for_status()
    print(
        f"\nrate {rate:g}/s: {len(plan.deliveries)} deliveries over {span:.0f} s, {out.commits} commits "
        f"({sum(1 for k in plan.commits.values() if k == 'main')} to main), {len(plan.jobs)} jobs, "
        f"{len(plan.failed_jobs)} failed, {len(plan.prs)} PRs"
    )
    before = scrape(stack.url)
    calls_before = Counter(httpx.get(f"{stack.github_url}/_soak/stats", timeout=60).json()["calls"])
    usage.start()
    depth: list[tuple[float, float, float]] = []  # (seconds, tasks ready, deliveries pending)
    lowest = [float(args.budget)]  # the least budget left that a scrape saw
    stop = threading.Event()

    def watch() -> None:
        began = time.monotonic()
        while not stop.wait(5):
            try:
                now = scrape(stack.url)
            except httpx.HTTPError:
                continue
            depth.append(
                (
                    time.monotonic() - began,
                    total(now, "citriage_tasks", state="ready"),
                    total(now, "citriage_deliveries_pending"),
                )
            )
            left = [
                v
                for (name, labels), v in now.items()
                if name == "citriage_github_rate_limit_remaining"
                and ("identity", "installation 4242") in labels
            ]
            lowest[0] = min([lowest[0], *left])
            usage.sample()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    last_event = send(stack, plan, out)
    rate_sent = len(plan.deliveries) / max(span, 1.0)

    # every commit's report: a completed check run written after its last job event;
    # past the lag that passes, what is late is waited for while time is left (then
    # checked like the rest: late is not lost) and the work owed drains
    while True:
        stats = httpx.get(f"{stack.github_url}/_soak/stats", timeout=60).json()
        reported: dict[str, float] = {}
        for at, sha, status, _conclusion in stats["check_run_writes"]:
            if status == "completed" and sha in last_event and at >= last_event[sha]:
                reported.setdefault(sha, at)
        if (len(reported) == len(last_event) and idle(stack)) or time.monotonic() > hard_stop:
            break
        time.sleep(3)
    time.sleep(5)  # let the last writes land
    stop.set()
    watcher.join()
    after = scrape(stack.url)
    stats = httpx.get(f"{stack.github_url}/_soak/stats", timeout=60).json()
    stats["step_calls"] = Counter(stats["calls"]) - calls_before
    stats["lowest_budget"] = lowest[0]
    out.lags = [reported[sha] - last_event[sha] - args.cool_off for sha in reported]
    out.unreported = len(last_event) - len(reported)
    verify(stack, plan, stats, out)
    describe(out, plan, before, after, stats, depth, usage.report(), rate_sent, args)
    return out


def idle(stack: Stack) -> bool:
    """Nothing owed any more: no task ready, no delivery, log or report waiting."""
    try:
        now = scrape(stack.url)
    except httpx.HTTPError:
        return False
    owed = (
        total(now, "citriage_tasks", state="ready")
        + total(now, "citriage_tasks", state="running")
        + total(now, "citriage_deliveries_pending")
        + total(now, "citriage_logs_owed")
    )
    return owed == 0


def verify(stack: Stack, plan: Plan, stats: dict[str, Any], out: StepResult) -> None:
    """What citriage did against what was sent: nothing lost, nothing twice."""
    sys.path.insert(0, str(ROOT))
    from citriage.ci.models import JobAttempt, LogState, StoredLog
    from citriage.github.models import Delivery, DeliveryStatus

    ids = [str(i) for i in plan.jobs]
    recorded = set(
        JobAttempt.objects.filter(provider_id__in=ids).values_list("provider_id", flat=True)
    )
    if len(recorded) != len(plan.jobs):
        out.problems.append(f"{len(plan.jobs) - len(recorded)} job(s) not recorded")
    failed = [str(i) for i in plan.failed_jobs]
    states = Counter(
        JobAttempt.objects.filter(provider_id__in=failed).values_list("log_state", flat=True)
    )
    if states.get(LogState.FETCHED, 0) != len(failed):
        out.problems.append(f"failed jobs' logs: {dict(states)}")
    with_logs = (
        StoredLog.objects.filter(job__provider_id__in=failed).values("job").distinct().count()
    )
    if with_logs != len(failed):
        out.problems.append(f"{len(failed) - with_logs} failed job(s) without a stored log")
    downloads = stats["log_downloads"]
    twice = [job for job in failed if downloads.get(job, 0) > 1]
    never = [job for job in failed if not downloads.get(job)]
    if twice or never:
        out.problems.append(f"log downloads: {len(twice)} twice, {len(never)} never")
    not_scanned = StoredLog.objects.filter(job__provider_id__in=failed, scanned_at=None).count()
    if not_scanned:
        out.problems.append(f"{not_scanned} stored log(s) not scanned")
    shas = list(plan.commits)
    pending = Delivery.objects.filter(status=DeliveryStatus.PENDING).count()
    broken = Delivery.objects.filter(status=DeliveryStatus.FAILED).count()
    if pending or broken:
        out.problems.append(f"deliveries pending {pending}, failed {broken}")
    created = stats["check_runs_created"]
    doubled = [sha for sha in shas if created.get(sha, 0) > 1]
    missing = [sha for sha in shas if not created.get(sha)]
    if doubled or missing:
        out.problems.append(
            f"check runs: {len(doubled)} commits with two or more, {len(missing)} without"
        )
    comments = stats["comments"]
    extra = [pr for pr, n in comments.items() if n > 1]
    missing_comments = [pr for pr in plan.failing_prs if not comments.get(str(pr))]
    if extra or missing_comments:
        out.problems.append(
            f"comments: {len(extra)} PRs with two or more, {len(missing_comments)} failing PRs without"
        )
    if stats["refused"]:
        out.problems.append(f"GitHub refused {stats['refused']} call(s) over the budget")


def describe(
    out: StepResult,
    plan: Plan,
    before: Samples,
    after: Samples,
    stats: dict[str, Any],
    depth: list[tuple[float, float, float]],
    usage: dict[str, tuple[float, float, float]],
    rate_sent: float,
    args: argparse.Namespace,
) -> None:
    def delta(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    commits = len(plan.commits)
    lines = out.lines
    lines.append(
        f"  sent {out.sent} deliveries at {rate_sent:.1f}/s; accepted (/metrics) "
        f"{delta('citriage_webhook_deliveries_total', outcome='accepted'):.0f}, rejected "
        f"{delta('citriage_webhook_deliveries_total', outcome='rejected'):.0f}"
    )
    lines.append(
        f"  jobs recorded {delta('citriage_recorded_total', what='job attempts'):.0f} of {len(plan.jobs)}; "
        f"logs stored {delta('citriage_recorded_total', what='stored logs'):.0f} for {len(plan.failed_jobs)} "
        f"failed jobs; logs scanned {delta('citriage_logs_scanned_total'):.0f}"
    )
    lines.append(
        f"  check runs created {delta('citriage_github_posts_total', kind='check run', action='created'):.0f}"
        f" (commits {commits}), updated {delta('citriage_github_posts_total', kind='check run', action='updated'):.0f};"
        f" comments created {delta('citriage_github_posts_total', kind='comment', action='created'):.0f}"
        f" (failing PRs {len(plan.failing_prs)}), edited {delta('citriage_github_posts_total', kind='comment', action='updated'):.0f}"
    )
    calls = delta("citriage_http_requests_total", service="github")
    lines.append(
        f"  GitHub API calls {calls:.0f} = {calls / max(commits, 1):.1f} per commit (the fake GitHub "
        f"counted {sum(stats['step_calls'].values())}: {dict(sorted(stats['step_calls'].items()))}); "
        f"304s {delta('citriage_github_not_modified_total'):.0f}; deferred by the budget "
        f"{delta('citriage_github_rate_limited_total'):.0f}; least budget left "
        f"{stats['lowest_budget']:.0f} of {args.budget} an hour"
    )
    if out.lags:
        lines.append(
            f"  lag beyond the {args.cool_off} s cool-off, last job event to report: p50 "
            f"{percentile(out.lags, 0.5):.1f} s, p95 {percentile(out.lags, 0.95):.1f} s, max "
            f"{max(out.lags):.1f} s ({len(out.lags)} commits; {out.unreported} not reported)"
        )
    wait50 = histogram_quantile(before, after, "citriage_task_wait_seconds", 0.5)
    wait95 = histogram_quantile(before, after, "citriage_task_wait_seconds", 0.95)
    run95 = {
        task: histogram_quantile(before, after, "citriage_task_run_seconds", 0.95, task=task)
        for task in (
            "process_delivery_task",
            "fetch_logs_task",
            "summarize_commit_task",
            "sync_run_task",
        )
    }
    lines.append(
        f"  task wait p50 <= {wait50:g} s, p95 <= {wait95:g} s; run p95: "
        + ", ".join(f"{task.removesuffix('_task')} <= {value:g} s" for task, value in run95.items())
    )
    if depth:
        peak = max(depth, key=lambda d: d[1])
        series = " ".join(f"{ready:.0f}" for _, ready, _ in depth[:: max(1, len(depth) // 24)])
        lines.append(
            f"  queue depth (ready tasks, every {5 * max(1, len(depth) // 24)} s): {series}; peak {peak[1]:.0f} "
            f"at {peak[0]:.0f} s; deliveries waiting at peak {max(d[2] for d in depth):.0f}"
        )
    worker_seconds = sum(used[2] for name, used in usage.items() if name.startswith("worker"))
    per_delivery = worker_seconds / max(out.sent, 1) * 1000
    out.worker_ms_per_delivery = per_delivery
    lines.append(
        f"  worker CPU {per_delivery:.0f} ms per delivery (all the work a delivery brings: recording, "
        f"log fetches, scans, summaries, reports) = {1000 / max(per_delivery, 1e-9):.0f} deliveries/s per "
        f"worker core"
    )
    lines.append(
        "  CPU (cores) and peak memory (MB): "
        + "; ".join(f"{name} {cpu:.2f} / {mem:.0f}" for name, (cpu, mem, _) in usage.items())
    )
    for line in lines:
        print(line)
    print(f"  {verdict(out)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates", default="16,32,48,64", help="deliveries per second, one step each"
    )
    parser.add_argument(
        "--window", type=float, default=90, help="seconds through which a step's commits start"
    )
    parser.add_argument("--cool-off", type=int, default=20, help="CITRIAGE_COOL_OFF_SECONDS")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument(
        "--budget", type=int, default=15000, help="GitHub calls per (compressed) hour"
    )
    parser.add_argument("--jobs-pr", type=int, default=50)
    parser.add_argument("--jobs-main", type=int, default=90)
    parser.add_argument("--fail", type=float, default=0.07, help="share of jobs that fail")
    parser.add_argument("--rerun", type=float, default=0.4, help="share of failed jobs rerun")
    parser.add_argument(
        "--minutes", type=float, default=14.5, help="stop before this much time is up"
    )
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (logs of every process)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the workers under cProfile, writing DIR/worker-N.prof (their CPU figures "
        "then include the profiler's cost)",
    )
    args = parser.parse_args()
    began = time.monotonic()
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start"
    )
    stack = Stack(args)
    results: list[StepResult] = []
    try:
        stack.start()
        os.environ.update(stack.env)
        from citriage.cli import django_setup

        django_setup(migrate=False)
        generator = Generator(
            CORPUS,
            args.seed,
            jobs_pr=args.jobs_pr,
            jobs_main=args.jobs_main,
            fail=args.fail,
            rerun=args.rerun,
        )
        for name, log in generator.logs.items():
            httpx.post(
                f"{stack.github_url}/_soak/logs",
                json={"name": name, "log": log.decode("latin-1")},
                timeout=60,
            ).raise_for_status()
        print(
            f"stack up in {time.monotonic() - began:.0f} s: PostgreSQL, moto S3, fake GitHub, citriage web "
            f"(gunicorn x{args.web_workers}), {args.workers} workers, scheduler; cool-off {args.cool_off} s"
        )
        usage = Usage(stack.services)
        for rate in [float(r) for r in args.rates.split(",")]:
            step_estimate = args.window + 60 + args.cool_off + 90
            if (time.monotonic() - began + step_estimate) / 60 > args.minutes:
                print(f"\nrate {rate:g}/s skipped: it would not end within {args.minutes} minutes")
                break
            try:
                hard_stop = began + args.minutes * 60 - 20  # then the stack is stopped
                result = run_step(stack, generator, rate, args, usage, hard_stop)
            except Exception as exc:  # the step could not be measured: say so, stop
                result = StepResult(rate, problems=[f"{type(exc).__name__}: {exc}"])
                print(f"  FAIL: {result.problems[0]}")
            results.append(result)
            if not result.passed:
                break
    finally:
        stack.stop()
    summarize(results, args, time.monotonic() - began, load)


def verdict(result: StepResult) -> str:
    if result.passed:
        return "PASS"
    if result.problems:
        return "FAIL " + "; ".join(result.problems)
    if result.unreported:
        return f"FAIL: {result.unreported} commit(s) not reported before the bench had to stop"
    return "FAIL: lag over cool-off + 60 s (late, but nothing lost or done twice)"


def summarize(
    results: list[StepResult],
    args: argparse.Namespace,
    seconds: float,
    load: tuple[float, float, float],
) -> None:
    passed = [r for r in results if r.passed]
    print(
        f"\nsoak over in {seconds / 60:.1f} min; load average at the end {os.getloadavg()[0]:.1f} "
        f"(at start {load[0]:.1f}) on {os.cpu_count()} cores"
    )
    for r in results:
        lag = f"lag p50 {percentile(r.lags, 0.5):.1f} / p95 {percentile(r.lags, 0.95):.1f} / max {max(r.lags, default=0):.1f} s"
        print(
            f"  {r.rate:g} deliveries/s: {r.commits} commits, {lag}, {r.unreported} unreported, {verdict(r)}"
        )
    if passed:
        best = max(passed, key=lambda r: r.rate)
        print(
            f"highest rate that passed: {best.rate:g} deliveries/s with {args.workers} workers "
            f"= {best.rate / args.workers:g} deliveries/s per worker"
        )
    else:
        print("no rate passed")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=1, default=str))


if __name__ == "__main__":
    main()
