"""Find the lines of a failed log that most likely explain the failure, without any pattern.

How a line earns its score (the highest rule that fits; see `_RULES`), after
timestamps, `[task ...]`-style prefixes, log levels and process tags are set aside:

1. Specific failures (10): sanitizer reports, compiler and linker errors with a
   location, the exception line of a traceback (`ValueError: ...`, Java's
   `java.lang.X: ...`, Ruby's `A::B::Error: ...`; not the "Traceback" header or
   the frames), a line a JavaScript/Java stack trace hangs off, panics, crashes
   and out-of-memory kills, failed assertions, and test verdicts that name the
   test and carry the message (`FAILED a.py::t - ValueError: x`,
   `TEST-UNEXPECTED-FAIL | a.html | msg`).
2. Test runner verdicts (8): `--- FAIL:`, gtest `[  FAILED  ]`, JUnit
   `<<< FAILURE!`, Gradle `X > t() FAILED`, pytest `FAILED x::y`, `not ok`, RSpec
   `Failure/Error:`, ...; their summaries ("3 failing", "Failures: 2") get 7.
3. Error-level markers (7): a line that starts with `error:`, `ERROR`, `fatal:`,
   `E: `, `##[error]`, `CMake Error`, or was logged at an error level.
4. Problem phrases (3-6): "No such file or directory", "command not found",
   "permission denied", "could not", "timed out", an error word anywhere.

Then what makes a line less likely: lines that only say a step failed
(`boilerplate.is_generic`: they are skipped), wrappers reporting a command's exit
status, build tools' closing boilerplate ("[Help 1]", "See above for more
details"), warnings (also a WARN log level), information-level log lines, retry
noise, stack frames, echoed commands and compiler command lines (`-Werror`),
counters of zero failures, tests that passed, exceptions without a message,
very long lines. Lines after the step's exit ("Process completed with exit code
1", Travis's `The command ... exited with 1`) belong to cleanup and lose points;
lines just before an exit or a failed command gain one; among equals the later
line wins ("the last error before the step exited"). The same line repeated (by
signature) is one candidate, shown at its last occurrence (build tools repeat
the errors in their closing report, which is where people look).

Speed: the lower-cased log is searched a block at a time, from the end, with
`bytes.find` for a few trigger words; only the lines holding one are decoded and
scored (their first 400 characters), at most the last 50,000 of them, and only
the best few hundred are kept: time is linear in the log (bounded on logs full of
errors) and memory is bounded.
"""

from __future__ import annotations

import bisect
import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from citriage.scanner.boilerplate import is_generic
from citriage.scanner.engine import Match
from citriage.scanner.logtext import LogText, count_newlines
from citriage.scanner.ranking import RankedPattern, best_match
from citriage.scanner.signature import signature

DEFAULT_LIMIT = 5
RECENCY = 1.0  # weight of the position in the log (later lines win among equals)
NEAR_EXIT = 30  # lines before an exit that count as "just before" it
SHOW_FIRST_OF = 2  # the best candidates whose first occurrence is also listed
STRONG_MARGIN = 2.0  # a line within this of the best score is "nearly as good"
MAX_SCORED = 50_000  # lines judged per log at most (the last ones)
KEEP = 400  # candidates kept while scanning (the best by score)
MAX_SCORED_CHARS = 400  # the start of a long line is enough to judge it (and bounds the time)


@dataclass(frozen=True, slots=True)
class Candidate:
    line: int  # 1-based
    text: str
    score: float
    reason: str


# Words that any interesting line holds (lower case); found with `bytes.find` over
# the lowered log, a block at a time.
_TRIGGERS: tuple[bytes, ...] = (
    b"err",
    b"fail",
    b"exception",
    b"fatal",
    b"panic",
    b"abort",
    b"assert",
    b"traceback",
    b"segmentation",
    b"sanitizer",
    b"undefined",
    b"denied",
    b"not found",
    b"no such",
    b"cannot",
    b"can't",
    b"could not",
    b"couldn't",
    b"unable",
    b"timed out",
    b"timeout",
    b"killed",
    b"expected",
    b"refused",
    b"invalid",
    b"missing",
    b"unexpected",
    b"mismatch",
    b"crash",
    b"violation",
    b"leak",
    b"exceeded",
    b"refusing",
    b"not ok",
    b"exited",
    b"exit code",
    b"exit status",
    b"e  ",
    "\u2717".encode(),
    "\u2716".encode(),
    "\u00d7".encode(),
)
BLOCK = 8 * 1024 * 1024

