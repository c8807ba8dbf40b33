"""Fetching the test results of finished job attempts: owed work, with the same rules as
log fetches (citriage.ci.fetching).

Every finished job attempt of a watched provider owes its test results (a TestFetch
row, state "pending"); a worker queues one fetch per row (citriage.queueing). The
fetch stores what the provider has (CircleCI's test results, the run's artifacts
that hold reports), or:

- on a transient error the results stay owed ("pending retry") and are tried again
  after a growing delay, until CITRIAGE_LOG_FETCH_ATTEMPTS tries have failed ("error");
- on a permanent error (not found, no permission) the state is "error" at once;
- when there is no report and the job failed, the failed tests are read from its
  log once the log is stored ("read_log"; the log's arrival makes it due at once).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from citriage import logstore, queueing
from citriage.ci.models import JobAttempt, LogState
from citriage.providers.base import ProviderError, RateLimited, TransientProviderError
from citriage.testreports.logs import failed_tests
from citriage.testreports.model import ERROR, FAILED, Report
from citriage.testresults import ingest, sources
from citriage.testresults.models import OWED, FetchState, Source, TestFetch

MAX_ERROR = 2000


def due() -> QuerySet[TestFetch]:
    return TestFetch.objects.filter(state__in=OWED, fetch_after__lte=timezone.now())


def _done(fetch: TestFetch, state: str, note: str = "", error: str = "") -> None:
    queueing.finished(
        TestFetch,
        fetch.pk,
        "task",
        state=state,
        note=note[:500],
        error=error[:MAX_ERROR],
        fetch_after=None,
    )


def fetch_tests(fetch: TestFetch) -> str:
    """Fetch (and store) the test results of one job attempt; a note of the outcome."""
    job = JobAttempt.objects.select_related("repository").get(pk=fetch.pk)
    if fetch.state not in OWED:
        queueing.finished(TestFetch, fetch.pk, "task")
        return "nothing owed"
    if fetch.state == FetchState.READ_LOG:
        return read_log(fetch, job)
    try:
        found = sources.fetch(job)
    except RateLimited as exc:  # not the job's fault: owed again when the limit ends
        return _defer(fetch, datetime.fromtimestamp(exc.until, tz=UTC), str(exc))
    except TransientProviderError as exc:
        return _try_later(fetch, str(exc))
    except ProviderError as exc:
        _done(fetch, FetchState.ERROR, error=str(exc))
        return f"error: {exc}"
    refused = [f"{s.name}: {s.error}" for s in found.stored if s.error]
    good = [s for s in found.stored if not s.error]
    if good:
        new = sum(s.stored for s in good)
        note = f"{len(good)} report(s), {new} new, from {found.looked_at}"
        _done(fetch, FetchState.FETCHED, note, "\n".join(refused))
        return note
    if job.failed:
        when = timezone.now() if job.log_state == LogState.FETCHED else None
        queueing.finished(
            TestFetch,
            fetch.pk,
            "task",
            state=FetchState.READ_LOG,
            note=f"no report ({found.looked_at}): the failed tests are read from the log"[:500],
            error="\n".join(refused)[:MAX_ERROR],
            attempts=0,
            fetch_after=when or timezone.now() + timedelta(seconds=queueing.backoff(1)),
        )
        return "no report: reading the failed tests from the log"
    _done(fetch, FetchState.NONE, f"no report ({found.looked_at})", "\n".join(refused))
    return "no report"


def _defer(fetch: TestFetch, when: datetime, problem: str) -> str:
    """Owed again from `when`, without counting a try (a rate limit)."""
    when = max(when, timezone.now() + timedelta(seconds=1))
    queueing.finished(TestFetch, fetch.pk, "task", error=problem[:MAX_ERROR], fetch_after=when)
    return f"deferred to {when:%H:%M:%S}: {problem}"


def _try_later(fetch: TestFetch, problem: str) -> str:
    attempts = fetch.attempts + 1
    when = queueing.retry_at(attempts, settings.LOG_FETCH_ATTEMPTS)
    if when is None:
        _done(fetch, FetchState.ERROR, error=f"gave up after {attempts} tries: {problem}")
        return f"error: gave up after {attempts} tries: {problem}"
    queueing.finished(
        TestFetch,
        fetch.pk,
        "task",
        state=FetchState.PENDING_RETRY,
        error=problem[:MAX_ERROR],
        attempts=attempts,
        fetch_after=when,
    )
    return f"pending retry (try {attempts}, next at {when:%H:%M:%S}): {problem}"


def read_log(fetch: TestFetch, job: JobAttempt) -> str:
    """The failed tests the job's stored logs name (the job left no report)."""
    if job.log_state in (LogState.PENDING, LogState.PENDING_RETRY):
        attempts = fetch.attempts + 1
        when = queueing.retry_at(attempts, settings.LOG_FETCH_ATTEMPTS)
        if when is None:
            _done(fetch, FetchState.NONE, "no report, and the log never came")
            return "no report, and the log never came"
        queueing.finished(TestFetch, fetch.pk, "task", attempts=attempts, fetch_after=when)
        return "waiting for the log"
    cases = []
    names = []
    for log in job.logs.select_related("step").order_by("step__index", "step__container"):
        text = logstore.load_text(log.storage_key, log.line_count)
        found = failed_tests(text.line(n) for n in range(1, text.line_count + 1))
        cases += found.cases
        names.append(log.step.name)
    if not cases:
        _done(fetch, FetchState.NONE, "no report, and the log names no failed test")
        return "no failed test in the log"
    report = Report(format="log", cases=cases)
    report.counts.tests = len(cases)
    report.counts.failures = sum(c.outcome == FAILED for c in cases)
    report.counts.errors = sum(c.outcome == ERROR for c in cases)
    digest = hashlib.sha256(
        "\n".join(sorted(f"{c.key} {c.outcome}" for c in cases)).encode()
    ).hexdigest()
    ingest.store(job, report, source=Source.LOG, name=f"log of {', '.join(names)}", digest=digest)
    note = f"{len(cases)} failed test(s) read from the log"
    _done(fetch, FetchState.FETCHED, note)
    return note
