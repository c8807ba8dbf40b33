"""The engine against a plain reference implementation of the seed's semantics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import HAVE_HYPERSCAN, MAX_MATCHES_PER_PATTERN, Match, PatternSet
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.patterns import Pattern, PatternError, default_library
from tests.conftest import CORPUS

Found = tuple[int, int, int, int, tuple[str | None, ...]]


# The reference runs every regex at every position of every line; on lines this long some
# seed regexes (`([^\s]+):(\d+):...`) take quadratic time, minutes per log. The engine's
# own handling of long lines is tested separately (huge-line logs), so the corpus
# comparison leaves them out on both sides.
REFERENCE_MAX_LINE = 2000


def reference(
    log: LogText, patterns: Sequence[Pattern], step: str | None = None, max_line: int | None = None
) -> list[Found]:
    """The seed's semantics, plainly: every line, every pattern, `re.search`."""
    lines = log.lines()
    last = len(lines) - 1
    applicable = [
        (
            pattern,
            re.compile(pattern.expression if pattern.is_regex else re.escape(pattern.expression)),
        )
        for pattern in patterns
        if not pattern.is_retired
        and (step is None or not pattern.applicable_steps or step in pattern.applicable_steps)
    ]
    found = []
    for index, line in enumerate(lines):
        if max_line is not None and len(line) > max_line:
            continue
        for pattern, regex in applicable:
            if pattern.lines_from_end is not None and index != last - pattern.lines_from_end:
                continue
            m = regex.search(line)
            if m:
                found.append((pattern.id, index + 1, m.start(), m.end(), m.groups()))
    return sorted(found, key=lambda f: (f[1], f[0]))


def flat(matches: list[Match]) -> list[Found]:
    return [(m.pattern_id, m.line, m.start, m.end, m.captures) for m in matches]


def capped(found: list[Found]) -> tuple[list[Found], frozenset[int]]:
    """The reference's matches as the engine keeps them: per pattern the first ones and the last."""
    by_pattern: dict[int, list[Found]] = {}
    for f in found:
        by_pattern.setdefault(f[0], []).append(f)
    kept, cut = [], set()
    for pattern_id, matches in by_pattern.items():
        if len(matches) >= MAX_MATCHES_PER_PATTERN:
            cut.add(pattern_id)
            matches = [*matches[: MAX_MATCHES_PER_PATTERN - 1], matches[-1]]
        kept.extend(matches)
    return sorted(kept, key=lambda f: (f[1], f[0])), frozenset(cut)


def engines() -> list[str]:
    return ["hyperscan", "re"] if HAVE_HYPERSCAN else ["re"]


def variants(patterns: list[Pattern]) -> list[PatternSet]:
    """Every prefilter with RE2, and the time-limited `regex` module for every regex.

    The time limit is generous: this compares answers, not speed.
    """
    sets = [PatternSet(patterns, engine, time_limit=600) for engine in engines()]  # type: ignore[arg-type]
    return [*sets, PatternSet(patterns, linear=False, time_limit=600)]


def corpus_logs() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    logs = [p for p in (CORPUS / "logs").rglob("*") if p.is_file()]
    logs += list((CORPUS / "circleci-api" / "step-output").rglob("*.json"))
    return sorted(logs)


@pytest.fixture(scope="module")
def seed(corpus: Path) -> list[Pattern]:
    return pattern_files.load(corpus / "patterns" / "drci-original" / "patterns-dump.json")


@pytest.fixture(scope="module")
def libraries(seed: list[Pattern]) -> dict[str, list[PatternSet]]:
    return {"Dr. CI dump": variants(seed), "default library": variants(default_library())}


def test_the_corpus_exercises_the_seed_patterns(corpus: Path, seed: list[Pattern]) -> None:
    logs = corpus_logs()
    assert len(logs) > 250
    pattern_set = PatternSet(seed)
    found = sum(len(pattern_set.scan(read_log(path))) for path in logs)
    assert found > 1000


@pytest.mark.slow
@pytest.mark.parametrize(
    "path", corpus_logs(), ids=lambda p: str(p.relative_to(CORPUS)) if CORPUS in p.parents else ""
)
def test_patterns_over_a_corpus_log_match_the_reference(
    path: Path, libraries: dict[str, list[PatternSet]]
) -> None:
    """Every log of the corpus, the Dr. CI dump and the default library: exactly `re`'s answers."""
    log = read_log(path)
    long_lines = {n for n, line in enumerate(log.lines(), 1) if len(line) > REFERENCE_MAX_LINE}
    for library, pattern_sets in libraries.items():
        expected, cut = capped(
            reference(log, pattern_sets[0].patterns, max_line=REFERENCE_MAX_LINE)
        )
        for pattern_set in pattern_sets:
            report = pattern_set.run(log)
            assert report.timed_out == {}
            found = [f for f in flat(report.matches) if f[1] not in long_lines]
            where = f"{library}, {pattern_set.engine} prefilter, linear={pattern_set.linear}"
            assert found == expected, where
            if not long_lines:
                assert report.capped == cut, where