# Leading decorations that say nothing: timestamps and log-level prefixes of CI tools.
_TIMESTAMP = r"(?:\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?|\d\d:\d\d:\d\d(?:[.,]\d+)?)"
_PREFIX = re.compile(
    rf"""^(?:
        [^\t\n]{{0,80}}\t[^\t\n]{{0,200}}\t(?={_TIMESTAMP})   # GitHub's job<TAB>step<TAB> columns
      | \s*\[[^\]]{{0,60}}{_TIMESTAMP}[^\]]{{0,20}}\]\s*        # [task 2025-02-13T21:47:57.540Z]
    )?
    \s*\[?{_TIMESTAMP}\]?\s*                                   # a timestamp
    |^\s*\[?{_TIMESTAMP}\]?\s*
    """,
    re.VERBOSE,
)
# A log level after the timestamp ("INFO - ", "[WARN]"): kept apart as a hint.
_LEVEL = re.compile(
    r"^(?:\[(?P<a>[A-Z]{3,8}|(?i:error|warn|warning|info|debug))\]\s*"
    r"|(?P<b>[A-Z]{3,8})(?:\s+-\s+|:\s+|\s{2,}))"
)
_LOCATION = re.compile(r"^\S+?(?::\d+(?::\d+)?:|:\[\d+,\d+\]|\(\d+(?:,\d+)?\):?)\s")
# Process tags of test harnesses ("PID 123 | ", "GECKO(123) | ").
_TAG = re.compile(r"^(?:[A-Za-z]+ ?\(?\d+\)? \| )+")
_QUIET_LEVELS = frozenset({"INFO", "DEBUG", "TRACE", "NOTICE", "VERBOSE"})
_WARNING_LEVELS = frozenset({"WARN", "WARNING"})
_ERROR_LEVELS = frozenset({"ERROR", "FATAL", "CRITICAL", "SEVERE"})


@dataclass(frozen=True)
class _Rule:
    score: float
    reason: str
    keywords: tuple[str, ...]  # lower-case words one of which the line must hold
    regex: re.Pattern[str]

    def fits(self, body: str, lowered: str) -> bool:
        return any(word in lowered for word in self.keywords) and bool(self.regex.search(body))


def _rule(score: float, reason: str, keywords: str, expression: str) -> _Rule:
    return _Rule(score, reason, tuple(keywords.split("|")), re.compile(expression))


