"""Propose a pattern for a cluster of failure lines.

A literal when the lines share a long enough specific piece of text; otherwise a
regex made from the signature, its placeholders (numbers, ids, paths) turned
into character classes. Either way the proposal must match every line of the
cluster and, where passing logs are at hand, none of their lines; a proposal
that says nothing specific (an exit-code line) is never made.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from citriage.scanner import patterns as scanner_patterns
from citriage.scanner.boilerplate import is_generic
from citriage.scanner.signature import is_generic_signature, signature

MIN_LITERAL = 16  # shorter shared text is too likely to match unrelated lines
MAX_EXPRESSION = 300

# What each placeholder of a signature stands for, as a regex (no nested repetition).
_PLACEHOLDER_REGEX = {
    "<time>": r"[\d:.TZ+ -]+",
    "<uuid>": r"[0-9a-fA-F-]{36}",
    "<addr>": r"0x[0-9a-fA-F]+",
    "<tmp>": r"\S+",
    "<workspace>": r"\S+",
    "<ip>": r"[\d.]+",
    ":<port>": r":\d+",
    "<hex>": r"[0-9a-f]+",
    "<duration>": r"[\d.]+ ?[a-z]+",
    "<n>": r"[-+]?[\d.e+-]+",
}
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in _PLACEHOLDER_REGEX))


@dataclass(frozen=True)
class Suggestion:
    expression: str
    is_regex: bool


def suggest(lines: Sequence[str], passing: Iterable[str] = ()) -> Suggestion | None:
    """A pattern matching every line of `lines` and no line of `passing` (None if none fits)."""
    lines = [line for line in lines if line.strip()]
    if not lines:
        return None
    passing = list(passing)
    key = signature(lines[0])
    if is_generic_signature(key):
        return None  # an exit-code line explains nothing
    literal = _shared_literal(lines)
    if literal and _fits(Suggestion(literal, False), lines, passing):
        return Suggestion(literal, False)
    regex = _regex_from_signature(key)
    suggestion = Suggestion(regex, True)
    if _fits(suggestion, lines, passing) and _valid(suggestion):
        return suggestion
    return None


def _shared_literal(lines: Sequence[str]) -> str | None:
    """The longest piece of the first signature's fixed text found in every line."""
    pieces = [piece.strip() for piece in _PLACEHOLDER.split(signature(lines[0]))]
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) < MIN_LITERAL:
            return None
        piece = piece[:MAX_EXPRESSION]
        if all(piece in line for line in lines) and not is_generic(piece):
            return piece
    return None


def _regex_from_signature(key: str) -> str:
    parts = []
    position = 0
    for m in _PLACEHOLDER.finditer(key):
        parts.append(re.escape(key[position : m.start()]))
        parts.append(_PLACEHOLDER_REGEX[m.group()])
        position = m.end()
    parts.append(re.escape(key[position:]))
    # A signature collapses runs of blanks: match any run.
    return "".join(parts).replace(r"\ ", r"\s+")[: MAX_EXPRESSION * 3]


def _fits(suggestion: Suggestion, lines: Sequence[str], passing: Sequence[str]) -> bool:
    if suggestion.is_regex:
        compiled = re.compile(suggestion.expression)
        return all(compiled.search(line) for line in lines) and not any(
            compiled.search(line) for line in passing
        )
    return all(suggestion.expression in line for line in lines) and not any(
        suggestion.expression in line for line in passing
    )


def _valid(suggestion: Suggestion) -> bool:
    """The pattern library accepts it (compiles, cannot backtrack badly, not too long)."""
    try:
        scanner_patterns.validate(
            scanner_patterns.Pattern(id=1, expression=suggestion.expression, is_regex=True)
        )
    except scanner_patterns.PatternError:
        return False
    return True
