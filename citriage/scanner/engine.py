"""Scan a log for every pattern of a set in one pass, in bounded time and memory.

Semantics (the seed's, and the reference the tests hold us to): each line on
its own, case-sensitive, the first match of each pattern on each line
(`re.search`), `lines_from_end` restricting a pattern to one line counted
from the end, `applicable_steps` by step name, retired patterns skipped.

How:

* Prefilter. Every pattern is reduced to strings one of which any match must
  contain (`regex_analysis.required_literals`; a literal pattern is its own
  string). Hyperscan finds all of them in one pass over each 1 MiB block of
  lines; without Hyperscan, `bytes.find` does. Only the lines that hold such a
  string are checked with the pattern itself.
* Execution. A regex runs on RE2, rewritten so that it means exactly what `re`
  means on a line (`rewrite.to_re2`): RE2's time is linear in the text whatever
  the expression, and it lets other threads run meanwhile. What RE2 cannot
  express (lookaround, backreferences, atomic groups, ...; `\\b` on a line with
  non-ASCII text) runs on the `regex` module, rewritten likewise, with a time
  limit and other threads running. The few patterns without a prefilter string
  are searched by RE2 over 64 KiB stretches of lines, one call per match.
* Time. Each pattern has `time_limit` seconds of CPU time (2 s by default)
  per log. One that uses them up is stopped on that log: `ScanReport.timed_out`
  names it with the reason and none of its matches on that log is returned.
  An RE2 call covers one line (at most 16 KiB once stripped) or one 64 KiB
  stretch, so a pattern overruns its limit by at most one such call; a `regex`
  call is given the time the pattern has left. On a machine whose cores are
  shared, the wall time is longer by the factor they are shared.
* Memory (and time on a log where every line matches). At most
  `MAX_MATCHES_PER_PATTERN` matches of a pattern are kept per log: the first
  999, then the pattern is looked for no further but for its last match, found
  from the end of the log (the best-match ranking prefers the later line);
  `ScanReport.capped` names such patterns.

Every match returned is exactly `re`'s: the tests check both engines against
a plain per-line, per-pattern `re.search` over every log of the shared corpus.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from operator import itemgetter
from typing import Any, Literal

import re2
from re2 import _re2

from citriage.scanner import regex_analysis, rewrite
from citriage.scanner.logtext import LogText, count_newlines
from citriage.scanner.patterns import Pattern

try:
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]

EngineName = Literal["auto", "hyperscan", "re"]
HAVE_HYPERSCAN = hyperscan is not None

TIME_LIMIT = 2.0  # seconds per pattern per log
MAX_MATCHES_PER_PATTERN = 1000  # kept per pattern per log: the first ones and the last
BLOCK_BYTES = 1 << 20  # the prefilter's hits are held for one block of lines at a time
STRETCH_BYTES = 64 << 10  # text per RE2 call for a pattern without a prefilter string
DENSE_HITS = 4000  # a prefilter string this often in a block: RE2 reads the whole block

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = 64 << 20  # room for the exact Unicode classes of large expressions
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NON_ASCII = re.compile(rb"[\x80-\xff]")


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


@dataclass
class ScanReport:
    """What scanning one log found, and which patterns could not finish on it."""

    matches: list[Match]  # ordered by line, then pattern id
    # Pattern id -> why it was stopped on this log (it ran out of time); none of
    # its matches on this log is in `matches`.
    timed_out: dict[int, str] = field(default_factory=dict)
    # Patterns that matched more lines than MAX_MATCHES_PER_PATTERN - 1: only their
    # first MAX_MATCHES_PER_PATTERN - 1 matches and their last are in `matches`.
    capped: frozenset[int] = frozenset()


class _Line:
    """One line of the log's data: byte range, number, and its text when needed."""

    __slots__ = ("_ascii", "_text", "end", "number", "start")

    def __init__(self, start: int, end: int, number: int) -> None:
        self.start, self.end, self.number = start, end, number
        self._text: str | None = None
        self._ascii: bool | None = None

    def text(self, data: bytes) -> str:
        if self._text is None:
            self._text = data[self.start : self.end].decode("utf-8")
        return self._text

    def is_ascii(self, data: bytes) -> bool:
        if self._ascii is None:
            self._ascii = len(self.text(data)) == self.end - self.start
        return self._ascii

    def chars(self, data: bytes, offset: int) -> int:
        """The character position in the line of byte `offset` of the data."""
        if self.is_ascii(data):
            return offset - self.start
        return len(data[self.start : offset].decode("utf-8"))

    def match(self, data: bytes, pattern_id: int, spans: list[tuple[int, int]]) -> Match:
        text = self.text(data)
        captures = tuple(
            None if s < 0 else text[self.chars(data, s) : self.chars(data, e)] for s, e in spans[1:]
        )
        first, last = spans[0]
        return Match(
            pattern_id, self.number, self.chars(data, first), self.chars(data, last), text, captures
        )


