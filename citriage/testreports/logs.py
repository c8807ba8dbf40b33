"""The tests a log says failed, for jobs that left no report.

Each runner prints its failures its own way; the lines read here are the ones the
runners print for every failed test (a summary line where there is one), on the
stripped text (escapes and CI timestamps already removed):

- pytest: `FAILED path::test - message` (short summary, `-r`), `path::test FAILED` (`-v`),
  `ERROR path::test`;
- unittest: `FAIL: test_x (module.Class)`, `ERROR: ...` (3.11+: `(module.Class.test_x)`);
- GoogleTest: `[  FAILED  ] Suite.Test (12 ms)`;
- go test: `--- FAIL: TestX (0.01s)`, the package from the `FAIL<tab>pkg` line after;
- jest: `● describe › test`; mocha: `1) suite` ... `test title:`;
- cargo test: `test path::to::test ... FAILED`; nextest: `FAIL [ 0.004s] crate::bin path::test`;
- Maven Surefire: `[ERROR] method(Class)  Time elapsed: ... <<< FAILURE!` (JUnit 4) and
  `[ERROR] pkg.Class.method  Time elapsed: ...` (JUnit 5); Gradle: `Class > method() FAILED`;
- rspec: `rspec ./spec/a_spec.rb:12 # A does b`; PHPUnit: `1) Ns\\ClassTest::testX`;
- CTest: `  3 - name (Failed)` under "The following tests FAILED:".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from citriage.testreports.identity import module_of
from citriage.testreports.model import ERROR, FAILED, MAX_MESSAGE, Case, Report, cut

# What CI tools put before a runner's own line: `gh run view --log`'s job and step columns,
# a timestamp (bare or in brackets).
_PREFIX = re.compile(
    r"^(?:[^\t\n]*\t[^\t\n]*\t(?=\d{4}-))?"
    r"(?:\[?\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]?\s?)?"
)
_PYTEST_SUMMARY = re.compile(r"^(FAILED|ERROR) (?:\[[\d.]+m?s\] )?‹?(\S.*?::\S.*?)›?(?: - (.*))?$")
_PYTEST_VERBOSE = re.compile(r"^(\S+\.py::\S.*?) (FAILED|ERROR)\b")
_UNITTEST = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)")
_GTEST = re.compile(r"^\[  FAILED  \] ([\w/]+)\.([\w/]+)(?:, where .*?)?(?: \(\d+ ms\))?$")
_GO_CASE = re.compile(r"^\s*--- FAIL: (\S+) \(")
_GO_PACKAGE = re.compile(r"^FAIL\s+(\S+)\s")
_JEST = re.compile(r"^\s*● (.+ › .+)$")
_MOCHA_START = re.compile(r"^\s*(\d+)\) (.+)$")
_CARGO = re.compile(r"^test (\S+) \.\.\. FAILED$")
_NEXTEST = re.compile(r"^\s*FAIL \[\s*[\d.]+s\] (\S+) (\S+)$")
_SUREFIRE_4 = re.compile(
    r"^(?:\[ERROR\] )?(\w+)\(([\w.$]+)\)\s+(?:-- )?Time elapsed:.*<<< (FAILURE|ERROR)!"
)
_SUREFIRE_5 = re.compile(
    r"^(?:\[ERROR\] )?([\w.$]+)\.(\w+)\s+(?:-- )?Time elapsed:.*<<< (FAILURE|ERROR)!"
)
_GRADLE = re.compile(r"^([\w.$]+) > (.+) FAILED$")
_RSPEC = re.compile(r"^rspec (\./\S+?):(?:\d+|\[[\d:]+\]) # (.+)$")
_PHPUNIT = re.compile(r"^\d+\) ([A-Za-z_][\w\\]*)::(\w+)(?: with data set (.+))?$")
_CTEST_HEADER = re.compile(r"^The following tests FAILED:")
_CTEST = re.compile(r"^\s*\d+ - (\S+) \((Failed|Timeout|Not Run|SEGFAULT|Exception|[^)]*)\)")


def _pytest_identity(nodeid: str) -> tuple[str, str]:
    """`tests/test_a.py::TestB::test_c[1]` -> (`tests.test_a.TestB`, `test_c[1]`)."""
    path, *parts = nodeid.split("::")
    if not parts:
        return "", module_of(path)
    return ".".join([module_of(path), *parts[:-1]]), parts[-1]


def _rspec_suite(path: str) -> str:
    """`./spec/a/b_spec.rb` -> `spec.a.b_spec` (rspec_junit_formatter's classname)."""
    path = path.lstrip("./")
    return (path[:-3] if path.endswith(".rb") else path).replace("/", ".")


class _Found:
    def __init__(self) -> None:
        self.cases: dict[str, Case] = {}

    def add(self, suite: str, name: str, outcome: str = FAILED, message: str = "") -> Case:
        case = Case(suite=suite, name=name, outcome=outcome, message=cut(message, MAX_MESSAGE))
        seen = self.cases.get(case.key)
        if seen is None:
            self.cases[case.key] = case
            return case
        seen.message = seen.message or case.message
        return seen


def failed_tests(lines: Iterable[str]) -> Report:
    """The tests these log lines say failed (each once), as a report of format "log"."""
    found = _Found()
    go_waiting: list[Case] = []  # go cases whose package is printed later
    mocha: list[str] | None = None  # the lines of a mocha failure being read
    in_ctest = False
    # A case whose message is on the next line (Gradle: only when indented under it).
    message_for: Case | None = None
    indented_only = False
    for raw in lines:
        line = _PREFIX.sub("", raw.rstrip(), count=1)
        if message_for is not None and line.strip():
            waiting, message_for = message_for, None
            if line[:1].isspace() or not indented_only:
                waiting.message = waiting.message or cut(line.strip(), MAX_MESSAGE)
                continue
        if mocha is not None:  # the suites of a mocha failure, then its title and a colon
            text = line.strip()
            if text.endswith(":") and line[:1].isspace():
                message_for, indented_only = found.add(" › ".join(mocha), text[:-1]), False
                mocha = None
                continue
            if text and line[:1].isspace() and len(mocha) < 20:
                mocha.append(text)
                continue
            mocha = None
        if match := _PYTEST_SUMMARY.match(line):
            suite, name = _pytest_identity(match.group(2))
            outcome = ERROR if match.group(1) == "ERROR" else FAILED
            found.add(suite, name, outcome, match.group(3) or "")
        elif match := _PYTEST_VERBOSE.match(line):
            suite, name = _pytest_identity(match.group(1))
            found.add(suite, name, ERROR if match.group(2) == "ERROR" else FAILED)
        elif match := _UNITTEST.match(line):
            name, where = match.group(2), match.group(3)
            suite = where[: -len(name) - 1] if where.endswith("." + name) else where
            found.add(suite, name, ERROR if match.group(1) == "ERROR" else FAILED)
        elif match := _GTEST.match(line):
            found.add(match.group(1), match.group(2))
        elif match := _GO_CASE.match(line):
            go_waiting.append(found.add("", match.group(1)))
        elif (match := _GO_PACKAGE.match(line)) and go_waiting:
            for case in go_waiting:
                _rekey(found, case, suite=match.group(1))
            go_waiting = []
        elif match := _JEST.match(line):
            suite, _, name = match.group(1).rpartition(" › ")
            found.add(suite, name)
        elif match := _CARGO.match(line):
            suite, _, name = match.group(1).rpartition("::")
            found.add(suite, name)
        elif match := _NEXTEST.match(line):
            found.add(match.group(1), match.group(2))
        elif match := _SUREFIRE_4.match(line):
            outcome = ERROR if match.group(3) == "ERROR" else FAILED
            found.add(match.group(2), match.group(1), outcome)
        elif match := _SUREFIRE_5.match(line):
            outcome = ERROR if match.group(3) == "ERROR" else FAILED
            found.add(match.group(1), match.group(2), outcome)
        elif match := _GRADLE.match(line):
            message_for, indented_only = found.add(match.group(1), match.group(2)), True
        elif match := _RSPEC.match(line):
            found.add(_rspec_suite(match.group(1)), match.group(2))
        elif match := _PHPUNIT.match(line):
            name = match.group(2)
            if match.group(3):
                name += f" with data set {match.group(3)}"
            message_for, indented_only = found.add(match.group(1), name), False
        elif _CTEST_HEADER.match(line):
            in_ctest = True
        elif in_ctest and (match := _CTEST.match(line)):
            found.add("", match.group(1), message=match.group(2))
        elif (match := _MOCHA_START.match(line)) and not line.startswith(tuple("0123456789")):
            mocha = [match.group(2).strip()]
        else:
            in_ctest = in_ctest and bool(line.strip())
    report = Report(format="log", cases=list(found.cases.values()))
    report.counts.tests = len(report.cases)
    report.counts.failures = sum(c.outcome == FAILED for c in report.cases)
    report.counts.errors = sum(c.outcome == ERROR for c in report.cases)
    return report


def _rekey(found: _Found, case: Case, *, suite: str) -> None:
    """A go case learns its package: stored again under its full identity."""
    found.cases.pop(case.key, None)
    case.rename(suite, case.name)
    found.cases.setdefault(case.key, case)
