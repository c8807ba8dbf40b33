"""The CI providers citriage pulls from, behind one interface.

CircleCI and GitHub Actions each implement `Source`: fetch and store the logs of a
failed job attempt, look a job up again, backfill what webhooks missed, rerun a job.
Errors come as the providers' TransientProviderError (try again later) and
ProviderError (give up); what to do about them is decided once, by the callers in
`citriage.ci.fetching` and `citriage.ci.tasks`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from citriage.ci import actions, circleci
from citriage.ci.models import JobAttempt, Provider, Repository, StoredLog
from citriage.providers.base import ProviderError

Progress = Callable[[int], None]


class Source(Protocol):
    provider: str

    def configured(self, repository: Repository) -> str:
        """ "" when calls can be made for this repository, else what is missing."""
        ...

    def fetch_logs(self, job: JobAttempt) -> list[StoredLog]:
        """Store the logs of the job's failed steps; [] when the provider has none."""
        ...

    def sync_job(self, repository: Repository, provider_id: str) -> JobAttempt:
        """Record the job as the provider describes it now."""
        ...

    def backfill(
        self,
        repository: Repository,
        *,
        branch: str | None = None,
        since: datetime | None = None,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Record the jobs the provider has and citriage does not (or not finished)."""
        ...

    def rerun(self, job: JobAttempt, *, failed_of_run: bool = False) -> str:
        """Ask the provider to run the job again; a note of what it said."""
        ...


class UploadSource:
    """Jobs known only from test reports uploaded for them: there is nothing to call."""

    provider = Provider.UPLOAD.value

    def configured(self, repository: Repository) -> str:
        return "jobs of uploaded test reports are not read from a CI provider"

    def fetch_logs(self, job: JobAttempt) -> list[StoredLog]:
        return []  # the upload brought test reports, no log

    def sync_job(self, repository: Repository, provider_id: str) -> JobAttempt:
        raise ProviderError("a job of uploaded test reports cannot be looked up again")

    def backfill(
        self,
        repository: Repository,
        *,
        branch: str | None = None,
        since: datetime | None = None,
        progress: Progress | None = None,
    ) -> dict[str, int]:
        return {"seen": 0, "recorded": 0, "to_fetch": 0}

    def rerun(self, job: JobAttempt, *, failed_of_run: bool = False) -> str:
        raise ProviderError("citriage cannot rerun a job whose test reports were uploaded")


_SOURCES: dict[str, Source] = {
    source.provider: source
    for source in (circleci.CircleCISource(), actions.ActionsSource(), UploadSource())
}


def source_for(provider: str) -> Source:
    try:
        return _SOURCES[provider]
    except KeyError:
        name = Provider(provider).label if provider in Provider.values else provider
        raise ProviderError(f"citriage cannot talk to {name}") from None


def watched(repository: Repository) -> list[Source]:
    """The sources of the providers this repository watches."""
    return [_SOURCES[p] for p in repository.providers if p in _SOURCES]
