"""Building CI history for tests through the real ingestion services."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from citriage.ci import recording
from citriage.ci.models import JobAttempt, Provider, Repository, StoredLog
from citriage.ops.worker import run_worker
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


def work() -> None:
    """What the workers do with everything queued or owed, here and now; no task may fail."""
    run_worker(queues=["*"], interval=0, batch=True)
    failed = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED)
    assert not failed.exists(), [(t.task_path, t.traceback) for t in failed]


def settle(*, report: bool = False) -> int:
    """Run, here and now, the summaries the changes so far made owed (what a worker would
    do once they are due; with `report`, cool-offs are taken as over). How many ran."""
    if report:
        PendingSummary.objects.exclude(report_at=None).update(
            report_at=timezone.now(), refresh_at=timezone.now()
        )
    return summary.summarize_stale()
