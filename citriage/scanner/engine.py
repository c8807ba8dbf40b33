"""Scan a log for every pattern of a set in one pass.

Semantics (the seed's, and the reference the tests hold us to): each line on
its own, case-sensitive, the first match of each pattern on each line
(`re.search`), `lines_from_end` restricting a pattern to one line counted
from the end, `applicable_steps` by step name, retired patterns skipped.

How: every pattern is reduced to strings one of which any match must contain
(`regex_analysis.required_literals`; a literal pattern is its own string).
Hyperscan finds all of them in a single pass over the log; without Hyperscan,
`bytes.find` does. Only the lines that hold such a string are decoded and
checked with Python `re`, which decides span and captures, so both engines
give exactly `re`'s answer. The few regexes without a usable required string
are searched line by line with `re`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from citriage.scanner import regex_analysis
from citriage.scanner.logtext import LogText, count_newlines
from citriage.scanner.patterns import Pattern

try:
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]

EngineName = Literal["auto", "hyperscan", "re"]
HAVE_HYPERSCAN = hyperscan is not None


@dataclass(frozen=True, slots=True)
class Match:
    pattern_id: int
    line: int  # 1-based
    start: int  # span [start, end) in characters of the stripped line
    end: int
    text: str  # the stripped line
    captures: tuple[str | None, ...] = ()

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


@dataclass(frozen=True)
class _Needles:
    """The prefilter: distinct strings and, for each, the patterns it stands for."""

    strings: tuple[bytes, ...]
    owners: tuple[tuple[int, ...], ...]  # needle index -> pattern indexes


class PatternSet:
    """A compiled set of patterns. Compile once, scan many logs."""

    def __init__(self, patterns: Iterable[Pattern], engine: EngineName = "auto") -> None:
        if engine == "hyperscan" and not HAVE_HYPERSCAN:
            raise RuntimeError("the hyperscan package is not installed on this machine")
        self.engine: str = "hyperscan" if engine != "re" and HAVE_HYPERSCAN else "re"
        self.patterns: tuple[Pattern, ...] = tuple(p for p in patterns if not p.is_retired)
        needle_owners: dict[bytes, list[int]] = defaultdict(list)
        self._line_scan: list[int] = []  # patterns searched on every line
        self._anchored: list[int] = []  # patterns with lines_from_end: one line each
        for index, pattern in enumerate(self.patterns):
            if pattern.lines_from_end is not None:
                self._anchored.append(index)
                continue
            needles = _needles(pattern.expression, pattern.is_regex)
            if needles is None:
                self._line_scan.append(index)
                continue
            for needle in needles:
                needle_owners[needle].append(index)
        strings = tuple(needle_owners)
        self._needles = _Needles(strings, tuple(tuple(needle_owners[s]) for s in strings))
        self._database = _database(strings) if self.engine == "hyperscan" and strings else None

    def __len__(self) -> int:
        return len(self.patterns)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(p.id for p in self.patterns)

    def subset(self, ids: Iterable[int]) -> PatternSet:
        """The same engine over only some of the patterns (e.g. the ones just added)."""
        wanted = set(ids)
        engine: EngineName = "re" if self.engine == "re" else "hyperscan"
        return PatternSet([p for p in self.patterns if p.id in wanted], engine)

    def scan(self, log: LogText, step: str | None = None) -> list[Match]:
        """All matches in `log`, ordered by line then pattern id.

        `step` is the name of the step the log belongs to; None means every
        pattern applies whatever its `applicable_steps`.
        """
        if not log.data or not self.patterns:
            return []
        allowed = [p.applies_to_step(step) for p in self.patterns]
        data = log.data
        found: list[Match] = []
        candidates = self._candidate_lines(data)
        owners = self._needles.owners
        for line_no, start, end, needle_ids in candidates:
            text = data[start:end].decode("utf-8")
            checked: set[int] = set()
            for needle in needle_ids:
                for index in owners[needle]:
                    if index in checked or not allowed[index]:
                        continue
                    checked.add(index)
                    match = _confirm(self.patterns[index], text, line_no)
                    if match:
                        found.append(match)
        if self._anchored:
            found.extend(self._scan_anchored(log, allowed))
        if self._line_scan:
            found.extend(self._scan_every_line(log, allowed))
        found.sort(key=lambda m: (m.line, m.pattern_id))
        return found

    def _candidate_lines(self, data: bytes) -> list[tuple[int, int, int, list[int]]]:
        """(line number, start, end, needle ids) of every line holding a needle."""
        hits = self._hyperscan_hits(data) if self._database is not None else self._find_hits(data)
        lines: list[tuple[int, int, int, list[int]]] = []
        line_no, counted_to = 1, 0
        line_end = -1
        for end_offset, needle in hits:
            if end_offset > line_end:
                start = data.rfind(b"\n", 0, end_offset - 1) + 1
                line_end = data.find(b"\n", end_offset - 1)
                if line_end < 0:
                    line_end = len(data)
                line_no += count_newlines(data, counted_to, start)
                counted_to = start
                lines.append((line_no, start, line_end, [needle]))
            else:
                lines[-1][3].append(needle)
        return lines

    def _hyperscan_hits(self, data: bytes) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        append = hits.append

        def on_match(needle: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
            append((end, needle))

        assert self._database is not None
        with _SCAN_LOCK:
            self._database.scan(data, match_event_handler=on_match)
        hits.sort()
        return hits

    def _find_hits(self, data: bytes) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        for needle_id, needle in enumerate(self._needles.strings):
            find = data.find
            pos = find(needle)
            while pos >= 0:
                hits.append((pos + len(needle), needle_id))
                next_line = find(b"\n", pos)
                if next_line < 0:
                    break
                pos = find(needle, next_line + 1)
        hits.sort()
        return hits

    def _scan_anchored(self, log: LogText, allowed: list[bool]) -> list[Match]:
        found = []
        total = log.line_count
        for index in self._anchored:
            pattern = self.patterns[index]
            assert pattern.lines_from_end is not None
            line_no = total - pattern.lines_from_end
            if allowed[index] and 1 <= line_no <= total:
                match = _confirm(pattern, log.line(line_no), line_no)
                if match:
                    found.append(match)
        return found

    def _scan_every_line(self, log: LogText, allowed: list[bool]) -> list[Match]:
        searches = [(i, self.patterns[i]) for i in self._line_scan if allowed[i]]
        found = []
        for line_no, text in enumerate(log.lines(), start=1):
            for _index, pattern in searches:
                match = _confirm(pattern, text, line_no)
                if match:
                    found.append(match)
        return found


def _needles(expression: str, is_regex: bool) -> frozenset[bytes] | None:
    """Prefilter strings for a pattern; None when it must be searched on every line."""
    if not is_regex:
        literals: frozenset[str] | None = frozenset([expression])
    else:
        literals = regex_analysis.required_literals(expression)
    if literals is None:
        return None
    # A required string spanning a newline cannot occur within one line: that
    # alternative can never match, so it needs no looking for.
    return frozenset(s.encode("utf-8") for s in literals if "\n" not in s)


def _confirm(pattern: Pattern, text: str, line_no: int) -> Match | None:
    if pattern.is_regex:
        m = pattern.regex.search(text)
        if m is None:
            return None
        return Match(pattern.id, line_no, m.start(), m.end(), text, m.groups())
    start = text.find(pattern.expression)
    if start < 0:
        return None
    return Match(pattern.id, line_no, start, start + len(pattern.expression), text)


_SCAN_LOCK = threading.Lock()  # a Hyperscan database shares one scratch space


@lru_cache(maxsize=64)
def _database(strings: tuple[bytes, ...]) -> Any:
    """One Hyperscan literal database per distinct needle set, compiled once per process."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=list(strings),
        ids=list(range(len(strings))),
        elements=len(strings),
        flags=0,
        literal=True,
    )
    return database


def scan(
    log: LogText,
    patterns: Sequence[Pattern] | PatternSet,
    step: str | None = None,
    engine: EngineName = "auto",
) -> list[Match]:
    """Convenience: compile (cached by the caller if it matters) and scan one log."""
    pattern_set = patterns if isinstance(patterns, PatternSet) else PatternSet(patterns, engine)
    return pattern_set.scan(log, step)
