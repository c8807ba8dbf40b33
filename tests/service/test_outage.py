"""`citriage up` on PostgreSQL lives through the database going away and coming back, and
through one of its processes dying: nothing exits for good, work carries on after."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from scripts.with_postgres import Cluster, free_port
from tests.fakes import sign

pytestmark = pytest.mark.slow

SECRET = "outage-secret"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    server = Cluster()
    yield server
    server.remove()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def children(pid: int) -> dict[str, int]:
    """The citriage processes `up` started: role -> pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent != pid:
            continue
        if b"citriage.cli" in command:
            found[command[command.index(b"citriage.cli") + 1].decode()] = int(entry.name)
        elif b"gunicorn" in command:  # `citriage web` became gunicorn (exec)
            found["web"] = int(entry.name)
    return found


def test_up_outlives_a_database_outage_and_a_dead_worker(cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITRIAGE_")}
    env |= {
        "CITRIAGE_DATABASE_URL": cluster.url,
        "CITRIAGE_DATA_DIR": str(tmp_path / "data"),
        "CITRIAGE_GITHUB_WEBHOOK_SECRET": SECRET,
        "CITRIAGE_DEFAULT_LIBRARY": "false",
        "CITRIAGE_WORKER_STALE_SECONDS": "20",
    }
    base = f"http://127.0.0.1:{port}"
    output = tmp_path / "up.log"
    up = subprocess.Popen(
        [sys.executable, "-m", "citriage.cli", "up", "--no-demo", "--port", str(port)],
        env=env,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        return httpx.get(f"{base}/readyz?queue=1", timeout=5).status_code == 200

    def deliver(event: str, payload: dict[str, object]) -> int:
        body = json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET, body),
        }
        return httpx.post(f"{base}/webhooks/github", content=body, headers=headers).status_code

    def processed() -> int:
        with psycopg.connect(cluster.url) as connection:
            row = connection.execute(
                "SELECT count(*) FROM github_delivery WHERE status = 'processed'"
            ).fetchone()
        return int(row[0]) if row else 0

    try:
        wait_until(ready, "citriage to be ready")
        assert deliver("ping", {"zen": "before"}) == 202
        wait_until(lambda: processed() == 1, "the first delivery to be processed")
        started = children(up.pid)
        assert set(started) == {"web", "worker", "scheduler"}

        cluster.stop()  # the database goes away
        assert httpx.get(f"{base}/healthz").status_code == 200  # alive...
        answer = httpx.get(f"{base}/readyz")
        assert answer.status_code == 503  # ...but not ready, and says why
        assert not answer.json()["checks"]["database"]["ok"]
        time.sleep(8)  # the worker's poll, heartbeat and the scheduler's sweeps all fail
        assert up.poll() is None and children(up.pid) == started  # nobody exited

        cluster.start()  # and comes back
        wait_until(ready, "citriage to be ready again")
        assert deliver("ping", {"zen": "after"}) == 202
        wait_until(lambda: processed() == 2, "a delivery after the outage to be processed")
        assert children(up.pid) == started  # the same processes carried on

        os.kill(started["worker"], signal.SIGKILL)  # a child dies: it is started again
        wait_until(
            lambda: children(up.pid).get("worker") not in (None, started["worker"]),
            "the worker to be started again",
        )
        assert deliver("ping", {"zen": "restarted"}) == 202
        wait_until(lambda: processed() == 3, "the new worker to process a delivery")
        assert children(up.pid)["web"] == started["web"]  # the others were left alone
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)
        print(output.read_text(errors="replace")[-20_000:])  # shown when the test fails
    assert up.returncode == 0
