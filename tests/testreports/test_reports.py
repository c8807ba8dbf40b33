"""Reading every report of the shared corpus, and refusing hostile or broken ones."""

from __future__ import annotations

import gzip
import io
import time
from pathlib import Path

import pytest

from citriage.testreports.identity import display_name, test_key
from citriage.testreports.model import ERROR, FAILED, PASSED, SKIPPED, ReportError
from citriage.testreports.reports import NotATestReport, parse_duration, read_report
from tests.testreports.corpus_counts import expected_counts, suite_errors


@pytest.fixture(scope="module")
def reports(corpus: Path) -> Path:
    return corpus / "test-reports"


def corpus_reports() -> list[str]:
    folder = Path(__file__).resolve().parents[2].parent / "shared/corpus/test-reports"
    assert folder.is_dir(), f"the shared corpus is not at {folder}"
    return sorted(expected_counts(folder))


@pytest.mark.parametrize("name", corpus_reports())
def test_counts_equal_what_the_corpus_says(reports: Path, name: str) -> None:
    expected = expected_counts(reports)[name]
    report = read_report(reports / name)
    counts = report.counts
    assert (counts.tests, counts.failures, counts.errors, counts.skipped, counts.reruns) == (
        expected.tests,
        expected.failures,
        expected.errors,
        expected.skipped,
        expected.reruns,
    )
    assert counts.suite_errors == suite_errors(reports / name)
    # every case is there, with a name, and failing cases say something
    assert len(report.cases) == counts.tests + counts.suite_errors
    assert all(case.name or case.suite for case in report.cases)  # jest writes one name=""
    failing = [c for c in report.cases if c.outcome in (FAILED, ERROR)]
    assert len(failing) == counts.failures + counts.errors + counts.suite_errors
    assert all(c.message or c.details for c in failing), [c.label for c in failing]


def test_every_corpus_report_is_covered(reports: Path) -> None:
    files = {
        str(p.relative_to(reports))
        for p in reports.glob("*/*")
        if p.parent.name not in ("schemas", "github-artifacts")
    }
    assert files == set(expected_counts(reports))


def test_identities_follow_each_runner(reports: Path) -> None:
    pytest_cases = read_report(reports / "pytest/launchable.report.xml").cases
    assert all("." in c.suite and c.file for c in pytest_cases)
    gtest = read_report(reports / "gtest/launchable.fail.output.xml").cases
    failed = next(c for c in gtest if c.outcome == FAILED)
    assert test_key(failed.suite, failed.name) == test_key(*failed.label.split("::"))
    jest = read_report(reports / "jest/dorny.jest-junit.xml").cases
    assert {c.suite for c in jest} >= {"Test 1", "Test 1 › Test 1.1"}
    # JUnit 5's "()" is dropped: Surefire's console names the method without it
    jupiter = read_report(reports / "junit-platform/jabref.TEST-junit-jupiter.xml").cases
    assert all(not display_name(c.suite, c.name).endswith("()") for c in jupiter)
    assert display_name("tests/unit/test_a.py", "test_b") == "tests.unit.test_a::test_b"


def test_reruns_make_flaky_cases(reports: Path) -> None:
    flaky = read_report(reports / "surefire/maven-surefire.TEST-org.acme.FlakyTest.xml")
    assert [(c.name, c.flaky, c.retries) for c in flaky.cases] == [
        ("testFlaky", True, 4),
        ("testStable", False, 0),
    ]
    assert flaky.cases[0].retry_message == "expected: <1> but was: <0>"
    always = read_report(reports / "surefire/junit-plugin.gh-237.TEST-io.olamy.AlwaysFailTest.xml")
    assert always.cases[0].outcome == FAILED and always.cases[0].retries == 3
    # gotestsum --rerun-fails repeats the testcase: one test, passed on its second run
    rerun = read_report(reports / "go/action-junit-report.gotestsum-rerun.xml")
    merged = {c.name: c for c in rerun.merged_cases()}
    assert len(merged) == 3
    assert merged["TestWebSocketReconnectRace"].flaky
    assert merged["TestCreateChannelBookmark"].outcome == SKIPPED


def test_times_with_commas_and_units() -> None:
    assert parse_duration("1.5") == 1.5
    assert parse_duration("1,234.5") == 1234.5
    assert parse_duration("0,25") == 0.25
    assert parse_duration("12ms") == pytest.approx(0.012)
    assert parse_duration("2 s") == 2.0
    assert parse_duration("00:01:02.5") == 62.5
    assert parse_duration("soon") is None and parse_duration("") is None


