"""Talking to GitHub as a GitHub App (githubkit): JWT -> installation token, cached."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from githubkit import AppAuthStrategy, GitHub
from githubkit.exception import RequestFailed

from citriage.ci.models import Repository

logger = logging.getLogger(__name__)


class NotConfigured(Exception):
    """The GitHub App credentials are not set."""


def private_key() -> str:
    value = settings.GITHUB_PRIVATE_KEY.strip()
    if value and "-----BEGIN" not in value and Path(value).is_file():
        return Path(value).read_text()
    return value


def configured() -> bool:
    return bool(settings.GITHUB_APP_ID and settings.GITHUB_PRIVATE_KEY)


@functools.cache
def _app(app_id: str, key: str, base_url: str) -> GitHub[Any]:
    return GitHub(
        AppAuthStrategy(app_id, key),
        base_url=base_url,
        user_agent="citriage",
        timeout=settings.HTTP_TIMEOUT,
        http_cache=False,
    )


def app() -> GitHub[Any]:
    if not configured():
        raise NotConfigured("CITRIAGE_GITHUB_APP_ID and CITRIAGE_GITHUB_PRIVATE_KEY are not set")
    return _app(settings.GITHUB_APP_ID, private_key(), settings.GITHUB_API_URL)


@functools.cache
def _installation(app_id: str, base_url: str, installation_id: int) -> GitHub[Any]:
    github = _app(app_id, private_key(), base_url)
    # The installation token is cached by githubkit until it expires.
    return github.with_auth(github.auth.as_installation(installation_id))


def for_repository(repository: Repository) -> GitHub[Any]:
    """A client acting as the App's installation on this repository."""
    installation_id = repository.settings.get("github_installation_id")
    if not installation_id:
        response = app().request("GET", f"/repos/{repository.owner}/{repository.name}/installation")
        installation_id = int(response.json()["id"])
        repository.settings = {**repository.settings, "github_installation_id": installation_id}
        repository.save(update_fields=["settings"])
    return _installation(settings.GITHUB_APP_ID, settings.GITHUB_API_URL, int(installation_id))


def call(github: GitHub[Any], method: str, url: str, **kwargs: Any) -> Any:
    """A REST call returning the decoded JSON (no model validation)."""
    response = github.request(method, url, **kwargs)
    return response.json() if response.content else None


def status_code(error: RequestFailed) -> int:
    return int(error.response.status_code)
