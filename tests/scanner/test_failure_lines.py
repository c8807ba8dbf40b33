"""The failure-line finder: each rule explained by a small log that shows it; the fast
search against the plain reference; the prefilter's strings; the model file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citriage.scanner import failure_lines, failure_rules
from citriage.scanner.failure_lines import (
    Baseline,
    Model,
    find_failure_lines,
    reference_failure_lines,
    score_line,
)
from citriage.scanner.logtext import LogText, read_log
from citriage.scanner.patterns import Pattern
from tests.conftest import CORPUS


def best(text: str) -> str:
    found = find_failure_lines(LogText.from_text(text))
    assert found, "expected a candidate"
    return found[0].text


def word(n: int) -> str:
    """A name without digits for `n` (repeats are told apart by more than their digits)."""
    letters = ""
    while True:
        n, digit = divmod(n, 26)
        letters += chr(97 + digit)
        if not n:
            return letters


def lines_of(text: str, **options: object) -> list[int]:
    return [c.line for c in find_failure_lines(LogText.from_text(text), **options)]  # type: ignore[arg-type]


# -- what a line says on its own --------------------------------------------------------


def test_python_traceback_gives_the_exception_line_not_the_header() -> None:
    log = """collecting ...
Traceback (most recent call last):
  File "/app/run.py", line 3, in <module>
    import missing_module
  File "/app/x.py", line 9, in load
    raise ValueError("bad config")
ValueError: bad config: key 'retries' must be an int
##[error]Process completed with exit code 1."""
    assert best(log) == "ValueError: bad config: key 'retries' must be an int"
    assert score_line('    raise ValueError("bad config")')[0] < score_line("ValueError: x")[0]


def test_boilerplate_exit_lines_are_never_candidates() -> None:
    log = "building\n##[error]Process completed with exit code 1.\nmake: *** [all] Error 2\n"
    assert find_failure_lines(LogText.from_text(log)) == []


def test_compiler_error_beats_the_make_error_and_linker_summary() -> None:
    log = """gcc -Wall -Werror -c src/a.c -o a.o
src/a.c:3:9: error: unknown type name 'sizet'
make: *** [Makefile:4: a.o] Error 1
collect2: error: ld returned 1 exit status"""
    assert best(log) == "src/a.c:3:9: error: unknown type name 'sizet'"


def test_linker_undefined_reference() -> None:
    log = "linking app\n/usr/bin/ld: main.o: undefined reference to `frobnicate'\nbuild failed\n"
    assert "undefined reference" in best(log)


def test_sanitizer_report() -> None:
    log = """running tests
==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010
    #0 0x4f3a2b in main /src/main.c:10
SUMMARY: AddressSanitizer: heap-use-after-free /src/main.c:10 in main"""
    top = [c.text for c in find_failure_lines(LogText.from_text(log))[:2]]
    assert any("AddressSanitizer" in t for t in top)
    assert not any(t.strip().startswith("#0") for t in top)


def test_go_test_failure_beats_the_package_summary() -> None:
    log = """=== RUN   TestParse
--- FAIL: TestParse (0.01s)
    parse_test.go:12: got 3, want 4
FAIL
FAIL\tgithub.com/acme/parse\t0.012s"""
    assert best(log).startswith("--- FAIL: TestParse") or "got 3, want 4" in best(log)


def test_junit_failure_and_assertion() -> None:
    log = """Running com.acme.ParserTest
Tests run: 3, Failures: 1, Errors: 0, Skipped: 0
parses(com.acme.ParserTest)  Time elapsed: 0.02 sec  <<< FAILURE!
java.lang.AssertionError: expected:<4> but was:<3>
\tat org.junit.Assert.fail(Assert.java:88)
\tat com.acme.ParserTest.parses(ParserTest.java:12)
[ERROR] For more information about the errors and possible solutions, please read:
[ERROR] [Help 1] http://cwiki.apache.org/confluence/display/MAVEN/MojoFailureException"""
    top = best(log)
    assert "AssertionError" in top or "<<< FAILURE!" in top


def test_stack_frames_warnings_and_retries_lose() -> None:
    failure = score_line("java.lang.IllegalStateException: boom")[0]
    assert score_line("\tat com.acme.Foo.bar(Foo.java:12)")[0] < failure
    assert (
        score_line("warning: unused variable 'x'")[0] < score_line("error: unused variable 'x'")[0]
    )
    retry = "Retrying (Retry(total=4)) after connection broken: timed out"
    assert score_line(retry)[0] < score_line("connection broken: timed out")[0]
    assert score_line("Tests run: 10, Failures: 0, Errors: 0")[0] <= 0


