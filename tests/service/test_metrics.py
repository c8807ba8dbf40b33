"""/metrics: a Prometheus scrape adds up the counters of every process on the machine
(gunicorn's web workers, a worker) and reads the state gauges from the database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from citriage.ci.models import RateBudget
from citriage.patterns.tasks import scan_backlog_task
from tests.fakes import sign
from tests.gha_corpus import load

SECRET = "metrics-test-secret"
STATUS = "webhooks/status/ci-bot.status.failure.json"


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels (the text must parse)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.django_db
def test_the_state_gauges_come_from_the_database(client: Any) -> None:
    scan_backlog_task.enqueue()
    scan_backlog_task.enqueue()
    RateBudget.objects.create(
        identity="installation 7", limit=5000, remaining=4321, resets_at=timezone.now()
    )
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = scrape(response.content.decode())
    assert value(samples, "citriage_database_up") == 1
    assert value(samples, "citriage_tasks", task="scan_backlog_task", state="ready") == 2
    assert value(samples, "citriage_tasks_oldest_ready_seconds") >= 0
    labels = {"identity": "installation 7", "resource": "core"}
    assert value(samples, "citriage_github_rate_limit_remaining", **labels) == 4321
    assert value(samples, "citriage_github_rate_limit", **labels) == 5000
    assert value(samples, "citriage_workers_alive") == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_a_scrape_adds_up_gunicorn_workers_and_task_workers(tmp_path: Path, corpus: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CITRIAGE_", "PROMETHEUS_"))}
    env.update(
        CITRIAGE_DATA_DIR=str(tmp_path / "data"),
        CITRIAGE_DEFAULT_LIBRARY="false",
        CITRIAGE_GITHUB_WEBHOOK_SECRET=SECRET,
        CITRIAGE_LOG_LEVEL="WARNING",
        # CircleCI cannot be reached: the failed builds' logs stay owed, quickly
        CITRIAGE_CIRCLECI_URL=f"http://127.0.0.1:{free_port()}",
        CITRIAGE_HTTP_RETRIES="0",
    )
    citriage = [sys.executable, "-m", "citriage.cli"]
    added = subprocess.run(
        [*citriage, "repos", "add", "Codertocat/Hello-World"], env=env, capture_output=True
    )
    assert added.returncode == 0, added.stderr
    port = free_port()
    web = subprocess.Popen(
        [*citriage, "web", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        payload = load(corpus / STATUS)
        sent = 12
        with httpx.Client(base_url=base, timeout=10) as http:
            for n in range(sent):
                # one CircleCI build per delivery: a job attempt each
                payload["target_url"] = f"https://circleci.com/gh/Codertocat/Hello-World/{n + 1}"
                payload["sha"] = f"{n + 1:040x}"
                body = json.dumps(payload).encode()
                guid = str(uuid.uuid4())
                headers = {
                    "X-GitHub-Event": "status",
                    "X-GitHub-Delivery": guid,
                    "X-Hub-Signature-256": sign(SECRET, body),
                }
                assert (
                    http.post("/webhooks/github", content=body, headers=headers).status_code == 202
                )
            again = http.post("/webhooks/github", content=body, headers=headers)  # the same GUID
            assert again.status_code == 200
            unsigned = {**headers, "X-Hub-Signature-256": "sha256=00"}
            for _ in range(3):
                assert (
                    http.post("/webhooks/github", content=body, headers=unsigned).status_code == 401
                )
        worker = subprocess.run(
            [*citriage, "worker", "--batch"], env=env, capture_output=True, timeout=300
        )
        assert worker.returncode == 0, worker.stderr
        samples = scrape(httpx.get(f"{base}/metrics", timeout=30).text)
    finally:
        web.terminate()
        web.wait(timeout=30)

    # counted in the web processes (two gunicorn workers and whichever answered)
    accepted = value(samples, "citriage_webhook_deliveries_total", outcome="accepted", reason="")
    assert accepted == sent
    assert value(samples, "citriage_webhook_deliveries_total", outcome="duplicate", reason="") == 1
    rejected = "missing or invalid X-Hub-Signature-256"
    assert (
        value(samples, "citriage_webhook_deliveries_total", outcome="rejected", reason=rejected)
        == 3
    )
    # counted in the worker, a process that has ended
    done = {"task": "process_delivery_task", "status": "successful"}
    assert value(samples, "citriage_tasks_finished_total", **done) == sent
    assert value(samples, "citriage_task_run_seconds_count", task="process_delivery_task") == sent
    assert value(samples, "citriage_task_wait_seconds_count", task="process_delivery_task") == sent
    assert value(samples, "citriage_recorded_total", what="job attempts") == sent
    refused = value(samples, "citriage_http_requests_total", service="circleci", status="network")
    # one try of each log fetch and of each test-results fetch, counted as network errors
    assert refused == 2 * sent
    assert (
        value(samples, "citriage_log_fetches_total", provider="circleci", outcome="retry") == sent
    )
    # read from the database at the scrape
    assert value(samples, "citriage_database_up") == 1
    assert value(samples, "citriage_deliveries_pending") == 0
    assert (
        value(samples, "citriage_logs_owed", state="pending")
        + value(samples, "citriage_logs_owed", state="pending_retry")
        == sent
    )  # CircleCI is not configured: the failed builds' logs stay owed
    processes = {path.name.rsplit("_", 1)[-1] for path in (tmp_path / "data" / "metrics").iterdir()}
    assert len(processes) >= 3  # two web workers (at least one answered) and the worker
