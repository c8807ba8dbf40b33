"""Storing test reports: the one writer of test results.

A report is parsed whole before anything is written, then stored in one transaction
(a report is stored entirely or not at all), into the run of its job attempt. The
same report again (same bytes) changes nothing; another report of the same job adds
to its run (Surefire writes one file per class). Failed tests read from a log are a
stand-in: a real report of the job replaces them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Value
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from citriage.ci.models import JobAttempt, Repository
from citriage.scanner.signature import signature
from citriage.testreports.model import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    Case,
    Report,
    ReportError,
)
from citriage.testreports.reports import NotATestReport, read_report
from citriage.testresults import signals
from citriage.testresults.models import (
    Outcome,
    Source,
    Test,
    TestReport,
    TestResult,
    TestRun,
    TestSet,
    encode_ids,
)

BATCH = 900  # rows (or keys) per statement: SQLite's variable limit allows no more
_OUTCOME = {FAILED: Outcome.FAILED, ERROR: Outcome.ERROR, SKIPPED: Outcome.SKIPPED}


@dataclass
class Stored:
    """What became of one report: its counts, and whether it was new."""

    name: str
    format: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    stored: bool = False  # False: the same report was stored before (or it was refused)
    error: str = ""
    flaky: int = 0  # tests of the report that passed after failing

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "format": self.format,
            **self.counts,
            "flaky_tests": self.flaky,
            "stored": self.stored,
            "error": self.error,
        }


def digest_of(stream: IO[bytes]) -> str:
    """sha256 of a seekable stream's bytes; the stream is put back at its start."""
    hasher = hashlib.sha256()
    stream.seek(0)
    while block := stream.read(1024 * 1024):
        hasher.update(block)
    stream.seek(0)
    return hasher.hexdigest()


def parse(stream: IO[bytes]) -> Report:
    return read_report(
        stream,
        max_bytes=settings.TEST_REPORT_MAX_BYTES,
        max_cases=settings.TEST_REPORT_MAX_CASES,
    )


def ingest_file(job: JobAttempt, stream: IO[bytes], *, source: str, name: str) -> Stored:
    """Parse one report file (seekable) and store it; a bad report is refused with the
    reason (NotATestReport is raised: callers reading every file of an artifact skip it)."""
    digest = digest_of(stream)
    try:
        report = parse(stream)
    except NotATestReport:
        raise
    except ReportError as exc:
        return Stored(name=name, error=str(exc))
    return store(job, report, source=source, name=name, digest=digest)


def failure_signature(case: Case) -> str:
    line = case.message.splitlines()[0] if case.message else ""
    if case.kind and case.kind not in line:
        line = f"{case.kind}: {line}" if line else case.kind
    return signature(line) if line else ""


def store(job: JobAttempt, report: Report, *, source: str, name: str, digest: str) -> Stored:
    """Store a parsed report into the run of `job` (see the module doc)."""
    result = Stored(name=name, format=report.format, counts=report.counts.as_dict())
    cases = report.merged_cases()
    result.flaky = sum(case.flaky for case in cases)
    now = timezone.now()
    with transaction.atomic():
        run, _created = TestRun.objects.select_for_update().get_or_create(
            job=job,
            defaults={
                "repository_id": job.repository_id,
                "sha": job.sha,
                "job_name": job.name,
                "finished_at": job.finished_at,
            },
        )
        if TestReport.objects.filter(run=run, digest=digest).exists():
            return result
        from_log = source == Source.LOG
        if from_log and any(s != Source.LOG for s in run.sources):
            return result  # a real report of the job says more than its log
        if not from_log and run.sources == [Source.LOG]:
            run.results.all().delete()  # the report replaces what the log said
            run.reports.all().delete()
            run.sources = []
        when = job.finished_at or now
        ids = _test_ids(job.repository, job.name, cases, now)
        _store_results(run, cases, ids, when)
        if not from_log:
            _extend_set(run, np.fromiter(ids.values(), dtype=np.int64, count=len(ids)))
        run.sources = sorted({*run.sources, source})
        _count(run)
        run.updated = now
        run.save()
        TestReport.objects.create(
            run=run,
            source=source,
            name=name[:500],
            format=report.format,
            digest=digest,
            **report.counts.as_dict(),
        )
        signals.test_results_stored.send(JobAttempt, job=job)
    result.stored = True
    return result