def test_timestamps_and_log_levels_are_seen_through() -> None:
    gha = "2024-01-31T12:34:56.7890123Z ImportError: cannot import name 'x' from 'y'"
    assert score_line(gha) == score_line("ImportError: cannot import name 'x' from 'y'")
    assert score_line(gha)[1] == "exception"
    mozilla = (
        "[task 2025-02-13T21:30:46.167Z] 21:30:46  WARNING -  TEST-UNEXPECTED-FAIL | a.html | t"
    )
    assert score_line(mozilla)[1] == "test failed"
    info = "[task 2025-02-13T21:30:46.167Z] 21:30:46     INFO - loaded error-page module x"
    assert score_line(info)[0] < score_line(info.replace("INFO", "ERROR"))[0]
    python_logging = "2019-08-03T02:11:30.790000Z TestFramework (ERROR): Unexpected exception"
    assert score_line(python_logging)[0] > score_line(python_logging.replace("ERROR", "INFO"))[0]


def test_cleanup_after_the_step_exited_loses() -> None:
    log = """step output
npm test
Error: expected 200 to equal 404
##[error]Process completed with exit code 1.
Post job cleanup.
error: could not remove cache directory"""
    assert best(log) == "Error: expected 200 to equal 404"


def test_the_command_wrapper_is_not_the_answer() -> None:
    log = """fetching
fatal: couldn't find remote ref refs/tags/v9
##[error]The process '/usr/bin/git' failed with exit code 128"""
    assert best(log) == "fatal: couldn't find remote ref refs/tags/v9"


def test_a_bare_exception_says_less_than_one_with_a_message() -> None:
    assert score_line("KeyboardInterrupt:")[0] < score_line("RuntimeError: worker 3 died")[0]
    assert score_line("java.lang.AssertionError:")[0] < score_line("java.lang.AssertionError: x")[0]


def test_namespaced_exceptions_and_error_levels() -> None:
    assert score_line("ActionView::Template::Error: undefined method `x'")[1] == "exception"
    assert score_line("[error]  * class a.B does not have a correspondent")[1] == "error level"
    help_link = "[ERROR] [Help 1] http://cwiki.apache.org/MojoFailureException"
    assert score_line(help_link)[0] < score_line("[error] * class a.B is gone")[0]


def test_a_javascript_error_with_its_stack_is_the_exception() -> None:
    log = """> mocha
E: Failed to fetch http://archive.example/Packages  404  Not Found
Error: Cannot find module 'fast-deep-equal'
    at Function.Module._resolveFilename (module.js:325:15)
    at Function.Module._load (module.js:276:25)
npm ERR! Test failed.  See above for more details."""
    assert best(log) == "Error: Cannot find module 'fast-deep-equal'"


def test_an_indented_exception_under_a_failed_test_is_found() -> None:
    log = """ConsoleClientTest > testClassicParsing() FAILED
    java.lang.IllegalArgumentException: java.nio.file.NoSuchFileException: ../data/a.log
        at org.acme.Reader.read(Reader.java:12)
27 tests completed, 1 failed"""
    top = [c.text.strip() for c in find_failure_lines(LogText.from_text(log))[:2]]
    assert any(t.startswith("java.lang.IllegalArgumentException") for t in top)
    assert "27 tests completed, 1 failed" not in top[:1]


def test_a_pytest_verdict_with_its_exception_beats_the_captured_output() -> None:
    log = """----- Captured stderr call -----
RuntimeError: Process 0 terminated or timed out after 310.01 seconds
=========================== short test summary info ============================
FAILED [310.02s] distributed/test_spawn.py::TestNN::test_all_gather - RuntimeError: Process 0 terminated
Cache errors                          0
======================== 1 failed in 310.03s ========================="""
    top = [c.text for c in find_failure_lines(LogText.from_text(log))[:2]]
    assert any(t.startswith("FAILED [310.02s] distributed/test_spawn.py::TestNN") for t in top)
    assert score_line("Cache errors                          0")[0] <= 0


def test_limits_exceeded_and_refusals_are_problems() -> None:
    assert score_line('  "message": "API rate limit exceeded for user ID 1."')[0] > 0
    assert score_line("fatal: refusing to merge unrelated histories")[0] > 0
    assert score_line("the limit was not reached") == (0.0, "")


