"""Scanning stored logs: incremental, retroactive, re-ranking without reading logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from citriage import logstore
from citriage.ci.models import StoredLog
from citriage.patterns import library, scanning
from citriage.patterns.models import BestMatch, Match, Pattern, PromotedMatch
from citriage.scanner.engine import MAX_MATCHES_PER_PATTERN, PatternSet
from citriage.scanner.logtext import read_log
from tests import factories

pytestmark = pytest.mark.django_db

LOG = """\
Collecting numpy
\x1b[31mERROR: Could not find a version that satisfies the requirement numpy==9.9\x1b[0m
tests/test_io.py::test_roundtrip FAILED
E   AssertionError: assert 3 == 4
Segmentation fault (core dumped)
"""


@pytest.fixture
def patterns() -> list[Pattern]:
    return [
        library.create_pattern("AssertionError: ", description="assertion", specificity=2),
        library.create_pattern(
            r"::(\w+) FAILED", is_regex=True, description="pytest failure", specificity=3
        ),
        library.create_pattern(
            "Segmentation fault", description="segfault", specificity=4, tags=["crash"]
        ),
        library.create_pattern(
            "Could not find a version", specificity=5, applicable_steps=["Install"]
        ),
    ]


def stored_matches(log: StoredLog) -> list[tuple[int, int, int, int, list[str | None]]]:
    return sorted(
        Match.objects.filter(log=log).values_list("pattern_id", "line", "start", "end", "captures")
    )


def test_a_stored_log_is_scanned_like_the_scanner_scans_it(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    log = factories.failed_log(factories.job(repo), LOG)
    outcome = scanning.scan_log(log.pk)
    assert outcome.patterns == 4
    expected = PatternSet([p.to_scanner() for p in patterns]).scan(
        read_log(LOG.encode()), step="Run tests"
    )
    assert stored_matches(log) == sorted(
        (m.pattern_id, m.line, m.start, m.end, list(m.captures)) for m in expected
    )
    # the install-only pattern does not apply to the "Run tests" step
    assert not Match.objects.filter(pattern=patterns[3]).exists()
    log.refresh_from_db()
    assert log.scanned_through == patterns[-1].pk and not log.needs_full_rescan
    assert log.line_count == 5 and log.stripped
    assert logstore.load_text(log.storage_key).lines()[1].startswith("ERROR: Could not find")
    best = BestMatch.objects.get(job=log.job)
    assert best.pattern == patterns[2]  # segfault: highest specificity that applies


def test_a_new_pattern_reaches_every_stored_log_reading_it_once_for_that_pattern_only(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    logs = [factories.failed_log(factories.job(repo, name=f"job{i}"), LOG) for i in range(3)]
    assert scanning.scan_backlog() == 3
    before = {log.pk: stored_matches(log) for log in logs}
    assert not scanning.backlog().exists()

    added = library.create_pattern("Collecting ", description="pip output", specificity=1)
    assert set(scanning.backlog().values_list("id", flat=True)) == {log.pk for log in logs}
    outcomes = [scanning.scan_log(log.pk) for log in logs]
    assert [o.patterns for o in outcomes] == [1, 1, 1]  # only the new pattern was run
    for log in logs:
        after = stored_matches(log)
        assert [m for m in after if m[0] != added.pk] == before[log.pk]
        assert [m[:2] for m in after if m[0] == added.pk] == [(added.pk, 1)]
    assert scanning.scan_progress()["backlog"] == 0


def test_retiring_and_editing_rerank_without_reading_any_log(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    same_line = library.create_pattern("core dumped", specificity=4)  # ties with the segfault
    log = factories.failed_log(factories.job(repo), LOG)
    scanning.scan_log(log.pk)
    assert BestMatch.objects.get(job=log.job).pattern == same_line  # the newer of a tie
    logstore.log_store().delete(log.storage_key)  # any attempt to read the log would now fail

    library.edit_pattern(same_line, is_retired=True)
    scanning.rerank_jobs_with_pattern(same_line.pk)
    assert BestMatch.objects.get(job=log.job).pattern == patterns[2]  # non-retired wins the tie

    library.edit_pattern(patterns[0], specificity=9)
    scanning.rerank_jobs_with_pattern(patterns[0].pk)
    assert BestMatch.objects.get(job=log.job).pattern == patterns[0]  # specificity comes first


def test_step_restricted_and_retired_patterns_keep_the_watermark_correct(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    install_job = factories.job(repo, step="Install")
    log = factories.failed_log(install_job, LOG)
    retired = library.create_pattern("core dumped")
    library.edit_pattern(retired, is_retired=True)
    scanning.scan_log(log.pk)
    found = {m[0] for m in stored_matches(log)}
    assert patterns[3].pk in found  # applies to the Install step
    assert retired.pk not in found  # retired before the scan: skipped
    log.refresh_from_db()
    assert log.scanned_through == retired.pk
    # a retired pattern does not come back: a new pattern from it does, and reaches the log
    revived = library.supersede_pattern(retired)
    assert scanning.scan_log(log.pk).patterns == 1
    assert revived.pk in {m[0] for m in stored_matches(log)}
    with pytest.raises(library.LibraryError, match="retired"):
        library.edit_pattern(retired, is_retired=False)


def test_full_rescan_replaces_matches_and_keeps_the_promotion(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    job = factories.job(repo)
    log = factories.failed_log(job, LOG)
    scanning.scan_log(log.pk)
    PromotedMatch.objects.create(job=job, log=log, pattern=patterns[0], line=4)
    scanning.update_best_matches([job.pk])
    assert BestMatch.objects.get(job=job).pattern == patterns[0]

    first = stored_matches(log)
    scanning.request_full_rescan(StoredLog.objects.filter(pk=log.pk))
    assert scanning.backlog().filter(pk=log.pk).exists()
    scanning.scan_backlog()
    assert stored_matches(log) == first
    assert BestMatch.objects.get(job=job).pattern == patterns[0]


def test_immutable_fields_cannot_be_edited(patterns: list[Pattern]) -> None:
    with pytest.raises(library.LibraryError, match="supersedes"):
        library.edit_pattern(patterns[0], expression="something else")
    with pytest.raises(library.LibraryError, match="backtrack"):
        library.create_pattern("(a+)+b", is_regex=True)


def test_a_broken_stored_log_is_recorded_and_does_not_stop_the_backlog(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    broken = factories.failed_log(factories.job(repo, name="one"), LOG)
    good = factories.failed_log(factories.job(repo, name="two"), LOG)
    (log_store / broken.storage_key).write_bytes(b"not zstd at all")
    assert scanning.scan_backlog() == 2  # both move on; the broken one keeps its error
    broken.refresh_from_db()
    good.refresh_from_db()
    assert "ZstdError" in broken.scan_error
    assert good.scan_error == "" and Match.objects.filter(log=good).exists()
    assert not scanning.backlog().exists()


def test_a_scan_commits_in_short_units_so_early_kills_still_progress(
    log_store: Path, patterns: list[Pattern]
) -> None:
    repo = factories.repository()
    logs = [factories.failed_log(factories.job(repo, name=f"j{i}"), LOG) for i in range(5)]
    # Out of time after the first log: that log is done (and committed), the rest wait.
    first = scanning.scan_logs(StoredLog.objects.all(), max_seconds=0)
    assert first.logs == 1 and scanning.backlog().count() == 4
    assert Match.objects.filter(log=logs[0]).exists()
    assert not Match.objects.filter(log=logs[1]).exists()
    # A full rescan deletes a log's old matches only when it rescans that very log.
    scanning.scan_backlog()
    before = {log.pk: stored_matches(log) for log in logs}
    scanning.request_full_rescan(StoredLog.objects.all())
    assert scanning.scan_logs(StoredLog.objects.all(), max_seconds=0).logs == 1
    assert {log.pk: stored_matches(log) for log in logs} == before  # nobody lost its matches
    assert set(BestMatch.objects.values_list("job_id", flat=True)) == {log.job_id for log in logs}


def test_a_pattern_matching_every_line_keeps_a_bounded_number(log_store: Path) -> None:
    library.create_pattern("tick", description="every line")
    repo = factories.repository()
    lines = MAX_MATCHES_PER_PATTERN + 500
    log = factories.failed_log(factories.job(repo), "".join(f"tick {n}\n" for n in range(lines)))
    scanning.scan_log(log.pk)
    stored = sorted(Match.objects.filter(log=log).values_list("line", flat=True))
    assert len(stored) == MAX_MATCHES_PER_PATTERN and stored[-1] == lines  # and the last
    assert BestMatch.objects.get(job=log.job).match.line == lines


def test_a_stored_pattern_that_runs_out_of_time_is_retired_saying_why(
    log_store: Path, settings: Any
) -> None:
    """An expression saved before the validator knew better (imported, say) and that RE2
    cannot run: on a log where it takes too long, it is stopped and retired."""
    settings.PATTERN_SECONDS = 0.3
    slow = Pattern.objects.create(expression=r"(a|aa)+(?=!)", is_regex=True)  # not validated
    fine = library.create_pattern("Segmentation fault", description="segfault")
    repo = factories.repository()
    log = factories.failed_log(factories.job(repo), "a" * 3000 + "\nSegmentation fault\n")
    scanning.scan_log(log.pk)
    slow.refresh_from_db()
    assert (
        slow.is_retired
        and "CPU time" in slow.retired_reason
        and f"log {log.pk}" in slow.retired_reason
    )
    assert Match.objects.filter(log=log, pattern=fine).exists()  # the others are exact
    assert not Match.objects.filter(pattern=slow).exists()
    log.refresh_from_db()
    assert log.scanned_through == slow.pk or log.scanned_through >= fine.pk  # moved on
