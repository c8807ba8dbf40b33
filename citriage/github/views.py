"""`POST /webhooks/github`: verify, store, enqueue; nothing else happens in the request."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from githubkit.webhooks import verify

from citriage.github.intake import Received, store_delivery
from citriage.github.models import RejectedDelivery

logger = logging.getLogger(__name__)
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


def _reject(request: HttpRequest, status: int, reason: str) -> JsonResponse:
    RejectedDelivery.objects.create(
        guid=request.headers.get("X-GitHub-Delivery", "")[:100],
        event=request.headers.get("X-GitHub-Event", "")[:100],
        reason=reason[:300],
        remote_addr=request.META.get("REMOTE_ADDR", "")[:100],
        body_bytes=len(request.body) if status != 413 else 0,
    )
    return JsonResponse({"error": reason}, status=status)


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> JsonResponse:
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        return _reject(request, 413, "payload larger than 25 MB")
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        logger.error("a webhook arrived but CITRIAGE_GITHUB_WEBHOOK_SECRET is not set")
        return _reject(request, 401, "webhook secret not configured on this server")
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not signature.startswith("sha256=") or not verify(secret, request.body, signature):
        return _reject(request, 401, "missing or invalid X-Hub-Signature-256")
    guid = request.headers.get("X-GitHub-Delivery", "")
    event = request.headers.get("X-GitHub-Event", "")
    if not guid or not event or len(guid) > 100 or len(event) > 100:
        return _reject(request, 400, "missing X-GitHub-Delivery or X-GitHub-Event header")
    try:
        body = request.body.decode("utf-8")  # GitHub sends UTF-8; it is stored as text
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _reject(request, 400, "the body is not UTF-8 JSON")
    if not isinstance(payload, dict):
        return _reject(request, 400, "the body is not a JSON object")
    repository = payload.get("repository")
    full_name = repository.get("full_name", "") if isinstance(repository, dict) else ""
    # Stored, not processed: a worker queues its task (see citriage/github/intake.py).
    delivery_id = store_delivery(
        Received(
            guid=guid,
            event=event,
            action=str(payload.get("action") or "")[:100],
            repository=str(full_name)[:201],
            payload=body,
        )
    )
    if delivery_id is None:
        return JsonResponse({"status": "duplicate delivery; already received"}, status=200)
    return JsonResponse({"status": "accepted", "delivery": delivery_id}, status=202)
