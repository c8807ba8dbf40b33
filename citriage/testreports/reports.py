"""Reading test reports: JUnit XML as real runners write it, and the other XML formats
test runners write (CTest, TRX, NUnit, xUnit.net, Open Test Reporting).

The report is read as a stream (memory stays bounded by what is kept of each case,
not by the file) by lxml (libxml2) with entities left unexpanded, no DTD loaded and
no network; a report whose prolog declares a DOCTYPE (where entity declarations and
external references live) is refused before parsing starts, so an XML bomb or an
external entity costs nothing. A report larger than `max_bytes` (after gzip) or
holding more than `max_cases` cases stops being read there. Every problem is a
ReportError naming it; a report is read whole or not at all.

Which format it is comes from the root element; a file whose root is none of them
(coverage.xml, a build descriptor) is NotATestReport, which callers reading every
file of an artifact skip quietly.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
from collections.abc import Callable
from typing import IO, Any

from lxml import etree

from citriage.testreports.model import (
    ERROR,
    FAILED,
    MAX_DETAILS,
    MAX_MESSAGE,
    PASSED,
    SKIPPED,
    Case,
    Report,
    ReportError,
    cut,
)

MAX_BYTES = 256 * 1024 * 1024
MAX_CASES = 2_000_000
MAX_DEPTH = 200
CHUNK = 64 * 1024

Source = bytes | str | os.PathLike[str] | IO[bytes]
Element = Any  # lxml's elements (lxml ships no type information)
PROLOG_BYTES = 64 * 1024  # the prolog (declaration, comments, DOCTYPE) must fit in this


class NotATestReport(ReportError):
    """Well-formed XML that is not a test report (its root element says so)."""


# -- the guarded byte stream ------------------------------------------------------------

# Characters XML 1.0 cannot carry, raw or as references; old pytest and Catch2 versions
# write them (terminal colours, binary test ids). Removed rather than refusing the report.
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTROL_REFERENCE = re.compile(
    rb"&#(?:[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));"
)


class _Guarded:
    """The report's bytes as the parser reads them: counted against the limit, gunzipped
    when compressed, and cleaned of characters XML cannot hold (UTF-8 and ASCII only: a
    UTF-16 report is passed through as it is)."""

    def __init__(self, raw: IO[bytes], max_bytes: int) -> None:
        head = raw.read(4)
        rest: IO[bytes] | gzip.GzipFile = raw
        if head[:2] == b"\x1f\x8b":
            rest = gzip.GzipFile(fileobj=_Prefixed(head, raw))
            try:
                head = rest.read(4)
            except (OSError, EOFError) as exc:
                raise ReportError(f"the report cannot be decompressed: {exc}") from None
        self.raw = rest
        self.max_bytes = max_bytes
        wide = head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head
        self.clean = not wide
        self.ended = False  # everything was read (an error then means: truncated)
        try:
            head += rest.read(PROLOG_BYTES)
        except (OSError, EOFError) as exc:
            raise ReportError(f"the report cannot be decompressed: {exc}") from None
        self.pending = head
        self.total = len(head)
        _refuse_doctype(head, wide)

    def read(self, size: int = -1) -> bytes:
        while True:
            try:
                chunk = self.raw.read(CHUNK)
            except (OSError, EOFError) as exc:  # a broken gzip stream
                raise ReportError(f"the report cannot be decompressed: {exc}") from None
            self.total += len(chunk)
            if self.total > self.max_bytes:
                raise ReportError(
                    f"the report is larger than the limit of {self.max_bytes:,} bytes "
                    "(CITRIAGE_TEST_REPORT_MAX_BYTES)"
                )
            data, self.pending = self.pending + chunk, b""
            if not chunk:
                self.ended = True
                return self._cleaned(data)
            if self.clean:  # hold back a character reference cut by the chunk's end
                amp = data.rfind(b"&", max(0, len(data) - 12))
                if amp != -1 and b";" not in data[amp:]:
                    data, self.pending = data[:amp], data[amp:]
            if data:
                return self._cleaned(data)

    def _cleaned(self, data: bytes) -> bytes:
        if not self.clean:
            return data
        return _CONTROL_REFERENCE.sub(b"", _RAW_CONTROL.sub(b"", data))


_PROLOG_ITEM = re.compile(
    r"\s+|<\?.*?\?>|<!--.*?-->|(<!DOCTYPE)|(<[^?!])", re.DOTALL | re.IGNORECASE
)


def _refuse_doctype(head: bytes, wide: bool) -> None:
    """Refuse a report whose prolog declares a DOCTYPE: that is where entity declarations
    (XML bombs) and external references live, and no test runner writes one."""
    if wide:
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
    else:
        text = head.decode("latin-1")
    # a byte order mark: U+FEFF in UTF-16, three bytes of UTF-8 (read here as latin-1)
    position = 1 if text.startswith("\ufeff") else 3 if text.startswith("ï»¿") else 0
    while position < len(text):
        item = _PROLOG_ITEM.match(text, position)
        if item is None or item.group(2):
            return  # the root element, or no markup this reader understands: libxml2 decides
        if item.group(1):
            raise ReportError(
                "refused: the report declares a DTD (<!DOCTYPE ...>): test reports never "
                "need one, and it is how XML bombs and external-entity attacks work"
            )
        position = item.end()


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
        else:
            data = self.rest.read(size)
        buffer[: len(data)] = data
        return len(data)


def _open(source: Source) -> IO[bytes]:
    if isinstance(source, bytes):
        return io.BytesIO(source)
    if isinstance(source, str | os.PathLike):
        return open(source, "rb")
    return source


# -- small readers ----------------------------------------------------------------------


def local(tag: Any) -> str:
    """An element's name without its namespace ("" for comments and the like)."""
    if not isinstance(tag, str):
        return ""
    text = tag
    return text.rsplit("}", 1)[-1] if text.startswith("{") else text.rsplit(":", 1)[-1]


