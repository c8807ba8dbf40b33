"""Reports uploaded by any CI (`POST /api/test-reports`, `citriage upload-tests`), and the
per-repository tokens that allow it.

A token is shown once when created; only its sha256 is kept. An upload names the
repository (by its token), the commit, the job and its attempt; the reports go to that
job attempt when citriage knows it (a CircleCI or Actions job of that name), else to a
job attempt recorded for the upload (provider "upload"), failed when a report holds a
failing test.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import IO

from django.db import transaction
from django.utils import timezone

from citriage.ci import recording
from citriage.ci.models import Conclusion, JobAttempt, Provider, Repository
from citriage.providers.base import JobRun
from citriage.testreports.model import FAILING, Report, ReportError
from citriage.testresults import ingest
from citriage.testresults.models import Source, UploadToken

PREFIX = "ctr_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    repository: Repository, *, name: str = "", created_by: str = ""
) -> tuple[UploadToken, str]:
    """A new upload token for the repository: the row, and the token (shown only now)."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = UploadToken.objects.create(
        repository=repository,
        name=name[:100],
        prefix=token[:12],
        token_hash=_hash(token),
        created_by=created_by[:100],
    )
    return row, token


def revoke(row: UploadToken) -> None:
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])


def repository_for(token: str) -> Repository | None:
    """The repository an active token uploads for (None: unknown or revoked)."""
    if not token.startswith(PREFIX):
        return None
    row = (
        UploadToken.objects.select_related("repository")
        .filter(token_hash=_hash(token), revoked_at__isnull=True)
        .first()
    )
    if row is None:
        return None
    UploadToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.repository


@dataclass
class Parsed:
    name: str
    digest: str
    report: Report | None
    error: str = ""


def parse_files(files: list[tuple[str, IO[bytes]]]) -> list[Parsed]:
    """Each uploaded file read (nothing stored yet): its report, or why it was refused."""
    parsed = []
    for name, stream in files:
        digest = ingest.digest_of(stream)
        try:
            parsed.append(Parsed(name, digest, ingest.parse(stream)))
        except ReportError as exc:
            parsed.append(Parsed(name, digest, None, str(exc)))
    return parsed


def job_for_upload(
    repository: Repository, sha: str, name: str, attempt: int, *, failed: bool
) -> JobAttempt:
    """The job attempt the upload is for: the one citriage knows by that name, else one
    recorded for the upload (its conclusion says whether a report held a failing test)."""
    sha = recording.checked_sha(sha)
    known = (
        JobAttempt.objects.filter(repository=repository, sha=sha, name=name, attempt=attempt)
        .exclude(provider=Provider.UPLOAD)
        .order_by("pk")
        .first()
    )
    if known is not None:
        return known
    provider_id = f"{sha}-{hashlib.sha1(name.encode()).hexdigest()[:16]}-{attempt}"
    existing = JobAttempt.objects.filter(
        repository=repository, provider=Provider.UPLOAD, provider_id=provider_id
    ).first()
    if existing is not None and (existing.failed or not failed):
        return existing
    run = JobRun(
        provider=Provider.UPLOAD,
        provider_id=provider_id,
        name=name,
        sha=sha,
        status="completed",
        conclusion=Conclusion.FAILURE if failed else Conclusion.SUCCESS,
        attempt=attempt,
        finished_at=timezone.now(),
    )
    job, _changed = recording.record_job(repository, run)
    return job


def upload(
    repository: Repository,
    *,
    sha: str,
    job_name: str,
    attempt: int,
    files: list[tuple[str, IO[bytes]]],
) -> list[ingest.Stored]:
    """Store uploaded reports (each entirely or not at all); what became of each."""
    parsed = parse_files(files)
    good = [p for p in parsed if p.report is not None]
    results = {p.name: ingest.Stored(name=p.name, error=p.error) for p in parsed if p.error}
    if good:
        failed = any(case.outcome in FAILING for p in good if p.report for case in p.report.cases)
        with transaction.atomic():
            job = job_for_upload(repository, sha, job_name, attempt, failed=failed)
            for item in good:
                assert item.report is not None
                results[item.name] = ingest.store(
                    job, item.report, source=Source.UPLOAD, name=item.name, digest=item.digest
                )
    return [results[p.name] for p in parsed]
