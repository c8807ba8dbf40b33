"""Regex time bounded by construction: RE2 with `re`'s answers, a time-limited fallback, the validator.

Hostile expressions are built so that a backtracking engine (`re`) would take
minutes to forever on one line; none of these tests runs them on `re`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from citriage.scanner.engine import MAX_MATCHES_PER_PATTERN, PatternSet, ScanReport
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.patterns import Pattern, PatternError

LONG_LINE = 16 * 1024

# The expressions, and the lines that make `re` backtrack on them (none matches).
HOSTILE = [
    (r"(a|aa)+$", "a" * (LONG_LINE - 1) + "!"),
    (r"(=|==)+$", "=" * 40 + " FAILURES"),
    (r"a*a*a*a*a*a*b", "a" * LONG_LINE),
    (r".*.*.*.*Z", "x" * LONG_LINE),
    (r"[\w./:-]*" * 4 + "=", "src/a.c:1-" * (LONG_LINE // 10)),
    (r"[\w./:-]*" * 7 + "=", "src/a.c:1-" * (LONG_LINE // 10)),
    (r"(a+)+$", "a" * (LONG_LINE - 1) + "!"),
    (r"(.*a){20}", "a" * 19 + "b" * (LONG_LINE - 19)),
]


def run_alone(
    expression: str, text: str, *, linear: bool = True, time_limit: float = 2.0
) -> tuple[ScanReport, float]:
    """The report of one pattern on `text`, and the CPU time the scan took."""
    pattern = Pattern(7, expression, is_regex=True)  # not validated: as if stored long ago
    pattern_set = PatternSet([pattern], linear=linear, time_limit=time_limit)
    began = time.thread_time()
    report = pattern_set.run(LogText.from_text(text))
    return report, time.thread_time() - began


@pytest.mark.parametrize(("expression", "line"), HOSTILE, ids=[e for e, _ in HOSTILE])
def test_hostile_regexes_are_refused_with_an_explanation(expression: str, line: str) -> None:
    with pytest.raises(PatternError) as refused:
        Pattern(9, expression, is_regex=True).validated()
    message = str(refused.value)
    assert message.startswith("pattern 9 (regex ")
    assert "backtrack" in message and "Rewrite it" in message


def test_the_explanation_names_the_character_and_the_count() -> None:
    with pytest.raises(PatternError, match=r"can both start and end with '='"):
        Pattern(1, r"(=|==)+$", is_regex=True).validated()
    with pytest.raises(PatternError, match=r"6 unbounded repetitions in a row .* match 'a'"):
        Pattern(1, r"a*a*a*a*a*a*b", is_regex=True).validated()
    with pytest.raises(PatternError, match=r"4 unbounded repetitions"):
        Pattern(1, r".*.*.*.*Z", is_regex=True).validated()


@pytest.mark.parametrize(
    "expression",
    [
        r"[a-z]+(?:-[a-z]+)*",
        r"(\d+\.)+\d+",
        r"\d+\.\d+\.\d+",
        r"(?:foo|bar)+",
        r"(?>a+)+b",
        r"a++b",
        r"(.*) (.*) (.*)",
        r"^\s*(\S+)\s*:\s*(.*)$",
        r"(?<=exit code )\d+",
    ],
)
def test_safe_expressions_are_accepted(expression: str) -> None:
    Pattern(9, expression, is_regex=True).validated()


@pytest.mark.parametrize(("expression", "line"), HOSTILE, ids=[e for e, _ in HOSTILE])
def test_hostile_regexes_run_in_linear_time_on_re2(expression: str, line: str) -> None:
    report, cpu_seconds = run_alone(expression, line)
    assert report.matches == [] and report.timed_out == {}
    assert cpu_seconds < 0.5  # `re` takes from 30 s to forever on these lines


@pytest.mark.parametrize(("expression", "line"), HOSTILE, ids=[e for e, _ in HOSTILE])
def test_hostile_regexes_on_the_fallback_stop_at_the_limit_and_are_reported(
    expression: str, line: str
) -> None:
    report, cpu_seconds = run_alone(expression, line, linear=False, time_limit=0.5)
    assert report.matches == []
    assert cpu_seconds < 0.5 + 0.5
    if cpu_seconds >= 0.5:
        assert 7 in report.timed_out


def test_a_pattern_out_of_time_is_named_and_the_others_are_exact() -> None:
    hostile = Pattern(7, r"(a|aa)+$", is_regex=True)
    plain = Pattern(8, r"(a+)!", is_regex=True)
    text = "a" * 5000 + "!\nnothing here\n" + "a" * 3000 + "!"
    pattern_set = PatternSet([hostile, plain], linear=False, time_limit=0.3)
    report = pattern_set.run(LogText.from_text(text))
    assert set(report.timed_out) == {7}
    assert "0.3 s of CPU time" in report.timed_out[7] and "regex module" in report.timed_out[7]
    lines = text.split("\n")
    assert [(m.pattern_id, m.line, m.span, m.captures) for m in report.matches] == [
        (8, n, m.span(), m.groups())
        for n, line in enumerate(lines, 1)
        if (m := re.search(r"(a+)!", line))
    ]
    assert pattern_set.scan(LogText.from_text(text)) == report.matches


@contextmanager
def ticking() -> Iterator[list[int]]:
    """A thread that counts its 1 ms sleeps, like the worker's heartbeat."""
    ticks = [0]
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            time.sleep(0.001)
            ticks[0] += 1

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        yield ticks
    finally:
        stop.set()
        thread.join()


