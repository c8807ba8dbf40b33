"""Changing the pattern library: import, export, create, edit, retire, supersede, and
installing citriage's default library.

Every change that can alter results queues the work it implies: a new pattern
queues the backlog scan (every log is now below the watermark); a mutable edit
re-ranks the jobs the pattern matched, without reading any log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from citriage.ci.models import JobAttempt
from citriage.patterns import scanning
from citriage.patterns.models import DefaultPattern, Match, Pattern, PromotedMatch, Tag
from citriage.patterns.tasks import rerank_pattern_task, scan_backlog_task
from citriage.scanner import patterns as scanner_patterns

MUTABLE_FIELDS = ("description", "specificity", "has_nondeterministic_values", "tags", "is_retired")


class LibraryError(ValueError):
    """A change to the library was refused; the message says why."""


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)


def _same_expression(row: Pattern, pattern: scanner_patterns.Pattern) -> bool:
    return (
        row.expression == pattern.expression
        and row.is_regex == pattern.is_regex
        and list(row.applicable_steps) == list(pattern.applicable_steps)
        and row.lines_from_end == pattern.lines_from_end
    )


def _set_tags(row: Pattern, names: Iterable[str]) -> None:
    tags = [Tag.objects.get_or_create(name=name)[0] for name in sorted(set(names))]
    row.tags.set(tags)


def _queue_scan() -> None:
    transaction.on_commit(lambda: scan_backlog_task.enqueue())


def _queue_rerank(pattern_id: int) -> None:
    transaction.on_commit(lambda: rerank_pattern_task.enqueue(pattern_id))


def _reset_id_sequence() -> None:
    """After rows were inserted with explicit ids, let PostgreSQL's sequence catch up."""
    statements = connection.ops.sequence_reset_sql(no_style(), [Pattern])
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _row_from(pattern: scanner_patterns.Pattern, **overrides: Any) -> Pattern:
    values: dict[str, Any] = {
        "expression": pattern.expression,
        "is_regex": pattern.is_regex,
        "has_nondeterministic_values": pattern.has_nondeterministic_values,
        "description": pattern.description,
        "applicable_steps": list(pattern.applicable_steps),
        "specificity": pattern.specificity,
        "lines_from_end": pattern.lines_from_end,
        "is_retired": pattern.is_retired,
        "retired_at": timezone.now() if pattern.is_retired else None,
        "author": pattern.author,
        "created": pattern.created or timezone.now(),
    }
    values.update(overrides)
    return Pattern(**values)


def import_patterns(
    patterns: Iterable[scanner_patterns.Pattern], *, renumber: bool = False
) -> ImportReport:
    """Add patterns to the library.

    Ids are kept (the Dr. CI dump's `db_id`, our own format's `id`). A pattern
    whose id is taken by the same expression updates that pattern's mutable
    fields; by a different expression it is refused, unless `renumber` is
    given: then patterns get new ids, and ones already present (same
    expression) are left alone.
    """
    report = ImportReport()
    with transaction.atomic():
        for pattern in patterns:
            if renumber:
                existing = [
                    row
                    for row in Pattern.objects.filter(expression=pattern.expression)
                    if _same_expression(row, pattern)
                ]
                if existing:
                    report.unchanged.append(existing[0].pk)
                    continue
                row = _row_from(pattern)
                row.save()
                _set_tags(row, pattern.tags)
                report.created.append(row.pk)
                continue
            found = Pattern.objects.filter(pk=pattern.id).first()
            if found is None:
                row = _row_from(pattern, id=pattern.id)
                row.save(force_insert=True)
                _set_tags(row, pattern.tags)
                report.created.append(row.pk)
                continue
            row = found
            if not _same_expression(row, pattern):
                raise LibraryError(
                    f"pattern {pattern.id} already exists with a different expression "
                    f"({row.expression[:60]!r}); import with --renumber to add these "
                    "as new patterns"
                )
            elif _mutable_values(row) != _mutable_values_of(pattern):
                edit_pattern(row, **_mutable_values_of(pattern))
                report.updated.append(row.pk)
            else:
                report.unchanged.append(row.pk)
        if report.created and not renumber:
            _reset_id_sequence()
        if report.created:
            _queue_scan()
    return report


def _mutable_values(row: Pattern) -> dict[str, Any]:
    return {
        "description": row.description,
        "specificity": row.specificity,
        "has_nondeterministic_values": row.has_nondeterministic_values,
        "tags": row.tag_names(),
        "is_retired": row.is_retired,
    }


def _mutable_values_of(pattern: scanner_patterns.Pattern) -> dict[str, Any]:
    return {
        "description": pattern.description,
        "specificity": pattern.specificity,
        "has_nondeterministic_values": pattern.has_nondeterministic_values,
        "tags": tuple(sorted(pattern.tags)),
        "is_retired": pattern.is_retired,
    }


def export_patterns(*, include_retired: bool = True) -> list[scanner_patterns.Pattern]:
    rows = Pattern.objects.prefetch_related("tags").order_by("id")
    if not include_retired:
        rows = rows.filter(is_retired=False)
    return [row.to_scanner() for row in rows]


