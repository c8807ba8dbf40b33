"""Where test reports come from, per provider: CircleCI's test results API, the artifacts
of a GitHub Actions run. (Uploads come in through the API: citriage.testresults.uploads.)

Each source returns what it found for one job attempt; errors come as the providers'
TransientProviderError and ProviderError, which the fetch (citriage.testresults.fetching)
turns into a retry or a stated error, as for logs.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from citriage.ci import actions, circleci
from citriage.ci.models import JobAttempt, Provider, Repository
from citriage.providers.base import ProviderError
from citriage.providers.circleci import TestResult as CircleCIResult
from citriage.providers.github_actions import Artifact, GitHubActions, to_artifact
from citriage.testreports.model import (
    ERROR,
    FAILED,
    MAX_DETAILS,
    MAX_MESSAGE,
    PASSED,
    SKIPPED,
    Case,
    Report,
    cut,
)
from citriage.testreports.reports import NotATestReport
from citriage.testresults import ingest
from citriage.testresults.models import RunArtifacts, Source

REPORT_SUFFIXES = (".xml", ".trx", ".xml.gz")
MAX_MEMBERS = 10_000  # files of one artifact looked at
ARTIFACT_SLACK = timedelta(minutes=2)  # an artifact is uploaded while its job runs


def artifact_globs(repository: Repository) -> list[str]:
    """The artifact names (globs) that hold test reports, per repository or the default."""
    own = repository.settings.get("test_artifact_globs")
    return list(own) if own else list(settings.TEST_ARTIFACT_GLOBS)


@dataclass
class Found:
    """What a source found for one job: the reports stored (or refused)."""

    stored: list[ingest.Stored]
    looked_at: str  # what was read, for the fetch's note


# -- CircleCI -------------------------------------------------------------------------

_CIRCLECI_OUTCOMES = {
    "success": PASSED,
    "passed": PASSED,
    "failure": FAILED,
    "failed": FAILED,
    "error": ERROR,
    "skipped": SKIPPED,
    "skip": SKIPPED,
}


def circleci_report(results: list[CircleCIResult]) -> Report:
    """CircleCI's test results of a job (parsed by CircleCI from the job's reports) as a
    report: one case per result."""
    report = Report(format="circleci")
    counts = report.counts
    for item in results:
        outcome = _CIRCLECI_OUTCOMES.get(item.result.lower(), FAILED)
        message = item.message.strip()
        report.cases.append(
            Case(
                suite=item.classname or item.file,
                name=item.name,
                file=item.file,
                outcome=outcome,
                message=cut(message.splitlines()[0] if message else "", MAX_MESSAGE)
                if outcome != PASSED
                else "",
                details=cut(message, MAX_DETAILS) if outcome != PASSED else "",
                duration=item.run_time,
            )
        )
        counts.tests += 1
        counts.failures += outcome == FAILED
        counts.errors += outcome == ERROR
        counts.skipped += outcome == SKIPPED
    return report


def from_circleci(job: JobAttempt) -> Found:
    repository = job.repository
    if not job.provider_id.isdigit():
        raise ProviderError(f"{job.provider_id!r} is not a CircleCI job number")
    api = circleci.client()
    try:
        results = api.test_results(repository.owner, repository.name, int(job.provider_id))
    finally:
        api.close()
    if not results:
        return Found([], "CircleCI has no test results for the job")
    digest = hashlib.sha256(
        json.dumps(sorted(map(repr, results))).encode(), usedforsecurity=False
    ).hexdigest()
    stored = ingest.store(
        job,
        circleci_report(results),
        source=Source.CIRCLECI,
        name="CircleCI tests",
        digest=digest,
    )
    return Found([stored], f"{len(results)} CircleCI test result(s)")


# -- GitHub Actions artifacts -----------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _ran_when(job: JobAttempt, at: datetime | None) -> bool:
    if at is None or job.started_at is None:
        return True
    if at < job.started_at - ARTIFACT_SLACK:
        return False
    return job.finished_at is None or at <= job.finished_at + ARTIFACT_SLACK


def uploaded_by(artifact: Artifact, jobs: list[JobAttempt]) -> JobAttempt | None:
    """Which job of the run uploaded the artifact (GitHub does not say): the run's only
    job; else among the jobs running when it was created (all of them when none was),
    the one whose name it shares most words with, a lone such job needing no name.
    None when that cannot be told."""
    if len(jobs) == 1:
        return jobs[0]
    running = [job for job in jobs if _ran_when(job, artifact.created_at)] or jobs
    if len(running) == 1:
        return running[0]
    named = _words(artifact.name)
    scored = sorted(
        ((len(named & _words(job.name.rpartition(" / ")[2] or job.name)), job) for job in running),
        key=lambda pair: (-pair[0], pair[1].pk),
    )
    if scored and scored[0][0] > 0 and (len(scored) == 1 or scored[1][0] < scored[0][0]):
        return scored[0][1]
    return None


def report_files(archive: IO[bytes]) -> Iterator[tuple[str, IO[bytes] | None]]:
    """The files of a zip that may be test reports (by name), each as a seekable copy;
    None for a file larger than the limit (the zip's own sizes are not trusted)."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()][:MAX_MEMBERS]
            for member in members:
                if not member.filename.lower().endswith(REPORT_SUFFIXES):
                    continue
                with zipped.open(member) as data:
                    copy = _spooled(data, settings.TEST_REPORT_MAX_BYTES)
                yield member.filename, copy
    except zipfile.BadZipFile as exc:
        raise ProviderError(f"the artifact is not a readable zip file: {exc}") from None


def _spooled(data: IO[bytes], limit: int) -> IO[bytes] | None:
    copy = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    total = 0
    while block := data.read(1024 * 1024):
        total += len(block)
        if total > limit:
            copy.close()
            return None
        copy.write(block)
    copy.seek(0)
    return copy


def _as_json(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "name": artifact.name,
        "size_in_bytes": artifact.size_in_bytes,
        "expired": artifact.expired,
        "created_at": artifact.created_at.isoformat() if artifact.created_at else None,
        "updated_at": artifact.updated_at.isoformat() if artifact.updated_at else None,
    }


def list_artifacts(repository: Repository, run_id: str, api: GitHubActions) -> list[Artifact]:
    """Ask GitHub for the run's artifacts (a conditional request) and keep the list for the
    run's jobs (a list asked for later stays: kept lists only move forward)."""
    asked = timezone.now()
    artifacts = api.run_artifacts(repository.owner, repository.name, run_id)
    listed = [_as_json(a) for a in artifacts]
    row, created = RunArtifacts.objects.get_or_create(
        repository=repository, run_id=run_id, defaults={"listed_at": asked, "artifacts": listed}
    )
    if not created:
        RunArtifacts.objects.filter(
            Q(listed_at__isnull=True) | Q(listed_at__lt=asked), pk=row.pk
        ).update(listed_at=asked, artifacts=listed)
    return artifacts


def kept_artifacts(job: JobAttempt) -> list[Artifact] | None:
    """The kept artifact list of the job's run, if it was asked for after the job finished
    (so it holds what the job uploaded); None when the run must be listed again."""
    if job.finished_at is None:
        return None
    kept = (
        RunArtifacts.objects.filter(
            repository_id=job.repository_id,
            run_id=job.workflow_id,
            listed_at__gte=job.finished_at,
        )
        .values_list("artifacts", flat=True)
        .first()
    )
    return None if kept is None else [to_artifact(item) for item in kept]


def report_artifacts(repository: Repository, artifacts: list[Artifact]) -> list[Artifact]:
    """The artifacts whose names say they hold test reports."""
    globs = [g.lower() for g in artifact_globs(repository)]
    return [
        a
        for a in artifacts
        if not a.expired and any(fnmatch.fnmatch(a.name.lower(), g) for g in globs)
    ]


def run_jobs(repository_id: int, provider: str, run_id: str) -> list[JobAttempt]:
    """Every recorded attempt of a job of the workflow run (who may have uploaded what)."""
    return list(
        JobAttempt.objects.filter(
            repository_id=repository_id, provider=provider, workflow_id=run_id
        )
    )


def artifacts_looked_at(repository: Repository, read: list[str]) -> str:
    globs = ", ".join(g.lower() for g in artifact_globs(repository))
    looked = f"artifact(s) {', '.join(read)}" if read else "no artifact of this job matches"
    return f"{looked} ({globs})"


def from_artifacts(job: JobAttempt) -> Found:
    """The test reports in the artifacts of the job's run that this job uploaded. The run's
    kept artifact list is read when it is recent enough (see `kept_artifacts`)."""
    repository = job.repository
    if not job.workflow_id:
        return Found([], "the job's workflow run is not known")
    stored: list[ingest.Stored] = []
    read: list[str] = []
    api: GitHubActions | None = None
    try:
        artifacts = kept_artifacts(job)
        if artifacts is None:
            api = actions.client(repository)
            artifacts = list_artifacts(repository, job.workflow_id, api)
        chosen = report_artifacts(repository, artifacts)
        siblings = run_jobs(job.repository_id, job.provider, job.workflow_id) if chosen else []
        for artifact in chosen:
            owner = uploaded_by(artifact, siblings)
            if owner is None or owner.pk != job.pk:
                continue
            if artifact.size_in_bytes > settings.TEST_ARTIFACT_MAX_BYTES:
                stored.append(
                    ingest.Stored(
                        name=artifact.name,
                        error=f"the artifact is {artifact.size_in_bytes:,} bytes, over "
                        f"CITRIAGE_TEST_ARTIFACT_MAX_BYTES ({settings.TEST_ARTIFACT_MAX_BYTES:,})",
                    )
                )
                continue
            read.append(artifact.name)
            api = api or actions.client(repository)
            archive = api.download_artifact(repository.owner, repository.name, artifact.id)
            try:
                stored += _artifact_reports(job, artifact.name, archive)
            finally:
                archive.close()
    finally:
        if api is not None:
            api.close()
    return Found(stored, artifacts_looked_at(repository, read))


def _artifact_reports(job: JobAttempt, artifact: str, archive: IO[bytes]) -> list[ingest.Stored]:
    stored: list[ingest.Stored] = []
    for name, stream in report_files(archive):
        label = f"{artifact}/{name}"
        if stream is None:
            stored.append(
                ingest.Stored(
                    name=label,
                    error="the report is larger than the limit of "
                    f"{settings.TEST_REPORT_MAX_BYTES:,} bytes (CITRIAGE_TEST_REPORT_MAX_BYTES)",
                )
            )
            continue
        try:
            stored.append(ingest.ingest_file(job, stream, source=Source.ARTIFACT, name=label))
        except NotATestReport:
            continue  # coverage.xml and the like
        finally:
            stream.close()
    return stored


def fetch(job: JobAttempt) -> Found:
    """The test reports the job's provider has for it."""
    if job.provider == Provider.CIRCLECI:
        return from_circleci(job)
    if job.provider == Provider.GITHUB_ACTIONS:
        return from_artifacts(job)
    return Found([], f"citriage does not fetch test results from {job.provider}")