@pytest.mark.parametrize("engine", engines())
def test_step_restrictions_apply_when_a_step_is_given(engine: str, seed: list[Pattern]) -> None:
    log = LogText.from_text("E: Failed to fetch http://deb.example/x  404\nSegmentation fault")
    pattern_set = PatternSet(seed, engine)  # type: ignore[arg-type]
    anywhere = {m.pattern_id for m in pattern_set.scan(log)}
    in_build = {m.pattern_id for m in pattern_set.scan(log, step="Build")}
    assert 13 in anywhere and 39 in anywhere  # apt fetch (step-restricted) and segfault (any step)
    assert 13 not in in_build and 39 in in_build
    assert flat(pattern_set.scan(log, step="Build")) == reference(log, seed, step="Build")


@pytest.mark.parametrize("engine", engines())
def test_lines_from_end_counts_from_the_last_line(engine: str) -> None:
    last_only = Pattern(1, "boom", lines_from_end=0)
    second_last = Pattern(2, "boom", lines_from_end=1)
    anywhere = Pattern(3, "boom")
    log = LogText.from_text("boom one\nboom two\nboom three")
    found = flat(PatternSet([last_only, second_last, anywhere], engine).scan(log))  # type: ignore[arg-type]
    assert [(f[0], f[1]) for f in found] == [(3, 1), (2, 2), (3, 2), (1, 3), (3, 3)]


@pytest.mark.parametrize("engine", engines())
def test_retired_patterns_are_skipped(engine: str) -> None:
    log = LogText.from_text("Segmentation fault (core dumped)")
    patterns = [Pattern(1, "Segmentation fault", is_retired=True), Pattern(2, "core dumped")]
    assert [m.pattern_id for m in PatternSet(patterns, engine).scan(log)] == [2]  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", engines())
def test_first_match_per_line_with_span_and_captures(engine: str) -> None:
    pattern = Pattern(5, r"(\w+)\.py:(\d+)", is_regex=True)
    log = LogText.from_text("x a.py:1 b.py:2\nnothing\n  café.py:30")
    found = PatternSet([pattern], engine).scan(log)  # type: ignore[arg-type]
    assert [(m.line, m.span, m.captures) for m in found] == [
        (1, (2, 8), ("a", "1")),
        (3, (2, 12), ("café", "30")),
    ]
    assert found[1].text == "  café.py:30"


@pytest.mark.parametrize("engine", engines())
def test_regexes_without_a_usable_literal_and_odd_constructs(engine: str) -> None:
    patterns = [
        Pattern(1, r"^\s*$", is_regex=True),  # no literal at all: searched on every line
        Pattern(2, r"(?i)timed? ?out", is_regex=True),  # case-insensitive: no literal prefilter
        Pattern(3, r"(?<=exit code )\d+", is_regex=True),
        Pattern(4, r"(a)\1b", is_regex=True),
        Pattern(5, r"\bERR\b|\bFATAL\b", is_regex=True),
        Pattern(6, r"line\nbreak", is_regex=True),  # can never match within a line
        Pattern(7, r"\Astart|end\Z", is_regex=True),
        Pattern(8, "ſ", is_regex=False),
    ]
    text = "start here\n\n   \nTIMEOUT reached\nexit code 137\naab ERR x\nline\nbreak\nthe end\nſ"
    log = LogText.from_text(text)
    expected = reference(log, patterns)
    assert len(expected) == 9
    assert flat(PatternSet(patterns, engine).scan(log)) == expected  # type: ignore[arg-type]


@pytest.mark.skipif(not HAVE_HYPERSCAN, reason="hyperscan is not installed here")
def test_subset_scans_only_the_given_patterns(seed: list[Pattern]) -> None:
    log = read_log(b"ERROR: test_x (__main__.TestFoo)\nSegmentation fault\n")
    full = PatternSet(seed)
    delta = full.subset({39})
    assert delta.ids == frozenset({39})
    assert [m.pattern_id for m in delta.scan(log)] == [39]
    assert {m.pattern_id for m in full.scan(log)} >= {27, 34, 39}


def test_hostile_regexes_are_rejected_with_the_pattern_named() -> None:
    for expression in [r"(a+)+$", r"(\w+\s?)*x", r"(a|a)+b", r"(.*a){12}", r".*.*.*.*.*x"]:
        with pytest.raises(PatternError, match=r"pattern 9 .*backtrack"):
            Pattern(9, expression, is_regex=True).validated()


def test_safe_repetitions_are_accepted() -> None:
    for expression in [
        r"[a-z]+(?:-[a-z]+)*",
        r"(\d+\.)+\d+",
        r"(?:foo|bar)+",
        r"(?>a+)+b",
        r"a++b",
    ]:
        Pattern(9, expression, is_regex=True).validated()


def test_invalid_and_oversized_patterns_are_rejected() -> None:
    with pytest.raises(PatternError, match=r"pattern 3 .*does not compile"):
        Pattern(3, "unbalanced (", is_regex=True).validated()
    with pytest.raises(PatternError, match=r"pattern 4 .*limit is 1000"):
        Pattern(4, "x" * 1001).validated()
    with pytest.raises(PatternError, match=r"pattern 5 .*empty"):
        Pattern(5, "").validated()


@pytest.mark.parametrize("engine", engines())
def test_long_hostile_lines_stay_fast(engine: str) -> None:
    # A quadratic-in-the-line regex on a line built to make it work hard: the
    # line cap keeps one line's cost bounded.
    pattern = Pattern(1, r"([^\s]+):(\d+):(\d+): error:", is_regex=True)
    log = read_log(b"x" * 5_000_000 + b": error:\n")
    assert log.clipped_lines == 1
    assert PatternSet([pattern], engine).scan(log) == []  # type: ignore[arg-type]
