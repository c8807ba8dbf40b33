"""Failed tests read from logs, for jobs that left no report: real logs of the corpus
(their own summary lines say how many failed), and each runner's way of saying it."""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from citriage.scanner.logtext import read_log
from citriage.testreports.identity import test_key
from citriage.testreports.logs import failed_tests
from citriage.testreports.model import ERROR, FAILED
from citriage.testreports.reports import read_report


def lines_of(path: Path) -> list[str]:
    log = read_log(path)
    return [log.line(n) for n in range(1, log.line_count + 1)]


def test_surefire_log_counts_match_its_own_summary(corpus: Path) -> None:
    lines = lines_of(corpus / "logs/travis/logchunks/Java/square@retrofit/482509524.log")
    said = next(
        re.search(r"Tests run: \d+, Failures: (\d+), Errors: (\d+)", line)
        for line in lines
        if "<<< FAILURE!" in line and "Tests run:" in line
    )
    assert said is not None
    report = failed_tests(lines)
    assert report.counts.failures == int(said.group(1))
    assert report.counts.errors == int(said.group(2))
    assert all(c.suite == "retrofit2.RequestFactoryTest" for c in report.cases)


def test_phpunit_log_names_every_failure(corpus: Path) -> None:
    lines = lines_of(corpus / "logs/travis/logchunks/PHP/symfony@symfony/567128940.log")
    numbered = {
        m.group(1)
        for line in lines
        if (m := re.match(r"^\d+\) ([\w\\]+::\w+(?: with data set .*)?)$", line))
    }
    report = failed_tests(lines)
    assert report.counts.failures == len(numbered) > 0
    assert all("\\" in c.suite and c.name.startswith("test") for c in report.cases)
    assert all(c.message for c in report.cases)


def test_pytest_logs_match_the_report_identity(corpus: Path) -> None:
    summary = failed_tests(
        lines_of(corpus / "logs/pytorch-gha/log-classifier-fixtures/pytest_failure.txt")
    )
    (case,) = summary.cases
    assert (case.suite, case.name) == (
        "distributed.test_c10d_spawn_gloo.TestDistributedNNFunctionsGloo",
        "test_all_gather",
    )
    vllm = failed_tests(
        lines_of(corpus / "logs/buildkite/vllm_raw_log_64854_elastic_ep_scaling.txt")
    )
    assert {c.name for c in vllm.cases} == {
        "test_elastic_ep_scaling",
        "test_elastic_ep_scaling_uneven",
    }
    assert all(c.message for c in vllm.cases)


def test_go_gradle_rspec_logs(corpus: Path) -> None:
    go = failed_tests(
        lines_of(corpus / "logs/travis/logchunks/Go/ethereum@go-ethereum/566009484.log")
    )
    assert [(c.suite, c.name) for c in go.cases] == [
        ("github.com/ethereum/go-ethereum/eth/downloader", "TestBoundedForkedSync64Fast")
    ]
    gradle = failed_tests(lines_of(corpus / "logs/github-actions/cidiff/cidiff_57/fail.log"))
    assert [(c.suite, c.name) for c in gradle.cases] == [
        ("ConsoleClientTest", "testClassicParsing()")
    ]
    assert gradle.cases[0].message.startswith("java.lang.IllegalArgumentException")
    rspec = failed_tests(lines_of(corpus / "logs/github-actions/ci_runner/rspec_colored.log"))
    assert [c.suite for c in rspec.cases] == ["spec.features.edit_page_spec"]


def test_gtest_output_kept_by_ctest(corpus: Path) -> None:
    """CTest keeps each GoogleTest binary's output: the log lines name the same tests
    as the report does."""
    root = ET.parse(corpus / "test-reports/ctest/launchable.Test.xml").getroot()
    output = "\n".join(v.text or "" for v in root.iter("Value"))
    found = failed_tests(output.splitlines())
    report = read_report(corpus / "test-reports/ctest/launchable.Test.xml")
    failed_in_report = {c.name for c in report.cases if c.outcome == FAILED}
    assert {f"{c.suite}.{c.name}" for c in found.cases} == failed_in_report


def test_cargo_output_kept_by_nextest(corpus: Path) -> None:
    root = ET.parse(corpus / "test-reports/nextest/action-junit-report.basic.xml").getroot()
    outputs = [textwrap.dedent(e.text or "") for e in root.iter("system-out")]
    found = failed_tests("\n".join(outputs).splitlines())
    assert [c.name for c in found.cases] == ["test_failure"]


def test_each_runners_own_words() -> None:
    log = """\
FAIL: test_parse (pkg.tests.test_parser.ParserTest)
ERROR: test_load (pkg.tests.test_io.IoTest.test_load)
[  FAILED  ] MathTest.Adds (3 ms)
[  FAILED  ] Prefix/ParamTest.Works/2, where GetParam() = 4 (0 ms)
[  FAILED  ] 2 tests, listed below:
  ● Cart › totals › adds tax
test parser::tests::rejects_empty ... FAILED
        FAIL [   0.004s] mycrate::bin/cli tests::prints_help
[ERROR] com.acme.CartTest.addsTax -- Time elapsed: 0.01 s <<< ERROR!
The following tests FAILED:
\t  3 - integration_smoke (Failed)
\t  7 - slow_suite (Timeout)
Errors while running CTest
  1) Array
       #indexOf()
         should return -1 when absent:
     AssertionError: expected 0 to equal -1
"""
    report = failed_tests(log.splitlines())
    found = {(c.suite, c.name): c.outcome for c in report.cases}
    assert found == {
        ("pkg.tests.test_parser.ParserTest", "test_parse"): FAILED,
        ("pkg.tests.test_io.IoTest", "test_load"): ERROR,
        ("MathTest", "Adds"): FAILED,
        ("Prefix/ParamTest", "Works/2"): FAILED,
        ("Cart › totals", "adds tax"): FAILED,
        ("parser::tests", "rejects_empty"): FAILED,
        ("mycrate::bin/cli", "tests::prints_help"): FAILED,
        ("com.acme.CartTest", "addsTax"): ERROR,
        ("", "integration_smoke"): FAILED,
        ("", "slow_suite"): FAILED,
        ("Array › #indexOf()", "should return -1 when absent"): FAILED,
    }
    mocha = next(c for c in report.cases if c.name == "should return -1 when absent")
    assert mocha.message.startswith("AssertionError")


def test_a_test_named_twice_counts_once() -> None:
    log = [
        "tests/test_a.py::test_b FAILED                    [ 50%]",
        "FAILED tests/test_a.py::test_b - assert 1 == 2",
    ]
    report = failed_tests(log)
    assert len(report.cases) == 1
    assert report.cases[0].message == "assert 1 == 2"
    assert report.cases[0].key == test_key("tests.test_a", "test_b")


def test_a_clean_log_names_nothing(corpus: Path) -> None:
    assert (
        failed_tests(lines_of(corpus / "logs/github-actions/cidiff/google_auto_693/pass.log")).cases
        == []
    )