def test_error_words_that_are_part_of_a_name_are_not_errors() -> None:
    for line in (
        "[ 42 of 147] Compiling Text.Pandoc.Error ( src/Text/Pandoc/Error.hs, dist/Error.o )",
        "+ cp /builds/worker/.xsession-errors /builds/worker/artifacts/",
        "        depends exceptions-0.10.0-K1JVigLRL0e8f7wZmwIycT",
        "opcache.error_log => no value => no value",
        "Target: x86_64-unknown-linux-gnu",
        "php .github/rm-invalid-lowest-lock-files.php $COMPONENTS",
    ):
        assert score_line(line) == (0.0, ""), line
    # A file named after errors still has its compiler error, and exceptions their class.
    assert score_line("src/error.c:12:5: error: expected ';'")[1] == "compiler error"
    assert score_line("java.lang.IllegalStateException: closed")[1] == "exception"
    assert score_line("java.lang.Exception")[1] == "exception"
    assert score_line("django.core.exceptions.ImproperlyConfigured: no DATABASES")[0] > 0


def test_settings_statistics_probes_and_report_uploads_say_less_than_a_failure() -> None:
    failure = score_line("RuntimeError: test_ops 1/1 failed!")[0]
    for noise in (
        "Password prompt timeout: 0.0 minutes",
        "Read timeout => 31536000",
        "OOM restarts => 0",
        "  if-no-files-found: error",
        "Cache errors (C/C++)                   2",
        "Failed distributed compilations        0",
        "Failed to upload artifacts: Unable to locate credentials",
        "Allow some information gathering to give useful error messages",
        "-- Looking for pthread_create - not found",
        "checking for gawk... no",
    ):
        assert score_line(noise)[0] < failure - 1, noise
    # The same words where an error says it happened.
    for happened in ("Error: timeout: 30s", "ERROR: Timeout: 600"):
        assert score_line(happened)[0] > score_line("Read timeout => 31536000")[0] + 3, happened


def test_stack_frames_behind_a_log_level_are_frames() -> None:
    log = """[info] Compiling 3 Scala sources
[error] java.lang.RuntimeException: akka-cluster: Binary compatibility check failed!
[error] \tat scala.sys.package$.error(package.scala:26)
[error] \tat com.typesafe.tools.mima.plugin.SbtMima$.reportModuleErrors(SbtMima.scala:83)
[error] (akka-cluster / mimaReportBinaryIssues) Binary compatibility check failed!"""
    found = find_failure_lines(LogText.from_text(log))
    assert found[0].line == 2
    frame = score_line("[error] \tat java.lang.Thread.run(Thread.java:748)")[0]
    assert frame < score_line("[error] java.lang.RuntimeException: x")[0] - 3


def test_maven_closing_references_are_boilerplate() -> None:
    real = "[ERROR] Failed to execute goal on project x: Could not resolve dependencies -> [Help 1]"
    for line in (
        "[ERROR] -> [Help 1]",
        "[ERROR] Please refer to /build/target/surefire-reports for the individual test results.",
        "[ERROR] [Help 1] http://cwiki.apache.org/confluence/display/MAVEN/DependencyResolution",
    ):
        assert score_line(line)[0] < score_line(real)[0] - 3, line


def test_a_clean_log_has_no_candidates() -> None:
    assert find_failure_lines(LogText.from_text("all good\n3 passed in 0.2s\n")) == []
    assert find_failure_lines(LogText.from_text("")) == []


def test_lines_scoring_nothing_are_not_candidates() -> None:
    log = """running
ValueError: bad input
##[error]Process completed with exit code 1.
Post job cleanup.
warning: skipped the cache: could not remove it"""
    found = find_failure_lines(LogText.from_text(log))
    assert [c.text for c in found] == ["ValueError: bad input"]
    assert score_line("warning: skipped the cache: could not remove it")[1] == "problem"


# -- the kinds of misses the learned weights and their features are for ------------------


def test_a_skipped_test_naming_a_crash_is_not_the_failure() -> None:
    log = """ok 1 - parses headers
ok 2 - SKIP test_crash_report: Segmentation fault handler not available on this platform
not ok 3 - writes the index
#   Failed test 'writes the index'
#   got: 3, expected: 4"""
    assert lines_of(log)[0] == 3
    assert (
        score_line("test_mmap ... SKIPPED (Segmentation fault in the driver)")[0]
        < score_line("Segmentation fault (core dumped)")[0]
    )