def test_other_threads_run_while_the_fallback_grinds() -> None:
    with ticking() as ticks:
        began = time.perf_counter()
        report, _ = run_alone(r"(a|aa)+$", HOSTILE[0][1], linear=False, time_limit=1.0)
        seconds = time.perf_counter() - began
    assert 7 in report.timed_out
    # A held interpreter lock would leave the thread at 0 or 1 tick.
    assert ticks[0] > 100 * seconds


def test_other_threads_run_while_re2_reads_a_large_log() -> None:
    # No prefilter string (the literal is too short): RE2 reads every line.
    log = read_log(b"".join(b"step %d of the build went fine\n" % i for i in range(1_500_000)))
    pattern_set = PatternSet([Pattern(7, r"(\w+\s?)*Q", is_regex=True)])
    with ticking() as ticks:
        began = time.perf_counter()
        report = pattern_set.run(log)
        seconds = time.perf_counter() - began
    assert report.matches == [] and report.timed_out == {}
    assert ticks[0] > 100 * seconds


def test_matches_kept_per_pattern_are_the_first_ones_and_the_last() -> None:
    lines = [f"boom {i}" if i % 2 else "quiet" for i in range(1, 5001)]
    patterns = [Pattern(1, "boom"), Pattern(2, r"boom (\d+)", is_regex=True)]
    report = PatternSet(patterns).run(LogText.from_text("\n".join(lines)))
    hits = [n for n, line in enumerate(lines, 1) if "boom" in line]
    for pattern_id in (1, 2):
        kept = [m.line for m in report.matches if m.pattern_id == pattern_id]
        assert kept == [*hits[: MAX_MATCHES_PER_PATTERN - 1], hits[-1]]
    assert report.capped == {1, 2}
    last = report.matches[-1]
    assert (last.pattern_id, last.line, last.captures) == (2, 4999, ("4999",))


@pytest.mark.parametrize("count", [MAX_MATCHES_PER_PATTERN - 1, MAX_MATCHES_PER_PATTERN, 3001])
@pytest.mark.parametrize(
    "pattern",
    [
        Pattern(1, "boom"),
        Pattern(2, r"boom (\d+)", is_regex=True),
        Pattern(3, r"m (\d+)$", is_regex=True),
    ],
    ids=["literal", "prefiltered-regex", "regex-on-every-line"],
)
def test_the_last_match_is_found_past_the_cap(pattern: Pattern, count: int) -> None:
    lines = [f"boom {i}" if i % 3 == 0 else "quiet" for i in range(1, 3 * count + 2)]
    report = PatternSet([pattern]).run(LogText.from_text("\n".join(lines)))
    hits = [n for n, line in enumerate(lines, 1) if "boom" in line]
    assert len(hits) == count
    kept = [m.line for m in report.matches]
    if count < MAX_MATCHES_PER_PATTERN:
        assert kept == hits and report.capped == frozenset()
    else:
        assert kept == [*hits[: MAX_MATCHES_PER_PATTERN - 1], hits[-1]]
        assert report.capped == {pattern.id}


