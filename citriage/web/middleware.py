"""Requests carrying NUL characters are refused up front.

Logs never hold NUL (stripping removes C0 controls) and PostgreSQL text cannot store
it, so a NUL in a query string, form or JSON body can only be a mistake or a probe:
answer 400 instead of failing deep inside a query. Webhook bodies are exempt; they are
stored as received and their content is checked where it is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

# A JSON "\u0000" escape (not preceded by an escaped backslash: "\\u0000" is text).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
MESSAGE = "NUL characters are not allowed in requests"


class RejectNulMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/webhooks/") and _has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": MESSAGE}, status=400)
            return HttpResponseBadRequest(MESSAGE)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    if "%00" in query or "\x00" in query or "\x00" in request.path:
        return True
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    body = request.body
    if b"\x00" in body:
        return True
    if request.content_type == "application/x-www-form-urlencoded":
        return b"%00" in body
    return request.content_type == "application/json" and bool(_ESCAPED_NUL.search(body))
