"""Building CI history for tests through the real ingestion services."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from citriage.ci import ingest
from citriage.ci.models import JobAttempt, Provider, Repository, StoredLog
from citriage.providers.base import JobRun, StepRun

_ids = itertools.count(1)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def repository(full_name: str = "acme/widgets") -> Repository:
    return ingest.get_repository(full_name, create=True, providers=[Provider.CIRCLECI])


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
    attempt_row, _ = ingest.record_job(repo, run)
    return attempt_row


def failed_log(attempt: JobAttempt, text: str | bytes) -> StoredLog:
    """Store the failed step's log, as fetching it from the provider would."""
    step = attempt.steps.get(index=1)
    stored = ingest.store_log(step, text.encode() if isinstance(text, str) else text)
    ingest.mark_logs_fetched(attempt, any_output=True)
    return stored