def _select_tests(
    repository_id: int, keys: list[str], job_name: str
) -> list[tuple[str, int, bool]]:
    """(key, id, whether it ran in `job_name` before) of the stored tests among `keys`."""
    if connection.vendor == "postgresql":
        # One statement, the keys (hex: no commas) as one string made an array once, at
        # planning: `IN (SELECT json_array_elements_text(...))` was planned as a nested
        # loop evaluating the function again for every key once the table grew.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT key, id, jobs ? %s FROM {Test._meta.db_table} WHERE repository_id = %s "
                "AND key = ANY(string_to_array(%s, ','))",
                [job_name, repository_id, ",".join(keys)],
            )
            return [(str(key), int(pk), bool(ran)) for key, pk, ran in cursor.fetchall()]
    rows: list[tuple[str, int, bool]] = []
    for start in range(0, len(keys), BATCH):
        rows += [
            (key, pk, job_name in jobs)
            for key, pk, jobs in Test.objects.filter(
                repository_id=repository_id, key__in=keys[start : start + BATCH]
            ).values_list("key", "id", "jobs")
        ]
    return rows


def _insert_tests(
    repository: Repository, job_name: str, cases: list[Case], now: datetime
) -> list[tuple[str, int, bool]]:
    """Store new tests; (key, id, True) of those stored here (a test another ingestion
    stored meanwhile is left as it is, and not returned)."""
    rows = []
    for case in cases:
        suite, name = case.normalised()
        rows.append({"key": case.key, "suite": suite, "name": name, "file": case.file[:500]})
    if connection.vendor == "postgresql":  # one statement, the rows as one JSON parameter
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Test._meta.db_table} (repository_id, key, suite, name, file, "
                "first_seen, failures, jobs) SELECT %s, r.key, r.suite, r.name, r.file, %s, 0, "
                "%s::jsonb FROM json_to_recordset(%s::json) AS r(key text, suite text, "
                "name text, file text) ON CONFLICT (repository_id, key) DO NOTHING "
                "RETURNING key, id",
                [repository.pk, now, json.dumps([job_name]), json.dumps(rows)],
            )
            return [(str(key), int(pk), True) for key, pk in cursor.fetchall()]
    Test.objects.bulk_create(
        [Test(repository=repository, first_seen=now, jobs=[job_name], **row) for row in rows],
        batch_size=BATCH,
        ignore_conflicts=True,
    )
    return []


def _test_ids(
    repository: Repository, job_name: str, cases: list[Case], now: datetime
) -> dict[str, int]:
    """The id of each case's test (created when new), by key; the job is added to the
    tests' job names where it is new."""
    keys = [case.key for case in cases]
    found = {key: (pk, ran) for key, pk, ran in _select_tests(repository.pk, keys, job_name)}
    missing = [case for case in cases if case.key not in found]
    if missing:
        found.update(
            (key, (pk, ran)) for key, pk, ran in _insert_tests(repository, job_name, missing, now)
        )
        still = [case.key for case in missing if case.key not in found]
        if still:  # stored by another ingestion meanwhile (or not returned: SQLite)
            found.update(
                (key, (pk, ran)) for key, pk, ran in _select_tests(repository.pk, still, job_name)
            )
    elsewhere = [pk for pk, ran in found.values() if not ran]
    if elsewhere and connection.vendor == "postgresql":  # a job runs tests it never ran
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Test._meta.db_table} SET jobs = jobs || %s::jsonb "
                "WHERE id = ANY(string_to_array(%s, ',')::bigint[]) AND NOT jobs ? %s",
                [json.dumps([job_name]), ",".join(map(str, elsewhere)), job_name],
            )
        elsewhere = []
    for start in range(0, len(elsewhere), BATCH):
        batch = Test.objects.filter(pk__in=elsewhere[start : start + BATCH]).only("id", "jobs")
        changed = [t for t in batch if job_name not in t.jobs]
        for test in changed:
            test.jobs = [*test.jobs, job_name]
        Test.objects.bulk_update(changed, ["jobs"], batch_size=BATCH)
    return {key: pk for key, (pk, _ran) in found.items()}


def _combined(row: TestResult | None, passed_before: bool, case: Case) -> tuple[str | None, int]:
    """The outcome of a test that this report names (None: it simply passed), given what
    the run's other reports said of it: failing in one and passing in another is flaky;
    a skip yields to any other outcome."""
    outcome = _OUTCOME.get(case.outcome) or (Outcome.FLAKY if case.flaky else None)
    retries = case.retries
    before = row.outcome if row is not None else (PASSED if passed_before else None)
    if before is None or before == Outcome.SKIPPED:
        return outcome, retries
    if outcome == Outcome.SKIPPED:
        return (row.outcome, row.retries) if row is not None else (None, 0)
    retries += row.retries if row is not None else 0
    failing_before = before in (Outcome.FAILED, Outcome.ERROR)
    failing_now = outcome in (Outcome.FAILED, Outcome.ERROR)
    if failing_before and failing_now:
        return outcome, retries + 1
    if failing_before or failing_now:
        return Outcome.FLAKY, retries + 1
    return (Outcome.FLAKY if Outcome.FLAKY in (outcome, before) else None), retries


