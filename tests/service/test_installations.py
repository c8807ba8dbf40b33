"""The GitHub App installed on, and removed from, repositories (real `installation` and
`installation_repositories` payloads): citriage watches what it is installed on and
stops calling GitHub for what it was removed from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import override_settings

from citriage.ci import github_app, recording
from citriage.ci.models import Repository
from citriage.github.events import on_installation, on_installation_repositories
from citriage.github.models import Delivery, DeliveryStatus
from citriage.ops.worker import run_worker
from citriage.triage import summary
from tests.fake_github import FakeGitHub, app_private_key
from tests.fakes import sign
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db

HOOKS = Path("webhooks")


@pytest.fixture
def github(corpus: Path) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(corpus)
    pem = app_private_key()
    with override_settings(GITHUB_APP_ID="123", GITHUB_PRIVATE_KEY=pem, GITHUB_API_URL=fake.url):
        github_app._tokens.cache_clear()
        yield fake
        github_app._tokens.cache_clear()
    fake.close()


def test_an_installation_watches_its_repositories(corpus: Path) -> None:
    created = load(corpus / HOOKS / "installation/octokit.created.payload.json")
    note = on_installation(created)
    assert "1 repositories added" in note
    repository = Repository.objects.get(owner="Codertocat", name="Hello-World")
    assert repository.providers == ["github-actions"]
    assert repository.settings[github_app.INSTALLATION] == created["installation"]["id"]
    added = load(corpus / HOOKS / "installation_repositories/octokit.added.payload.json")
    on_installation_repositories(added)
    space = Repository.objects.get(owner="Codertocat", name="Space")
    assert github_app.installed(space)


def test_a_removed_installation_is_not_called_again(corpus: Path, github: FakeGitHub) -> None:
    repository = recording.get_repository(
        "octocat/Hello-World", create=True, providers=["circleci"]
    )
    sha = "f" * 40
    recording.record_commit(repository, sha, message="x")
    recording.record_external_check(repository, sha, kind="status", name="lint", state="failure")
    summary.summarize_commit(repository, sha)
    assert len(github.check_runs) == 1  # installed: reported

    removed = load(corpus / HOOKS / "installation_repositories/octokit.removed.payload.json")
    assert "1 removed" in on_installation_repositories(removed)
    repository.refresh_from_db()
    assert not github_app.installed(repository)
    calls = len(github.server.requests)
    recording.record_external_check(repository, sha, kind="status", name="docs", state="failure")
    note = summary.summarize_commit(repository, sha)
    assert "removed from octocat/Hello-World: nothing posted" in note
    assert len(github.server.requests) == calls  # GitHub is not called for it any more

    # installed again (the whole installation, as `created` lists it): reported again
    created = load(corpus / HOOKS / "installation/octokit.deleted.payload.json")
    created["action"] = "created"
    on_installation(created)
    repository.refresh_from_db()
    assert github_app.installed(repository)
    summary.summarize_commit(repository, sha)
    assert len(github.server.requests) > calls


@pytest.mark.django_db(transaction=True)
def test_installation_deliveries_need_no_watched_repository(live_server: Any, corpus: Path) -> None:
    """They carry no `repository`: processed all the same (through the webhook)."""
    secret = "s3cret"
    payload = (corpus / HOOKS / "installation/octokit.deleted.payload.json").read_bytes()
    with override_settings(GITHUB_WEBHOOK_SECRET=secret):
        response = httpx.post(
            f"{live_server.url}/webhooks/github",
            content=payload,
            headers={
                "X-GitHub-Event": "installation",
                "X-GitHub-Delivery": "install-1",
                "X-Hub-Signature-256": sign(secret, payload),
            },
        )
    assert response.status_code == 202
    run_worker(queues=["*"], interval=0, batch=True)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PROCESSED and "removed" in delivery.note
    assert json.loads(delivery.payload)["action"] == "deleted"
