"""Annotated breakages of the default branch: creating and editing them, with every change
kept (BreakageEdit), and how long they lasted. What an edit changes in the verdicts is
decided by citriage.triage.refresh."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from citriage.ci.models import Commit, Repository
from citriage.triage.models import Breakage, BreakageEdit


def snapshot(breakage: Breakage) -> dict[str, Any]:
    return {
        "cause": breakage.cause.sha if breakage.cause_id else None,
        "fix": breakage.fix.sha if breakage.fix_id and breakage.fix else None,
        "jobs": list(breakage.jobs),
        "description": breakage.description,
        "category": breakage.category,
        "issue_url": breakage.issue_url,
    }


def record(breakage: Breakage, editor: str, action: str, before: dict[str, Any]) -> None:
    """Keep the change in the breakage's history (nothing when nothing changed)."""
    after = snapshot(breakage)
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    if changes or action == "created":
        BreakageEdit.objects.create(
            breakage=breakage, editor=editor, action=action, changes=changes
        )


def create_breakage(
    repository: Repository,
    *,
    cause: Commit,
    fix: Commit | None = None,
    jobs: Sequence[str] = (),
    description: str = "",
    category: str = "code",
    issue_url: str = "",
    reporter: str = "",
) -> Breakage:
    """Validate and save a new breakage (ValidationError names the problem)."""
    breakage = Breakage(
        repository=repository,
        cause=cause,
        fix=fix,
        jobs=sorted(set(jobs)),
        description=description,
        category=category,
        issue_url=issue_url,
        reporter=reporter,
    )
    breakage.full_clean()
    with transaction.atomic():
        breakage.save()
        record(breakage, reporter, "created", {})
    return breakage


def update_breakage(
    breakage: Breakage, *, editor: str, action: str = "edited", **values: Any
) -> Breakage:
    """Change some fields (cause, fix, jobs, description, category, issue_url), validated,
    with history.
    On a validation error nothing is saved and the row in the database is unchanged."""
    before = snapshot(breakage)
    for name, value in values.items():
        if name not in ("cause", "fix", "jobs", "description", "category", "issue_url"):
            raise ValueError(f"cannot change {name!r} of a breakage")
        setattr(breakage, name, sorted(set(value)) if name == "jobs" else value)
    try:
        breakage.full_clean()
    except Exception:
        breakage.refresh_from_db()
        raise
    with transaction.atomic():
        breakage.save()
        record(breakage, editor, action, before)
    return breakage


def close_by_revert(breakage: Breakage, revert: Commit, *, editor: str) -> Breakage:
    """The revert fixed the breakage: it becomes the first fixed commit."""
    return update_breakage(
        breakage, editor=editor, action=f"closed by revert {revert.sha[:10]}", fix=revert
    )


def duration(breakage: Breakage) -> timedelta | None:
    """How long the branch was broken: cause to fix (or to now while ongoing)."""
    start = breakage.cause.committed_at
    if start is None:
        return None
    end = breakage.fix.committed_at if breakage.fix else timezone.now()
    return None if end is None else end - start
