"""schemathesis generates requests from the served OpenAPI schema: none may cause a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from citriage.wsgi import application
from tests.fakes import FakeServer
from tests.web.conftest import History, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def keep_test_connection() -> Iterator[None]:
    # As Django's test client does: the test's database connection must outlive each request.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _exercise(
    operation: Any, headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None
) -> list[int]:
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    def run(case: Any) -> None:
        if cookies:
            case.cookies = {**(case.cookies or {}), **cookies}
        response = case.call(headers=headers)
        statuses.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    run()
    return statuses


def test_no_generated_request_causes_a_server_error(history: History) -> None:
    # The schema as the app serves it, exercised in-process over WSGI against the test database.
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12, "every API operation is in the schema"
    for operation in operations:
        _exercise(operation)


@pytest.fixture
def ci_elsewhere(settings: Any) -> Iterator[FakeServer]:
    """Reruns reach a local stand-in for CircleCI and GitHub that knows no build."""
    server = FakeServer()
    settings.CIRCLECI_URL = server.url
    settings.GITHUB_API_URL = server.url
    settings.HTTP_RETRIES = 0
    yield server
    server.close()


def test_writes_by_a_writer_cause_no_server_error(
    history: History, client: Any, ci_elsewhere: FakeServer
) -> None:
    """Also as a logged-in writer, so the write operations run their code, not only the guard."""
    client.force_login(make_user("wanda", writer=True))
    session = client.cookies["sessionid"].value
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
    statuses: list[int] = []
    token = get_random_string(32)
    cookies = {"sessionid": session, "csrftoken": token}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET" and "/workbench/" not in operation.path:
            statuses += _exercise(operation, {"X-CSRFToken": token}, cookies)
    # The session and CSRF token were honoured: writes got past the guard (to a result, or
    # a 4xx about their data), where an anonymous or forged request gets 401 or 403.
    assert any(code not in (401, 403) for code in statuses), statuses