class _Program:
    """One pattern, ready to run on the lines of a log."""

    def __init__(self, pattern: Pattern, linear: bool) -> None:
        self.pattern = pattern
        self.literal = None if pattern.is_regex else pattern.expression.encode("utf-8")
        self.linear: Any = None  # the RE2 program
        self.ascii_lines_only = False
        self.fallback_expression: str | None = None  # for the `regex` module program
        self.why_fallback = "" if linear else "the linear-time engine is switched off"
        if not pattern.is_regex:
            return
        if linear:
            try:
                translation = rewrite.to_re2(pattern.expression)
                program = _re2.RE2(translation.expression.encode("ascii"), _RE2_OPTIONS)
                if not program.ok():
                    raise rewrite.Untranslatable(f"RE2 cannot compile it ({program.error()})")
                self.linear, self.ascii_lines_only = program, translation.ascii_lines_only
            except rewrite.Untranslatable as exc:
                self.why_fallback = str(exc)
        if self.linear is None or self.ascii_lines_only:
            self.fallback_expression = rewrite.to_regex_module(pattern.expression).expression

    @cached_property
    def fallback(self) -> Any:
        """The `regex` module program, compiled when first needed: most lines are ASCII and
        most patterns RE2's, and compiling the spelled-out Unicode classes of the default
        library's `\\b` patterns took 0.4 s at every start of `citriage scan`."""
        import regex  # here too: most libraries need none of it, and it takes 10 ms to load

        return regex.compile(self.fallback_expression, regex.VERSION0)

    @property
    def engine(self) -> str:
        if self.literal is not None:
            return "literal"
        if self.linear is None:
            return f"regex module with a time limit ({self.why_fallback})"
        if self.ascii_lines_only:
            return "RE2, and the regex module with a time limit on non-ASCII lines (`\\b`)"
        return "RE2"

    def on_fallback(self, data: bytes, line: _Line) -> bool:
        """Whether this line goes to the time-limited `regex` module."""
        return self.fallback_expression is not None and (
            self.linear is None or not line.is_ascii(data)
        )

    def first_match(self, data: bytes, line: _Line) -> Match | None:
        """`re.search`'s first match on the line, on bytes.find or RE2."""
        if self.literal is not None:
            at = data.find(self.literal, line.start, line.end)
            if at < 0:
                return None
            first = line.chars(data, at)
            last = first + len(self.pattern.expression)
            return Match(self.pattern.id, line.number, first, last, line.text(data))
        spans = self.linear.Match(_UNANCHORED, data, line.start, line.end)
        return None if spans[0][0] < 0 else line.match(data, self.pattern.id, spans)

    def first_match_in_time(self, data: bytes, line: _Line, seconds: float) -> Match | None:
        """The same on the `regex` module; TimeoutError after `seconds` of CPU time."""
        text = line.text(data)
        found = self.fallback.search(text, timeout=max(seconds, 0.001), concurrent=True)
        if found is None:
            return None
        return Match(self.pattern.id, line.number, found.start(), found.end(), text, found.groups())


@dataclass(frozen=True)
class _Needles:
    """The prefilter: distinct strings and, for each, the patterns it stands for."""

    strings: tuple[bytes, ...]
    owners: tuple[tuple[int, ...], ...]  # needle index -> pattern indexes