# Ordered by score, highest first: the first rule that fits gives the line its score.
_RULES: tuple[_Rule, ...] = (
    # -- 1. specific failures ------------------------------------------------------
    _rule(
        10,
        "sanitizer",
        "sanitizer|runtime error|==error",
        r"ERROR: \w*Sanitizer|SUMMARY: \w*Sanitizer|WARNING: ThreadSanitizer"
        r"|\bruntime error: |==\d+==ERROR",
    ),
    _rule(
        10,
        "compiler error",
        "error",
        r"^\S[^:]*?(?::\d+(?::\d+)?:|\(\d+(?:,\d+)?\)\s*:?)\s*(?:fatal )?error\b"
        r"|^(?:[\w.+-]+: )?(?:fatal )?error(?:\[E\d+\])?: "
        r"|\berror [A-Z]{1,4}\d{2,5}\s*:"
        r"|^\[ERROR\] \S+:\[\d+,\d+\] ",
    ),
    _rule(
        10,
        "linker error",
        "undefined|unresolved|multiple definition|ld: ",
        r"undefined reference to|undefined symbol|unresolved external symbol|multiple definition of"
        r"|ld: (?:error|cannot find|library not found)",
    ),
    _rule(
        10,
        "exception",
        "error|exception|interrupt|exit|failure|fault",
        r"^\s*(?:E\s+|Caused by: |Exception in thread \"[^\"]*\" |Uncaught )?"
        r"(?:(?:[A-Za-z_][\w$]*(?:\.|::))+(?:[A-Z][\w$]*?)?|[A-Z][\w$]*?)"
        r"(?:Error|Exception|Interrupt|Exit|Failure|Fault)(?::|$)",
    ),
    _rule(
        10, "panic", "panic|fatal", r"^panic: |\bpanicked at\b|^fatal error: |Fatal Python error"
    ),
    _rule(
        10,
        "crash",
        "segmentation|core dumped|sig|bus error|memory|oom|killed",
        r"Segmentation fault|core dumped|\bSIG(?:SEGV|ABRT|BUS|ILL|FPE)\b|Bus error"
        r"|[Oo]ut of memory|OutOfMemory|\bOOM\b|Cannot allocate memory|Killed\s*$",
    ),
    _rule(
        10,
        "assertion",
        "assert",
        r"\bAssertion\b.*\bfailed|\bAssertionError\b|Failed asserting that|XCTAssert\w* failed"
        r"|^E\s+assert\b|\bassert(?:ion)? failed",
    ),
    _rule(
        9,
        "assertion",
        "expected",
        r"(?i)\bexpected\b.*\b(?:but (?:was|got|received)|got|actual|received"
        r"|to (?:equal|be|have|contain))\b",
    ),
    # -- 2. test runner verdicts ---------------------------------------------------
    # A test runner's verdict that names the test and carries the message too
    # ("FAILED a.py::t - ValueError: x", "TEST-UNEXPECTED-FAIL | a.html | x").
    _rule(
        10,
        "test failed",
        "failed|test-unexpected|process-crash",
        r"^FAILED\s+(?:\[[^\]]*\]\s+)?\S+::\S+ - \S|TEST-UNEXPECTED-[A-Z]+ \| \S+ \| \S"
        r"|PROCESS-CRASH \| \S",
    ),
    _rule(
        8,
        "test failed",
        "fail|error|not ok|!!!|\u25cf|\u2717|\u2716|\u00d7|) ",
        r"--- FAIL: |\[\s+FAILED\s+\]\s+\S|<<< (?:FAILURE|ERROR)!|^FAILED\s+(?:\[[^\]]*\]\s+)?\S+::"
        r"|^not ok \d+|TEST-UNEXPECTED-[A-Z]+|^!{3,} .+ !{3,}$|^\S.* > .+ FAILED$"
        r"|Failure/Error:|^\s*\d+\) (?:Failure|Error):|^\s*\d+\) \S.*(?:Test|test)"
        r"|\u25cf .+ \u203a "
        r"|^\s*[\u2717\u2716\u00d7]\s+\S|^\s*\S+\s+\.\.\.\s+(?:FAIL|ERROR)\b|^(?:FAIL|ERROR): \w",
    ),
    _rule(
        7,
        "test summary",
        "fail|error",
        r"^FAIL\b|Tests in error:|Failed tests:|FAILURES!|There (?:was|were) \d+ (?:failure|error)"
        r"|(?i:\b[1-9]\d* (?:tests? )?(?:failed|failing|failures?|errors?)\b)"
        r"|(?i:(?:failures|failed|errors)[:=]\s*[1-9])",
    ),
    # -- 3. error-level markers ----------------------------------------------------
    _rule(
        7,
        "error marker",
        "error|fatal|critical|fail|e: |err!",
        r"^(?:\[|\()?(?:ERROR|FATAL|CRITICAL|FAILURE|Error|error|fatal|FAILED|Failed)(?:\]|\))?"
        r"(?::|\s+-|\s)\s*\S"
        r"|^##\[error\]\S|^E: |^CMake Error|^npm ERR! |^ERR!|\bERROR\b\s*[:\-]"
        r"|\w(?:Error|Exception)\b: \S",
    ),
    # -- 4. problem phrases --------------------------------------------------------
    _rule(
        6,
        "problem",
        "no such|not found|denied|refused|not exist|not defined|no matching",
        r"No such file or directory|command not found|[Pp]ermission denied|[Aa]ccess denied"
        r"|Connection refused|(?i:not found)|does not exist|is not defined|[Nn]o matching",
    ),
    _rule(
        5,
        "problem",
        "could|cannot|can't|unable|failed to|time|unexpected|invalid|mismatch|missing|exceeded"
        "|refus",
        r"(?i)\b(?:could not|couldn't|cannot|can't|unable to|failed to|timed out|timeout"
        r"|unexpected|invalid|mismatch|missing|(?:limit|quota) exceeded|refusing to)\b",
    ),
    _rule(
        5,
        "error word",
        "err|fail",
        r"\b(?:error|ERROR|Error|errors)\b|\bfail(?:ed|ure|s)?\b|\bFAIL(?:ED|URE)?\b",
    ),
    _rule(
        3,
        "error word",
        "err|fail|exception|fatal|abort",
        r"(?i)\b(?:err|fail|exception|fatal|abort)",
    ),
)

