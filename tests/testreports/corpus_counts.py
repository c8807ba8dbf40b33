"""What the shared corpus says each test report holds (its SOURCES.md), read independently
of citriage's parser: the expected counts of the report tests."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROW = re.compile(r"^\| `([^`]+)` \| `[^`]*` \| `?[0-9a-f]*`? \| [a-z]+ \| [^|]* \| ([^|]+) \|")
JUNIT = re.compile(r"(\d+) testcases, (\d+) failed, (\d+) errors, (\d+) skipped")
RERUN = re.compile(r"(\d+) `<(flakyFailure|flakyError|rerunFailure|rerunError)>`")
OUTCOMES = re.compile(r"([A-Za-z]+)(?:/([^,]+?))? (\d+)(?:,|$)")


@dataclass
class Expected:
    tests: int
    failures: int
    errors: int
    skipped: int
    reruns: int


def _outcome_counts(text: str) -> dict[str, int]:
    """`9 tests; Failed/Error 2, Passed 3, ...` -> failures, errors, skipped, passed."""
    counts = {"failures": 0, "errors": 0, "skipped": 0, "passed": 0}
    _, _, listed = text.partition(";")
    listed = listed.replace("results ", "")
    for word, label, number in OUTCOMES.findall(listed.strip()):
        word, label = word.lower(), (label or "").lower()
        if word in ("failed", "fail"):
            counts["errors" if label == "error" else "failures"] += int(number)
        elif word in ("errored", "error"):
            counts["errors"] += int(number)
        elif word in ("skipped", "skip", "notexecuted", "notrun", "ignored"):
            counts["skipped"] += int(number)
        elif word in ("passed", "pass", "successful", "success"):
            counts["passed"] += int(number)
    return counts


def _containers(path: Path) -> int:
    """Open Test Reporting: nodes that other nodes name as parent are not tests."""
    parents = {e.get("parentId") for e in ET.parse(path).iter() if e.get("parentId")}
    return len(parents)


def expected_counts(folder: Path) -> dict[str, Expected]:
    """File (relative to the test-reports folder) -> what SOURCES.md says it holds."""
    found: dict[str, Expected] = {}
    for line in (folder / "SOURCES.md").read_text().splitlines():
        row = ROW.match(line)
        if not row or row.group(1).startswith(("schemas/", "github-artifacts/")):
            continue
        name, text = row.group(1), row.group(2).strip()
        reruns = sum(int(n) for n, _ in RERUN.findall(text))
        junit = JUNIT.search(text)
        if junit:
            tests, failures, errors, skipped = (int(g) for g in junit.groups())
            found[name] = Expected(tests, failures, errors, skipped, reruns)
            continue
        total = int(text.split()[0])
        counts = _outcome_counts(text)
        if text.split()[1].rstrip(";") == "nodes":
            containers = _containers(folder / name)
            total -= containers
        found[name] = Expected(
            total, counts["failures"], counts["errors"], counts["skipped"], reruns
        )
    return found


def suite_errors(path: Path) -> int:
    """`<error>`/`<failure>` elements directly under a testsuite (outside any testcase)."""
    if path.suffix != ".xml":
        return 0
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return sum(1 for s in suites for child in s if child.tag in ("error", "failure"))
