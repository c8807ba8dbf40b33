"""Building CI history for tests through the real ingestion services."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings
from django.utils import timezone

from citriage.ci import github_app, recording
from citriage.ci.models import JobAttempt, Provider, Repository, StoredLog
from citriage.providers.base import JobRun, StepRun
from citriage.triage import summary
from citriage.triage.models import PendingSummary

_ids = itertools.count(1)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def repository(full_name: str = "acme/widgets") -> Repository:
    return recording.get_repository(full_name, create=True, providers=[Provider.CIRCLECI])


def job(
    repo: Repository,
    *,
    name: str = "test",
    sha: str = "a" * 40,
    conclusion: str = "failure",
    attempt: int = 1,
    step: str = "Run tests",
    branch: str = "main",
) -> JobAttempt:
    number = next(_ids)
    failed = conclusion != "success"
    run = JobRun(
        provider=Provider.CIRCLECI,
        provider_id=str(number),
        name=name,
        sha=sha,
        status="completed",
        conclusion=conclusion,
        attempt=attempt,
        branch=branch,
        finished_at=T0 + timedelta(minutes=number),
        steps=[
            StepRun(name="Checkout code", index=0, status="success"),
            StepRun(name=step, index=1, status="failed" if failed else "success"),
        ],
    )
    attempt_row, _ = recording.record_job(repo, run)
    return attempt_row


def failed_log(attempt: JobAttempt, text: str | bytes) -> StoredLog:
    """Store the failed step's log, as fetching it from the provider would."""
    step = attempt.steps.get(index=1)
    stored = recording.store_log(step, text.encode() if isinstance(text, str) else text)
    recording.record_logs_fetched(attempt, [stored])
    return stored


def settle(*, report: bool = False) -> int:
    """Run, here and now, the summaries the changes so far made owed (what a worker would
    do once they are due; with `report`, cool-offs are taken as over). How many ran."""
    done = 0
    for _ in range(100):
        due = PendingSummary.objects.filter(next_at__isnull=False)
        if not report:
            due = due.filter(refresh_at__isnull=False)
        rows = list(due.values_list("repository_id", "sha"))
        if not rows:
            return done
        if report:
            due.update(report_at=timezone.now())
        for repository_id, sha in rows:
            summary.summarize(repository_id, sha)
            done += 1
    raise AssertionError("summaries keep making more summaries owed")


@contextmanager
def app_settings(api_url: str, **extra: Any) -> Iterator[None]:
    """citriage configured as a GitHub App (a fresh private key) whose API is at
    `api_url`, with `extra` settings; the App's cached tokens forgotten around it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with override_settings(
        GITHUB_APP_ID="123", GITHUB_PRIVATE_KEY=pem, GITHUB_API_URL=api_url, **extra
    ):
        github_app._tokens.cache_clear()
        yield
        github_app._tokens.cache_clear()
