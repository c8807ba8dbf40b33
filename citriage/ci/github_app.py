"""Reaching GitHub as citriage's GitHub App, or as a person, with the one GitHub client.

The App's credentials come from the environment; which installation serves a
repository is learned from GitHub once (or from `installation` webhooks) and kept
in the repository's settings. A repository whose installation was removed is not
called on its behalf until the App is installed there again.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from django.conf import settings

from citriage.ci.models import Repository
from citriage.ci.ratelimits import DatabaseBudget, DatabaseCache
from citriage.providers.base import ProviderError
from citriage.providers.github import AppCredentials, GitHub, InstallationTokens

INSTALLATION = "github_installation_id"
REMOVED = "github_app_removed"


class NotConfigured(ProviderError):
    """The GitHub App credentials are not set, or the App is not installed on the repository."""


def private_key() -> str:
    value = settings.GITHUB_PRIVATE_KEY.strip()
    if value and "-----BEGIN" not in value and Path(value).is_file():
        return Path(value).read_text()
    return value


def configured() -> bool:
    return bool(settings.GITHUB_APP_ID and settings.GITHUB_PRIVATE_KEY)


def client(token: str = "", *, identity: str = "") -> GitHub:
    """A client with citriage's manners (timeouts, retries, the shared rate-limit budget),
    as `token` or anonymous."""
    if not identity:
        identity = (
            f"token {hashlib.sha256(token.encode()).hexdigest()[:8]}" if token else "anonymous"
        )
    return GitHub(
        settings.GITHUB_API_URL,
        token=token,
        timeout=settings.HTTP_TIMEOUT,
        retries=settings.HTTP_RETRIES,
        backoff=settings.HTTP_BACKOFF,
        identity=identity,
        budget=DatabaseBudget(),
    )


@functools.cache
def _tokens(app_id: str, key: str, base_url: str) -> InstallationTokens:
    return InstallationTokens(AppCredentials(app_id, key), client(identity="app"))


def tokens() -> InstallationTokens:
    if not configured():
        raise NotConfigured("CITRIAGE_GITHUB_APP_ID and CITRIAGE_GITHUB_PRIVATE_KEY are not set")
    return _tokens(settings.GITHUB_APP_ID, private_key(), settings.GITHUB_API_URL)


def installed(repository: Repository) -> bool:
    """Not removed; and not the generated demo repository (nothing is posted for it)."""
    return not repository.settings.get(REMOVED) and not repository.settings.get("demo")


def installation_id(repository: Repository) -> int:
    """The App's installation on this repository: remembered, else asked of GitHub."""
    if not installed(repository):
        raise NotConfigured(f"the GitHub App is not installed on {repository.full_name}")
    known = repository.settings.get(INSTALLATION)
    if known:
        return int(known)
    app = tokens()
    answer = app.api.json(
        "GET",
        f"/repos/{repository.owner}/{repository.name}/installation",
        headers={"Authorization": f"Bearer {app.app.jwt()}"},
    )
    if not isinstance(answer, dict) or "id" not in answer:
        raise ProviderError(f"GitHub did not say which installation serves {repository}")
    remember_installation(repository, int(answer["id"]))
    return int(answer["id"])


def remember_installation(repository: Repository, installation: int | None) -> None:
    """The App was installed (an id) or removed (None) on this repository."""
    values = dict(repository.settings)
    if installation is None:
        values.pop(INSTALLATION, None)
        values[REMOVED] = True
    else:
        values[INSTALLATION] = installation
        values.pop(REMOVED, None)
    if values != repository.settings:
        repository.settings = values
        repository.save(update_fields=["settings"])


def for_repository(repository: Repository, *, reports: bool = False) -> GitHub:
    """A client acting as the App's installation on this repository. Reads leave
    CITRIAGE_GITHUB_RATE_RESERVE of the installation's hourly budget to reports, which
    stop at a tenth of it (see citriage.ci.ratelimits)."""
    installation = installation_id(repository)
    reserve = settings.GITHUB_RATE_RESERVE
    return GitHub(
        settings.GITHUB_API_URL,
        token=tokens().for_installation(installation),
        timeout=settings.HTTP_TIMEOUT,
        retries=settings.HTTP_RETRIES,
        backoff=settings.HTTP_BACKOFF,
        identity=f"installation {installation}",
        budget=DatabaseBudget(),
        reserve=reserve / 10 if reports else reserve,
        cache=DatabaseCache(),
    )