def test_a_summary_after_the_root_cause_loses_to_it() -> None:
    configure = """checking for gcc... gcc
checking whether the C compiler works... no
configure: error: C compiler cannot create executables
See `config.log' for more details
error: build failed"""
    assert best(configure) == "configure: error: C compiler cannot create executables"
    gradle = """> Task :test

ParserTest > parsesDates() FAILED
    org.opentest4j.AssertionFailedError: expected: <4> but was: <3>
        at app//org.acme.ParserTest.parsesDates(ParserTest.java:12)

12 tests completed, 1 failed

FAILURE: Build failed with an exception.

* What went wrong:
Execution failed for task ':test'.
> There were failing tests. See the report at: file:///home/runner/build/reports/tests/test/index.html"""
    top = find_failure_lines(LogText.from_text(gradle))
    assert "FAILED" in top[0].text or "AssertionFailedError" in top[0].text
    assert all("There were failing tests" not in c.text for c in top[:2])
    assert all("Execution failed for task" not in c.text for c in top[:2])


def test_harness_verdicts_beat_incidental_errors_of_helper_tools() -> None:
    mozilla = """[task 2025-02-13T21:30:40Z] 21:30:40     INFO - GECKO(5) | JavaScript error: resource://x.js, line 3: TypeError: a is undefined
[task 2025-02-13T21:30:41Z] 21:30:41     INFO - GECKO(5) | [Parent 5, Main Thread] WARNING: error: NS_ERROR_FAILURE: file dom/x.cpp:12
[task 2025-02-13T21:30:46Z] 21:30:46     INFO - TEST-UNEXPECTED-FAIL | dom/a/test_b.html | Test timed out.
[task 2025-02-13T21:30:47Z] 21:30:47     INFO - GECKO(5) | error: could not open cache file
[task 2025-02-13T21:30:47Z] 21:30:47     INFO - TEST-INFO | took 300s"""
    assert "TEST-UNEXPECTED-FAIL | dom/a/test_b.html" in best(mozilla)
    crash = "21:24:45     INFO - PROCESS-CRASH | Shutdown hanging at step XPCOMShutdownThreads."
    assert score_line(crash)[1] == "test failed"
    php = """PASS Bug #7 (strtr) [ext/standard/tests/strings/bug7.phpt]
FAIL Bug #12345 (fopen with a long path) [ext/standard/tests/file/bug12345.phpt]
PASS Bug #8 (trim) [ext/standard/tests/strings/bug8.phpt]
error: cannot open /tmp/php-test-helper.log: No such file or directory"""
    assert best(php).startswith("FAIL Bug #12345")


def test_of_many_repeats_the_first_leads_and_the_last_is_listed() -> None:
    log = "\n".join(
        ["ok"] * 3
        + [f"ConnectionError: host db-7 unreachable after {i}s" for i in range(5)]
        + ["cleanup done"]
    )
    found = find_failure_lines(LogText.from_text(log))
    assert [(c.line, c.reason) for c in found] == [(4, "exception"), (8, "last occurrence")]
    assert [c.text for c in found] == [
        "ConnectionError: host db-7 unreachable after 0s",
        "ConnectionError: host db-7 unreachable after 4s",  # each line's own text
    ]


def test_the_first_occurrence_leads_however_often_a_line_repeats() -> None:
    log = "ok\n" * 3 + "".join(f"TimeoutError: shard {i} did not answer\n" for i in range(3000))
    assert lines_of(log) == [4, 3003]


def test_of_errors_of_one_kind_the_first_comes_first() -> None:
    # Twenty distinct errors in a row in a build: in a cascade the first is most often the
    # cause (where the log is, among the twenty, says less than that).
    build = [f"compiling {word(i)}.o" for i in range(200)]
    errors = [f"error: a problem in module {word(i)}" for i in range(20)]
    log = "\n".join(build + errors + build[:50])
    found = find_failure_lines(LogText.from_text(log))
    assert len(found) == 5
    assert found[0].line == 201
    assert [c.score for c in found[1:]] == sorted((c.score for c in found[1:]), reverse=True)


def test_the_same_error_in_every_failed_test_is_shown_where_it_first_occurred() -> None:
    # A test runner (mocha here) reports each failed test with its own error.
    blocks = [
        f"  {n})\n     suite\n       fails on case {n}:\n"
        f"     AssertionError: expected 1 to equal 2\n      at Context.<anonymous> (t.ts:{n}:1)"
        for n in range(1, 5)
    ]
    log = "  4 failing\n\n" + "\n\n".join(blocks) + "\nError: Process exited with code: 4"
    found = find_failure_lines(LogText.from_text(log))
    assertion_lines = [i for i, line in enumerate(log.split("\n"), 1) if "AssertionError" in line]
    assert [c.line for c in found[:2]] == [assertion_lines[0], assertion_lines[-1]]


