"""GitHub's rate limits, kept in the database for every process (and for /system/).

Every answer's `X-RateLimit-*` headers update the identity's row; within one hour's
window the lowest `remaining` any process saw wins (answers reach processes out of
order). Before a call, the client asks whether to hold off: a secondary limit in
force (GitHub said when), or less than the client's reserve left until the window
resets. Reads (log fetches, job lists, backfills) keep `CITRIAGE_GITHUB_RATE_RESERVE`
of the budget back for reports, which stop only at a tenth of it: when the budget runs
low, reports still go out while fetches wait for the next window (their rows are
deferred, see citriage.ci.fetching), and nothing is sent to be refused.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import zstandard
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Least
from django.utils import timezone

from citriage.ci.models import CachedResponse, RateBudget
from citriage.providers.github import Cached, RateLimit

logger = logging.getLogger(__name__)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class DatabaseBudget:
    """The `Budget` of citriage.providers.github, kept in RateBudget rows."""

    def hold_until(self, identity: str, reserve: float) -> float | None:
        now = timezone.now()
        until = None
        for row in RateBudget.objects.filter(identity=identity):
            if row.held_until is not None and row.held_until > now:
                until = max(until or row.held_until, row.held_until)
            low = row.remaining < reserve * row.limit or row.remaining == 0
            waits = row.resets_at is not None and row.resets_at > now
            if row.resource == "core" and row.limit and low and waits:
                assert row.resets_at is not None
                until = max(until or row.resets_at, row.resets_at)
        return until.timestamp() if until is not None else None

    def observe(self, identity: str, limit: RateLimit) -> None:
        resets_at = _when(limit.reset)
        try:
            same_window = When(resets_at=resets_at, then=Least(F("remaining"), limit.remaining))
            changed = RateBudget.objects.filter(identity=identity, resource=limit.resource).update(
                limit=limit.limit,
                remaining=Case(same_window, default=Value(limit.remaining)),
                resets_at=resets_at,
                updated=timezone.now(),
            )
            if not changed:
                with transaction.atomic():
                    RateBudget.objects.create(
                        identity=identity,
                        resource=limit.resource,
                        limit=limit.limit,
                        remaining=limit.remaining,
                        resets_at=resets_at,
                    )
        except IntegrityError:  # created meanwhile by another process: next answer updates it
            pass
        except DatabaseError:  # the call itself went through; the budget is a guide
            logger.warning("could not record GitHub's rate limit for %s", identity)

    def held_off(self, identity: str, until: float) -> None:
        held = _when(until)
        try:
            changed = RateBudget.objects.filter(identity=identity).update(held_until=held)
            if not changed:
                with transaction.atomic():
                    RateBudget.objects.create(identity=identity, held_until=held)
        except (IntegrityError, DatabaseError):
            logger.warning("could not record that GitHub asked %s to wait", identity)


class DatabaseCache:
    """The `ResponseCache` of citriage.providers.github, kept in CachedResponse rows."""

    def get(self, key: str) -> Cached | None:
        row = CachedResponse.objects.filter(key=key).first()
        if row is None:
            return None
        CachedResponse.objects.filter(pk=row.pk).update(used_at=timezone.now())
        body = zstandard.ZstdDecompressor().decompressobj().decompress(bytes(row.body))
        return Cached(row.etag, body, row.next_url or None)

    def put(self, key: str, answer: Cached) -> None:
        try:
            with transaction.atomic():
                CachedResponse.objects.update_or_create(
                    key=key,
                    defaults={
                        "etag": answer.etag[:200],
                        "body": zstandard.ZstdCompressor(level=3).compress(answer.body),
                        "next_url": answer.next_url or "",
                        "used_at": timezone.now(),
                    },
                )
        except (IntegrityError, DatabaseError):
            logger.warning("could not keep a GitHub answer for a conditional request")


def unused_responses(days: float) -> int:
    """Forget kept answers not asked for again in `days`; how many."""
    old = timezone.now() - timedelta(days=days)
    return CachedResponse.objects.filter(used_at__lt=old).delete()[0]
