"""The GitHub App registration pages and CircleCI reruns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from citriage.ci import reruns
from citriage.ci.models import JobAttempt
from tests import factories
from tests.fakes import FakeServer, json_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def github() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def test_registration_pages_send_the_manifest_and_show_the_credentials(
    admin_client: Client, client: Client, github: FakeServer
) -> None:
    github.on(
        "POST",
        "/app-manifests/abc123/conversions",
        json_reply(
            {
                "id": 99,
                "slug": "citriage-acme",
                "pem": "-----BEGIN RSA PRIVATE KEY-----\nxyz\n-----END RSA PRIVATE KEY-----\n",
                "webhook_secret": "hook-secret",
                "html_url": "https://github.com/apps/citriage-acme",
            },
            201,
        ),
    )
    with override_settings(GITHUB_API_URL=github.url, PUBLIC_URL="https://ci.acme.example"):
        assert client.get("/github/setup").status_code == 302  # staff only
        page = admin_client.get("/github/setup?org=acme").content.decode()
        assert 'action="https://github.com/organizations/acme/settings/apps/new"' in page
        manifest = json.loads(
            page.split('name="manifest" value="', 1)[1].split('"', 1)[0].replace("&quot;", '"')
        )
        assert manifest["hook_attributes"]["url"] == "https://ci.acme.example/webhooks/github"
        assert manifest["redirect_url"] == "https://ci.acme.example/github/setup/done"
        assert manifest["default_permissions"]["checks"] == "write"
        assert {"status", "push", "pull_request", "workflow_job"} <= set(manifest["default_events"])
        done = admin_client.get("/github/setup/done?code=abc123").content.decode()
    assert (
        "CITRIAGE_GITHUB_APP_ID=99" in done and "CITRIAGE_GITHUB_WEBHOOK_SECRET=hook-secret" in done
    )
    assert "https://github.com/apps/citriage-acme/installations/new" in done
    [seen] = github.seen("POST", "/app-manifests/abc123/conversions")
    assert seen.headers["accept"] == "application/vnd.github+json"


def test_a_rerun_asks_circleci_for_just_that_job(
    log_store: Path, github: FakeServer, corpus: Path
) -> None:
    workflow = json.loads(
        (corpus / "circleci-api/v2/pycircleci/get_workflow_response.json").read_text()
    )
    repo = factories.repository()
    job = factories.job(repo, name="test")
    JobAttempt.objects.filter(pk=job.pk).update(
        workflow_id="wf-1", details={"job_id": "uuid-of-job"}
    )
    job.refresh_from_db()
    github.on(
        "POST",
        "/api/v2/workflow/wf-1/rerun",
        json_reply({"workflow_id": workflow.get("id", "wf-2")}),
    )
    with override_settings(CIRCLECI_URL=github.url + "/api", CIRCLECI_TOKEN="t"):
        request = reruns.record_request(job, requested_by="octo")
        assert request.finished_at is None  # recorded at once, carried out by a task
        reruns.carry_out(request.pk)
    request.refresh_from_db()
    assert request.ok and request.requested_by == "octo" and request.finished_at
    [seen] = github.seen("POST", "/api/v2/workflow/wf-1/rerun")
    assert seen.json() == {"jobs": ["uuid-of-job"]} and seen.headers["circle-token"] == "t"
    github.on("POST", "/api/v2/workflow/wf-1/rerun", json_reply({"message": "no"}, 400))
    with override_settings(CIRCLECI_URL=github.url + "/api", CIRCLECI_TOKEN="t", HTTP_BACKOFF=0.01):
        failed: Any = reruns.record_request(job, requested_by="octo")
        reruns.carry_out(failed.pk)
    failed.refresh_from_db()
    assert not failed.ok and "HTTP 400" in failed.response
    # without a CircleCI token, nothing is queued: the request says what is missing
    with override_settings(CIRCLECI_TOKEN=""):
        refused = reruns.record_request(job, requested_by="octo")
    assert refused.finished_at is not None and "CITRIAGE_CIRCLECI_TOKEN" in refused.response
