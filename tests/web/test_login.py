"""GitHub login through django-allauth against a local stand-in for GitHub, and write access
following organisation membership."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from django.contrib.auth.models import User
from django.test import Client

from citriage.web.access import can_write
from tests.fakes import FakeServer, Reply, json_reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def github(corpus: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    server = FakeServer()
    # A real GitHub user object, as GET /user returns it (the sender of a recorded webhook).
    payload = corpus / "webhooks/pull_request/octokit.assigned.payload.json"
    user = json.loads(payload.read_text())["sender"]
    server.on(
        "POST",
        "/login/oauth/access_token",
        json_reply({"access_token": "gho_test", "token_type": "bearer", "scope": "read:org"}),
    )
    server.on("GET", "/api/v3/user", json_reply(user))
    server.on("GET", "/api/v3/user/emails", Reply(404, b'{"message": "Not Found"}'))
    # allauth computes its GitHub addresses when imported; point them at the stand-in.
    for name, path in [
        ("access_token_url", "/login/oauth/access_token"),
        ("authorize_url", "/login/oauth/authorize"),
        ("profile_url", "/api/v3/user"),
        ("emails_url", "/api/v3/user/emails"),
    ]:
        monkeypatch.setattr(GitHubOAuth2Adapter, name, server.url + path)
    settings.SOCIALACCOUNT_PROVIDERS = {
        "github": {"APPS": [{"client_id": "Iv1.test", "secret": "shh"}], "SCOPE": ["read:org"]}
    }
    settings.GITHUB_API_URL = server.url
    settings.WRITE_ACCESS = "acme"
    yield server
    server.close()


def _log_in(client: Client) -> Any:
    start = client.get("/accounts/github/login/?next=/patterns/")
    assert start.status_code == 302
    authorize = urlsplit(start["Location"])
    assert authorize.path == "/login/oauth/authorize"
    query = parse_qs(authorize.query)
    assert query["client_id"] == ["Iv1.test"] and "read:org" in query["scope"][0]
    return client.get(
        "/accounts/github/login/callback/", {"code": "code-from-github", "state": query["state"][0]}
    )


def test_member_of_the_organisation_gets_write_access(github: FakeServer) -> None:
    github.on(
        "GET", "/user/memberships/orgs/acme", json_reply({"state": "active", "role": "member"})
    )
    client = Client()
    done = _log_in(client)
    assert done.status_code == 302 and done["Location"] == "/patterns/"
    user = User.objects.get(username="Codertocat")
    assert can_write(user)
    (exchange,) = github.seen("POST", "/login/oauth/access_token")
    assert b"code=code-from-github" in exchange.body
    (membership,) = github.seen("GET", "/user/memberships/orgs/acme")
    assert membership.headers["authorization"] == "Bearer gho_test"
    assert client.get("/patterns/new/").status_code == 200
    assert 'id="save"' in client.get("/patterns/new/").content.decode()


def test_non_member_may_read_but_not_change(github: FakeServer) -> None:
    github.on("GET", "/user/memberships/orgs/acme", Reply(404, b'{"message": "Not Found"}'))
    client = Client()
    _log_in(client)
    user = User.objects.get(username="Codertocat")
    assert not can_write(user)
    assert client.get("/patterns/").status_code == 200
    assert client.post("/patterns/new/", {"expression": "x", "specificity": "1"}).status_code == 403


def test_membership_is_checked_again_at_each_login(github: FakeServer) -> None:
    github.on(
        "GET",
        "/user/memberships/orgs/acme",
        json_reply({"state": "active"}),
        Reply(404, b'{"message": "Not Found"}'),
    )
    _log_in(Client())
    assert can_write(User.objects.get(username="Codertocat"))
    _log_in(Client())  # left the organisation since
    assert not can_write(User.objects.get(username="Codertocat"))


def test_github_out_of_reach_at_login_keeps_the_access_one_had(
    github: FakeServer, settings: Any
) -> None:
    github.on("GET", "/user/memberships/orgs/acme", json_reply({"state": "active"}))
    _log_in(Client())
    assert can_write(User.objects.get(username="Codertocat"))
    # GitHub answers the login but its API fails for the membership check, every try
    github.on("GET", "/user/memberships/orgs/acme", Reply(502, b"bad gateway"))
    settings.HTTP_BACKOFF = 0.01
    done = _log_in(Client())
    assert done.status_code == 302  # logged in all the same
    assert can_write(User.objects.get(username="Codertocat"))  # not withdrawn on a hiccup
    assert len(github.seen("GET", "/user/memberships/orgs/acme")) > 2  # retried first


def test_login_page_offers_github_when_configured(github: FakeServer) -> None:
    page = Client().get("/accounts/login/?next=/patterns/").content.decode()
    assert "Log in with GitHub" in page
    assert 'action="/accounts/github/login/?process=login' in page


def test_login_page_explains_what_to_set_without_github(settings: Any) -> None:
    settings.SOCIALACCOUNT_PROVIDERS = {"github": {"APPS": []}}
    page = Client().get("/accounts/login/").content.decode()
    assert "CITRIAGE_GITHUB_CLIENT_ID" in page and "/admin/login/" in page