_CLOCK = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")
_UNIT = re.compile(r"^([0-9.]+)\s*([a-z]*)$")
_UNIT_SECONDS = {
    "": 1.0,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 0.001,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
}


def parse_duration(value: str | None) -> float | None:
    """Seconds from the ways reports write a duration: `1.5`, `1,234.5`, `0,5`, `12ms`,
    `1.5 s`, `00:00:00.1084258`; None when unreadable."""
    if not value:
        return None
    try:
        plain = float(value)  # the common case: plain seconds
        return plain if math.isfinite(plain) else None
    except ValueError:
        pass
    text = value.strip().lower()
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if "," in text:
        text = text.replace(",", "") if "." in text else text.replace(",", ".")
    found = _UNIT.match(text)
    if not found:
        return None
    try:
        number = float(found.group(1))
    except ValueError:
        return None
    factor = _UNIT_SECONDS.get(found.group(2))
    return None if factor is None else number * factor


_GENERIC_MESSAGES = {"", "failed", "failure", "error", "test failed"}


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _message(own: str, body: str) -> str:
    """The message a failure gives, or the first line of its body when it gives none (or
    only says "Failed", as go-junit-report does)."""
    own = own.strip()
    if own.lower() in _GENERIC_MESSAGES:
        own = _first_line(body) or own
    return cut(own, MAX_MESSAGE)


def _text(element: Element | None) -> str:
    return "".join(element.itertext()) if element is not None else ""


def _child(element: Element, name: str) -> Element | None:
    return next((c for c in element if local(c.tag) == name), None)


# -- formats --------------------------------------------------------------------------


