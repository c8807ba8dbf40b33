"""The failure-line finder's measured accuracy may not silently fall below today's figures.

The figures come from `bench/accuracy.py` over the labeled logs of the shared
corpus (see that script for how each source is labeled); raise the floors when
the finder gets better, never lower them to make a change pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import accuracy
from citriage.scanner import patterns as pattern_files
from citriage.scanner.engine import PatternSet

# (top-1 %, top-5 %) per group, as measured on 2026-12-01 (107 labeled logs).
FLOORS = {
    "finder, no patterns": {
        "LogChunks": (47.6, 76.2),
        "pytorch": (65.5, 86.2),
        "treeherder": (40.0, 90.0),
        "cidiff": (84.6, 100.0),
        "overall": (60.7, 86.0),
        "LogChunks+cidiff": (61.8, 85.3),
    },
    "finder + default library": {
        "LogChunks": (42.9, 76.2),
        "pytorch": (75.9, 86.2),
        "treeherder": (50.0, 90.0),
        "cidiff": (88.5, 100.0),
        "overall": (63.6, 86.0),
        "LogChunks+cidiff": (60.3, 85.3),
    },
}
# The baseline the issue compares against, measured the same way in the same run.
BASELINE_OVERALL_TOP1 = 31.8


@pytest.fixture(scope="module")
def labeled(corpus: Path) -> list[accuracy.LabeledLog]:
    logs = accuracy.labeled_logs(corpus / "logs")
    if not logs:
        pytest.skip(f"no labeled logs under {corpus / 'logs'}")
    return logs


def test_every_source_has_labeled_logs(labeled: list[accuracy.LabeledLog]) -> None:
    counts = {
        source: sum(1 for item in labeled if item.source == source) for source in accuracy.SOURCES
    }
    assert counts == {"LogChunks": 42, "pytorch": 29, "treeherder": 10, "cidiff": 26}
    for item in labeled:
        assert item.expected and max(item.expected) <= item.log.line_count, item.name


@pytest.mark.parametrize("method", list(FLOORS))
def test_accuracy_does_not_fall_below_the_floor(
    labeled: list[accuracy.LabeledLog], method: str
) -> None:
    library = PatternSet(pattern_files.default_library()) if "default" in method else None
    scores = accuracy.evaluate(labeled, accuracy.finder(library))
    below = []
    for group, (top1, top5) in FLOORS[method].items():
        score = scores[group]
        if score.pct(score.top1) < top1 - 0.05 or score.pct(score.top5) < top5 - 0.05:
            below.append(
                f"{group}: top-1 {score.pct(score.top1):.1f}% (floor {top1}%), "
                f"top-5 {score.pct(score.top5):.1f}% (floor {top5}%)"
            )
    assert not below, "accuracy fell: " + "; ".join(below)


def test_the_finder_beats_the_last_error_line_baseline(labeled: list[accuracy.LabeledLog]) -> None:
    baseline = accuracy.evaluate(labeled, accuracy.last_error_line)["overall"]
    finder = accuracy.evaluate(labeled, accuracy.finder(None))["overall"]
    assert baseline.pct(baseline.top1) == pytest.approx(BASELINE_OVERALL_TOP1, abs=0.05)
    assert finder.top1 > baseline.top1 and finder.top5 > baseline.top5
