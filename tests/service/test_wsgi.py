"""The WSGI application `citriage web` serves: webhooks on the lean path, the rest as usual."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from citriage.github.models import Delivery, RejectedDelivery
from citriage.wsgi import WEBHOOK_PATH, application
from tests.fakes import sign

pytestmark = pytest.mark.django_db(transaction=True)  # the handler opens and closes connections
SECRET = "wsgi-secret"


def call(
    method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[str, dict[str, str], bytes]:
    """One request through the WSGI application, as gunicorn makes it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **{"HTTP_" + name.upper(): value for name, value in headers.items()},
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()  # as a WSGI server does: Django's request_finished runs here
    return answer["status"], answer["headers"], content


def deliver(payload: bytes, guid: str, signature: str | None = None) -> tuple[str, bytes]:
    status, _, content = call(
        "POST",
        WEBHOOK_PATH,
        payload,
        X_GITHUB_EVENT="status",
        X_GITHUB_DELIVERY=guid,
        X_HUB_SIGNATURE_256=signature or sign(SECRET, payload),
    )
    return status, content


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
def test_a_signed_delivery_is_stored_once_through_the_lean_path(corpus: Path) -> None:
    payload = (corpus / "webhooks/status/ci-bot.status.failure.json").read_bytes()
    guid = str(uuid.uuid4())
    status, content = deliver(payload, guid)
    assert status == "202 Accepted"
    delivery = Delivery.objects.get(guid=guid)
    assert json.loads(content) == {"status": "accepted", "delivery": delivery.pk}
    assert delivery.payload == payload.decode() and delivery.event == "status"
    assert deliver(payload, guid)[0] == "200 OK"
    assert Delivery.objects.count() == 1


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
def test_a_bad_signature_is_refused_and_recorded() -> None:
    status, content = deliver(b'{"zen": "x"}', "guid-bad", signature="sha256=" + "0" * 64)
    assert status == "401 Unauthorized" and b"X-Hub-Signature-256" in content
    assert not Delivery.objects.exists()
    assert RejectedDelivery.objects.get().guid == "guid-bad"


def test_other_methods_are_not_allowed() -> None:
    status, headers, _ = call("GET", WEBHOOK_PATH)
    assert status == "405 Method Not Allowed" and headers["Allow"] == "POST"


def test_the_site_keeps_its_middleware_and_webhooks_skip_it() -> None:
    status, headers, _ = call("GET", "/healthz")
    assert status == "200 OK" and headers["X-Frame-Options"] == "DENY"
    status, headers, _ = call("GET", WEBHOOK_PATH)
    assert "X-Frame-Options" not in headers
    # A trailing slash is not the webhook path: the site answers it.
    assert call("POST", WEBHOOK_PATH + "/")[0].startswith("4")