_ERROR_LEVEL_RULE = _rule(7, "error marker", "", r"")

# What makes a line less likely to explain the failure (added up).
_PENALTIES: tuple[_Rule, ...] = (
    _rule(
        -5,
        "retry noise",
        "retr|attempt",
        r"(?i)\bretry|\bretrying\b|will be retried|\battempt \d+ (?:of|/)",
    ),
    _rule(
        -6,
        "stack frame",
        "at |file |0x|from ",
        r"^\s+at\s|^\s*File \".*\", line \d+|^\s*#\d+\s+0x|^\s*\d+:\s+0x|^\s+from\s\S"
        r"|^at [\w$.<>\[\]/]+[(:]",  # behind a log level ("[error] \tat a.B.c(B.java:3)")
    ),
    _rule(-2, "traceback header", "traceback", r"^Traceback \(most recent call last\)"),
    # Warnings (not "warnings treated as errors").
    _rule(
        -4, "warning", "warn|deprecat", r"(?i)\bwarn(?:ing)?s?\b(?!.*treated as error)|\bDeprecat"
    ),
    # Commands being echoed, compiler command lines.
    _rule(
        -4,
        "command",
        "$|+|>|#|run |-w",
        r"^\s*(?:\$|\+{1,3}|>|#)\s|^##\[command\]|^Run\s|-W(?:no-)?error",
    ),
    # Passing tests and clean summaries.
    _rule(-5, "passed", "pass|ok|\u2713|\u2714", r"\bPASS(?:ED)?\b|\s(?:ok|OK)\s*$|\u2713|\u2714"),
    _rule(
        -6,
        "nothing failed",
        "0",
        r"(?i)(?:\b0 (?:errors?|failures?|failed|failing)\b|(?:errors?|failures?|failed)[:=]\s*0\b)"
        r"(?!.*[1-9]\d* (?:errors?|failures?|failed))"
        r"|^\s*[\w ()/+.-]*\b(?:errors?|failures?|failed|fail)\b[\w ()/+.-]*\s{2,}0\s*$",
    ),
    # Wrappers: a command's exit status, a runner's "N/M failed" summary.
    _rule(
        -3,
        "wrapper",
        "exit|status|failed|code",
        r"(?i)(?:exited|failed|returned|terminated|finished) with (?:exit )?(?:code|status)"
        r"|non-zero exit|exit (?:code|status):? [1-9]|returned [1-9]\d* exit status|\d+/\d+ failed",
    ),
    # Build tools' closing boilerplate.
    _rule(
        -6,
        "tool boilerplate",
        "help|re-run|stack trace|more information|total time|see above|refer to"
        r"|complete log|build failed with|build failure|for details|after correcting|-rf :",
        r"^\[Help \d+\] |[Rr]e-run (?:Maven|Gradle|with)|full stack trace of the errors"
        r"|For more information about the errors|Total time:|See above for more details"
        r"|A complete log of this run|Build failed with an exception|^BUILD FAILURE"
        r"|(?:[Ss]ee|[Cc]heck) .* for (?:more )?details|After correcting the problems|\s-rf :"
        r"|^-> \[Help \d+\]|[Pp]lease refer to .* for the individual test results",
    ),
    # An exception without a message says less than one with it.
    _rule(
        -2,
        "bare exception",
        "error:|exception:|interrupt:|exit:|failure:|fault:",
        r"^[\w$.:]*(?:Error|Exception|Interrupt|Exit|Failure|Fault):?\s*$",
    ),
    _rule(-3, "npm noise", "npm err!", r"^npm ERR!"),
    # Uploading reports or artifacts after the failure; a row of a statistics table
    # ("Cache errors      2").
    _rule(
        -4,
        "upload noise",
        "upload|credentials",
        r"(?i)failed to (?:\w+ and )?upload|upload(?:ing)? \w+ failed|unable to locate credentials",
    ),
    _rule(
        -3,
        "statistics",
        "err|fail",
        r"^\s*[A-Za-z][\w ()/+.-]*\b(?:errors?|failures?|failed)\b[\w ()/+.-]*?\s{3,}\d+\s*$",
    ),
    # The GitHub Actions runner's own closing words.
    _rule(
        -6,
        "runner boilerplate",
        "custom container|runner administrator",
        r"Executing the custom container implementation failed|contact your self hosted runner",
    ),
    # Words that hold "err" or "fail" without being an error.
    _rule(
        -3,
        "not an error",
        "stderr|errno|error|fail",
        r"(?i)\b(?:stderr|errno|on-?error|error_?handl|fail(?:over|safe)|ignore.?errors?|allow.?fail)"
        r"|(?i:\berror (?:messages|reporting|handling)\b)",
    ),
)