def create_pattern(
    expression: str,
    *,
    is_regex: bool = False,
    description: str = "",
    tags: Iterable[str] = (),
    applicable_steps: Iterable[str] = (),
    specificity: int = 1,
    lines_from_end: int | None = None,
    has_nondeterministic_values: bool = False,
    author: str = "",
    supersedes: Pattern | None = None,
) -> Pattern:
    """Validate and add a pattern; the backlog scan applies it to every stored log."""
    candidate = scanner_patterns.Pattern(
        id=0,
        expression=expression,
        is_regex=is_regex,
        has_nondeterministic_values=has_nondeterministic_values,
        description=description,
        tags=tuple(tags),
        applicable_steps=tuple(applicable_steps),
        specificity=specificity,
        lines_from_end=lines_from_end,
        author=author,
    )
    try:
        candidate.validated()
    except scanner_patterns.PatternError as exc:
        raise LibraryError(str(exc).replace("pattern 0 ", "the new pattern ", 1)) from None
    with transaction.atomic():
        row = _row_from(replace(candidate, created=timezone.now()), supersedes=supersedes)
        row.save()
        _set_tags(row, candidate.tags)
        if supersedes is not None and not supersedes.is_retired:
            edit_pattern(supersedes, is_retired=True)
        _queue_scan()
    return row


def supersede_pattern(old: Pattern, **changes: Any) -> Pattern:
    """A new pattern replacing `old` (which is retired), for changes to immutable fields."""
    values: dict[str, Any] = {
        "expression": old.expression,
        "is_regex": old.is_regex,
        "description": old.description,
        "tags": old.tag_names(),
        "applicable_steps": old.applicable_steps,
        "specificity": old.specificity,
        "lines_from_end": old.lines_from_end,
        "has_nondeterministic_values": old.has_nondeterministic_values,
        "author": old.author,
    }
    values.update(changes)
    return create_pattern(supersedes=old, **values)


def edit_pattern(row: Pattern, **changes: Any) -> Pattern:
    """Change mutable fields; queues a re-rank of the jobs the pattern matched."""
    immutable = set(changes) & set(Pattern.IMMUTABLE_FIELDS)
    if immutable:
        raise LibraryError(
            f"{', '.join(sorted(immutable))} cannot change on pattern {row.pk}; "
            "create a new pattern that supersedes it instead"
        )
    unknown = set(changes) - set(MUTABLE_FIELDS)
    if unknown:
        raise LibraryError(f"unknown field(s): {', '.join(sorted(unknown))}")
    with transaction.atomic():
        tags = changes.pop("tags", None)
        if "is_retired" in changes:
            retired = bool(changes["is_retired"])
            if row.is_retired and not retired:
                raise LibraryError(
                    f"pattern {row.pk} is retired; to use it again, create a new pattern from it "
                    "(a retired pattern was skipped by scans since, so it cannot simply return)"
                )
            if retired and not row.is_retired:
                row.retired_at = timezone.now()
        for name, value in changes.items():
            setattr(row, name, value)
        row.save()
        if tags is not None:
            _set_tags(row, tags)
        _queue_rerank(row.pk)
    return row


def promote_match(job: JobAttempt, match: Match, by: str) -> None:
    """A person's choice of a job's best match wins over the ranking (DESIGN.md §4)."""
    with transaction.atomic():
        PromotedMatch.objects.update_or_create(
            job=job,
            defaults={
                "log_id": match.log_id,
                "pattern_id": match.pattern_id,
                "line": match.line,
                "promoted_by": by,
            },
        )
        scanning.update_best_matches([job.pk])


def install_default_library() -> list[int]:
    """Add the patterns of citriage's default library that were never installed here.

    Each default pattern is installed once: one edited, retired or deleted since stays
    as the user left it; one a newer citriage ships is added. Its id is kept unless a
    different pattern has it (then it gets a new one). Returns the ids added.
    """
    with transaction.atomic():
        done = set(DefaultPattern.objects.values_list("library_id", flat=True))
        wanted = [p for p in scanner_patterns.default_library() if p.id not in done]
        if not wanted:
            return []
        taken = {row.pk: row for row in Pattern.objects.filter(pk__in=[p.id for p in wanted])}
        added: list[int] = []
        clashing = []
        for pattern in wanted:  # first the ones whose id is free (or theirs already)
            row = taken.get(pattern.id)
            if row is not None and not _same_expression(row, pattern):
                clashing.append(pattern)
                continue
            if row is None:  # (else: there already, loaded before installs were recorded)
                row = _row_from(pattern, id=pattern.id)
                row.save(force_insert=True)
                _set_tags(row, pattern.tags)
                added.append(row.pk)
            DefaultPattern.objects.create(library_id=pattern.id, pattern_id=row.pk)
        if added:
            _reset_id_sequence()
        for pattern in clashing:  # a pattern of the user's has the id: a new one
            row = _row_from(pattern)
            row.save()
            _set_tags(row, pattern.tags)
            added.append(row.pk)
            DefaultPattern.objects.create(library_id=pattern.id, pattern_id=row.pk)
        if added:
            _queue_scan()
    return added
