"""`POST /webhooks/github`: verify, store, answer; nothing else happens in the request.

GitHub signs each delivery (HMAC-SHA256 of the raw body with the webhook secret)
and caps payloads at 25 MB. The body is read here up to that cap (not through
Django's smaller general limit for form posts), the signature checked in constant
time, and the delivery stored as received. Refused requests are counted per reason,
address and minute, so a flood of them cannot grow the database a row a request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from prometheus_client import Counter

from citriage.github.deliveries import Received, store_delivery
from citriage.github.models import RejectedDelivery

logger = logging.getLogger(__name__)
MAX_BODY = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB

DELIVERIES = Counter(
    "citriage_webhook_deliveries",
    "Requests to the webhook endpoint, by outcome (accepted, duplicate, rejected) and the "
    "reason of a rejection",
    ["outcome", "reason"],
)


def _reject(request: HttpRequest, status: int, reason: str, size: int = 0) -> JsonResponse:
    DELIVERIES.labels("rejected", reason).inc()
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    address = request.META.get("REMOTE_ADDR", "")[:100]
    counted = RejectedDelivery.objects.filter(
        reason=reason[:300], remote_addr=address, minute=minute
    ).update(count=F("count") + 1, last_at=now)
    if not counted:
        try:
            with transaction.atomic():
                RejectedDelivery.objects.create(
                    guid=request.headers.get("X-GitHub-Delivery", "")[:100],
                    event=request.headers.get("X-GitHub-Event", "")[:100],
                    reason=reason[:300],
                    remote_addr=address,
                    body_bytes=size,
                    minute=minute,
                    last_at=now,
                )
        except IntegrityError:  # another request of the same minute made the row
            RejectedDelivery.objects.filter(
                reason=reason[:300], remote_addr=address, minute=minute
            ).update(count=F("count") + 1, last_at=now)
    return JsonResponse({"error": reason}, status=status)


def signature_valid(secret: str, body: bytes, signature: str) -> bool:
    if not signature.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.removeprefix("sha256="))


def _has_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value


@csrf_exempt
@require_POST
def github_webhook(request: HttpRequest) -> JsonResponse:
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > MAX_BODY:
        return _reject(request, 413, "payload larger than 25 MB", declared)
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return _reject(request, 413, "payload larger than 25 MB", len(body))
    secret = settings.GITHUB_WEBHOOK_SECRET
    if not secret:
        logger.error("a webhook arrived but CITRIAGE_GITHUB_WEBHOOK_SECRET is not set")
        return _reject(request, 401, "webhook secret not configured on this server", len(body))
    if not signature_valid(secret, body, request.headers.get("X-Hub-Signature-256", "")):
        return _reject(request, 401, "missing or invalid X-Hub-Signature-256", len(body))
    guid = request.headers.get("X-GitHub-Delivery", "")
    event = request.headers.get("X-GitHub-Event", "")
    if not guid or not event or len(guid) > 100 or len(event) > 100:
        return _reject(request, 400, "missing X-GitHub-Delivery or X-GitHub-Event header")
    try:
        text = body.decode("utf-8")  # GitHub sends UTF-8; it is stored as text
        payload = json.loads(text)
    except RecursionError:
        return _reject(request, 400, "the JSON is nested too deeply", len(body))
    except (ValueError, UnicodeDecodeError):
        return _reject(request, 400, "the body is not UTF-8 JSON", len(body))
    if not isinstance(payload, dict):
        return _reject(request, 400, "the body is not a JSON object", len(body))
    if "\x00" in text:
        return _reject(request, 400, "the body holds a NUL character", len(body))
    repository = payload.get("repository")
    full_name = repository.get("full_name", "") if isinstance(repository, dict) else ""
    action = payload.get("action") or ""
    if _has_nul(action) or _has_nul(full_name):
        return _reject(request, 400, "action or repository name holds a NUL character", len(body))
    # Stored, not processed: a worker queues its task (see citriage/github/deliveries.py).
    delivery_id = store_delivery(
        Received(
            guid=guid,
            event=event,
            action=str(action)[:100],
            repository=str(full_name)[:201],
            payload=text,
        )
    )
    if delivery_id is None:
        DELIVERIES.labels("duplicate", "").inc()
        return JsonResponse({"status": "duplicate delivery; already received"}, status=200)
    DELIVERIES.labels("accepted", "").inc()
    return JsonResponse({"status": "accepted", "delivery": delivery_id}, status=202)