# A timeout that is a setting ("Password prompt timeout: 0.0 minutes", "Read timeout => 0"),
# unless an error level says it happened.
_SETTING = re.compile(r"(?i)^[a-z][\w .-]*?\btime-?out\s*(?::|=>?)\s*[\d.]+\s*\w*\s*$")

# The first frame of a JavaScript or Java stack trace, right after its exception line.
_FRAME_NEXT = re.compile(rb"[ \t]+at [\w$.<>\[\]/ ]+[(:]")

# A command's failed exit reported by whoever ran it.
_WRAPPER = re.compile(
    r"(?i)(?:exited|failed|returned|terminated|finished) with (?:exit )?(?:code|status):? [1-9]"
    r"|non-zero exit|exit (?:code|status):? [1-9]|returned [1-9]\d* exit status"
)

# Lines that mark the end of a failed step (after them comes cleanup).
_STEP_EXIT = re.compile(
    r"^\s*(?:##\[error\]\s*)?(?:Error:\s*)?Process completed with exit code [1-9]"
    r"|^\s*Exited with code (?:exit status )?[1-9]"
    r"|^The command \".*\" exited with [1-9]"
    r"|^\s*ERROR: Job failed"
    r"|^Done\. Your build exited with [1-9]"
    r"|^Build step '.*' marked build as failure"
)


# An error word that is a part of a name: a module (Text.Pandoc.Error), a file
# (src/error.c, .xsession-errors), a setting (error_log), a package
# (exceptions-0.10.0); not an event. Blanked before the rules look.
_NAMED_AFTER_ERROR = re.compile(
    r"(?<=\w[./-])(?:[Ee]rrors?|[Ff]ail\w*)\b(?![:(])"
    r"|\b(?:[Ee]rrors?|[Ee]xceptions?|[Ff]ail\w*)(?=[_-]\w|\.\d)"
)


def _blank(m: re.Match[str]) -> str:
    return "_" * len(m.group())


