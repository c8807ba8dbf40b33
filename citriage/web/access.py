"""Who may read and who may change.

Reading is public unless CITRIAGE_REQUIRE_LOGIN is set. Changing anything
(patterns, promotions, rescans, reruns, breakages) needs a logged-in user who is
Django staff or a member of the GitHub organisation or team named by
CITRIAGE_WRITE_ACCESS ("org" or "org/team"); membership is checked with the
user's GitHub token each time they log in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from ninja.errors import HttpError
from ninja.security import SessionAuth

from citriage.ci import github_app
from citriage.providers.base import ProviderError, TransientProviderError

logger = logging.getLogger(__name__)
WRITERS = "citriage-writers"
# Open without a login session (the upload of test reports has its own token).
OPEN_PREFIXES = (
    "/accounts/",
    "/admin/",
    "/static/",
    "/webhooks/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/github/setup",
    "/api/test-reports",
)


def can_write(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if getattr(user, "is_staff", False):
        return True
    return bool(user.groups.filter(name=WRITERS).exists())  # type: ignore[attr-defined]


def permissions(request: HttpRequest) -> dict[str, Any]:
    """Template context: whether the user may change things."""
    return {"can_write": can_write(request.user)}


class LoginRequiredForReadingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.REQUIRE_LOGIN
            and not request.user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
        ):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": "log in to read this"}, status=401)
            return redirect(f"{settings.LOGIN_URL}?next={request.path}")
        return self.get_response(request)


class WriterAuth(SessionAuth):
    """API writes: a logged-in session of someone allowed to change things (CSRF checked)."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if not request.user.is_authenticated:
            return None
        if not can_write(request.user):
            raise HttpError(403, "you may read but not change: ask to be given access")
        return request.user


writer = WriterAuth()


def write_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For form views that change something."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{settings.LOGIN_URL}?next={request.path}")
        if not can_write(request.user):
            return HttpResponseForbidden("You may read but not change: ask to be given access.")
        return view(request, *args, **kwargs)

    return guarded


def github_member(token: str, login: str, access: str) -> bool | None:
    """Is `login` a member of the organisation (or org/team) `access`, asked with their
    token? None when GitHub could not be asked (then nothing changes)."""
    org, _, team = access.partition("/")
    if team:
        url = f"/orgs/{org}/teams/{team}/memberships/{login}"
    else:
        url = f"/user/memberships/orgs/{org}"
    github = github_app.client(token)
    try:
        answer = github.json("GET", url)
    except TransientProviderError as exc:
        logger.warning("could not check GitHub membership of %s: %s", login, exc)
        return None
    except ProviderError:  # 404 or 403: not a member (or no right to know)
        return False
    finally:
        github.close()
    return isinstance(answer, dict) and answer.get("state") == "active"


def sync_write_access(user: Any, login: str, token: str) -> bool:
    """Grant or withdraw write access from GitHub membership (called at login). When
    GitHub cannot be reached, the user keeps the access they had."""
    group, _ = Group.objects.get_or_create(name=WRITERS)
    if not settings.WRITE_ACCESS:
        user.groups.remove(group)
        return False
    member = github_member(token, login, settings.WRITE_ACCESS)
    if member is None:
        return bool(user.groups.filter(pk=group.pk).exists())
    if member:
        user.groups.add(group)
    else:
        user.groups.remove(group)
    return member