class PatternSet:
    """A compiled set of patterns. Compile once, scan many logs.

    `engine` picks the prefilter (Hyperscan or `bytes.find`); `linear=False`
    runs every regex on the time-limited `regex` module instead of RE2 (for
    comparisons); `time_limit` is each pattern's time per log, in seconds.
    """

    def __init__(
        self,
        patterns: Iterable[Pattern],
        engine: EngineName = "auto",
        *,
        linear: bool = True,
        time_limit: float = TIME_LIMIT,
    ) -> None:
        if engine == "hyperscan" and not HAVE_HYPERSCAN:
            raise RuntimeError("the hyperscan package is not installed on this machine")
        self.engine: str = "hyperscan" if engine != "re" and HAVE_HYPERSCAN else "re"
        self.linear = linear
        self.time_limit = time_limit
        self.patterns: tuple[Pattern, ...] = tuple(p for p in patterns if not p.is_retired)
        self._programs = [_Program(p, linear) for p in self.patterns]
        needle_owners: dict[bytes, list[int]] = defaultdict(list)
        self._needles_of: list[tuple[bytes, ...]] = [()] * len(self.patterns)
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
            self._needles_of[index] = tuple(needles)
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

    def engines(self) -> dict[int, str]:
        """Pattern id -> the engine that runs it (and why, for the time-limited one)."""
        return {program.pattern.id: program.engine for program in self._programs}

    def subset(self, ids: Iterable[int]) -> PatternSet:
        """The same engine over only some of the patterns (e.g. the ones just added)."""
        wanted = set(ids)
        engine: EngineName = "re" if self.engine == "re" else "hyperscan"
        chosen = [p for p in self.patterns if p.id in wanted]
        return PatternSet(chosen, engine, linear=self.linear, time_limit=self.time_limit)

    def scan(self, log: LogText, step: str | None = None) -> list[Match]:
        """The matches of `run` (without saying which patterns ran out of time)."""
        return self.run(log, step).matches

    def run(self, log: LogText, step: str | None = None) -> ScanReport:
        """Scan `log`: its matches ordered by line then pattern id, and what could not finish.

        `step` is the name of the step the log belongs to; None means every
        pattern applies whatever its `applicable_steps`.
        """
        if not log.data or not self.patterns:
            return ScanReport([])
        scan = _Scan(self, log.data, [p.applies_to_step(step) for p in self.patterns])
        blocks = []
        line_no = 1
        for start, end in _blocks(log.data):
            blocks.append((start, end, line_no))
            self._prefiltered(scan, start, end, line_no)
            for index in self._line_scan:
                scan.sweep_forward(index, start, end, line_no)
            line_no += count_newlines(log.data, start, end)
        for index in self._anchored:
            line = scan.anchored_line(index, log.line_count)
            found = scan.check(index, line) if line is not None else None
            if found is not None:
                scan.keep(index, found)
        for index in list(scan.capped_after):
            scan.find_last(index, reversed(blocks))
        return scan.report()

    def _prefiltered(self, scan: _Scan, start: int, end: int, first_line: int) -> None:
        """Check the patterns whose prefilter strings occur on a line of data[start:end]."""
        data = scan.data
        owners = self._needles.owners
        forward = scan.forward
        # A string none of whose patterns is still looked for (all capped, say) is ignored.
        if scan.live is None:
            scan.live = [any(forward[i] for i in owned) for owned in owners]
        hits = (
            self._hyperscan_hits(data, start, end, scan.live)
            if self._database is not None
            else _find_hits(data, start, end, self._needles.strings, scan.live)
        )
        swept: set[int] = set()
        if len(hits) >= DENSE_HITS:
            # A string on most lines of this block: RE2 reads the whole block for its
            # patterns (a call per match and per 64 KiB), not each line that holds it.
            for needle, count in Counter(map(itemgetter(1), hits)).items():
                if count >= DENSE_HITS:
                    swept.update(i for i in owners[needle] if scan.programs[i].linear is not None)
            for index in sorted(swept):
                scan.sweep_forward(index, start, end, first_line)
            wanted = [any(forward[i] and i not in swept for i in owned) for owned in owners]
            hits = [hit for hit in hits if wanted[hit[1]]]
        for line, needle_ids in _lines_of_hits(data, hits, start, first_line):
            checked: set[int] = set()
            for needle in needle_ids:
                for index in owners[needle]:
                    if index not in checked and forward[index] and index not in swept:
                        checked.add(index)
                        match = scan.check(index, line)
                        if match is not None:
                            scan.keep(index, match)

    def _hyperscan_hits(
        self, data: bytes, start: int, end: int, live: list[bool]
    ) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        append = hits.append

        def on_match(needle: int, _start: int, hit_end: int, _flags: int, _ctx: Any) -> None:
            if live[needle]:
                append((hit_end + start, needle))

        assert self._database is not None
        with _SCAN_LOCK:
            self._database.scan(memoryview(data)[start:end], match_event_handler=on_match)
        hits.sort()
        return hits


def _find_hits(
    data: bytes, start: int, end: int, needles: tuple[bytes, ...], live: list[bool] | None = None
) -> list[tuple[int, int]]:
    """(end offset, needle index) of the first occurrence of each (live) needle on each line."""
    hits: list[tuple[int, int]] = []
    find = data.find
    for needle_id, needle in enumerate(needles):
        if live is not None and not live[needle_id]:
            continue
        pos = find(needle, start, end)
        while pos >= 0:
            hits.append((pos + len(needle), needle_id))
            next_line = find(b"\n", pos, end)
            if next_line < 0:
                break
            pos = find(needle, next_line + 1, end)
    hits.sort()
    return hits


