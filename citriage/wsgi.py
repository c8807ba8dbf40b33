"""The WSGI application `citriage web` serves.

GitHub's webhook deliveries skip the site's middleware (security headers,
static files, sessions, login, CSRF, allauth, access rules, the NUL check):
a delivery needs none of them, and they cost about as much CPU as verifying
and storing it. Everything else goes through Django as usual.
"""

import os
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "citriage.settings")
site = get_wsgi_application()

WEBHOOK_PATH = "/webhooks/github"


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler without middleware: URL resolution, the view, Django's
    answers to exceptions, and the request signals (database connections) remain."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(
            self._get_response  # type: ignore[attr-defined]
        )


webhooks = WebhookHandler()


def application(environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == WEBHOOK_PATH:
        return webhooks(environ, start_response)
    return site(environ, start_response)