class _Format:
    """Reads one format from parse events; `end` says whether the element can go."""

    name = ""

    def __init__(self, report: Report, max_cases: int) -> None:
        self.report = report
        self.max_cases = max_cases

    def add(self, case: Case) -> None:
        if len(self.report.cases) >= self.max_cases:
            raise ReportError(f"the report holds more than {self.max_cases:,} test cases")
        self.report.cases.append(case)

    def start(self, tag: str, element: Element) -> None:
        pass

    def end(self, tag: str, element: Element, parent: str) -> bool:
        raise NotImplementedError

    def finish(self) -> None:
        pass


RERUN_TAGS = frozenset(
    ["flakyFailure", "flakyError", "rerunFailure", "rerunError", "rerun", "flaky"]
)


class _JUnit(_Format):
    """JUnit XML, in every runner's dialect (see the corpus README for the variants)."""

    name = "junit"

    def __init__(self, report: Report, max_cases: int) -> None:
        super().__init__(report, max_cases)
        self.suites: list[str] = []

    def start(self, tag: str, element: Element) -> None:
        if tag == "testsuite":
            self.suites.append(element.get("name") or "")

    def end(self, tag: str, element: Element, parent: str) -> bool:
        if tag == "testcase":
            self.add(self.case(element))
            return True
        if tag == "testsuite":
            self.suites.pop()
            return True
        if tag in ("error", "failure") and parent == "testsuite":
            # A suite that failed outside its cases (TAP::Formatter::JUnit's bad plan).
            self.report.counts.suite_errors += 1
            body = _text(element)
            self.add(
                Case(
                    suite=self.suites[-1] if self.suites else "",
                    name="(suite)",
                    outcome=ERROR,
                    message=_message(element.get("message") or "", body),
                    details=cut(body, MAX_DETAILS),
                    kind=element.get("type") or "",
                )
            )
            return True
        return tag in ("properties", "system-out", "system-err") and parent in (
            "testsuite",
            "testsuites",
        )

    def case(self, element: Element) -> Case:
        counts = self.report.counts
        suite = element.get("classname") or element.get("class") or ""
        if not suite and self.suites:
            suite = self.suites[-1]
        case = Case(
            suite=suite,
            name=element.get("name") or "",
            file=element.get("file") or "",
            duration=parse_duration(element.get("time")),
        )
        failures: list[Element] = []
        errors: list[Element] = []
        skipped: Element | None = None
        reruns: list[Element] = []
        for child in element:
            name = local(child.tag)
            if name == "failure":
                failures.append(child)
            elif name == "error":
                errors.append(child)
            elif name == "skipped":
                skipped = child
            elif name in RERUN_TAGS:
                reruns.append(child)
        counts.tests += 1
        counts.failures += bool(failures)
        counts.errors += bool(errors)
        counts.reruns += len(reruns)
        # GoogleTest marks disabled and skipped tests in attributes.
        not_run = element.get("status") == "notrun" or element.get("result") in (
            "skipped",
            "suppressed",
        )
        counts.skipped += skipped is not None or (not_run and not (failures or errors))
        problems = failures or errors
        if problems:
            case.outcome = FAILED if failures else ERROR
            first = problems[0]
            body = "\n\n".join(_text(p).strip() for p in problems).strip()
            case.message = _message(first.get("message") or "", body)
            case.kind = first.get("type") or ""
            case.details = cut(body, MAX_DETAILS)
        elif skipped is not None or not_run:
            case.outcome = SKIPPED
            if skipped is not None:
                case.message = cut(
                    (skipped.get("message") or _first_line(_text(skipped))).strip(), MAX_MESSAGE
                )
        if reruns:
            case.retries = len(reruns)
            first_rerun = reruns[0]
            trace = _child(first_rerun, "stackTrace")
            body = _text(trace) if trace is not None else (first_rerun.text or "")
            case.retry_message = _message(first_rerun.get("message") or "", body)
        return case


