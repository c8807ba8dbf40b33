"""The failure-line finder: each rule explained by a small log that shows it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from citriage.scanner.failure_lines import find_failure_lines, score_line
from citriage.scanner.logtext import LogText
from citriage.scanner.patterns import Pattern


def best(text: str) -> str:
    found = find_failure_lines(LogText.from_text(text))
    assert found, "expected a candidate"
    return found[0].text


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


def test_boilerplate_exit_lines_are_never_candidates() -> None:
    log = "building\n##[error]Process completed with exit code 1.\nmake: *** [all] Error 2\n"
    lines = [c.text for c in find_failure_lines(LogText.from_text(log))]
    assert lines == []


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
    assert (
        score_line("\tat com.acme.Foo.bar(Foo.java:12)")[0]
        < score_line("java.lang.IllegalStateException: boom")[0]
    )
    assert (
        score_line("warning: unused variable 'x'")[0] < score_line("error: unused variable 'x'")[0]
    )
    assert score_line("Retrying (Retry(total=4)) after connection broken: timed out")[0] < 5
    assert score_line("Tests run: 10, Failures: 0, Errors: 0")[0] < 3


def test_timestamps_and_log_levels_are_seen_through() -> None:
    gha = "2024-01-31T12:34:56.7890123Z ImportError: cannot import name 'x' from 'y'"
    assert score_line(gha) == (10, "exception")
    mozilla = (
        "[task 2025-02-13T21:30:46.167Z] 21:30:46  WARNING -  TEST-UNEXPECTED-FAIL | a.html | t"
    )
    assert score_line(mozilla)[0] >= 8
    info = "[task 2025-02-13T21:30:46.167Z] 21:30:46     INFO - loaded error-page module"
    assert score_line(info)[0] < score_line(info.replace("INFO", "ERROR"))[0]


def test_cleanup_after_the_step_exited_loses() -> None:
    log = """step output
npm test
Error: expected 200 to equal 404
##[error]Process completed with exit code 1.
Post job cleanup.
error: could not remove cache directory"""
    assert best(log) == "Error: expected 200 to equal 404"


def test_the_last_error_before_the_command_failed_wins() -> None:
    log = """fetching
fatal: unable to access 'https://example.com/repo.git/': timed out
fetch ok on second mirror
fatal: couldn't find remote ref refs/tags/v9
##[error]The process '/usr/bin/git' failed with exit code 128"""
    assert best(log) == "fatal: couldn't find remote ref refs/tags/v9"


def test_repeated_lines_are_one_candidate_at_the_last_occurrence_and_where_it_began() -> None:
    log = "\n".join(
        ["ok"] * 3
        + [f"ConnectionError: host db-7 unreachable after {i}s" for i in range(5)]
        + ["cleanup done"]
    )
    found = find_failure_lines(LogText.from_text(log))
    assert [(c.line, c.reason) for c in found] == [(8, "exception"), (4, "first occurrence")]
    assert [c.text for c in found] == [
        "ConnectionError: host db-7 unreachable after 4s",
        "ConnectionError: host db-7 unreachable after 0s",  # each line's own text
    ]


def test_the_first_occurrence_is_found_however_often_a_line_repeats() -> None:
    log = "ok\n" * 3 + "".join(f"TimeoutError: shard {i} did not answer\n" for i in range(3000))
    found = find_failure_lines(LogText.from_text(log))
    assert [c.line for c in found] == [3003, 4]


def test_the_same_error_in_every_failed_test_is_shown_where_it_first_occurred() -> None:
    # A test runner (mocha here) reports each failed test with its own error; the first
    # is the one with the story, the last the one nearest the exit.
    blocks = [
        f"  {n})\n     suite\n       fails on case {n}:\n"
        f"     AssertionError: expected 1 to equal 2\n      at Context.<anonymous> (t.ts:{n}:1)"
        for n in range(1, 5)
    ]
    log = "  4 failing\n\n" + "\n\n".join(blocks) + "\nError: Process exited with code: 4"
    found = find_failure_lines(LogText.from_text(log))
    assertion_lines = [i for i, line in enumerate(log.split("\n"), 1) if "AssertionError" in line]
    assert [c.line for c in found[:2]] == [assertion_lines[-1], assertion_lines[0]]


def test_top_five_at_most_the_best_first_then_the_earliest_nearly_as_good() -> None:
    # Twenty errors in a row: the last (nearest the end) leads; the first of the
    # cascade, most often the cause of the others, comes second; then by score.
    log = "\n".join(f"error: problem number {i} in module m{i}" for i in range(20))
    found = find_failure_lines(LogText.from_text(log))
    assert len(found) == 5
    assert [c.line for c in found[:2]] == [20, 1]
    rest = [c.score for c in found[2:]]
    assert rest == sorted(rest, reverse=True) and found[0].score > rest[0]


