"""Patterns: the labeled expressions a log is scanned for, their validation and file formats.

Two file formats load here:

* the original Dr. CI dump (a JSON list of `{author, created, payload: {db_id,
  record}}`), unchanged, keeping `db_id` as the pattern id;
* citriage's own format, YAML or JSON: `{"format": "citriage-patterns/1",
  "patterns": [...]}` with one flat mapping per pattern. Export then import
  gives back the same patterns, and import then export the same document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from citriage.rules import parse_time
from citriage.scanner import regex_analysis

FORMAT = "citriage-patterns/1"
MAX_EXPRESSION_LENGTH = 1000
MAX_DESCRIPTION_LENGTH = 2000


class PatternError(ValueError):
    """A pattern (or a pattern file) is invalid; the message names the pattern."""


@dataclass(frozen=True)
class Pattern:
    id: int
    expression: str
    is_regex: bool = False
    has_nondeterministic_values: bool = False
    description: str = ""
    tags: tuple[str, ...] = ()
    applicable_steps: tuple[str, ...] = ()  # empty: every step
    specificity: int = 1  # higher wins the best-match ranking
    lines_from_end: int | None = None  # match only this line from the end (0 = last)
    is_retired: bool = False
    author: str = ""
    created: datetime | None = None
    _compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        shown = self.expression if len(self.expression) <= 60 else self.expression[:57] + "..."
        return f"pattern {self.id} ({'regex' if self.is_regex else 'literal'} {shown!r})"

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled regex (for literal patterns: the escaped literal)."""
        if self._compiled is None:
            source = self.expression if self.is_regex else re.escape(self.expression)
            object.__setattr__(self, "_compiled", re.compile(source))
        assert self._compiled is not None
        return self._compiled

    def applies_to_step(self, step: str | None) -> bool:
        return step is None or not self.applicable_steps or step in self.applicable_steps

    def validated(self) -> Pattern:
        validate(self)
        return self


def validate(pattern: Pattern) -> None:
    """Raise PatternError (naming the pattern) when it cannot be scanned safely."""
    where = pattern.label
    if not pattern.expression:
        raise PatternError(f"{where}: the expression is empty")
    if len(pattern.expression) > MAX_EXPRESSION_LENGTH:
        raise PatternError(
            f"{where}: the expression has {len(pattern.expression)} characters; "
            f"the limit is {MAX_EXPRESSION_LENGTH}"
        )
    if "\n" in pattern.expression and not pattern.is_regex:
        raise PatternError(f"{where}: a literal cannot contain a newline (logs match per line)")
    texts = (pattern.expression, pattern.description, *pattern.tags, *pattern.applicable_steps)
    if any("\x00" in text for text in texts):
        # Stripped logs never hold NUL, and PostgreSQL cannot store it.
        raise PatternError(f"{where}: NUL characters are not allowed")
    if len(pattern.description) > MAX_DESCRIPTION_LENGTH:
        raise PatternError(f"{where}: the description is longer than {MAX_DESCRIPTION_LENGTH}")
    if pattern.lines_from_end is not None and pattern.lines_from_end < 0:
        raise PatternError(f"{where}: lines_from_end must be 0 (last line) or more")
    if pattern.is_regex:
        try:
            re.compile(pattern.expression)
        except re.error as exc:
            raise PatternError(f"{where}: the regex does not compile: {exc}") from None
        except RecursionError:
            raise PatternError(f"{where}: the regex is nested too deeply") from None
        risk = regex_analysis.backtracking_risk(pattern.expression)
        if risk:
            raise PatternError(
                f"{where}: rejected because a backtracking regex engine could take "
                f"exponential or very long time on it: {risk}. Rewrite it so that each part "
                "of a line can be matched in only one way: merge neighbouring repetitions, "
                "or separate them with text they cannot match."
            )
    for tag in pattern.tags:
        if not tag or any(c.isspace() for c in tag):
            raise PatternError(f"{where}: tag {tag!r} must be a non-empty word")


# -- the original Dr. CI dump ------------------------------------------------