class _CTest(_Format):
    """CTest's own Testing/<stamp>/Test.xml."""

    name = "ctest"
    OUTCOMES = {"passed": PASSED, "failed": FAILED, "notrun": SKIPPED, "disabled": SKIPPED}

    def end(self, tag: str, element: Element, parent: str) -> bool:
        if tag == "TestList":
            return True
        if tag != "Test" or element.get("Status") is None:
            return False
        counts = self.report.counts
        status = (element.get("Status") or "").lower()
        outcome = self.OUTCOMES.get(status, FAILED)
        measured = {
            (m.get("name") or ""): _text(_child(m, "Value")).strip()
            for m in element.iter()
            if local(m.tag) == "NamedMeasurement"
        }
        output = ""
        for item in element.iter():
            if local(item.tag) == "Measurement":
                output = _text(_child(item, "Value"))
        name_element = _child(element, "Name")
        case = Case(
            suite="",
            name=_text(name_element).strip(),
            outcome=outcome,
            duration=parse_duration(measured.get("Execution Time")),
        )
        counts.tests += 1
        if outcome == FAILED:
            counts.failures += 1
            status_text = measured.get("Exit Code") or measured.get("Completion Status") or status
            exit_value = measured.get("Exit Value")
            case.message = cut(
                f"{status_text} (exit {exit_value})" if exit_value else status_text, MAX_MESSAGE
            )
            case.details = cut(output, MAX_DETAILS)
        elif outcome == SKIPPED:
            counts.skipped += 1
            case.message = cut(measured.get("Completion Status") or status, MAX_MESSAGE)
        self.add(case)
        return True


class _Trx(_Format):
    """Visual Studio / `dotnet test --logger trx`: results first, test definitions after."""

    name = "trx"
    OUTCOMES = {
        "passed": PASSED,
        "passedbutrunaborted": PASSED,
        "completed": PASSED,
        "warning": PASSED,
        "failed": FAILED,
        "timeout": FAILED,
        "aborted": FAILED,
        "error": ERROR,
        "notexecuted": SKIPPED,
        "inconclusive": SKIPPED,
        "notrunnable": SKIPPED,
        "pending": SKIPPED,
    }

    def __init__(self, report: Report, max_cases: int) -> None:
        super().__init__(report, max_cases)
        self.classes: dict[str, str] = {}
        self.test_ids: list[str] = []

    def end(self, tag: str, element: Element, parent: str) -> bool:
        if tag == "UnitTest":
            method = _child(element, "TestMethod")
            if method is not None:
                self.classes[element.get("id") or ""] = (method.get("className") or "").split(",")[
                    0
                ]
            return True
        if tag != "UnitTestResult":
            return False
        counts = self.report.counts
        outcome = self.OUTCOMES.get((element.get("outcome") or "").lower(), FAILED)
        case = Case(
            suite="",
            name=element.get("testName") or "",
            outcome=outcome,
            duration=parse_duration(element.get("duration")),
        )
        info = next((e for e in element.iter() if local(e.tag) == "ErrorInfo"), None)
        counts.tests += 1
        counts.failures += outcome == FAILED
        counts.errors += outcome == ERROR
        counts.skipped += outcome == SKIPPED
        if info is not None and outcome != PASSED:
            trace = _text(_child(info, "StackTrace"))
            message = _text(_child(info, "Message"))
            case.message = _message(message, trace)
            case.details = cut(f"{message}\n{trace}".strip(), MAX_DETAILS)
        if outcome != PASSED and not case.message:
            case.message = element.get("outcome") or ""
        self.add(case)
        self.test_ids.append(element.get("testId") or "")
        return True

    def finish(self) -> None:
        for case, test_id in zip(self.report.cases, self.test_ids, strict=True):
            class_name = self.classes.get(test_id, "")
            if class_name and case.name.startswith(class_name + "."):
                case.rename(class_name, case.name[len(class_name) + 1 :])
            elif class_name:
                case.rename(class_name, case.name)