def score_line(text: str) -> tuple[float, str]:
    """The score of one line on its own, and the rule that gave it (0 when it says nothing)."""
    if is_generic(text):
        return 0.0, "generic"
    body = _PREFIX.sub("", text[:MAX_SCORED_CHARS], count=1)
    level = _LEVEL.match(body)
    level_name = ""
    if level:
        level_name = (level.group("a") or level.group("b")).upper()
        body = body[level.end() :].lstrip()
    body = _TAG.sub("", body, count=1)
    if not body.strip() or is_generic(body):
        return 0.0, ""
    body = _NAMED_AFTER_ERROR.sub(_blank, body)
    lowered = body.lower()
    rule = next((rule for rule in _RULES if rule.fits(body, lowered)), None)
    if rule is None:
        if level_name not in _ERROR_LEVELS:
            return 0.0, ""
        rule = _ERROR_LEVEL_RULE  # "[error] * class X does not have ...": the level says it
    score = rule.score
    reason = rule.reason
    if level_name in _ERROR_LEVELS and _LOCATION.match(body):
        score, reason = 10, "compiler error"  # "[error] src/x.scala:10:8: message"
    score += sum(p.score for p in _PENALTIES if p.fits(body, lowered))
    if level_name not in _ERROR_LEVELS and _SETTING.match(body):
        score -= 5
    if score < 8:
        # The tool's own log level: information rarely explains a failure, warnings less
        # than errors.
        if level_name in _QUIET_LEVELS:
            score -= 2
        elif level_name in _WARNING_LEVELS:
            score -= 4
        elif level_name in _ERROR_LEVELS:
            score += 1
    if len(text) > 500:
        score -= 2
    return score, reason


@dataclass(slots=True)
class _Kept:
    score: float
    line: int
    text: str
    reason: str
    key: str


def find_failure_lines(
    log: LogText,
    *,
    limit: int = DEFAULT_LIMIT,
    matches: Iterable[Match] = (),
    patterns: Mapping[int, RankedPattern] | None = None,
) -> list[Candidate]:
    """The `limit` lines most likely to explain the failure, in rank order (best first).

    With `matches` (engine matches) and `patterns` (their patterns by id), the
    best specific pattern match leads (DESIGN.md ranking; generic lines are
    never evidence) and the finder's candidates follow.
    """
    found = _scan(log)
    if patterns is not None:
        best = best_match([m for m in matches if not is_generic(m.text)], patterns.get)
        if best is not None:
            top = max((c.score for c in found), default=0.0) + 1.0
            lead = Candidate(best.line, best.text, round(top, 2), f"pattern {best.pattern_id}")
            found = [lead] + [c for c in found if c.line != best.line]
    return found[:limit]


def _trigger_lines(data: bytes, limit: int) -> list[int]:
    """Start offsets of the last `limit` lines holding a trigger word, in order.

    Blocks are read from the end, so a log where nearly every line says "error"
    costs no more than its last few blocks.
    """
    found: list[int] = []  # newest first
    end = len(data)
    while end > 0 and len(found) < limit:
        base = data.rfind(b"\n", 0, end - BLOCK) + 1 if end > BLOCK else 0
        block = data[base:end].lower()
        find, rfind = block.find, block.rfind
        starts: set[int] = set()
        for word in _TRIGGERS:
            pos = find(word)
            while pos >= 0:
                starts.add(base + rfind(b"\n", 0, pos) + 1)
                next_line = find(b"\n", pos)
                if next_line < 0:
                    break
                pos = find(word, next_line + 1)
        found.extend(sorted(starts, reverse=True))
        end = base
    found = found[:limit]
    found.reverse()
    return found