def _signature_of(case: Case) -> str:
    if case.outcome != PASSED:
        return failure_signature(case)
    return signature(case.retry_message.splitlines()[0]) if case.retry_message else ""


def _store_results(run: TestRun, cases: list[Case], ids: dict[str, int], when: datetime) -> None:
    # What the run's other reports said: its rows (only tests that did not simply pass)
    # and its set of tests that ran.
    existing = {r.test_id: r for r in run.results.all()} if run.sources else {}
    ran = set(run.test_set.test_ids().tolist()) if run.test_set is not None else set()
    new: list[TestResult] = []
    changed: list[TestResult] = []
    gone: list[int] = []
    newly_failing: list[int] = []
    for case in cases:
        test_id = ids[case.key]
        row = existing.get(test_id)
        outcome, retries = _combined(row, test_id in ran and row is None, case)
        if outcome is None:
            if row is not None:
                gone.append(row.pk)
            continue
        message = case.message or case.retry_message
        values = {
            "outcome": outcome,
            "retries": retries,
            "message": message,
            "details": case.details,
            "kind": case.kind[:300],
            "signature": _signature_of(case),
            "duration": case.duration,
        }
        if row is None:
            new.append(
                TestResult(
                    run=run,
                    test_id=test_id,
                    repository_id=run.repository_id,
                    finished_at=when,
                    **values,
                )
            )
            if outcome in (Outcome.FAILED, Outcome.ERROR):
                newly_failing.append(test_id)
            continue
        if row.outcome not in (Outcome.FAILED, Outcome.ERROR) and outcome in (
            Outcome.FAILED,
            Outcome.ERROR,
        ):
            newly_failing.append(test_id)
        for name, value in values.items():
            if name in ("message", "details", "kind", "signature") and getattr(row, name):
                continue  # the first report's failure stays the one shown
            setattr(row, name, value)
        changed.append(row)
    TestResult.objects.filter(pk__in=gone).delete()
    TestResult.objects.bulk_create(new, batch_size=BATCH)
    if changed:
        TestResult.objects.bulk_update(
            changed,
            ["outcome", "retries", "message", "details", "kind", "signature", "duration"],
            batch_size=BATCH,
        )
    for start in range(0, len(newly_failing), BATCH):
        Test.objects.filter(pk__in=newly_failing[start : start + BATCH]).update(
            failures=F("failures") + 1,
            last_failed_at=Greatest(Coalesce("last_failed_at", Value(when)), Value(when)),
            first_failed_at=Least(Coalesce("first_failed_at", Value(when)), Value(when)),
        )


def _extend_set(run: TestRun, ids: np.ndarray) -> None:
    """The run's set of tests that ran, with these added (shared with other runs)."""
    if run.test_set is not None:
        ids = np.concatenate([run.test_set.test_ids(), ids])
    ids = np.unique(ids)
    digest = TestSet.digest_of(ids)
    found = TestSet.objects.filter(repository_id=run.repository_id, digest=digest).first()
    if found is None:
        found, _ = TestSet.objects.get_or_create(
            repository_id=run.repository_id,
            digest=digest,
            defaults={"count": len(ids), "ids": encode_ids(ids)},
        )
    run.test_set = found


def _count(run: TestRun) -> None:
    by_outcome = dict(
        run.results.values_list("outcome").annotate(n=Count("id")).values_list("outcome", "n")
    )
    run.failed = by_outcome.get(Outcome.FAILED, 0)
    run.errors = by_outcome.get(Outcome.ERROR, 0)
    run.skipped = by_outcome.get(Outcome.SKIPPED, 0)
    run.flaky = by_outcome.get(Outcome.FLAKY, 0)
    run.tests = run.test_set.count if run.test_set is not None else sum(by_outcome.values())
    run.passed = max(0, run.tests - run.failed - run.errors - run.skipped)


def has_failures(stored: Iterable[Stored]) -> bool:
    return any(s.counts.get("failures") or s.counts.get("errors") for s in stored)
