"""Webhook ingestion: deliveries accepted per second on PostgreSQL, and a 10,000-delivery burst.

    python bench/ingest.py [--seconds 10] [--connections 16] [--rounds 3] [--burst 10000]

Starts a throwaway PostgreSQL (unless CITRIAGE_DATABASE_URL is set) and the
real web server (`citriage web`, gunicorn), then drives it with wrk, in rounds:
the bare `/healthz` view, then signed `status` deliveries to `/webhooks/github`
(verify, store; workers queue the tasks), printing requests/s and p50/p99
latency of both and the median of the rounds' ratios. Then it sends a burst of
deliveries, runs two workers until the queue is empty, and checks every
delivery was stored and processed exactly once.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
print = functools.partial(print, flush=True)
SECRET = "bench-secret"
LUA = """
local thread_counter = 0
function setup(thread)
  thread:set("tid", thread_counter)
  thread_counter = thread_counter + 1
end
function init(args)
  n = 0
  math.randomseed(os.time() + tid)
end
request = function()
  n = n + 1
  local guid = string.format("wrk-%d-%d-%d", tid, n, math.random(1, 1000000000))
  return wrk.format("POST", "/webhooks/github", {
    ["X-GitHub-Event"] = "status",
    ["X-GitHub-Delivery"] = guid,
    ["X-Hub-Signature-256"] = "%SIGNATURE%",
    ["Content-Type"] = "application/json",
  }, [[%BODY%]])
end
"""


def payload(n: int) -> bytes:
    return json.dumps(
        {
            "sha": f"{n:040x}",
            "context": "lint/eslint",
            "state": "failure",
            "target_url": "https://lint.example.org/run/1",
            "description": "2 problems",
            "updated_at": "2026-11-20T10:00:00Z",
            "repository": {"full_name": "acme/bench", "default_branch": "main"},
        }
    ).encode()


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def wrk(url: str, seconds: int, connections: int, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rate": rate,
        "p50": percentile("50"),
        "p99": percentile("99"),
        "errors": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="bare/webhook pairs to run")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=1)
    args = parser.parse_args()
    if not os.environ.get("CITRIAGE_DATABASE_URL"):
        script = str(ROOT / "scripts" / "with_postgres.py")
        os.execv(sys.executable, [sys.executable, script, sys.executable, *sys.argv])
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for this benchmark: apt-get install wrk")

    data = Path(tempfile.mkdtemp(prefix="citriage-ingest-"))
    env = {
        **os.environ,
        "CITRIAGE_DATA_DIR": str(data),
        "CITRIAGE_GITHUB_WEBHOOK_SECRET": SECRET,
        "CITRIAGE_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    from citriage.cli import django_setup

    django_setup()
    from citriage.ci import recording

    recording.get_repository("acme/bench", create=True, providers=["circleci"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    citriage = [sys.executable, "-m", "citriage.cli"]
    web = subprocess.Popen(
        [
            *citriage,
            "web",
            "--port",
            str(port),
            "--workers",
            str(args.web_workers),
            "--threads",
            str(args.web_threads),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        body = payload(1)
        script = data / "webhook.lua"
        script.write_text(
            LUA.replace("%SIGNATURE%", signature(body)).replace("%BODY%", body.decode())
        )
        print(
            f"wrk: {args.connections} connections, {args.seconds}s each, gunicorn with "
            f"{args.web_workers} workers x {args.web_threads} threads, PostgreSQL",
            flush=True,
        )
        # Rounds alternate the two, so that a slow spell of the machine (autovacuum,
        # a neighbour) weighs on both; the ratio is the median of the rounds'.
        ratios, worst_p99 = [], 0.0
        for round_no in range(1, args.rounds + 1):
            bare = wrk(base + "/healthz", args.seconds, args.connections, None)
            hooks = wrk(base + "/webhooks/github", args.seconds, args.connections, script)
            print(f" round {round_no}:")
            for label, r in (
                ("bare Django view (/healthz)", bare),
                ("signed webhook deliveries", hooks),
            ):
                print(
                    f"  {label:<30} {r['rate']:8.0f} req/s   p50 {r['p50']:6.2f} ms   "
                    f"p99 {r['p99']:6.2f} ms   non-2xx {r['errors']:.0f}"
                )
            ratios.append(hooks["rate"] / bare["rate"])
            worst_p99 = max(worst_p99, hooks["p99"])
        ratio = statistics.median(ratios)
        print(
            f"  throughput ratio {ratio:.2f}x, median of {', '.join(f'{r:.2f}' for r in ratios)}"
            f" (target >= 0.5x: {'ok' if ratio >= 0.5 else 'below'});"
            f" webhook p99 at worst {worst_p99:.1f} ms (target < 50 ms: "
            f"{'ok' if worst_p99 < 50 else 'above'})"
        )
        burst(base, args.burst, citriage, env)
    finally:
        web.terminate()
        web.wait()
        shutil.rmtree(data, ignore_errors=True)


def burst(base: str, count: int, citriage: list[str], env: dict[str, str]) -> None:
    from django_tasks_db.models import DBTaskResult

    from citriage.github.models import Delivery

    time.sleep(3)  # let the server finish requests wrk abandoned at its deadline
    Delivery.objects.all().delete()
    DBTaskResult.objects.all().delete()
    guids = [str(uuid.uuid4()) for _ in range(count)]
    start = time.perf_counter()

    def send(chunk: list[str]) -> list[int]:
        codes = []
        with httpx.Client(base_url=base, timeout=30) as client:
            for n, guid in enumerate(chunk):
                body = payload(n)
                response = client.post(
                    "/webhooks/github",
                    content=body,
                    headers={
                        "X-GitHub-Event": "status",
                        "X-GitHub-Delivery": guid,
                        "X-Hub-Signature-256": signature(body),
                        "Content-Type": "application/json",
                    },
                )
                codes.append(response.status_code)
        return codes

    chunks = [guids[i::16] for i in range(16)]
    with ThreadPoolExecutor(16) as pool:
        codes = [c for result in pool.map(send, chunks) for c in result]
    sent = time.perf_counter() - start
    workers = [
        subprocess.Popen(
            [*citriage, "worker", "--interval", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    start = time.perf_counter()
    burst_rows = Delivery.objects.filter(guid__in=guids)
    while burst_rows.filter(status="pending").exists() and time.perf_counter() - start < 1800:
        time.sleep(1)
    processed_in = time.perf_counter() - start
    for worker in workers:
        worker.terminate()
        worker.wait()
    stored = set(burst_rows.values_list("guid", flat=True))
    results = list(
        DBTaskResult.objects.filter(
            task_path="citriage.github.tasks.process_delivery_task"
        ).values_list("return_value", flat=True)
    )
    processed = sum(1 for r in results if isinstance(r, str) and r.startswith("processed"))
    print(
        f"\nburst: {count} deliveries sent in {sent:.1f}s ({count / sent:.0f}/s), "
        f"all answered 202: {codes.count(202) == count}"
    )
    print(
        f"  stored {len(stored)} of {count} (lost {len(set(guids) - stored)}); processed by 2 "
        f"workers in {processed_in:.1f}s; processed {processed} times (twice: {processed - count})"
    )


if __name__ == "__main__":
    main()
