"""What the failure-line finder sees in a line: its rules, as named features.

Each rule is a regex over the line's *body* (the line without its timestamp,
`[task ...]`-style prefix, log level and process tag; at most its first 400
characters; error words that are part of a name blanked). A rule says nothing
about how much it counts: the weights are learned (`failure_model.json`,
written by `bench/train_failure_lines.py`) and the finder adds them up.

Besides the rules, a line has a few features of its shape (its log level,
indentation, length, a file location, quotes, a program naming itself) and of
its place in the log (computed by `failure_lines`): position, cleanup after
the step exited, distance to the next exit, a stack trace hanging off it, the
first of its repeats, how often it repeats, whether a passing log has it too.

Every rule regex is compiled with `re.ASCII` and carries a set of lower-case
strings one of which any match contains (derived from the regex itself): the
finder looks for all of them in one pass and runs a rule's regex only on the
lines holding one of its strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from citriage.scanner import regex_analysis
from citriage.scanner.boilerplate import is_generic

MAX_SCORED_CHARS = 400  # the start of a long line is enough to judge it (and bounds the time)
LONG_LINE = 500
MIN_LITERAL_BYTES = 3  # shorter prefilter strings would flag too many lines


@dataclass(frozen=True)
class Part:
    """One alternative of a rule: a regex and the strings one of which its matches hold."""

    regex: re.Pattern[str]
    literals: frozenset[str]  # lower case (empty: none found; only for modifiers)

    def may_fit(self, lowered: str) -> bool:
        """Does `lowered` (a text in lower case) hold one of its strings (or has it none)?
        A few `in` tests cost less than one regex search."""
        if not self.literals:
            return True
        for literal in self.literals:  # noqa: SIM110 - a loop, not any(): runs millions of times
            if literal in lowered:
                return True
        return False


@dataclass(frozen=True)
class Rule:
    name: str  # the feature's name in the model
    reason: str  # what the finder says when this rule makes a line a candidate
    parts: tuple[Part, ...]  # the rule fits when one of them does
    evidence: bool  # a hit makes the line a candidate (not only a modifier)

    def fits(self, body: str) -> bool:
        """Does one of its regexes find something in `body`?"""
        return any(part.regex.search(body) for part in self.parts)

    def fits_lowered(self, body: str, lowered: str) -> bool:
        """The same, trying only the parts one of whose strings `lowered` (the body in lower
        case) holds: the answer is the same, sooner."""
        for part in self.parts:  # noqa: SIM110 - as above
            if part.may_fit(lowered) and part.regex.search(body):
                return True
        return False


def _literals(expression: str) -> frozenset[str] | None:
    found = regex_analysis.required_literals(expression, fold_case=True, min_length=1)
    if not found or min(len(s.encode()) for s in found) < MIN_LITERAL_BYTES:
        return None
    # Blanking writes runs of 4+ "_" over words: a string with "_" only inside, in shorter
    # runs, cannot appear in a blanked body without appearing in the line.
    if any(s.startswith("_") or s.endswith("_") or "____" in s for s in found):
        raise ValueError(f"a prefilter string a blanked body could gain: {expression!r}")
    return found


def _part(expression: str, *, guarded: bool) -> Part:
    literals = _literals(expression)
    if literals is None and guarded:
        raise ValueError(f"no prefilter strings for a failure rule: {expression!r}")
    return Part(re.compile(expression, re.ASCII), literals or frozenset())


def _evidence(name: str, reason: str, *alternatives: str) -> Rule:
    return Rule(name, reason, tuple(_part(a, guarded=True) for a in alternatives), True)


def _modifier(name: str, *alternatives: str) -> Rule:
    return Rule(name, "", tuple(_part(a, guarded=False) for a in alternatives), False)


# The hand-set belief the training starts from (and is pulled back to): how much each
# feature says, in points of the old hand-tuned finder (a specific failure 10, a test
# verdict 8, an error marker 7, a problem phrase 5-6, an error word 3-5; the penalties).
# The learned weights are these times a learned scale, plus what the data adds.
PRIORS: dict[str, float] = {
    # evidence: the first rule that fits (in this order) gives the line its base
    "resources exhausted": 16,  # a full disk outranks the exceptions (and traces) it causes
    "sanitizer": 10,
    "located error": 10,
    "linker error": 10,
    "exception": 10,
    "caused by": 10,
    "panic": 10,
    "crash": 10,
    "out of memory": 10,
    "assertion": 10,
    "verdict with message": 10,
    "tool error": 9,
    "expectation": 9,
    "harness verdict": 10,  # a harness's verdict names the failed test
    "test failed": 8,
    "network": 8,
    "test summary": 7,
    "error marker": 7,
    "annotation": 7,
    "named error": 7,
    "error level": 7,
    "not found": 6,
    "denied": 6,
    "npm error": 4,
    "problem": 5,
    "error word": 5,
    "error prefix": 3,
    "more evidence": 0,
    # modifiers
    "retry": -5,
    "stack frame": -6,
    "traceback header": -2,
    "source line": -4,
    "warning": -4,
    "command": -4,
    "passed": -5,
    "nothing failed": -6,
    "skipped": -8,
    "exit status": -3,
    "summary": -4,
    "tool boilerplate": -6,
    "bare exception": -2,
    "upload noise": -4,
    "statistics": -3,
    "runner boilerplate": -6,
    "not an error": -3,
    "setting": -5,
    "probe": -5,
    # shape
    "level error": 1,
    "level warning": -4,
    "level quiet": -2,
    "long line": -2,
    "header": -2,
    "relayed": -1,
    # place in the log
    "position": 1,
    "after exit": -1,
    "after last exit": -2,
    "before exit": 1,
    "frame next": 3,
    "first occurrence": 1,  # of repeats of one error, the first holds the story
    "first of its kind": 1,  # of several failed tests or compiler errors, the first
    "in passing log": -3,
}

# -- evidence: a hit makes the line a candidate ------------------------------------------
# Alternatives are written apart so that each gets its own prefilter strings (`re` would
# factor `SIGSEGV|SIGABRT` into `SIG(?:SEGV|ABRT)`, whose only required string is "sig").
_EVIDENCE: tuple[Rule, ...] = (
    _evidence(
        "sanitizer",
        "sanitizer",
        r"ERROR: \w*Sanitizer|SUMMARY: \w*Sanitizer|WARNING: ThreadSanitizer",
        r"\bruntime error: ",
        r"==\d+==ERROR",
    ),
    # A compiler's error with a location: "a.c:3:9: error:", "A.java:[3,9] ", "x.cs(3,9): error".
    _evidence(
        "located error",
        "compiler error",
        r"^\S[^:]*?(?::\d+(?::\d+)?:|\(\d+(?:,\d+)?\)\s*:?)\s*(?:fatal )?error\b",
        r"^\[ERROR\] \S+:\[\d+,\d+\] ",
        r"\berror [A-Z]{1,4}\d{2,5}\s*:",
    ),
    # A program's own error line: "error: x", "gcc: error: x", "configure: error: x".
    _evidence("tool error", "error", r"^(?:[\w.+/-]+: )?(?:fatal )?error(?:\[E\d+\])?: \S"),
    _evidence(
        "linker error",
        "linker error",
        r"undefined reference to",
        r"undefined symbols?\b",
        r"unresolved external symbol",
        r"multiple definition of",
        r"\bld(?:\.\w+)?: (?:error|cannot find|library not found)",
    ),
    # The exception line of a traceback: `ValueError: x`, `java.lang.X: y`, `A::B::Error: z`.
    _evidence(
        "exception",
        "exception",
        r"^\s*(?:E\s+|Exception in thread \"[^\"]*\" |Uncaught )?"
        r"(?:(?:[A-Za-z_][\w$]*(?:\.|::))+(?:[A-Z][\w$]*?)?|[A-Z][\w$]*?)"
        r"(?:Error|Exception|Interrupt|Exit|Failure|Fault)(?::|$)",
    ),
    _evidence("caused by", "exception", r"^\s*Caused by: \S"),
    _evidence(
        "panic",
        "panic",
        r"^panic: ",
        r"\bpanicked at\b",
        r"^fatal error: ",
        r"Fatal Python error",
        r"\bMOZ_CRASH\(",
    ),
    _evidence(
        "crash",
        "crash",
        r"Segmentation fault",
        r"core dumped",
        r"\bSIGSEGV\b",
        r"\bSIGABRT\b",
        r"\bSIGBUS\b",
        r"\bSIGILL\b",
        r"\bSIGFPE\b",
        r"Bus error",
        r"[Ss]tack overflow",
        r"Illegal instruction",
        r"Abort trap",
    ),
    _evidence(
        "out of memory",
        "out of memory",
        r"[Oo]ut of memory",
        r"OutOfMemory",
        r"\bOOM\b",
        r"Cannot allocate memory",
        r"^Killed\s*$",
        r"\sKilled\s*$",
        r"std::bad_alloc",
    ),
    _evidence(
        "assertion",
        "assertion",
        r"\bAssertion\b.*\bfailed",
        r"\bAssertionError\b",
        r"Failed asserting that",
        r"XCTAssert\w* failed",
        r"^E\s+assert\b",
        r"\bassert(?:ion)? failed",
        r"\bAssertion failure\b",
    ),
    _evidence(
        "expectation",
        "assertion",
        r"(?i)\bexpected\b.*\b(?:but (?:was|got|received|found)|got|actual|received"
        r"|to (?:equal|be|have|contain))\b",
    ),
    # -- test runners -------------------------------------------------------------------------
    # A verdict that names the test and carries the message: pytest's short summary, the
    # Mozilla harnesses' `TEST-UNEXPECTED-FAIL | test | message`, `PROCESS-CRASH | ...`.
    _evidence(
        "verdict with message",
        "test failed",
        r"^FAILED\s+(?:\[[^\]]*\]\s+)?\S+::\S+ - \S",
        r"TEST-UNEXPECTED-[A-Z]+ \| [^|]+ \| \S",
        r"PROCESS-CRASH \| \S",
    ),
    # A harness verdict line: a verdict word, a test, its file in brackets (PHP's run-tests
    # `FAIL name [ext/x/tests/a.phpt]`), and the Mozilla harnesses' unexpected results.
    _evidence(
        "harness verdict",
        "test failed",
        r"^(?:FAIL|FAILED|ERROR)\s+\S.*\[[^\]\s]+\]\s*(?:\(.*\))?$",
        r"\bTEST-UNEXPECTED-[A-Z]+\b",
        r"\bPROCESS-CRASH\b",
    ),
    _evidence(
        "test failed",
        "test failed",
        r"--- FAIL: ",
        r"\[\s+FAILED\s+\]\s+\S",
        r"<<< (?:FAILURE|ERROR)!",
        r"^FAILED\s+(?:\[[^\]]*\]\s+)?\S+::",
        r"^not ok \d+",
        r"^!!!!* .+ !!!!*$",
        r"^\S.* > .+ FAILED$",
        r"Failure/Error:",
        r"^\s*\d+\) (?:Failure|Error):",
        r"^\s*\d+\) \S+::test",  # PHPUnit's numbered failures ("1) a\\BTest::testX")
        "\u25cf .+ \u203a ",
        "^\\s*(?:\u2717|\u2716|\u2715)\\s+\\S",
        r"^\s*\S+\s+\.\.\.\s+(?:FAIL|ERROR)\b",
        r"^(?:FAIL|ERROR): \w",
    ),
    _evidence(
        "test summary",
        "test summary",
        r"^FAIL\b",
        r"Tests in error:|Failed tests:|FAILURES!",
        r"There (?:was|were) \d+ (?:failure|error)",
        r"(?i)\b[1-9]\d* (?:tests? )?(?:failed|failing|failures?|errors?)\b",
        r"(?i)(?:failures|failed|errors)[:=]\s*[1-9]",
    ),
    # -- error markers ------------------------------------------------------------------------
    _evidence(
        "error marker",
        "error",
        r"^(?:\[|\()?(?:ERROR|FATAL|CRITICAL|FAILURE|Error|error|fatal|FAILED|Failed)(?:\]|\))?"
        r"(?::|\s+-|\s)\s*\S",
        r"^CMake Error",
        r"^ERR!",
        r"\bERROR\b\s*[:\-]",
    ),
    _evidence("annotation", "error", r"^##\[error\]\S"),
    _evidence("npm error", "error", r"^npm ERR! "),
    _evidence("named error", "error", r"\wError\b: \S", r"\wException\b: \S"),
    # -- problem phrases ----------------------------------------------------------------------
    _evidence(
        "not found",
        "problem",
        r"(?i)not found",
        r"(?i)no such ",
        r"does not exist",
        r"is not defined",
        r"[Nn]o matching",
    ),
    _evidence(
        "denied",
        "problem",
        r"(?i)permission denied",
        r"(?i)access denied",
        r"(?i)connection refused",
        r"(?i)\bforbidden\b",
        r"(?i)\bnot authori[sz]ed\b",
        r"(?i)\bunauthori[sz]ed\b",
    ),
    # The machine rather than the code: a full disk, no memory left for the build machine.
    _evidence(
        "resources exhausted",
        "infrastructure",
        r"(?i)no space left on device",
        r"(?i)disk quota exceeded",
        r"\bENOSPC\b",
        r"(?i)not enough (?:disk )?space",
        r"(?i)read-only file system",
        r"(?i)too many open files",
    ),
    # The network or a service: DNS, resets, 5xx answers, rate limits, failed downloads.
    _evidence(
        "network",
        "infrastructure",
        r"(?i)temporary failure in name resolution",
        r"(?i)could not resolve host",
        r"(?i)name or service not known",
        r"(?i)connection reset",
        r"(?i)connection timed out",
        r"(?i)network is unreachable",
        r"(?i)service unavailable",
        r"(?i)bad gateway",
        r"(?i)gateway time-?out",
        r"(?i)internal server error",
        r"(?i)too many requests",
        r"(?i)rate limit",
        r"(?i)\b(?:failed|unable) to (?:download|fetch|pull|clone)",
        r"(?i)download failed",
        r"(?i)handshake",
        r"(?i)certificate verify failed",
        r"(?i)host key verification failed",
        r"(?i)lost connection",
        r"(?i)\bhttp error 5\d\d\b",
        r"(?i)returned error: 5\d\d\b",
    ),
    _evidence(
        "problem",
        "problem",
        r"(?i)\b(?:could not|couldn't|cannot|can't|unable to|failed to|timed out|timeout"
        r"|unexpected|invalid|mismatch|missing|refusing to|not allowed"
        r"|incompatible|unsupported|unknown)\b",
        r"(?i)\b(?:limit|quota) exceeded\b",
    ),
    _evidence(
        "error word",
        "error",
        r"\b(?:error|ERROR|Error|errors)\b",
        r"\bfail(?:ed|ure|s)?\b|\bFAIL(?:ED|URE)?\b",
    ),
    _evidence("error prefix", "error", r"(?i)\b(?:err|fail|exception|fatal|abort)"),
)

# The most specific first: the first rule that fits a line is its evidence feature.
EVIDENCE = tuple(sorted(_EVIDENCE, key=lambda rule: -PRIORS[rule.name]))

# -- modifiers: they change a candidate's score, never make one ------------------------------
MODIFIERS: tuple[Rule, ...] = (
    _modifier("retry", r"(?i)\bretry|\bretrying\b|will be retried|\battempt \d+ (?:of|/)"),
    _modifier(
        "stack frame",
        r"^\s+at\s",
        r"^\s*File \".*\", line \d+",
        r"^\s*#\d+\s+0x|^\s*\d+:\s+0x",
        r"^\s+from\s\S",
        r"^at [\w$.<>\[\]/]+[(:]",  # behind a log level ("[error] \tat a.B.c(B.java:3)")
        r"^\s*#\d+ \S+ in \S",
    ),
    _modifier("traceback header", r"^Traceback \(most recent call last\)"),
    # A line of source code quoted in a traceback ("    raise ValueError(msg)").
    _modifier(
        "source line",
        r"^\s+(?:raise|return|assert|await|yield|throw|self\.\w+\(|if \w.*:$)\b",
    ),
    # Warnings (not "warnings treated as errors").
    _modifier("warning", r"(?i)\bwarn(?:ing)?s?\b(?!.*treated as error)", r"\bDeprecat"),
    # Commands being echoed, compiler command lines.
    _modifier(
        "command", r"^\s*(?:\$|\+{1,3}|>|#)\s", r"^##\[command\]", r"^Run\s", r"-W(?:no-)?error"
    ),
    _modifier(
        "passed",
        r"\bPASS(?:ED)?\b",
        r"\s(?:ok|OK)\s*$",
        "\u2713|\u2714",
        r"(?i)\bsuccess",
    ),
    _modifier(
        "nothing failed",
        r"(?i)(?:\b0 (?:errors?|failures?|failed|failing)\b|(?:errors?|failures?|failed)[:=]\s*0\b)"
        r"(?!.*[1-9]\d* (?:errors?|failures?|failed))",
        r"(?i)^\s*[\w ()/+.-]*\b(?:errors?|failures?|failed|fail)\b[\w ()/+.-]*\s{2,}0\s*$",
    ),
    # A test that was skipped or expected to fail, whatever words its name or reason holds.
    _modifier(
        "skipped",
        r"(?i)\bskip(?:ped|ping|s)?\b",
        r"(?i)\bxfail(?:ed)?\b",
        r"(?i)\b(?:expected|known)[ -]fail(?:ure|ed)?\b",
        r"\bTEST-(?:EXPECTED|KNOWN)-FAIL\b",
        r"(?i)# todo\b",
    ),
    # A command's exit status reported by whoever ran it, a runner's "N/M failed".
    _modifier(
        "exit status",
        r"(?i)(?:exited|failed|returned|terminated|finished) with (?:exit )?(?:code|status)",
        r"(?i)non-zero exit|exit (?:code|status):? [1-9]|returned [1-9]\d* exit status",
        r"\d+/\d+ failed",
    ),
    # A wrapper that says the build, a task or the tests failed (after the cause).
    _modifier(
        "summary",
        r"(?i)\b(?:build|compilation|execution|task|tests?|job|step|target|goal|script"
        r"|subprocess|process|suite|check|lint\w*) (?:has |have )?(?:failed|failure|had errors)\b",
        r"(?i)there (?:were|was) (?:\w+ )?(?:failing tests?|test failures?|errors?|failures?)\b",
        r"(?i)failed for task|execution failed|see the report at",
        r"(?i)(?:errors?|problems?) (?:were|was) (?:found|encountered|reported)",
        r"(?i)\bone or more\b|errors? occurred",
    ),
    # Build tools' closing boilerplate.
    _modifier(
        "tool boilerplate",
        r"^\[Help \d+\] |^-> \[Help \d+\]",
        r"[Rr]e-run (?:Maven|Gradle|with)|Run with --(?:stacktrace|info|debug|scan)",
        r"full stack trace of the errors|For more information about the errors",
        r"Total time:|See above for more details|A complete log of this run",
        r"Build failed with an exception|^BUILD FAILURE|Get more help at",
        r"(?:[Ss]ee|[Cc]heck) .* for (?:more )?details|After correcting the problems|\s-rf :",
        r"[Pp]lease refer to .* for the individual test results",
    ),
    # An exception without a message says less than one with it.
    _modifier("bare exception", r"^[\w$.:]*(?:Error|Exception|Interrupt|Exit|Failure|Fault):?\s*$"),
    # Uploading reports or artifacts after the failure.
    _modifier(
        "upload noise",
        r"(?i)failed to (?:\w+ and )?upload|upload(?:ing)? \w+ failed",
        r"(?i)unable to locate credentials",
    ),
    # A row of a statistics table ("Cache errors      2").
    _modifier(
        "statistics",
        r"(?i)^\s*(?:[a-z][\w ()/+.-]*)?\b(?:errors?|failures?|failed)\b[\w ()/+.-]*?\s{3,}\d+\s*$",
    ),
    # The CI runner's own closing words.
    _modifier(
        "runner boilerplate",
        r"Executing the custom container implementation failed",
        r"contact your self hosted runner",
        r"If your build fails, please take a look",
    ),
    # Words that hold "err" or "fail" without being an error.
    _modifier(
        "not an error",
        r"(?i)\b(?:stderr|errno|on-?error|error_?handl|fail(?:over|safe|fast)|ignore.?errors?"
        r"|allow.?fail)",
        r"(?i)\berror (?:messages|reporting|handling|pages?)\b|errors? (?:are|is) ignored",
    ),
    # A configure script's probe of the machine ("-- Looking for pthread_create - not found",
    # "checking for gawk... no"): a normal answer, not a failure.
    _modifier(
        "probe",
        r"^-- (?:Looking for|Performing Test|Check(?:ing)?(?: for| if| whether| size)?) .* - "
        r"(?:not found|[Ff]ailed|no)\b",
        r"^checking (?:for|whether|if|how) .*\.\.\. (?:no|not found)\b",
    ),
    # A setting and its plain value ("Password prompt timeout: 0.0 minutes", "OOM restarts
    # => 0", "if-no-files-found: error"), not a count of errors.
    _modifier(
        "setting",
        r"(?i)^(?!(?:errors?|failures?|failed|fatal)\b)[a-z][\w .-]*?\s*(?::|=>?)\s*"
        r"(?:[\d.]+\s*[a-z]*|true|false|yes|no|on|off|none|null|no value|error|warn(?:ing)?"
        r"|ignore|fail)\s*(?:=>.*)?$",
    ),
)

RULES: tuple[Rule, ...] = EVIDENCE + MODIFIERS

# Evidence besides the rules: no rule fits but the log level says error; how many more
# evidence rules fit than the first.
EVIDENCE_EXTRA: tuple[str, ...] = ("error level", "more evidence")
# Features of a line's shape (no prefilter: computed for every candidate).
SHAPE_FEATURES: tuple[str, ...] = (
    "level error",
    "level warning",
    "level quiet",
    "indented",
    "long line",
    "short",
    "location",
    "quoted",
    "program named",
    "header",
    "relayed",
)
# Features of a line's place in the log (computed by the finder).
CONTEXT_FEATURES: tuple[str, ...] = (
    "position",
    "near end",
    "after exit",
    "after last exit",
    "before exit",
    "exit distance",
    "frame next",
    "first occurrence",
    "first of its kind",
    "repeats",
    "in passing log",
)
FEATURES: tuple[str, ...] = (
    tuple(r.name for r in RULES) + EVIDENCE_EXTRA + SHAPE_FEATURES + CONTEXT_FEATURES
)
INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURES)}
PRIOR_WEIGHTS: tuple[float, ...] = tuple(float(PRIORS.get(name, 0)) for name in FEATURES)

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
    re.VERBOSE | re.ASCII,
)
# A log level after the timestamp ("INFO - ", "[WARN]"): kept apart as a feature.
_LEVEL = re.compile(
    r"^(?:\[(?P<a>[A-Z]{3,8}|(?i:error|warn|warning|info|debug))\]\s*"
    r"|(?P<b>[A-Z]{3,8})(?:\s+-\s+|:\s+|\s{2,})"
    r"|[\w.]{1,60} \((?P<c>[A-Z]{3,8})\):\s+)",  # Python logging's "name (LEVEL): "
    re.ASCII,
)
# Process tags of test harnesses ("PID 123 | ", "GECKO(123) | ").
_TAG = re.compile(r"^(?:[A-Za-z]+ ?\(?\d+\)? \| )+", re.ASCII)
_LOCATION = re.compile(r"^\S+?(?::\d+(?::\d+)?:|:\[\d+,\d+\]|\(\d+(?:,\d+)?\):?)\s", re.ASCII)
_QUOTED = re.compile(r"'[^']+'|\"[^\"]+\"|`[^`]+`|\u2018[^\u2019]+\u2019")
# A program naming itself ("configure: error: ...", "make[2]: ..."), not a level word.
_PROGRAM = re.compile(
    r"^(?!(?:error|warning|warn|fatal|note|info|debug|notice|hint|caused by)\b)"
    r"[a-z][\w.+-]*(?:\[\d+\])?: \S",
    re.ASCII,
)
_QUIET_LEVELS = frozenset({"INFO", "DEBUG", "TRACE", "NOTICE", "VERBOSE"})
_WARNING_LEVELS = frozenset({"WARN", "WARNING"})
ERROR_LEVELS = frozenset({"ERROR", "FATAL", "CRITICAL", "SEVERE"})

# An error or problem word that is a part of a name: a module (Text.Pandoc.Error), a file
# (src/error.c, .xsession-errors, rm-invalid-lock-files.php), a setting (error_log), a
# package (exceptions-0.10.0), a platform (x86_64-unknown-linux-gnu); not an event.
# Blanked before the rules look.
_PROBLEM_WORD = (
    r"(?:[Ee]rrors?|[Ff]ail\w*|[Ii]nvalid|[Uu]nknown|[Mm]issing|[Cc]rash\w*|[Ff]atal|[Aa]bort\w*"
    r"|[Tt]imeout|[Ll]eak\w*|[Aa]ssert\w*|[Dd]enied|[Uu]nexpected)"
)
# The leading lookahead (the first letters of the words) lets a search skip other
# characters before trying the lookbehind: half the time of the bare alternation.
_NAMED_AFTER_ERROR = re.compile(
    r"(?=[EeFfIiUuMmCcAaTtLlDd])"
    rf"(?:(?<=\w[./-]){_PROBLEM_WORD}\b(?![:(])"
    rf"|\b(?:{_PROBLEM_WORD}|[Ee]xceptions?)(?=[_-]\w|\.\d))",
    re.ASCII,
)


def _blank(m: re.Match[str]) -> str:
    return "_" * len(m.group())


@dataclass(frozen=True, slots=True)
class Body:
    """A line as the rules see it."""

    text: str  # without prefix, level and tag; blanked; at most MAX_SCORED_CHARS
    level: str  # the log level named before it ("" when none), upper case
    indented: bool
    relayed: bool  # behind a process tag: output of a program a harness runs


def body_of(line: str) -> Body | None:
    """The part of `line` the rules judge; None for lines that only say a step failed."""
    if is_generic(line):
        return None
    body = _PREFIX.sub("", line[:MAX_SCORED_CHARS], count=1)
    level = _LEVEL.match(body)
    level_name = ""
    if level:
        level_name = (level.group("a") or level.group("b") or level.group("c")).upper()
        body = body[level.end() :].lstrip()
    tagged = _TAG.match(body)
    if tagged:
        body = body[tagged.end() :]
    if not body.strip() or is_generic(body):
        return None
    blanked = _NAMED_AFTER_ERROR.sub(_blank, body)
    return Body(blanked, level_name, body[:1].isspace(), tagged is not None)


def shape_features(line: str, body: Body, *, strong: bool = False) -> list[int]:
    """Indexes of the shape features `line` has. The log level counts only for weak
    evidence (`strong`: a test verdict or a specific failure, which harnesses print at
    any level)."""
    fired = []
    if strong:
        pass
    elif body.level in ERROR_LEVELS:
        fired.append(INDEX["level error"])
    elif body.level in _WARNING_LEVELS:
        fired.append(INDEX["level warning"])
    elif body.level in _QUIET_LEVELS:
        fired.append(INDEX["level quiet"])
    if body.indented:
        fired.append(INDEX["indented"])
    if len(line) > LONG_LINE:
        fired.append(INDEX["long line"])
    if len(body.text.strip()) < 20:
        fired.append(INDEX["short"])
    if _LOCATION.match(body.text):
        fired.append(INDEX["location"])
    if _QUOTED.search(body.text):
        fired.append(INDEX["quoted"])
    if _PROGRAM.match(body.text):
        fired.append(INDEX["program named"])
    if body.relayed:
        fired.append(INDEX["relayed"])
    if body.text.rstrip().endswith(":"):
        fired.append(INDEX["header"])  # "Failures:", "COMPILATION ERROR :": details follow
    return fired


# The first frame of a JavaScript or Java stack trace, right after its exception line.
FRAME_NEXT = re.compile(rb"[ \t]+at [\w$.<>\[\]/ ]+[(:]")

# Lines that mark the end of a failed step (after them comes cleanup).
STEP_EXIT = re.compile(
    r"^\s*(?:##\[error\]\s*)?(?:Error:\s*)?Process completed with exit code [1-9]"
    r"|^\s*Exited with code (?:exit status )?[1-9]"
    r"|^The command \".*\" exited with [1-9]"
    r"|^\s*ERROR: Job failed"
    r"|^Done\. Your build exited with [1-9]"
    r"|^Build step '.*' marked build as failure",
    re.ASCII,
)
# A command's failed exit reported by whoever ran it (a "closing": errors just before count more).
WRAPPER = re.compile(
    r"(?i)(?:exited with|failed with|returned with|terminated with|finished with)"
    r" (?:exit )?(?:code|status):? [1-9]"
    r"|non-zero exit|exit (?:code|status):? [1-9]|returned [1-9]\d* exit status",
    re.ASCII,
)
_STEP_EXIT_LITERALS = _literals(STEP_EXIT.pattern) or frozenset()
_WRAPPER_LITERALS = _literals(WRAPPER.pattern) or frozenset()
EXIT_LITERALS = _STEP_EXIT_LITERALS | _WRAPPER_LITERALS


def closing(line: str) -> str:
    """ "exit" when the line ends a failed step, "wrapper" when it reports a command's failed
    exit, else "" (judged on the line's first MAX_SCORED_CHARS characters)."""
    head = line[:MAX_SCORED_CHARS]
    lowered = head.lower()
    if any(s in lowered for s in _STEP_EXIT_LITERALS) and STEP_EXIT.search(head):
        return "exit"
    if any(s in lowered for s in _WRAPPER_LITERALS) and WRAPPER.search(head):
        return "wrapper"
    return ""
