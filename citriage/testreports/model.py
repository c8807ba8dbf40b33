"""What a test report says, as plain data: cases with their outcome, and the report's counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from citriage.testreports.identity import display_name, key_of, normalise

PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
OUTCOMES = (PASSED, FAILED, ERROR, SKIPPED)
FAILING = (FAILED, ERROR)

MAX_MESSAGE = 2000  # characters of a failure message kept
MAX_DETAILS = 8000  # characters of a failure's body (stack trace, output) kept


class ReportError(ValueError):
    """A report that cannot be read: hostile, too large, truncated or not a test report.
    The message says what is wrong with it; nothing of it is stored."""


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(slots=True)
class Case:
    """One test as one run of a report describes it (its final outcome)."""

    suite: str  # class name, or the suite (file, package) holding the test
    name: str
    outcome: str = PASSED
    file: str = ""
    message: str = ""  # the failure's (or skip's) message
    details: str = ""  # the failure's body: stack trace, captured output
    kind: str = ""  # the failure's type (exception class), when the report names it
    duration: float | None = None
    # Failed attempts before the final outcome: Surefire/nextest flakyFailure and
    # rerunFailure elements, pytest-rerunfailures reruns, a testcase repeated by
    # gotestsum --rerun-fails. A case that passed after failing is flaky.
    retries: int = 0
    retry_message: str = ""  # what the first failed attempt said
    _key: str = field(default="", repr=False, compare=False)
    _normal: tuple[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        """The stored key of the test (computed once: a name does not change once read)."""
        if not self._key:
            self._key = key_of(*self.normalised())
        return self._key

    def normalised(self) -> tuple[str, str]:
        """(suite, name) as stored."""
        if self._normal is None:
            self._normal = normalise(self.suite, self.name)
        return self._normal

    def rename(self, suite: str, name: str) -> None:
        self.suite, self.name, self._key, self._normal = suite, name, "", None

    @property
    def label(self) -> str:
        return display_name(self.suite, self.name)

    @property
    def flaky(self) -> bool:
        return self.outcome == PASSED and self.retries > 0


@dataclass(slots=True)
class Counts:
    """What the report holds, counted from its elements (totals written in attributes
    often disagree with them: Surefire counts attempts, pytest 8 counts collected items).

    tests: test cases (every testcase element, a repeated one too); failures, errors,
    skipped: cases with that outcome; reruns: failed attempts written as rerun or flaky
    elements; suite_errors: errors of a whole suite outside any test case."""

    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    reruns: int = 0
    suite_errors: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass
class Report:
    format: str  # junit, ctest, trx, nunit, xunit.net, open-test-reporting, circleci, log
    cases: list[Case] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)

    def merged_cases(self) -> list[Case]:
        """One case per test: a test repeated in the report (a rerun, e.g. gotestsum
        --rerun-fails) ends with its last outcome, the failed runs before counted as retries."""
        by_key: dict[str, Case] = {}
        for case in self.cases:
            seen = by_key.get(case.key)
            if seen is None:
                by_key[case.key] = case
                continue
            by_key[case.key] = merge_runs(seen, case)
        return list(by_key.values())


def merge_runs(earlier: Case, later: Case) -> Case:
    """Two runs of one test in one job: the later outcome stands, unless it was skipped;
    failed runs before it are retries."""
    if later.outcome == SKIPPED and earlier.outcome != SKIPPED:
        return earlier
    if earlier.outcome == SKIPPED:
        return later
    failed_before = earlier.retries + (1 if earlier.outcome in FAILING else 0)
    later.retries += failed_before
    if failed_before and not later.retry_message:
        later.retry_message = earlier.retry_message or earlier.message
    return later
