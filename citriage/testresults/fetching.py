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

Artifacts belong to a GitHub Actions run, not to a job: a finished Actions job's fetch
waits (pending, no `fetch_after`) for its run's artifact list, owed once for the run
(RunArtifacts, `list_run`) when the run completes, or CITRIAGE_TEST_ARTIFACT_WAIT_SECONDS
after the job finished. One listing serves every job waiting when it began: those that
uploaded no test artifact are settled by it, the others fetch theirs reading the kept
list. A job finishing later owes another listing.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from citriage import logstore, queueing
from citriage.ci import actions
from citriage.ci.models import JobAttempt, LogState, Provider, Repository
from citriage.providers.base import ProviderError, RateLimited, TransientProviderError
from citriage.testreports.logs import failed_tests
from citriage.testreports.model import ERROR, FAILED, Report
from citriage.testresults import ingest, sources
from citriage.testresults.models import OWED, FetchState, RunArtifacts, Source, TestFetch

MAX_ERROR = 2000


def due() -> QuerySet[TestFetch]:
    return TestFetch.objects.filter(state__in=OWED, fetch_after__lte=timezone.now())


def _done(fetch_id: int, state: str, note: str = "", error: str = "") -> None:
    queueing.finished(
        TestFetch,
        fetch_id,
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
        _done(fetch.pk, FetchState.ERROR, error=str(exc))
        return f"error: {exc}"
    refused = [f"{s.name}: {s.error}" for s in found.stored if s.error]
    good = [s for s in found.stored if not s.error]
    if good:
        new = sum(s.stored for s in good)
        note = f"{len(good)} report(s), {new} new, from {found.looked_at}"
        _done(fetch.pk, FetchState.FETCHED, note, "\n".join(refused))
        return note
    return _no_report(fetch.pk, job, found.looked_at, "\n".join(refused))


def _no_report(fetch_id: int, job: JobAttempt, looked_at: str, refused: str = "") -> str:
    """The provider had no report of the job: a failed job's failed tests are read from
    its log (once stored), else there are none."""
    if job.failed:
        when = timezone.now() if job.log_state == LogState.FETCHED else None
        queueing.finished(
            TestFetch,
            fetch_id,
            "task",
            state=FetchState.READ_LOG,
            note=f"no report ({looked_at}): the failed tests are read from the log"[:500],
            error=refused[:MAX_ERROR],
            attempts=0,
            fetch_after=when or timezone.now() + timedelta(seconds=queueing.backoff(1)),
        )
        return "no report: reading the failed tests from the log"
    _done(fetch_id, FetchState.NONE, f"no report ({looked_at})", refused)
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
        _done(fetch.pk, FetchState.ERROR, error=f"gave up after {attempts} tries: {problem}")
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
            _done(fetch.pk, FetchState.NONE, "no report, and the log never came")
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
        _done(fetch.pk, FetchState.NONE, "no report, and the log names no failed test")
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
    _done(fetch.pk, FetchState.FETCHED, note)
    return note


# -- the artifact list of a GitHub Actions run, once for all its jobs --------------------


def waits_for_run(job: JobAttempt) -> bool:
    """Does this finished job's test-results fetch wait for its run's artifact list?"""
    return job.provider == Provider.GITHUB_ACTIONS and bool(job.workflow_id)


def waiting(repository_id: int, run_id: str) -> QuerySet[TestFetch]:
    """Fetches of the run's jobs that wait for its artifact list (pending, not due)."""
    return TestFetch.objects.filter(
        job__repository_id=repository_id,
        job__provider=Provider.GITHUB_ACTIONS,
        job__workflow_id=run_id,
        state__in=(FetchState.PENDING, FetchState.PENDING_RETRY),
        fetch_after=None,
        task=None,
    )


def owe_listing(repository_id: int, run_id: str, *, delay: float) -> None:
    """The run's artifacts are to be listed after `delay` seconds (a listing owed sooner
    stands), for the jobs waiting by then."""
    due = timezone.now() + timedelta(seconds=delay)
    run = RunArtifacts.objects.filter(repository_id=repository_id, run_id=run_id)
    if run.filter(Q(next_at__isnull=True) | Q(next_at__gt=due)).update(next_at=due):
        return
    # owed sooner already (most jobs of a run), or the run's first owed list
    run.get_or_create(repository_id=repository_id, run_id=run_id, defaults={"next_at": due})


def listings_due() -> QuerySet[RunArtifacts]:
    return RunArtifacts.objects.filter(next_at__lte=timezone.now())


def list_run(row: RunArtifacts) -> str:
    """List the run's artifacts once for every job waiting for them: a job that uploaded
    none of its test artifacts is settled here (no report), the others fetch theirs."""
    now = timezone.now()
    # Cleared first: jobs that finish while this runs owe another listing.
    RunArtifacts.objects.filter(pk=row.pk, next_at__lte=now).update(next_at=None)
    fetches = list(waiting(row.repository_id, row.run_id).values_list("pk", flat=True))
    if not fetches:
        queueing.finished(RunArtifacts, row.pk, "task")
        return "no job waits for the list"
    repository = Repository.objects.get(pk=row.repository_id)
    try:
        api = actions.client(repository)
        try:
            artifacts = sources.list_artifacts(repository, row.run_id, api)
        finally:
            api.close()
    except RateLimited as exc:
        queueing.finished(RunArtifacts, row.pk, "task", error=str(exc)[:MAX_ERROR])
        owe_listing(row.repository_id, row.run_id, delay=max(1.0, exc.until - time.time()))
        return f"deferred: {exc}"
    except TransientProviderError as exc:
        attempts = row.attempts + 1
        if queueing.retry_at(attempts, settings.LOG_FETCH_ATTEMPTS) is not None:
            queueing.finished(
                RunArtifacts, row.pk, "task", attempts=attempts, error=str(exc)[:MAX_ERROR]
            )
            owe_listing(row.repository_id, row.run_id, delay=queueing.backoff(attempts))
            return f"pending retry (try {attempts}): {exc}"
        return _list_failed(row, fetches, f"gave up after {attempts} tries: {exc}")
    except ProviderError as exc:
        return _list_failed(row, fetches, str(exc))
    chosen = sources.report_artifacts(repository, artifacts)
    siblings = (
        sources.run_jobs(repository.pk, Provider.GITHUB_ACTIONS, row.run_id) if chosen else []
    )
    uploaders = {getattr(sources.uploaded_by(a, siblings), "pk", None) for a in chosen}
    looked = sources.artifacts_looked_at(repository, [])
    jobs = JobAttempt.objects.in_bulk([pk for pk in fetches if pk not in uploaders])
    for job in jobs.values():
        _no_report(job.pk, job, looked)
    # the jobs that uploaded test artifacts fetch them, reading the list kept by now
    fetching = [pk for pk in fetches if pk in uploaders]
    TestFetch.objects.filter(pk__in=fetching, fetch_after=None).update(fetch_after=timezone.now())
    queueing.finished(RunArtifacts, row.pk, "task", attempts=0, error="")
    return f"{len(artifacts)} artifact(s): {len(fetching)} job(s) fetch theirs, {len(jobs)} without"


def _list_failed(row: RunArtifacts, fetches: list[int], problem: str) -> str:
    """The list could not be had: the waiting jobs' fetches end in this error."""
    TestFetch.objects.filter(pk__in=fetches, fetch_after=None, task=None).update(
        state=FetchState.ERROR, error=problem[:MAX_ERROR]
    )
    queueing.finished(RunArtifacts, row.pk, "task", attempts=0, error=problem[:MAX_ERROR])
    return f"error: {problem}"
