"""Registering citriage as a GitHub App through GitHub's App-manifest flow.

GitHub creates the App from a manifest we send, then redirects back with a
code that we exchange for the App's id, private key and webhook secret. Those
are shown once to whoever set it up, to put in the environment; citriage never
stores secrets itself.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from citriage.ci import github_app
from citriage.providers.base import ProviderError

PERMISSIONS = {
    "checks": "write",  # the citriage check run
    "statuses": "write",  # fallback where checks are not allowed; reading CI statuses
    "pull_requests": "write",  # the PR comment
    "issues": "write",  # PR comments are issue comments
    "actions": "read",  # GitHub Actions jobs and logs
    "contents": "read",  # commits, compare, merge bases
    "metadata": "read",
}
EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "pull_request",
    "push",
    "status",
    "workflow_job",
    "workflow_run",
]


def manifest(name: str = "citriage") -> dict[str, Any]:
    base = settings.PUBLIC_URL
    return {
        "name": name,
        "url": base,
        "hook_attributes": {"url": f"{base}/webhooks/github", "active": True},
        "redirect_url": f"{base}/github/setup/done",
        "public": False,
        "default_permissions": PERMISSIONS,
        "default_events": EVENTS,
    }


def registration_url(org: str | None = None) -> str:
    if org:
        return f"{settings.GITHUB_URL}/organizations/{org}/settings/apps/new"
    return f"{settings.GITHUB_URL}/settings/apps/new"


def convert(code: str) -> dict[str, Any]:
    """Exchange the code GitHub redirected with for the new App's credentials
    (ProviderError when GitHub refuses)."""
    github = github_app.client()
    try:
        data = github.json("POST", f"/app-manifests/{code}/conversions")
    finally:
        github.close()
    if not isinstance(data, dict) or "id" not in data:
        raise ProviderError("GitHub's answer holds no App")
    return data


def environment(app: dict[str, Any]) -> dict[str, str]:
    """The environment variables that configure citriage for this App."""
    return {
        "CITRIAGE_GITHUB_APP_ID": str(app["id"]),
        "CITRIAGE_GITHUB_PRIVATE_KEY": str(app["pem"]),
        "CITRIAGE_GITHUB_WEBHOOK_SECRET": str(app.get("webhook_secret") or ""),
    }
