"""JSON API of flaky tests: each repository's quarantine (what `citriage tests check` reads
in CI) and its tests' health; quarantining and releasing a test (write access)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from citriage.ci.models import Repository
from citriage.flaky import quarantine
from citriage.flaky.models import Quarantine, State, TestHealth
from citriage.testresults.models import Test
from citriage.web.access import writer

router = Router(tags=["flaky tests"])


class QuarantineOut(Schema):
    id: int
    test_id: int
    key: str  # the test's stored key (sha1 of its normalised suite and name)
    suite: str
    name: str
    label: str
    source: str
    reason: str
    created_by: str
    created: datetime
    expires_at: datetime | None
    ended_at: datetime | None
    ended_by: str
    end_reason: str
    issue_url: str
    active: bool


class QuarantineListOut(Schema):
    repository: str
    quarantined: list[QuarantineOut]


def _repository(owner: str, name: str) -> Repository:
    return get_object_or_404(Repository, owner=owner, name=name)


def _out(row: Quarantine, now: datetime) -> QuarantineOut:
    test = row.test
    return QuarantineOut(
        id=row.pk,
        test_id=test.pk,
        key=test.key,
        suite=test.suite,
        name=test.name,
        label=test.label,
        source=row.source,
        reason=row.reason,
        created_by=row.created_by,
        created=row.created,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        end_reason=row.end_reason,
        issue_url=row.issue_url,
        active=row.active_at(now),
    )


@router.get("/repos/{owner}/{name}/quarantine", response=QuarantineListOut)
def list_quarantine(
    request: HttpRequest, owner: str, name: str, history: bool = False
) -> QuarantineListOut:
    """The repository's quarantined tests (active ones; with `history`, ended and expired
    ones too, newest first)."""
    repository = _repository(owner, name)
    now = timezone.now()
    if history:
        rows = list(Quarantine.objects.filter(repository=repository).select_related("test"))
    else:
        rows = list(quarantine.active(repository, now=now).values())
    return QuarantineListOut(
        repository=repository.full_name, quarantined=[_out(row, now) for row in rows]
    )


class QuarantineIn(Schema):
    test_id: int
    reason: str
    expires_at: datetime | None = None


@router.post(
    "/repos/{owner}/{name}/quarantine",
    response={201: QuarantineOut},
    auth=writer,
)
def add_quarantine(
    request: HttpRequest, owner: str, name: str, data: QuarantineIn
) -> Status[QuarantineOut]:
    """Quarantine a test of the repository: its failures are excused until it ends or
    expires."""
    repository = _repository(owner, name)
    test = get_object_or_404(Test, pk=data.test_id, repository=repository)
    try:
        row = quarantine.add(
            test, by=request.user.get_username(), reason=data.reason, expires_at=data.expires_at
        )
    except quarantine.QuarantineError as exc:
        raise HttpError(400, str(exc)) from None
    return Status(201, _out(row, timezone.now()))


@router.post(
    "/repos/{owner}/{name}/quarantine/{quarantine_id}/end", response=QuarantineOut, auth=writer
)
def end_quarantine(
    request: HttpRequest, owner: str, name: str, quarantine_id: int, reason: str = "ended"
) -> QuarantineOut:
    repository = _repository(owner, name)
    row = get_object_or_404(
        Quarantine.objects.select_related("test"), pk=quarantine_id, repository=repository
    )
    quarantine.end(row, by=request.user.get_username(), reason=reason)
    row.refresh_from_db()
    return _out(row, timezone.now())


class HealthOut(Schema):
    test_id: int
    label: str
    state: str
    since: datetime
    broken_since: str
    branch_runs: int
    branch_failures: int
    evidence: list[dict[str, object]]
    last_evidence_at: datetime | None


@router.get("/repos/{owner}/{name}/test-health", response=list[HealthOut])
def test_health(request: HttpRequest, owner: str, name: str, state: str = "") -> list[HealthOut]:
    """The repository's flaky and broken tests (or those of one `state`), with evidence."""
    repository = _repository(owner, name)
    rows = TestHealth.objects.filter(repository=repository).select_related("test")
    rows = rows.filter(state=state) if state else rows.exclude(state=State.HEALTHY)
    return [
        HealthOut(
            test_id=h.test_id,
            label=h.test.label,
            state=h.state,
            since=h.since,
            broken_since=h.broken_since,
            branch_runs=h.branch_runs,
            branch_failures=h.branch_failures,
            evidence=h.evidence,
            last_evidence_at=h.last_evidence_at,
        )
        for h in rows.order_by("state", "-since")
    ]
