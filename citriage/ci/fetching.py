"""Fetching the logs of failed job attempts (and of passing ones sampled as baselines, see
citriage.ci.passing): the same rules for every provider.

A failed attempt's logs are owed from the moment it is recorded (log state
"pending"); a worker queues one fetch task per attempt (see citriage.queueing).
The fetch stores the logs of the failed steps, or:

- on a transient error (network, 5xx, rate limit, the App not configured yet), the
  logs stay owed ("pending retry") and are tried again after a growing delay,
  until CITRIAGE_LOG_FETCH_ATTEMPTS tries have failed: then the state is "error";
- on a permanent error (not found, no permission), the state is "error" at once;
- when the provider has no failed step with output, the state is "no log".

Whatever the outcome, the commit's summary is told (`signals.commit_changed`) so
that its verdicts say why there is no log; stored logs are announced with
`signals.logs_stored` (the scanner queues them).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from citriage import queueing
from citriage.ci import recording, signals, sources
from citriage.ci.models import LOGS_OWED, JobAttempt, LogState, Repository
from citriage.providers.base import ProviderError, TransientProviderError

MAX_ERROR = 2000


def due() -> QuerySet[JobAttempt]:
    """Attempts whose logs are owed and due now."""
    return JobAttempt.objects.filter(log_state__in=LOGS_OWED, fetch_after__lte=timezone.now())


def fetch_logs(job: JobAttempt) -> str:
    """Fetch (and store) the logs of one failed (or sampled passing) attempt; a note of
    the outcome."""
    if job.log_state not in LOGS_OWED:
        queueing.finished(JobAttempt, job.pk, "fetch_task")
        return "nothing to fetch"
    try:
        stored = sources.source_for(job.provider).fetch_logs(job)
    except TransientProviderError as exc:
        return _try_later(job, str(exc))
    except ProviderError as exc:
        return _give_up(job, str(exc))
    recording.record_logs_fetched(job, stored, fetch_task=None)
    names = ", ".join(log.step.name for log in stored)
    if not stored:
        return "no failed step with output" if job.failed else "no step with output"
    return f"{len(stored)} {'' if job.failed else 'passing '}log(s) stored ({names})"


def _try_later(job: JobAttempt, problem: str) -> str:
    attempts = job.fetch_attempts + 1
    when = queueing.retry_at(attempts, settings.LOG_FETCH_ATTEMPTS)
    if when is None:
        return _give_up(job, f"gave up after {attempts} tries: {problem}", attempts=attempts)
    queueing.finished(
        JobAttempt,
        job.pk,
        "fetch_task",
        log_state=LogState.PENDING_RETRY,
        log_error=problem[:MAX_ERROR],
        fetch_attempts=attempts,
        fetch_after=when,
    )
    return f"pending retry (try {attempts}, next at {when:%H:%M:%S}): {problem}"


def _give_up(job: JobAttempt, problem: str, *, attempts: int | None = None) -> str:
    with transaction.atomic():
        queueing.finished(
            JobAttempt,
            job.pk,
            "fetch_task",
            log_state=LogState.ERROR,
            log_error=problem[:MAX_ERROR],
            fetch_attempts=attempts if attempts is not None else job.fetch_attempts + 1,
            fetch_after=None,
        )
        if job.failed:  # the verdict now says why there is no log
            signals.commit_changed.send(Repository, repository=job.repository, sha=job.sha)
    return f"error: {problem}"
