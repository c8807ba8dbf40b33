"""Fetching the logs of failed job attempts (and of passing ones sampled as baselines, see
citriage.ci.passing): the same rules for every provider.

A failed attempt's logs are owed from the moment it is recorded (log state
"pending"); a worker queues one fetch task per attempt (see citriage.queueing).
The fetch stores the logs of the failed steps, or:

- on a transient error (network, 5xx, rate limit, the App not configured yet), the
  logs stay owed ("pending retry") and are tried again after a growing delay,
  until CITRIAGE_LOG_FETCH_ATTEMPTS tries have failed: then the state is "error";
- on a permanent error (not found, no permission), the state is "error" at once;
- when the provider has no failed step with output, the state is "no log";
- when GitHub's budget is kept back or a rate limit is in force, or the log store
  cannot be written to, the fetch is deferred (its due time moved to when the limit
  ends, or a minute on) without counting as a try: neither is the job's fault.

Whatever the outcome, the commit's summary is told (`signals.commit_changed`) so
that its verdicts say why there is no log; stored logs are announced with
`signals.logs_stored` (the scanner queues them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from prometheus_client import Counter

from citriage import logstore, queueing
from citriage.ci import recording, signals, sources
from citriage.ci.models import LOGS_OWED, JobAttempt, LogState, Repository
from citriage.providers.base import ProviderError, RateLimited, TransientProviderError

MAX_ERROR = 2000
STORE_RETRY = timedelta(minutes=1)  # a fetch deferred because the log store is down

FETCHES = Counter(
    "citriage_log_fetches",
    "Log fetches of failed jobs, by provider and outcome (stored, no_log, retry, error, "
    "deferred: rate limit or log store down)",
    ["provider", "outcome"],
)


def due() -> QuerySet[JobAttempt]:
    """Attempts whose logs are owed and due now."""
    return JobAttempt.objects.filter(log_state__in=LOGS_OWED, fetch_after__lte=timezone.now())


def fetch_logs(job: JobAttempt) -> str:
    """Fetch (and store) the logs of one failed (or sampled passing) attempt; a note of
    the outcome."""
    if job.log_state not in LOGS_OWED:
        queueing.finished(JobAttempt, job.pk, "fetch_task")
        return "nothing to fetch"
    if not logstore.log_store().available():  # known down: do not download for nothing
        return _defer(job, timezone.now() + STORE_RETRY, "the log store is unavailable")
    try:
        stored = sources.source_for(job.provider).fetch_logs(job)
    except RateLimited as exc:
        return _defer(job, datetime.fromtimestamp(exc.until, tz=UTC), str(exc))
    except logstore.LogStoreError as exc:
        return _defer(job, timezone.now() + STORE_RETRY, str(exc))
    except TransientProviderError as exc:
        return _try_later(job, str(exc))
    except ProviderError as exc:
        return _give_up(job, str(exc))
    recording.record_logs_fetched(job, stored, fetch_task=None)
    FETCHES.labels(job.provider, "stored" if stored else "no_log").inc()
    names = ", ".join(log.step.name for log in stored)
    if not stored:
        return "no failed step with output" if job.failed else "no step with output"
    return f"{len(stored)} {'' if job.failed else 'passing '}log(s) stored ({names})"


def _defer(job: JobAttempt, when: datetime, problem: str) -> str:
    """Not the job's fault (a rate limit, the log store down): owed again from `when`,
    without counting a try."""
    FETCHES.labels(job.provider, "deferred").inc()
    when = max(when, timezone.now() + timedelta(seconds=1))
    queueing.finished(
        JobAttempt, job.pk, "fetch_task", log_error=problem[:MAX_ERROR], fetch_after=when
    )
    return f"deferred to {when:%H:%M:%S}: {problem}"


def _try_later(job: JobAttempt, problem: str) -> str:
    attempts = job.fetch_attempts + 1
    when = queueing.retry_at(attempts, settings.LOG_FETCH_ATTEMPTS)
    if when is None:
        return _give_up(job, f"gave up after {attempts} tries: {problem}", attempts=attempts)
    FETCHES.labels(job.provider, "retry").inc()
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
    FETCHES.labels(job.provider, "error").inc()
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