class _Scan:
    """The state of one log's scan: time spent and matches kept, per pattern.

    Time is CPU time, so that a busy machine does not stop patterns that are
    merely waiting for a core. The `regex` module measures its own; for the
    many short calls to RE2 and bytes.find, the wall time of each call is added
    up and, once a pattern's total passes the limit, scaled by the share of a
    core this scan has had (one CPU clock reading per check, not per call).
    """

    def __init__(self, pattern_set: PatternSet, data: bytes, allowed: list[bool]) -> None:
        count = len(pattern_set.patterns)
        self.data = data
        self.programs = pattern_set._programs
        self.allowed = allowed
        self.limit = pattern_set.time_limit
        self.wall = [0.0] * count  # seconds in RE2 and bytes.find calls
        self.cpu = [0.0] * count  # CPU seconds in the `regex` module
        self.needles_of = pattern_set._needles_of
        self.forward = list(allowed)  # still looked for line after line
        self.live: list[bool] | None = None  # per prefilter string: wanted? (None: to work out)
        self.kept: dict[int, list[Match]] = {}  # pattern index -> its first matches
        self.capped_after: dict[int, int] = {}  # pattern index -> line of its last kept match
        self.last: dict[int, Match] = {}  # pattern index -> its last match past the kept ones
        self.texts: dict[int, str] = {}  # line number -> the text the kept matches share
        self.timed_out: dict[int, str] = {}
        self.began_wall, self.began_cpu = time.perf_counter(), time.thread_time()

    def check(self, index: int, line: _Line) -> Match | None:
        """Pattern `index`'s first match on one line, if it has time left."""
        if not self.allowed[index]:
            return None
        program = self.programs[index]
        if program.on_fallback(self.data, line):
            cpu = time.thread_time()
            try:
                match = program.first_match_in_time(self.data, line, self.limit - self.spent(index))
            except TimeoutError:
                match, self.cpu[index] = None, math.inf
            self.cpu[index] += time.thread_time() - cpu
        else:
            began = time.perf_counter()
            match = program.first_match(self.data, line)
            self.wall[index] += time.perf_counter() - began
        return None if self.out_of_time(index) else match

    def spent(self, index: int) -> float:
        """CPU seconds pattern `index` has used on this log (RE2's share estimated)."""
        wall = time.perf_counter() - self.began_wall
        share = min(1.0, (time.thread_time() - self.began_cpu) / wall) if wall > 0 else 1.0
        return self.cpu[index] + self.wall[index] * share

    def out_of_time(self, index: int) -> bool:
        """Stop pattern `index` on this log once it has used up its time."""
        if self.cpu[index] + self.wall[index] <= self.limit or self.spent(index) <= self.limit:
            return False
        self.allowed[index] = self.forward[index] = False
        self.live = None
        program = self.programs[index]
        self.timed_out[program.pattern.id] = (
            f"stopped after more than {self.limit:g} s of CPU time on this log "
            f"(engine: {program.engine})"
        )
        return True

    def keep(self, index: int, match: Match) -> None:
        text = self.texts.setdefault(match.line, match.text)
        if text is not match.text:  # one copy of a line's text, however many patterns match it
            match = replace(match, text=text)
        kept = self.kept.setdefault(index, [])
        kept.append(match)
        if len(kept) == MAX_MATCHES_PER_PATTERN - 1:
            self.forward[index] = False  # enough: only its last match is still wanted
            self.live = None
            self.capped_after[index] = match.line

    def sweep_forward(self, index: int, start: int, end: int, first_line: int) -> None:
        """Keep the matches of `sweep` while the pattern is still looked for."""
        if self.forward[index]:
            for match in self.sweep(index, start, end, first_line):
                self.keep(index, match)
                if not self.forward[index]:
                    return

    def find_last(self, index: int, blocks: Iterable[tuple[int, int, int]]) -> None:
        """The last match of a capped pattern: blocks from the end, until one has a match."""
        after = self.capped_after[index]
        for start, end, first_line in blocks:
            if not self.allowed[index]:
                return
            if self.needles_of[index]:
                found = []
                hits = _find_hits(self.data, start, end, self.needles_of[index])
                for line, _needles in _lines_of_hits(self.data, hits, start, first_line):
                    match = self.check(index, line) if line.number > after else None
                    if match is not None:
                        found.append(match)
            else:
                found = [m for m in self.sweep(index, start, end, first_line) if m.line > after]
            if found:
                self.last[index] = found[-1]
                return
            if first_line <= after:
                del self.capped_after[index]  # no match past the kept ones after all
                return

    def sweep(self, index: int, start: int, end: int, first_line: int) -> Iterator[Match]:
        """Matches of a pattern without a prefilter string, over every line of data[start:end]."""
        program, data = self.programs[index], self.data
        numbers = _LineNumbers(data, start, first_line)
        pos = start
        while pos < end and self.allowed[index]:
            if program.linear is None:  # the time-limited engine goes line by line
                line_end = data.index(b"\n", pos)
                match = self.check(index, _Line(pos, line_end, numbers.at(pos)))
                if match is not None:
                    yield match
                pos = line_end + 1
                continue
            stretch_end = data.index(b"\n", min(pos + STRETCH_BYTES, end - 1))
            began = time.perf_counter()
            spans = program.linear.Match(_UNANCHORED, data, pos, stretch_end)
            self.wall[index] += time.perf_counter() - began
            if self.out_of_time(index):
                return
            hit = spans[0][0]
            if program.ascii_lines_only:
                # RE2's `\b` is ASCII: a line with other text goes to the `regex` module.
                until = hit if hit >= 0 else stretch_end
                plain = memoryview(data)[pos:until].tobytes().isascii()
                odd = None if plain else _NON_ASCII.search(data, pos, until)
                if odd is not None:
                    line = _line_around(data, odd.start(), numbers)
                    match = self.check(index, line)
                    if match is not None:
                        yield match
                    pos = line.end + 1
                    continue
            if hit < 0:
                pos = stretch_end + 1
                continue
            line = _line_around(data, hit, numbers)
            if program.ascii_lines_only and not line.is_ascii(data):
                match = self.check(index, line)
            else:
                match = line.match(data, program.pattern.id, spans)
            if match is not None:
                yield match
            pos = line.end + 1

    def anchored_line(self, index: int, line_count: int) -> _Line | None:
        """The one line a pattern with lines_from_end may match, if the log is that long."""
        back = self.programs[index].pattern.lines_from_end
        assert back is not None
        if not 0 <= back < line_count:
            return None
        end = len(self.data) - 1
        for _ in range(back):
            end = self.data.rindex(b"\n", 0, end)
        start = self.data.rfind(b"\n", 0, end) + 1
        return _Line(start, end, line_count - back)

    def report(self) -> ScanReport:
        matches: list[Match] = []
        for index, kept in self.kept.items():
            if self.programs[index].pattern.id not in self.timed_out:
                matches.extend(kept)
                if index in self.last:
                    matches.append(self.last[index])
        matches.sort(key=lambda m: (m.line, m.pattern_id))
        capped = frozenset(
            self.programs[i].pattern.id
            for i in self.last
            if self.programs[i].pattern.id not in self.timed_out
        )
        return ScanReport(matches, dict(self.timed_out), capped)