def test_an_early_line_far_below_the_best_does_not_move_up() -> None:
    log = "warning: could not find optional tool\n" + "ok\n" * 5 + "fatal error: out of memory"
    found = find_failure_lines(LogText.from_text(log))
    assert [c.line for c in found] == [7, 1]  # score order: the first line is no near second


def test_a_clean_log_has_no_candidates() -> None:
    assert find_failure_lines(LogText.from_text("all good\n3 passed in 0.2s\n")) == []
    assert find_failure_lines(LogText.from_text("")) == []


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
    assert best_of(small) == "src/z.c:9:1: error: boom"
    t_small = time.perf_counter() - start
    start = time.perf_counter()
    assert best_of(large) == "src/z.c:9:1: error: boom"
    t_large = time.perf_counter() - start
    assert t_large < 4 * t_small + 0.5


def best_of(log: LogText) -> str:
    return find_failure_lines(log, limit=1)[0].text


def test_scan_json_reports_failure_lines_and_signature(tmp_path: Path) -> None:
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
        assert "matches" in first and "best" in first  # the existing keys stay
        assert second["failure_lines"] == [] and second["signature"] is None


def test_a_javascript_error_with_its_stack_is_the_exception() -> None:
    log = """> mocha
E: Failed to fetch http://archive.example/Packages  404  Not Found
Error: Cannot find module 'fast-deep-equal'
    at Function.Module._resolveFilename (module.js:325:15)
    at Function.Module._load (module.js:276:25)
npm ERR! Test failed.  See above for more details."""
    assert best(log) == "Error: Cannot find module 'fast-deep-equal'"


def test_a_bare_exception_says_less_than_one_with_a_message() -> None:
    assert score_line("KeyboardInterrupt:")[0] < score_line("RuntimeError: worker 3 died")[0]
    assert score_line("java.lang.AssertionError:")[0] < score_line("java.lang.AssertionError: x")[0]


def test_namespaced_exceptions_and_error_levels() -> None:
    assert score_line("ActionView::Template::Error: undefined method `x'") == (10, "exception")
    assert score_line("[error]  * class a.B does not have a correspondent")[0] >= 7
    assert score_line("[ERROR] [Help 1] http://cwiki.apache.org/MojoFailureException")[0] < 3


def test_an_indented_exception_under_a_failed_test_is_found() -> None:
    log = """ConsoleClientTest > testClassicParsing() FAILED
    java.lang.IllegalArgumentException: java.nio.file.NoSuchFileException: ../data/a.log
        at org.acme.Reader.read(Reader.java:12)
27 tests completed, 1 failed"""
    assert best(log).strip().startswith("java.lang.IllegalArgumentException")


def test_a_pytest_verdict_with_its_exception_beats_the_captured_output() -> None:
    log = """----- Captured stderr call -----
RuntimeError: Process 0 terminated or timed out after 310.01 seconds
=========================== short test summary info ============================
FAILED [310.02s] distributed/test_spawn.py::TestNN::test_all_gather - RuntimeError: Process 0 terminated
Cache errors                          0
======================== 1 failed in 310.03s ========================="""
    assert best(log).startswith(
        "FAILED [310.02s] distributed/test_spawn.py::TestNN::test_all_gather"
    )
    assert score_line("Cache errors                          0")[0] <= 0


def test_a_log_of_nothing_but_errors_is_judged_by_its_last_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from citriage.scanner import failure_lines

    monkeypatch.setattr(failure_lines, "MAX_SCORED", 100)
    monkeypatch.setattr(failure_lines, "BLOCK", 256)  # several blocks, read from the end
    lines = [f"src/m{i}.c:1:2: error: unknown type name t{i}" for i in range(1000)]
    lines[10] = "java.lang.OutOfMemoryError: Java heap space"  # early: beyond the budget
    log = LogText.from_text("\n".join(lines))
    found = find_failure_lines(log, limit=200)
    assert found[0].line == 1000  # equals: the later line
    assert all(log.line(c.line) == c.text for c in found)
    assert {c.line for c in found} == set(range(901, 1001))  # the last 100 judged, no more


