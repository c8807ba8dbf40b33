"""The log store on a real S3-compatible server (moto's, speaking S3 over HTTP on this
machine) through CITRIAGE_LOG_STORE=s3://... and s3fs: logs fetched through the real
pipeline land in the bucket and read back; while the store is down a fetch stays owed
(deferred, no try counted, nothing downloaded for nothing), /readyz says the store
fails; once it is back the log is stored; retention deletes the object."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import zstandard
from django.test import override_settings
from django.utils import timezone
from moto.server import ThreadedMotoServer

from citriage import logstore
from citriage.ci.models import JobAttempt, LogState, Provider, StoredLog
from citriage.ci.recording import get_repository
from citriage.ops import retention
from citriage.ops.worker import run_worker
from tests.fake_github import FakeGitHub, app_on
from tests.fakes import deliver
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "webhook-secret-for-tests"
REPO = "Codertocat/Hello-World"
JOB = "webhooks/workflow_job/octokit.completed.failure.with-organization.payload.json"
LOG = "logs/github-actions/ci_runner/raw_minitest_failures.log"
BUCKET = "citriage-logs"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class S3Server:
    """moto's S3 server on a fixed local port, which can be stopped and started again
    (its buckets live in this process and outlast a restart, like a real store's)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: ThreadedMotoServer | None = None
        self.start()

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()
        self.server = None

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")

    def stored_logs(self) -> list[str]:
        """The keys of stored logs in the bucket (not the readiness probe's object)."""
        listed = self.client().list_objects_v2(Bucket=BUCKET)
        return sorted(
            item["Key"] for item in listed.get("Contents", []) if item["Key"].endswith(".log.zst")
        )


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "citriage-test",
        "AWS_SECRET_ACCESS_KEY": "citriage-test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    server = S3Server()
    with override_settings(LOG_STORE_URL=f"s3://{BUCKET}/logs", LOG_STORE_ENDPOINT=server.url):
        logstore._store.cache_clear()
        logstore.log_store().create()  # what `citriage migrate` does
        yield server
        logstore._store.cache_clear()
    if server.server is not None:
        server.stop()


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus)
    yield fake
    fake.close()


@pytest.fixture
def configured(github: FakeGitHub) -> Iterator[None]:
    with app_on(github, GITHUB_WEBHOOK_SECRET=SECRET):
        get_repository(REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
        yield


def deliver_failed_job(live_server: Any, corpus: Path, github: FakeGitHub, job_id: int) -> None:
    payload = load(corpus / JOB)
    payload["repository"]["full_name"] = REPO
    payload["workflow_job"]["id"] = job_id
    payload["workflow_job"]["name"] = f"test {job_id}"
    payload["workflow_job"]["steps"] = []  # the whole log is kept, as "(job log)"
    github.job_logs[job_id] = (corpus / LOG).read_bytes()
    assert deliver(live_server.url, SECRET, "workflow_job", payload) == 202


def work() -> None:
    run_worker(queues=["*"], interval=0, batch=True)


def downloads(github: FakeGitHub, job_id: int) -> int:
    return len([r for r in github.server.requests if r.path.endswith(f"/jobs/{job_id}/logs")])


def test_logs_live_in_an_s3_bucket_and_survive_an_outage_of_the_store(
    live_server: Any, client: Any, corpus: Path, github: FakeGitHub, configured: None, s3: S3Server
) -> None:
    deliver_failed_job(live_server, corpus, github, 801)
    work()
    stored = StoredLog.objects.get(job__provider_id="801")
    assert s3.stored_logs() == [f"logs/{stored.storage_key}"]
    body = s3.client().get_object(Bucket=BUCKET, Key=f"logs/{stored.storage_key}")["Body"].read()
    text = zstandard.ZstdDecompressor().decompressobj().decompress(body).decode()
    assert "Failure:" in text and text.count("\n") == stored.line_count
    lines = client.get(f"/api/logs/{stored.pk}/lines?start=1&count=500").json()["lines"]
    assert lines == text.splitlines()[:500]
    assert httpx.get(f"{live_server.url}/readyz").status_code == 200

    # the store goes away: the next fetch cannot store its log and stays owed
    s3.stop()
    deliver_failed_job(live_server, corpus, github, 802)
    work()
    owed = JobAttempt.objects.get(provider_id="802")
    assert owed.log_state == LogState.PENDING and owed.fetch_attempts == 0
    assert owed.fetch_after > timezone.now() and "log store" in owed.log_error
    assert not StoredLog.objects.filter(job=owed).exists()
    # (the S3 client tries a few times before it gives up: seconds on a loaded machine)
    ready = httpx.get(f"{live_server.url}/readyz", timeout=60)
    assert ready.status_code == 503
    assert (
        not ready.json()["checks"]["log store"]["ok"] and ready.json()["checks"]["database"]["ok"]
    )
    # while the store is known to be down, a fetch downloads nothing for nothing
    deliver_failed_job(live_server, corpus, github, 803)
    work()
    assert downloads(github, 803) == 0
    assert JobAttempt.objects.get(provider_id="803").log_state == LogState.PENDING

    # the store is back: the owed fetches are made and stored, once each
    s3.start()
    logstore.log_store().down_until = 0.0  # (time passes)
    JobAttempt.objects.filter(log_state=LogState.PENDING).update(fetch_after=timezone.now())
    work()
    for job_id in ("802", "803"):
        job = JobAttempt.objects.get(provider_id=job_id)
        assert job.log_state == LogState.FETCHED and job.fetch_attempts == 0
    assert len(s3.stored_logs()) == 3 == StoredLog.objects.count()
    assert downloads(github, 802) == 2 and downloads(github, 803) == 1
    assert httpx.get(f"{live_server.url}/readyz").status_code == 200

    # retention removes the object along with the row
    report = retention.Report()
    retention.remove_logs([stored.pk], report)
    assert report.removed["stored logs"] == 1 and report.store_errors == 0
    assert f"logs/{stored.storage_key}" not in s3.stored_logs() and len(s3.stored_logs()) == 2