class _LineNumbers:
    """Line numbers of increasing offsets, counting newlines once."""

    def __init__(self, data: bytes, start: int, number: int) -> None:
        self.data, self.pos, self.number = data, start, number

    def at(self, line_start: int) -> int:
        self.number += count_newlines(self.data, self.pos, line_start)
        self.pos = line_start
        return self.number


def _line_around(data: bytes, offset: int, numbers: _LineNumbers) -> _Line:
    start = data.rfind(b"\n", 0, offset) + 1
    return _Line(start, data.index(b"\n", offset), numbers.at(start))


def _blocks(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of blocks of whole lines, about BLOCK_BYTES each (data ends with a newline)."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", min(start + BLOCK_BYTES, len(data)) - 1) + 1
        yield start, end
        start = end


def _lines_of_hits(
    data: bytes, hits: list[tuple[int, int]], start: int, first_line: int
) -> Iterator[tuple[_Line, list[int]]]:
    """Each line holding a hit (hits ordered by end offset), with its needle ids."""
    numbers = _LineNumbers(data, start, first_line)
    line: _Line | None = None
    needles: list[int] = []
    for end_offset, needle in hits:
        if line is None or end_offset > line.end:
            if line is not None:
                yield line, needles
            line = _line_around(data, end_offset - 1, numbers)
            needles = [needle]
        else:
            needles.append(needle)
    if line is not None:
        yield line, needles


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