class _NUnit(_Format):
    """NUnit 3 (`test-run`) and NUnit 2 (`test-results`) result files."""

    name = "nunit"

    def end(self, tag: str, element: Element, parent: str) -> bool:
        if tag != "test-case":
            return tag in ("properties", "settings", "environment", "output")
        counts = self.report.counts
        result = (element.get("result") or "").lower()
        label = (element.get("label") or "").lower()
        if result in ("passed", "success", "warning"):
            outcome = PASSED
        elif result in ("skipped", "ignored", "inconclusive", "notrunnable", "explicit"):
            outcome = SKIPPED
        elif result == "error" or label == "error":
            outcome = ERROR
        else:
            outcome = FAILED
        full = element.get("fullname") or element.get("name") or ""
        suite = element.get("classname") or ""
        name = element.get("name") or full
        if not suite:
            head = full.split("(", 1)[0]
            suite = head.rsplit(".", 1)[0] if "." in head else ""
            name = full[len(suite) + 1 :] if suite else full
        case = Case(
            suite=suite,
            name=name,
            outcome=outcome,
            duration=parse_duration(element.get("duration") or element.get("time")),
        )
        counts.tests += 1
        counts.failures += outcome == FAILED
        counts.errors += outcome == ERROR
        counts.skipped += outcome == SKIPPED
        if outcome != PASSED:
            problem = _child(element, "failure")
            if problem is None:
                problem = _child(element, "reason")
            if problem is not None:
                message = _text(_child(problem, "message"))
                trace = _text(_child(problem, "stack-trace"))
                case.message = _message(message, trace)
                case.details = cut(f"{message}\n{trace}".strip(), MAX_DETAILS)
            if not case.message and label:
                case.message = label
        self.add(case)
        return True


class _XUnitNet(_Format):
    """xUnit.net v2 (`assemblies`) and v1 (`assembly`) XML."""

    name = "xunit.net"
    OUTCOMES = {"pass": PASSED, "fail": FAILED, "skip": SKIPPED, "notrun": SKIPPED}

    def end(self, tag: str, element: Element, parent: str) -> bool:
        if tag != "test":
            return tag in ("traits", "output")
        counts = self.report.counts
        outcome = self.OUTCOMES.get((element.get("result") or "").lower(), FAILED)
        suite = element.get("type") or ""
        name = element.get("name") or ""
        if suite and name.startswith(suite + "."):
            name = name[len(suite) + 1 :]
        case = Case(
            suite=suite,
            name=name,
            outcome=outcome,
            duration=parse_duration(element.get("time")),
        )
        counts.tests += 1
        counts.failures += outcome == FAILED
        counts.skipped += outcome == SKIPPED
        failure = _child(element, "failure")
        if failure is not None:
            message = _text(_child(failure, "message"))
            trace = _text(_child(failure, "stack-trace"))
            case.message = _message(message, trace)
            case.kind = failure.get("exception-type") or ""
            case.details = cut(f"{message}\n{trace}".strip(), MAX_DETAILS)
        elif outcome == SKIPPED:
            case.message = cut(_text(_child(element, "reason")).strip(), MAX_MESSAGE)
        self.add(case)
        return True


