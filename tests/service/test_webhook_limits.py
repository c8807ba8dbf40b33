"""The webhook endpoint under hostile or odd input, through the WSGI application `citriage
web` serves: GitHub's 25 MB limit as documented, NUL characters and deep nesting refused
with a reason, floods of unsigned requests counted (not stored a row each), and signed
deliveries whose content cannot be processed marked failed, never retried forever."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from citriage.ci import recording
from citriage.github.deliveries import Received, requeue_stuck, store_delivery
from citriage.github.events import MAX_ATTEMPTS
from citriage.github.models import Delivery, DeliveryStatus, RejectedDelivery
from citriage.ops.worker import run_worker
from citriage.wsgi import WEBHOOK_PATH
from tests.fakes import sign
from tests.service.test_wsgi import call

pytestmark = pytest.mark.django_db(transaction=True)  # the handler opens and closes connections
SECRET = "limits-secret"
MB = 1024 * 1024
PUSH = "webhooks/push/octokit.with-new-branch.payload.json"  # a push with a commit


def deliver(
    payload: bytes, event: str = "push", *, signed: bool = True
) -> tuple[int, dict[str, str]]:
    headers = {"X_GITHUB_EVENT": event, "X_GITHUB_DELIVERY": str(uuid.uuid4())}
    if signed:
        headers["X_HUB_SIGNATURE_256"] = sign(SECRET, payload)
    status, _, content = call("POST", WEBHOOK_PATH, payload, **headers)
    return int(status.split()[0]), json.loads(content)


def push_of_size(corpus: Path, size: int) -> bytes:
    """A real push payload, padded with commits up to about `size` bytes."""
    push = json.loads((corpus / PUSH).read_text())
    commit = push["commits"][0]
    message = "x" * 2000
    count = size // (len(json.dumps(commit)) + len(message))
    push["commits"] = [{**commit, "message": f"{message} {n}"} for n in range(count)]
    return json.dumps(push).encode()


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
@pytest.mark.parametrize("size", [3 * MB, 10 * MB, 24 * MB])
def test_signed_deliveries_up_to_25_mb_are_stored(corpus: Path, size: int) -> None:
    body = push_of_size(corpus, size)
    assert size * 0.9 < len(body) < 25 * MB
    status, answer = deliver(body)
    assert status == 202, answer
    assert len(Delivery.objects.get().payload) == len(body)


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
def test_over_25_mb_is_refused_and_counted(corpus: Path) -> None:
    status, answer = deliver(b"{" + b" " * (25 * MB) + b"}")
    assert status == 413 and "25 MB" in answer["error"]
    assert not Delivery.objects.exists()
    assert RejectedDelivery.objects.get().reason == "payload larger than 25 MB"


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
def test_nul_characters_and_deep_nesting_get_400_with_a_reason(corpus: Path) -> None:
    status = json.loads((corpus / "webhooks/status/octokit.payload.json").read_text())
    for field, value in (("action", "creat\x00ed"), ("repository", {"full_name": "a/b\x00c"})):
        body = json.dumps({**status, field: value}).encode()
        code, answer = deliver(body, "status")
        assert code == 400 and "NUL" in answer["error"]
    code, answer = deliver(b"[" * 100_000 + b"]" * 100_000, "status")
    assert code == 400 and "nested too deeply" in answer["error"]
    nested = ('{"a":' * 100_000 + "1" + "}" * 100_000).encode()
    code, answer = deliver(nested, "status")
    assert code == 400 and "nested too deeply" in answer["error"]
    assert not Delivery.objects.exists()


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
def test_a_flood_of_unsigned_requests_is_counted_not_stored_a_row_each() -> None:
    for _ in range(300):
        code, _answer = deliver(b'{"zen": "flood"}', "ping", signed=False)
        assert code == 401
    assert RejectedDelivery.objects.count() <= 2  # one per minute (the flood may span two)
    assert sum(RejectedDelivery.objects.values_list("count", flat=True)) == 300
    assert not Delivery.objects.exists()


@override_settings(GITHUB_WEBHOOK_SECRET=SECRET)
def test_signed_but_malformed_deliveries_fail_with_their_reason(corpus: Path) -> None:
    recording.get_repository("Codertocat/Hello-World", create=True, providers=["circleci"])
    push = json.loads((corpus / PUSH).read_text())
    strings = {**push, "commits": ["x"]}
    long_id = {**push, "commits": [{**push["head_commit"], "id": "a" * 1000}]}
    for body in (strings, long_id):
        assert deliver(json.dumps(body).encode())[0] == 202
    run_worker(queues=["*"], interval=0, batch=True)
    notes = sorted(Delivery.objects.values_list("status", "note"))
    assert [status for status, _ in notes] == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]
    assert any("not an object" in note for _, note in notes)
    assert any("not a 40-digit hex sha" in note for _, note in notes)
    # failed for a reason stated: not put back in the queue
    Delivery.objects.update(queued_at=timezone.now() - timedelta(hours=1))
    assert requeue_stuck() == 0


def test_a_delivery_whose_processing_keeps_crashing_is_failed_after_three_tries(
    corpus: Path,
) -> None:
    """A crash that is not about the content (here: a table the handler writes is gone,
    as in a botched migration) is tried again by the sweep, MAX_ATTEMPTS times in all,
    then marked failed with the error."""
    repository = "Codertocat/Hello-World"
    recording.get_repository(repository, create=True, providers=["circleci"])
    comment = json.loads(
        (corpus / "webhooks/issue_comment/octokit.created.payload.json").read_text()
    )
    comment["comment"]["body"] = "/citriage opt-out"
    store_delivery(
        Received(str(uuid.uuid4()), "issue_comment", "created", repository, json.dumps(comment))
    )
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE github_commentoptout RENAME TO github_commentoptout_away")
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            run_worker(queues=["*"], interval=0, batch=True)
            delivery = Delivery.objects.get()
            if attempt < MAX_ATTEMPTS:
                assert delivery.status == DeliveryStatus.PENDING
                assert delivery.attempts == attempt and f"try {attempt} failed" in delivery.note
                Delivery.objects.update(queued_at=timezone.now() - timedelta(hours=1))
                assert requeue_stuck() == 1  # the sweep puts it back
        assert delivery.status == DeliveryStatus.FAILED
        assert f"failed {MAX_ATTEMPTS} times" in delivery.note
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE github_commentoptout_away RENAME TO github_commentoptout")