def test_a_harness_verdict_naming_the_test_and_message_is_a_top_line() -> None:
    log = """[task 2025-02-13T21:30:40Z] 21:30:40     INFO - GECKO(5) | JavaScript error: x.js, line 3: oops
[task 2025-02-13T21:30:46Z] 21:30:46     INFO - TEST-UNEXPECTED-FAIL | dom/a/test_b.html | Test timed out.
[task 2025-02-13T21:30:47Z] 21:30:47     INFO - TEST-INFO | took 300s"""
    assert "TEST-UNEXPECTED-FAIL | dom/a/test_b.html" in best(log)


def test_limits_exceeded_and_refusals_are_problems() -> None:
    assert score_line('  "message": "API rate limit exceeded for user ID 1."')[0] >= 5
    assert score_line("fatal: refusing to merge unrelated histories")[0] >= 5
    assert score_line("the limit was not reached")[0] == 0


def test_lines_the_penalties_bring_to_nothing_are_not_candidates() -> None:
    log = """running
ValueError: bad input
##[error]Process completed with exit code 1.
Post job cleanup.
warning: could not remove the cache directory"""
    found = find_failure_lines(LogText.from_text(log))
    assert [c.text for c in found] == ["ValueError: bad input"]
    assert score_line("warning: could not remove the cache directory")[0] > 0  # on its own


def test_maven_errors_ending_in_a_help_reference_keep_their_score() -> None:
    real = "[ERROR] Failed to execute goal on project x: Could not resolve dependencies -> [Help 1]"
    link = "[ERROR] [Help 1] http://cwiki.apache.org/confluence/display/MAVEN/DependencyResolution"
    assert score_line(real)[0] >= 7 > score_line(link)[0]


def test_error_words_that_are_part_of_a_name_are_not_errors() -> None:
    for line in (
        "[ 42 of 147] Compiling Text.Pandoc.Error ( src/Text/Pandoc/Error.hs, dist/Error.o )",
        "+ cp /builds/worker/.xsession-errors /builds/worker/artifacts/",
        "        depends exceptions-0.10.0-K1JVigLRL0e8f7wZmwIycT",
        "opcache.error_log => no value => no value",
    ):
        assert score_line(line) == (0.0, ""), line
    # A file named after errors still has its compiler error, and exceptions their class.
    assert score_line("src/error.c:12:5: error: expected ';'")[1] == "compiler error"
    assert score_line("java.lang.IllegalStateException: closed")[0] >= 10
    assert score_line("java.lang.Exception")[1] == "exception"
    assert score_line("django.core.exceptions.ImproperlyConfigured: no DATABASES")[0] > 0


def test_settings_statistics_and_report_uploads_say_less_than_a_failure() -> None:
    assert score_line("RuntimeError: test_ops 1/1 failed!")[0] >= 7
    for noise in (
        "Password prompt timeout: 0.0 minutes",
        "Read timeout => 31536000",
        "Cache errors (C/C++)                   2",
        "Failed to upload artifacts: Unable to locate credentials",
        "Failed to parse and upload json test reports: An error occurred (AccessDenied)",
        "Allow some information gathering to give useful error messages",
    ):
        assert score_line(noise)[0] <= 3, noise
    # The same words where an error says it happened.
    for failure in (
        "Error: timeout: 30s",
        "ERROR: Timeout: 600",
        "Error output: fatal: repository not found",
    ):
        assert score_line(failure)[0] >= 6, failure


def test_mozilla_process_crash_is_a_test_verdict() -> None:
    line = "21:24:45     INFO - PROCESS-CRASH | Shutdown hanging at step XPCOMShutdownThreads."
    assert score_line(line) == (10, "test failed")


def test_stack_frames_behind_a_log_level_are_frames() -> None:
    log = """[info] Compiling 3 Scala sources
[error] java.lang.RuntimeException: akka-cluster: Binary compatibility check failed!
[error] \tat scala.sys.package$.error(package.scala:26)
[error] \tat com.typesafe.tools.mima.plugin.SbtMima$.reportModuleErrors(SbtMima.scala:83)
[error] (akka-cluster / mimaReportBinaryIssues) Binary compatibility check failed!"""
    found = find_failure_lines(LogText.from_text(log))
    assert [c.line for c in found[:2]] == [2, 5]
    assert all(c.score < 3 for c in found if "\tat " in c.text)
    assert score_line("[error] \tat java.lang.Thread.run(Thread.java:748)")[0] < 3


def test_maven_closing_references_are_boilerplate() -> None:
    for line in (
        "[ERROR] -> [Help 1]",
        "[ERROR] Please refer to /build/target/surefire-reports for the individual test results.",
    ):
        assert score_line(line)[0] < 3, line