class _OpenTestReporting(_Format):
    """Open Test Reporting events (JUnit's new format): a test is a node no other node
    names as its parent."""

    name = "open-test-reporting"
    OUTCOMES = {
        "successful": PASSED,
        "skipped": SKIPPED,
        "aborted": SKIPPED,
        "failed": FAILED,
        "errored": ERROR,
    }

    def __init__(self, report: Report, max_cases: int) -> None:
        super().__init__(report, max_cases)
        self.nodes: dict[str, dict[str, str]] = {}

    def end(self, tag: str, element: Element, parent: str) -> bool:
        if tag == "started":
            node_id = element.get("id") or ""
            self.nodes[node_id] = {
                "name": element.get("name") or node_id,
                "parent": element.get("parentId") or "",
                "status": "",
                "reason": "",
            }
            if len(self.nodes) > self.max_cases * 2:
                raise ReportError(f"the report holds more than {self.max_cases:,} test cases")
            return True
        if tag == "finished":
            node = self.nodes.get(element.get("id") or "")
            result = next((e for e in element.iter() if local(e.tag) == "result"), None)
            if node is not None and result is not None:
                node["status"] = (result.get("status") or "").lower()
                node["reason"] = _text(_child(result, "reason")).strip()
            return True
        return False

    def finish(self) -> None:
        parents = {node["parent"] for node in self.nodes.values()}
        counts = self.report.counts
        for node_id, node in self.nodes.items():
            if node_id in parents:
                continue
            chain: list[str] = []
            up = node["parent"]
            while up and up in self.nodes and len(chain) < MAX_DEPTH:
                chain.append(self.nodes[up]["name"])
                up = self.nodes[up]["parent"]
            outcome = self.OUTCOMES.get(node["status"], FAILED)
            counts.tests += 1
            counts.failures += outcome == FAILED
            counts.errors += outcome == ERROR
            counts.skipped += outcome == SKIPPED
            self.add(
                Case(
                    suite=".".join(reversed(chain)),
                    name=node["name"],
                    outcome=outcome,
                    message=cut(node["reason"] or node["status"].upper(), MAX_MESSAGE)
                    if outcome != PASSED
                    else "",
                )
            )


FORMATS: dict[str, Callable[[Report, int], _Format]] = {
    "testsuites": _JUnit,
    "testsuite": _JUnit,
    "Site": _CTest,
    "TestRun": _Trx,
    "test-run": _NUnit,
    "test-results": _NUnit,
    "assemblies": _XUnitNet,
    "assembly": _XUnitNet,
    "events": _OpenTestReporting,
}


def read_report(
    source: Source, *, max_bytes: int = MAX_BYTES, max_cases: int = MAX_CASES
) -> Report:
    """Every test case of one report file (plain or gzip'd), with the report's counts.

    Raises ReportError (NotATestReport for XML of another kind) with a message naming
    the problem: hostile XML, too large, truncated, not well-formed.
    """
    stream = _open(source)
    guarded: _Guarded | None = None
    try:
        guarded = _Guarded(stream, max_bytes)
        return _read(guarded, max_cases)
    except etree.XMLSyntaxError as exc:
        problem = str(exc)
        if "amplification" in problem or "entity" in problem.lower():
            raise ReportError(
                f"refused: the report uses entities ({problem}): test reports never need "
                "them, and they are how XML bombs and external-entity attacks work"
            ) from None
        if "depth" in problem:
            raise ReportError(f"elements nested too deep: {problem}") from None
        if guarded is not None and guarded.ended and "empty" not in problem:
            problem = f"the report ends before its root element closes ({problem}): truncated?"
        raise ReportError(f"not well-formed XML: {problem}") from None
    finally:
        if not isinstance(source, bytes) and isinstance(source, str | os.PathLike):
            stream.close()


def _read(stream: _Guarded, max_cases: int) -> Report:
    report = Report(format="")
    reader: _Format | None = None
    depth = 0
    events = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    for event, element in events:
        tag = local(element.tag)
        if event == "start":
            if reader is None:
                make = FORMATS.get(tag)
                if make is None:
                    raise NotATestReport(f"not a test report: the root element is <{tag}>")
                reader = make(report, max_cases)
                report.format = reader.name
            depth += 1
            if depth > MAX_DEPTH:
                raise ReportError(f"elements nested too deep: more than {MAX_DEPTH}")
            reader.start(tag, element)
            continue
        assert reader is not None
        depth -= 1
        parent = element.getparent()
        parent_tag = local(parent.tag) if parent is not None else ""
        if reader.end(tag, element, parent_tag) and parent is not None:
            parent.remove(element)  # read: let it go
    if reader is None:
        raise ReportError("the report is empty")
    reader.finish()
    return report