def _scan(log: LogText) -> list[Candidate]:
    data = log.data
    if not data:
        return []
    total = max(1, log.line_count)
    heap: list[tuple[float, int]] = []  # a min-heap of the best: (score, line); ties keep later
    kept: dict[int, _Kept] = {}
    exits: list[int] = []  # lines where a step ended in failure
    closings: list[int] = []  # those and the lines reporting a command's failed exit
    first_seen: dict[str, tuple[int, str]] = {}  # signature -> its first line and text
    line_no, counted_to = 1, 0
    # Time is bounded: in a log where nearly every line says "error", only the last
    # MAX_SCORED such lines are judged (failures are reported towards the end).
    for start in _trigger_lines(data, MAX_SCORED):
        end = data.find(b"\n", start)
        if end < 0:
            end = len(data)
        line_no += count_newlines(data, counted_to, start)
        counted_to = start
        text = data[start:end].decode("utf-8", "replace")
        if _STEP_EXIT.search(text):
            exits.append(line_no)
            closings.append(line_no)
            continue
        if _WRAPPER.search(text):
            closings.append(line_no)
        score, reason = score_line(text)
        if (
            0 < score < 10
            and _FRAME_NEXT.match(data, end + 1)
            and not _FRAME_NEXT.match(data, start)
        ):
            # The line a stack trace (JS, Java) hangs off: an exception, unless it is a wrapper.
            score, reason = min(10.0, score + 4), "exception"
        if score <= 0:
            continue
        key = signature(text)
        first_seen.setdefault(key, (line_no, text))
        item = _Kept(score, line_no, text, reason, key)
        if len(heap) < KEEP:
            heapq.heappush(heap, (score, line_no))
            kept[line_no] = item
        elif (score, line_no) > heap[0]:
            _, dropped = heapq.heapreplace(heap, (score, line_no))
            del kept[dropped]
            kept[line_no] = item
    return _rank(list(kept.values()), exits, closings, total, first_seen)


def _rank(
    items: list[_Kept],
    exits: list[int],
    closings: list[int],
    total: int,
    first_seen: dict[str, tuple[int, str]],
) -> list[Candidate]:
    first_exit = exits[0] if exits else None
    last_exit = exits[-1] if exits else None
    for item in items:
        # Cleanup after the step exited rarely explains the failure.
        if first_exit is not None and item.line > first_exit:
            item.score -= 1.0
        if last_exit is not None and item.line > last_exit:
            item.score -= 2.0
        # The last errors before a command or step exited.
        after = bisect.bisect_right(closings, item.line)
        if after < len(closings) and closings[after] - item.line <= NEAR_EXIT:
            item.score += 1.0
        # Among equals, the later line.
        item.score += RECENCY * item.line / total
    # The same line repeated is one candidate: its best score, at its last occurrence (where
    # a tool's closing report repeats it, just before the step exited).
    groups: dict[str, _Kept] = {}
    for item in sorted(items, key=lambda i: i.line, reverse=True):
        kept = groups.get(item.key)
        if kept is None:
            groups[item.key] = item
        elif item.score > kept.score:
            kept.score = item.score
    ranked = [i for i in sorted(groups.values(), key=lambda i: (-i.score, -i.line)) if i.score > 0]
    found: list[Candidate] = []
    for place, item in enumerate(ranked):
        found.append(Candidate(item.line, item.text, round(item.score, 2), item.reason))
        # Where the best lines first appeared: a test runner repeats one error per failed
        # test, a later pass repeats the first one, and the first holds the context.
        first_line, first_text = first_seen[item.key]
        if place < SHOW_FIRST_OF and first_line != item.line:
            found.append(
                Candidate(first_line, first_text, round(item.score, 2), "first occurrence")
            )
    return _with_earliest_strong(found)


def _with_earliest_strong(found: list[Candidate]) -> list[Candidate]:
    """The earliest of the lines scoring nearly as well as the best moves up to second.

    In a cascade of errors the first is most often the cause and the later ones its
    consequences, while the closing lines (which score best) tend to be the last ones.
    """
    if not found:
        return found
    strong = [c for c in found if c.score >= found[0].score - STRONG_MARGIN]
    earliest = found.index(min(strong, key=lambda c: c.line))
    if earliest > 1:
        found.insert(1, found.pop(earliest))
    return found


def best_failure_line(log: LogText) -> Candidate | None:
    """The single most likely line (None when nothing in the log looks like a failure)."""
    found = find_failure_lines(log, limit=1)
    return found[0] if found else None
