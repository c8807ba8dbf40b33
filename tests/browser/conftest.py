"""Playwright driving Debian's Chromium against a live citriage on a real history.

`page` fails its test on any console error or uncaught exception; `writer` logs the
page in as someone with write access. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.web.conftest import History, build_history, make_user

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(os.environ.get("CITRIAGE_TEST_ARTIFACTS", "test-artifacts")) / "screenshots"


def chromium_path() -> str:
    found = os.environ.get("CITRIAGE_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(
            "Chromium not found: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}
    )
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("dialog", lambda d: problems.append(f"a dialog opened: {d.message}"))
    tab.problems = problems
    yield tab
    context.close()
    assert not problems, problems


@pytest.fixture
def site(transactional_db: None, log_store: object) -> History:
    return build_history()


@pytest.fixture
def writer(page: Any, live_server: Any, site: History) -> Any:
    client = Client()
    client.force_login(make_user("wanda", writer=True))
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    return page


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest, static_files: None) -> Iterator[Any]:
    """pytest-django's live server, serving static files the way `citriage web` does
    (WhiteNoise, from the collected files: hashed names, compressed), not from the finders."""
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer(os.environ.get("DJANGO_LIVE_SERVER_ADDRESS", "localhost"), start=False)
    server.thread.static_handler = lambda application: application
    server.start()
    yield server
    server.stop()