def test_an_infrastructure_cause_beats_the_exceptions_it_caused() -> None:
    log = """[INFO] Copying 12 resources
[ERROR] No space left on device
java.io.IOException: Stream closed
\tat java.io.BufferedOutputStream.flush(BufferedOutputStream.java:140)
java.lang.IllegalStateException: could not write the index
\tat org.acme.Index.write(Index.java:88)
[ERROR] Failed to execute goal org.acme:index-plugin:1.0:index (default) on project x"""
    assert best(log) == "[ERROR] No space left on device"


def test_a_pattern_match_leads_and_generic_matches_do_not() -> None:
    from citriage.scanner.engine import PatternSet

    log = LogText.from_text(
        "checkout\nconnection reset by peer while fetching\nValueError: x\n"
        "##[error]Process completed with exit code 1.\n"
    )
    patterns = [
        Pattern(id=1, expression="connection reset by peer"),
        Pattern(id=2, expression="Process completed with exit code", specificity=9),
    ]
    matches = PatternSet(patterns).scan(log)
    found = find_failure_lines(log, matches=matches, patterns={p.id: p for p in patterns})
    assert found[0].line == 2 and found[0].reason == "pattern 1"
    assert found[1].text == "ValueError: x"


# -- a passing log as baseline -------------------------------------------------------------


def test_lines_a_passing_log_has_too_say_little() -> None:
    failing = """Downloading dependencies
WARN could not resolve optional mirror mirror-3.example.org
error: cannot open lockfile /tmp/x/cache.lock: Permission denied
ERROR: test_parse (tests.test_io.ParseTest) - AssertionError: 3 != 4
Ran 12 tests, 1 failure"""
    passing = """Downloading dependencies
WARN could not resolve optional mirror mirror-7.example.org
error: cannot open lockfile /tmp/y/cache.lock: Permission denied
Ran 12 tests, OK"""
    log = LogText.from_text(failing)
    without = find_failure_lines(log)
    with_baseline = find_failure_lines(log, baseline=LogText.from_text(passing))
    assert [c.line for c in without].index(3) < [c.line for c in with_baseline].index(3)
    assert with_baseline[0].line == 4
    # A Baseline computed once gives the same answers for every failed log.
    baseline = Baseline.of(LogText.from_text(passing))
    assert find_failure_lines(log, baseline=baseline) == with_baseline
    assert "error: cannot open lockfile <tmp>/cache.lock: Permission denied" in baseline.signatures


# -- the search is the reference, faster ---------------------------------------------------


def corpus_logs() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p
        for p in (CORPUS / "logs").rglob("*")
        if p.is_file() and not p.name.endswith((".json", ".md", ".snap", ".rendered"))
    )


def test_the_corpus_is_there() -> None:
    assert len(corpus_logs()) > 200, f"the shared corpus is not at {CORPUS}"