def test_each_pattern_says_which_engine_runs_it() -> None:
    patterns = [
        Pattern(1, "literal text"),
        Pattern(2, r"error: (\w+)", is_regex=True),
        Pattern(3, r"(?<=exit code )\d+", is_regex=True),
        Pattern(4, r"\bFAILED\b", is_regex=True),
    ]
    engines = PatternSet(patterns).engines()
    assert engines[1] == "literal" and engines[2] == "RE2"
    assert "regex module" in engines[3] and "lookahead or lookbehind" in engines[3]
    assert engines[4].startswith("RE2, and the regex module") and "non-ASCII" in engines[4]


# Expressions where RE2's or the `regex` module's own meaning differs from `re`'s,
# and lines that tell the difference.
TRICKY = [
    r"\w+",
    r"\d+",
    r"\s",
    r"\S+",
    r"[^\s]+",
    r"[\w.-]+@",
    r"(?i)k\w*",
    r"(?i)[a-z]+",
    r"(?i)straße",
    r"(?i)İ",
    r"(?a)\w+",
    r"\bé\w*",
    r"\Bx",
    r"x\b",
    r"^\s*$",
    r"^(\w+)$",
    r"end\Z",
    r"\Astart",
    r"(?m)^line$",
    r"(?s)a.b",
    r"(a|ab)(c|bcd)(d*)",
    r"(?:(a)|b)+",
    r"(a|)+",
    r"(a*)*",
    r"(a*)+",
    r".*?(\d+)",
    r"(\d+?)(\d*)",
    r"(?<=x)y",
    r"(?<!x)y",
    r"(\w)\1",
    r"(?i)(\w)\1",
    r"(a)?(?(1)b|c)",
    r"a{2,3}?",
    r"a{1001}",
    r"(?x) a \s+ b  # verbose",
    r"\x1c",
    r"[^a]",
    r"[\u00e0-\u00ff]+",
    r"\N{GREEK SMALL LETTER ALPHA}",
    r"ſ|K",
]
TRICKY_LINES = [
    "x²y café naïve ١٢٣ 42",
    "KELVIN K k ſ S s straße STRASSE İstanbul istanbul",
    "\x1c\x1d separators\u00a0nbsp\u2028",
    "éx xé x éxé",
    "",
    "   ",
    "word",
    "line",
    "start and end",
    "abcd abbcd aab aaab",
    "xy zy yy",
    "aa bB Bb ¹¹ ²²",
    "b c ab ac",
    "a" * 1001,
    "a  b a\tb",
    "α β",
]


@pytest.mark.parametrize("linear", [True, False], ids=["re2", "regex-module"])
@pytest.mark.parametrize("expression", TRICKY)
def test_rewritten_expressions_give_re_s_answers(expression: str, linear: bool) -> None:
    compiled = re.compile(expression)
    expected = [
        (n, m.span(), m.groups())
        for n, line in enumerate(TRICKY_LINES, 1)
        if (m := compiled.search(line))
    ]
    report, _ = run_alone(expression, "\n".join(TRICKY_LINES), linear=linear)
    assert [(m.line, m.span, m.captures) for m in report.matches] == expected


def test_a_string_on_most_lines_gives_re_s_answers_block_after_block() -> None:
    # "Killed" is on every line: RE2 reads whole blocks for the patterns it stands for.
    lines = [f"step {i}: OOMKilled" if i % 7 else "Killed" for i in range(120_000)]
    expressions = {1: r"^Killed$", 2: r"(\d+): OOMKilled", 3: r"\bKilled\b"}
    patterns = [Pattern(i, e, is_regex=True) for i, e in expressions.items()]
    report = PatternSet(patterns).run(LogText.from_text("\n".join(lines)))
    for pattern_id, expression in expressions.items():
        compiled = re.compile(expression)
        expected = [
            (n, m.span(), m.groups())
            for n, line in enumerate(lines, 1)
            if (m := compiled.search(line))
        ]
        if len(expected) >= MAX_MATCHES_PER_PATTERN:
            expected = [*expected[: MAX_MATCHES_PER_PATTERN - 1], expected[-1]]
        found = [(m.line, m.span, m.captures) for m in report.matches if m.pattern_id == pattern_id]
        assert found == expected, expression
    assert report.capped == {1, 2, 3}
