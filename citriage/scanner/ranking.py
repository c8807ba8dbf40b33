"""The best match of a failure: one ranking, used by everything that needs it.

Order (DESIGN.md §4): a promoted (human-chosen) match first, then higher
specificity, then the later line in the log, then a non-retired pattern,
then a literal over a regex, then the newer pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Protocol, TypeVar


class RankedPattern(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def specificity(self) -> int: ...
    @property
    def is_retired(self) -> bool: ...
    @property
    def is_regex(self) -> bool: ...


class Located(Protocol):
    @property
    def pattern_id(self) -> int: ...
    @property
    def line(self) -> int: ...


M = TypeVar("M", bound=Located)


def rank_key(
    pattern: RankedPattern, position: tuple[int, ...] | int, promoted: bool = False
) -> tuple[bool, int, tuple[int, ...], bool, bool, int]:
    """Sort key: the greatest key is the best match.

    `position` orders matches within the failure: the line number, or a tuple
    such as (step index, line) when a job has several logs.
    """
    where = position if isinstance(position, tuple) else (position,)
    return (
        promoted,
        pattern.specificity,
        where,
        not pattern.is_retired,
        not pattern.is_regex,
        pattern.id,
    )


def best_match(
    matches: Iterable[M],
    pattern_of: Callable[[int], RankedPattern | None],
    *,
    position: Callable[[M], tuple[int, ...] | int] = lambda m: m.line,
    promoted: Hashable | None = None,
    key_of: Callable[[M], Hashable] = id,
) -> M | None:
    """The best of `matches`; `promoted` is the key (see `key_of`) of a promoted match."""
    best: M | None = None
    best_key = None
    for match in matches:
        pattern = pattern_of(match.pattern_id)
        if pattern is None:
            continue
        key = rank_key(pattern, position(match), promoted is not None and key_of(match) == promoted)
        if best_key is None or key > best_key:
            best, best_key = match, key
    return best