@pytest.mark.slow
@pytest.mark.parametrize("path", corpus_logs(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_search_gives_the_reference_answers_on_every_corpus_log(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The search itself, not its budget (tested below): every line may be judged.
    monkeypatch.setattr(failure_lines, "MAX_JUDGED", failure_lines.MAX_SCORED + 1)
    log = read_log(path)
    baseline = None
    passing = path.with_name("pass.log")
    if path.name == "fail.log" and passing.is_file():
        baseline = Baseline.of(read_log(passing))
    expected = reference_failure_lines(log, limit=10, baseline=baseline)
    found = failure_lines.failure_lines(log, limit=10, baseline=baseline)
    assert found.candidates == expected.candidates
    assert (found.cut_before, found.looked_at) == (expected.cut_before, expected.looked_at)


_LINE_PARTS = [
    "ValueError: bad value",
    "src/a.c:3:9: error: unknown type name 'x'",
    "error: could not apply 1234abc",
    "WARNING: deprecated option",
    "\tat org.acme.Foo.bar(Foo.java:12)",
    "##[error]Process completed with exit code 1.",
    'The command "make test" exited with 2.',
    "make: *** [all] Error 2",
    "FAILED tests/test_a.py::test_b - AssertionError: 1 != 2",
    "TEST-UNEXPECTED-FAIL | a/test_b.html | timed out",
    "[task 2025-01-01T00:00:00.000Z] 00:00:00     INFO - GECKO(12) | ERROR: oops",
    "No space left on device",
    "ok 3 - SKIP crash test: Segmentation fault",
    "There were failing tests. See the report at: file:///r/index.html",
    "  1) Failure:",
    "Traceback (most recent call last):",
    "ok",
    "compiling module_7",
    "Killed",
    "error",
    "Error: ",
    "fail",
    "ErrOr: Mixed CASE failure",
    "\u2717 test_x",
    "OOM restarts => 0",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from(_LINE_PARTS),
            st.text(
                alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=["Cs"]),
                max_size=40,
            ),
        ),
        max_size=40,
    ),
    digits=st.lists(st.integers(0, 9), max_size=40),
)
def test_the_search_gives_the_reference_answers_on_generated_logs(
    parts: list[str], digits: list[int]
) -> None:
    # Digits vary some lines so that repeats differ only by their numbers.
    lines = [
        re.sub(r"\d", str(digits[i % len(digits)]), part) if digits and i % 3 == 0 else part
        for i, part in enumerate(parts)
    ]
    log = LogText.from_text("\n".join(lines))
    for limit in (1, 5):
        expected = reference_failure_lines(log, limit=limit)
        found = failure_lines.failure_lines(log, limit=limit)
        assert found.candidates == expected.candidates
        assert (found.cut_before, found.looked_at) == (expected.cut_before, expected.looked_at)


def test_without_hyperscan_the_search_gives_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = [p for p in corpus_logs() if p.stat().st_size < 3_000_000][::7]
    assert paths
    logs = [read_log(p) for p in paths]
    with_hyperscan = [failure_lines.failure_lines(log, limit=10) for log in logs]
    monkeypatch.setattr(failure_lines, "_DATABASE", None)
    monkeypatch.setattr(failure_lines, "BLOCK", 64 * 1024)  # several blocks
    for path, log, expected in zip(paths, logs, with_hyperscan, strict=True):
        assert failure_lines.failure_lines(log, limit=10) == expected, path


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=30).filter(lambda b: b"\n" not in b), max_size=30))
def test_repeats_hash_alike_exactly_when_their_keys_are_alike(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    stops = np.cumsum([len(line) + 1 for line in lines], dtype=np.int64) - 1
    starts = stops - np.array([len(line) for line in lines], dtype=np.int64)
    hashes = failure_lines._key_hashes(data, starts, stops).tolist()
    keys = [failure_lines.repeat_key(line) for line in lines]
    for i in range(len(lines)):
        for j in range(len(lines)):
            assert (hashes[i] == hashes[j]) == (keys[i] == keys[j])


def test_long_repeats_hash_alike_wherever_their_digits_are() -> None:
    # The C hash reads a line a block of kept bytes at a time: digits moving a line's
    # bytes across a block's end must not change it.
    body = bytes(range(32, 48)) * 600  # 9,600 bytes, no digits
    lines = [body[:n] + b"12345" + body[n:] for n in (0, 4090, 4096, 4100, 9000)] + [body]
    lines.append(body + b"x")
    data = b"".join(line + b"\n" for line in lines)
    stops = np.cumsum([len(line) + 1 for line in lines], dtype=np.int64) - 1
    starts = stops - np.array([len(line) for line in lines], dtype=np.int64)
    hashes = failure_lines._key_hashes(data, starts, stops).tolist()
    assert len(set(hashes[:-1])) == 1
    assert hashes[-1] != hashes[0]


def test_without_the_c_helper_the_search_gives_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = [p for p in corpus_logs() if p.stat().st_size < 3_000_000][::9]
    assert paths
    logs = [read_log(p) for p in paths]
    with_c = [failure_lines.failure_lines(log, limit=10) for log in logs]
    monkeypatch.setattr(failure_lines, "_cstrip", None)
    for path, log, expected in zip(paths, logs, with_c, strict=True):
        assert failure_lines.failure_lines(log, limit=10) == expected, path


def test_the_bound_cuts_the_head_of_a_log_full_of_errors_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failure_lines, "MAX_SCORED", 100)
    monkeypatch.setattr(failure_lines, "BLOCK", 256)  # several blocks, read from the end
    lines = [f"src/{word(i)}.c:1:2: error: unknown type name {word(i)}" for i in range(1000)]
    lines[10] = "java.lang.OutOfMemoryError: Java heap space"  # early: beyond the bound
    log = LogText.from_text("\n".join(lines))
    found = failure_lines.failure_lines(log, limit=200)
    assert (found.cut_before, found.looked_at) == (901, 100)
    assert {c.line for c in found.candidates} == set(range(901, 1001))
    assert all(log.line(c.line) == c.text for c in found.candidates)
    assert found.candidates == reference_failure_lines(log, limit=200).candidates
    whole = failure_lines.failure_lines(LogText.from_text("\n".join(lines[-100:])))
    assert whole.cut_before == 0