def _parse_time(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise PatternError(f"{where}: 'created' is not an ISO 8601 time: {value!r}")
    return parsed


def from_drci_entry(entry: Any) -> Pattern:
    """One entry of the original Dr. CI pattern dump."""
    try:
        payload = entry["payload"]
        pattern_id = int(payload["db_id"])
        record = payload["record"]
        expression = record["expression"]
    except (KeyError, TypeError, ValueError) as exc:
        raise PatternError(f"Dr. CI pattern entry {str(entry)[:80]!r}: missing {exc}") from None
    where = f"pattern {pattern_id}"
    tag = expression.get("tag")
    contents = expression.get("contents")
    if tag == "LiteralExpression" and isinstance(contents, str):
        text, is_regex, nondeterministic = contents, False, False
    elif tag == "RegularExpression" and isinstance(contents, list) and len(contents) == 2:
        text, is_regex, nondeterministic = str(contents[0]), True, bool(contents[1])
    else:
        raise PatternError(f"{where}: unknown expression {expression!r}")
    return Pattern(
        id=pattern_id,
        expression=text,
        is_regex=is_regex,
        has_nondeterministic_values=nondeterministic,
        description=record.get("description") or "",
        tags=tuple(record.get("tags") or ()),
        applicable_steps=tuple(record.get("applicable_steps") or ()),
        specificity=int(record.get("specificity", 1)),
        lines_from_end=record.get("lines_from_end"),
        is_retired=bool(record.get("is_retired", False)),
        author=entry.get("author") or "",
        created=_parse_time(entry.get("created"), where),
    ).validated()


# -- citriage's own format ---------------------------------------------------

_OWN_KEYS = {
    "id",
    "literal",
    "regex",
    "nondeterministic",
    "description",
    "tags",
    "applicable_steps",
    "specificity",
    "lines_from_end",
    "retired",
    "author",
    "created",
}


def to_dict(pattern: Pattern) -> dict[str, Any]:
    """A pattern in citriage's own format (every field, in a fixed order)."""
    return {
        "id": pattern.id,
        ("regex" if pattern.is_regex else "literal"): pattern.expression,
        "nondeterministic": pattern.has_nondeterministic_values,
        "description": pattern.description,
        "tags": list(pattern.tags),
        "applicable_steps": list(pattern.applicable_steps),
        "specificity": pattern.specificity,
        "lines_from_end": pattern.lines_from_end,
        "retired": pattern.is_retired,
        "author": pattern.author,
        "created": pattern.created.isoformat() if pattern.created else None,
    }


def from_dict(data: Any, position: int) -> Pattern:
    """A pattern from citriage's own format; `position` names it in errors."""
    if not isinstance(data, dict):
        raise PatternError(f"pattern #{position}: expected a mapping, got {type(data).__name__}")
    where = f"pattern {data.get('id', '#' + str(position))}"
    unknown = set(data) - _OWN_KEYS
    if unknown:
        raise PatternError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if ("literal" in data) == ("regex" in data):
        raise PatternError(f"{where}: give exactly one of 'literal' or 'regex'")
    try:
        pattern_id = int(data["id"])
        specificity = int(data.get("specificity", 1))
        lines_from_end = data.get("lines_from_end")
        if lines_from_end is not None:
            lines_from_end = int(lines_from_end)
    except KeyError:
        raise PatternError(f"{where}: 'id' is required") from None
    except (TypeError, ValueError) as exc:
        raise PatternError(f"{where}: {exc}") from None
    is_regex = "regex" in data
    expression = data["regex" if is_regex else "literal"]
    if not isinstance(expression, str):
        raise PatternError(f"{where}: the expression must be a string")
    tags, steps = data.get("tags") or [], data.get("applicable_steps") or []
    if not isinstance(tags, list) or not isinstance(steps, list):
        raise PatternError(f"{where}: 'tags' and 'applicable_steps' must be lists")
    return Pattern(
        id=pattern_id,
        expression=expression,
        is_regex=is_regex,
        has_nondeterministic_values=bool(data.get("nondeterministic", False)),
        description=str(data.get("description") or ""),
        tags=tuple(str(t) for t in tags),
        applicable_steps=tuple(str(s) for s in steps),
        specificity=specificity,
        lines_from_end=lines_from_end,
        is_retired=bool(data.get("retired", False)),
        author=str(data.get("author") or ""),
        created=_parse_time(data.get("created"), where),
    ).validated()


def _document(text: str | bytes, source: str) -> Any:
    """JSON is read as JSON (fast); anything else as YAML, with libyaml when it is there."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml  # here: a JSON library (and `citriage scan` with one) need not load it

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise PatternError(f"{source}: not valid YAML or JSON: {exc}") from None


def loads(text: str | bytes, source: str = "<patterns>") -> list[Pattern]:
    """Patterns from a document in either format (JSON or YAML), validated."""
    document = _document(text, source)
    if isinstance(document, list):
        patterns = [from_drci_entry(entry) for entry in document]
    elif isinstance(document, dict) and document.get("format") == FORMAT:
        entries = document.get("patterns")
        if not isinstance(entries, list):
            raise PatternError(f"{source}: 'patterns' must be a list")
        patterns = [from_dict(entry, i + 1) for i, entry in enumerate(entries)]
    else:
        raise PatternError(
            f"{source}: expected a Dr. CI pattern dump (a JSON list) or a "
            f"citriage pattern file (a mapping with format: {FORMAT})"
        )
    seen: set[int] = set()
    for pattern in patterns:
        if pattern.id in seen:
            raise PatternError(f"{source}: pattern id {pattern.id} appears twice")
        seen.add(pattern.id)
    return patterns


def load(path: str | Path) -> list[Pattern]:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PatternError(f"{path}: cannot read: {exc.strerror}") from None
    return loads(text, str(path))


def dumps(patterns: Iterable[Pattern], *, as_json: bool = False) -> str:
    """Patterns as a citriage pattern file (YAML by default)."""
    document = {"format": FORMAT, "patterns": [to_dict(p) for p in patterns]}
    if as_json:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    import yaml

    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1000)


def default_library() -> list[Pattern]:
    """citriage's own pattern library, shipped with the package."""
    return load(Path(__file__).with_name("default_patterns.yaml"))


def with_id(pattern: Pattern, new_id: int) -> Pattern:
    return replace(pattern, id=new_id, _compiled=None)


def by_id(patterns: Sequence[Pattern]) -> dict[int, Pattern]:
    return {p.id: p for p in patterns}