def test_gzip_and_control_characters() -> None:
    body = (
        b'<testsuite name="s"><testcase classname="c" name="colour \x1b[31m">'
        b'<failure message="bad &#x1b;[0m value"/></testcase></testsuite>'
    )
    report = read_report(gzip.compress(body))
    assert report.counts.failures == 1
    assert report.cases[0].message == "bad [0m value"


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="&lol9;"><testcase classname="a" name="b"/></testsuite>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE testsuite [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite name="x"><testcase classname="a" name="&secret;"/></testsuite>"""


@pytest.mark.parametrize("hostile", [BOMB, EXTERNAL], ids=["xml-bomb", "external-entity"])
def test_hostile_xml_is_refused_at_once(hostile: bytes) -> None:
    started = time.perf_counter()
    with pytest.raises(ReportError, match="refused: the report declares a DTD"):
        read_report(hostile)
    assert time.perf_counter() - started < 1.0


def test_entities_without_a_doctype_are_refused() -> None:
    # an undeclared entity is an error; a DOCTYPE hidden after a long prolog is refused by
    # libxml2's own limits at the latest
    with pytest.raises(ReportError):
        read_report(b'<testsuite name="&lol;"><testcase name="a"/></testsuite>')
    padded = b"<!--" + b" " * (70 * 1024) + b"-->" + BOMB.split(b"?>", 1)[1]
    with pytest.raises(ReportError, match="refused"):
        read_report(padded)


class Endless(io.RawIOBase):
    """A 2 GB report, made up as it is read: a suite of ever more passing cases."""

    def __init__(self, size: int = 2 * 1024**3) -> None:
        self.left = size
        self.read_so_far = 0
        self.number = 0
        self.pending = b'<?xml version="1.0"?><testsuites><testsuite name="big">'

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self.pending) < len(buffer):
            self.number += 1
            self.pending += b'<testcase classname="a.B" name="test_%d"/>\n' % self.number
        n = min(len(buffer), self.left)
        buffer[:n], self.pending = self.pending[:n], self.pending[n:]
        self.left -= n
        self.read_so_far += n
        return n


def test_a_2gb_report_stops_at_the_limit() -> None:
    stream = Endless()
    started = time.perf_counter()
    with pytest.raises(ReportError, match="larger than the limit of 4,194,304 bytes"):
        read_report(io.BufferedReader(stream), max_bytes=4 * 1024 * 1024)
    assert stream.read_so_far < 5 * 1024 * 1024  # it stopped reading there
    assert time.perf_counter() - started < 10


def test_a_gzip_bomb_stops_at_the_limit() -> None:
    inflated = b"<testsuite>" + b" " * (64 * 1024 * 1024)
    with pytest.raises(ReportError, match="larger than the limit"):
        read_report(gzip.compress(inflated), max_bytes=1024 * 1024)


def test_too_many_cases() -> None:
    cases = b"".join(b'<testcase classname="a" name="t%d"/>' % i for i in range(20))
    with pytest.raises(ReportError, match="more than 10 test cases"):
        read_report(b"<testsuite>" + cases + b"</testsuite>", max_cases=10)


def test_truncated_report(reports: Path) -> None:
    whole = (reports / "pytest/tagreader-python.pytest.xml").read_bytes()
    with pytest.raises(ReportError, match="truncated"):
        read_report(whole[: len(whole) // 2])


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(ReportError, match="elements nested too deep"):
        read_report(b"<testsuites>" + b"<testsuite>" * 5000)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "not well-formed"),
        (b"<coverage line-rate='0.5'/>", "not a test report: the root element is <coverage>"),
        (b"<testsuite><testcase name='a'></testsuite>", "not well-formed"),
        (b"\x1f\x8bnot gzip at all", "cannot be decompressed"),
    ],
)
def test_broken_reports_say_why(body: bytes, problem: str) -> None:
    with pytest.raises(ReportError, match=problem):
        read_report(body)


def test_not_a_test_report_is_its_own_kind() -> None:
    with pytest.raises(NotATestReport):
        read_report(b"<project><modelVersion>4.0.0</modelVersion></project>")


def test_outcomes_of_other_formats(reports: Path) -> None:
    trx = read_report(reports / "trx/dorny.dotnet-trx.trx")
    failed = [c for c in trx.cases if c.outcome == FAILED]
    assert all(c.suite for c in failed) and all(c.message for c in failed)
    nunit = read_report(reports / "nunit/dorny.dotnet-nunit.xml")
    assert {c.outcome for c in nunit.cases} == {PASSED, FAILED, ERROR, SKIPPED}
    otr = read_report(reports / "open-test-reporting/ota4j.events-ordered-1.xml")
    assert all(c.suite == "FOTS 3.1.fn-analyze-string" for c in otr.cases)