@pytest.mark.parametrize("lines", [200_000])
def test_large_logs_take_linear_time(lines: int) -> None:
    # Not a speed figure (those are in bench/): a sanity check that doubling the log
    # does not quadruple the time.
    chunk = "".join(
        f"2024-01-01T00:00:00Z step {i}: compiling module_{i}.c\n"
        + (f"module_{i}.c:1:1: warning: unused\n" if i % 7 == 0 else "")
        for i in range(lines // 2)
    )
    small = LogText.from_text(chunk + "src/z.c:9:1: error: boom\n")
    large = LogText.from_text(chunk * 2 + "src/z.c:9:1: error: boom\n")
    start = time.perf_counter()
    assert find_failure_lines(small, limit=1)[0].text == "src/z.c:9:1: error: boom"
    t_small = time.perf_counter() - start
    start = time.perf_counter()
    assert find_failure_lines(large, limit=1)[0].text == "src/z.c:9:1: error: boom"
    t_large = time.perf_counter() - start
    assert t_large < 4 * t_small + 0.5


def test_the_search_judges_few_lines_of_a_long_log() -> None:
    noise = "".join(
        f"[task 2025-01-01T00:00:00Z] INFO - GECKO(1) | texture {word(i)} missing\n"
        for i in range(20_000)
    )
    log = LogText.from_text(noise + "src/a.c:3:9: error: unknown type name 'sizet'\n" + noise)
    found = failure_lines.failure_lines(log, limit=1)  # (the next four: among 40,000 alike)
    assert found.candidates[0].text == "src/a.c:3:9: error: unknown type name 'sizet'"
    assert found.looked_at == 40_001
    assert found.judged < 1_000  # the rest could not score as high: never decoded


def test_the_budget_bounds_the_lines_judged_and_says_what_it_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A harness repeating one error for every page it loads: every line could rank.
    lines = [
        f"{i:05d} ERROR - JavaScript error: http://localhost/{word(i)}/page.js, line {i % 97}: "
        f"TypeError: {word(i + 7)} is not a function"
        for i in range(3_000)
    ]
    log = LogText.from_text("\n".join(lines))
    unbounded = failure_lines.failure_lines(log)
    assert unbounded.unjudged == 0
    assert unbounded.judged > 1_000
    monkeypatch.setattr(failure_lines, "MAX_JUDGED", 200)
    bounded = failure_lines.failure_lines(log)
    assert 200 <= bounded.judged <= 200 + 2 * failure_lines.DEFAULT_LIMIT
    assert bounded.unjudged > 0
    assert len(bounded.candidates) == failure_lines.DEFAULT_LIMIT
    assert all(log.line(c.line) == c.text for c in bounded.candidates)
    # Lines are judged best bound first: the ones ranked are among the judged ones, and
    # the best of those is the best of all here (the latest error, nearest the end).
    assert bounded.candidates[0] == unbounded.candidates[0]


def test_a_corpus_log_of_many_alike_errors_stays_within_the_budget() -> None:
    log = read_log(CORPUS / "logs" / "treeherder" / "timeout-crash.log.gz")
    found = failure_lines.failure_lines(log)
    assert found.unjudged > 0  # it holds more lines that could rank than the budget
    assert found.judged <= failure_lines.MAX_JUDGED + 2 * failure_lines.DEFAULT_LIMIT
    assert found.candidates


# -- the prefilter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    [part for rule in failure_rules.EVIDENCE for part in rule.parts],
    ids=lambda part: part.regex.pattern[:40],
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_match_of_a_rule_holds_one_of_its_strings(
    part: failure_rules.Part, data: st.DataObject
) -> None:
    text = data.draw(st.from_regex(part.regex, fullmatch=False))
    match = part.regex.search(text)
    if match is not None:
        lowered = match.group().lower()
        assert any(s in lowered for s in part.literals), (part.regex.pattern, match.group())


def test_a_line_holding_a_rule_string_may_be_found_by_that_rule() -> None:
    # The one-pass search looks for the fewest strings; every rule's strings are covered.
    for rule in failure_rules.EVIDENCE:
        for part in rule.parts:
            for string in part.literals:
                mask = failure_lines._mask_of_line(string.upper().encode())
                assert mask & failure_lines._RULE_BIT[rule.name], (rule.name, string)


# -- the model -----------------------------------------------------------------------------


def test_the_shipped_model_names_every_feature_and_only_those() -> None:
    text = (Path(failure_lines.__file__).parent / failure_lines.MODEL_FILE).read_text()
    content = json.loads(text)
    assert set(content["weights"]) == set(failure_rules.FEATURES)
    with pytest.raises(ValueError, match="unknown features"):
        Model.from_mapping({**content, "weights": {**content["weights"], "no such": 1.0}})
    with pytest.raises(ValueError, match="not a failure-line model"):
        Model.from_mapping({"format": "x", "weights": {}})
    model = failure_lines.default_model()
    # What the weights say, in the large: evidence counts, penalties take away.
    weight = dict(zip(failure_rules.FEATURES, model.weights, strict=True))
    assert weight["exception"] > weight["error word"] > weight["error prefix"] > 0
    for penalty in ("stack frame", "warning", "skipped", "tool boilerplate", "summary"):
        assert weight[penalty] < 0, penalty


def test_other_weights_give_other_answers() -> None:
    log = LogText.from_text("error: first thing\nValueError: second thing\n")
    assert find_failure_lines(log)[0].line == 2
    weights = list(failure_lines.default_model().weights)
    weights[failure_rules.INDEX["tool error"]] = 50.0
    assert find_failure_lines(log, model=Model(tuple(weights)))[0].line == 1


def test_scan_json_reports_failure_lines_signature_and_the_bound(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text(
        "$ make\n2024-05-01T10:00:00Z src/a.c:3:9: error: unknown type name 'sizet'\n"
        "make: *** [all] Error 1\n"
    )
    clean = tmp_path / "ok.log"
    clean.write_text("all good\n")
    empty_library = tmp_path / "none.yaml"
    empty_library.write_text("format: citriage-patterns/1\npatterns: []\n")
    for extra in ([], ["--patterns", str(empty_library)]):
        result = subprocess.run(
            [sys.executable, "-m", "citriage.cli", "scan", "--json", *extra, str(log), str(clean)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        first, second = (json.loads(line) for line in result.stdout.splitlines())
        assert first["failure_lines"][0]["line"] == 2
        assert first["failure_lines"][0]["text"].endswith("error: unknown type name 'sizet'")
        assert isinstance(first["failure_lines"][0]["score"], float)
        assert first["failure_lines"][0]["reason"] == "compiler error"
        assert len(first["failure_lines"]) <= 5
        assert first["signature"] == "src/a.c:<n>:<n>: error: unknown type name 'sizet'"
        assert first["failure_lines_looked_at"] == 2  # the make line holds "error" too
        assert first["failure_lines_cut_before"] == 0
        assert first["failure_lines_unjudged"] == 0
        assert "matches" in first and "best" in first  # the existing keys stay
        assert second["failure_lines"] == [] and second["signature"] is None


def test_scan_with_a_passing_log_as_baseline(tmp_path: Path) -> None:
    failing = tmp_path / "fail.log"
    failing.write_text(
        "error: cannot open lockfile /tmp/a/cache.lock: Permission denied\n"
        "FAILED tests/test_io.py::test_parse - AssertionError: 3 != 4\n"
        "error: cannot open lockfile /tmp/b/cache.lock: Permission denied\n"
    )
    passing = tmp_path / "pass.log"
    passing.write_text("error: cannot open lockfile /tmp/c/cache.lock: Permission denied\nok\n")

    def scan(*extra: str) -> dict[str, object]:
        result = subprocess.run(
            [sys.executable, "-m", "citriage.cli", "scan", "--json", *extra, str(failing)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        record: dict[str, object] = json.loads(result.stdout)
        return record

    without, with_baseline = scan(), scan("--baseline", str(passing))
    assert with_baseline["failure_lines"][0]["line"] == 2  # type: ignore[index]
    assert without["failure_lines"] != with_baseline["failure_lines"]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "citriage.cli",
            "scan",
            "--baseline",
            str(tmp_path / "no.log"),
            str(failing),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no such log file" in missing.stderr
