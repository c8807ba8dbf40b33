"""A person's classification of one failure is an input of its verdict: changing it marks
the commit stale, and the summarize task gives the verdict it implies."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from citriage.ci import recording
from citriage.ci.models import JobAttempt
from citriage.github import report_text, reporting
from citriage.patterns import library
from citriage.triage import breakages, classifications
from citriage.triage.models import (
    Classification,
    CommitSummary,
    FailureClassification,
    JobVerdict,
    PendingSummary,
    Verdict,
)
from tests import factories

pytestmark = pytest.mark.django_db
LOG = "make\nsrc/engine.c:41:7: error: 'thrust' undeclared\n"


@pytest.fixture
def failure(log_store: Path) -> JobAttempt:
    library.create_pattern(r"(\S+):(\d+):(\d+): error:", is_regex=True, specificity=4)
    repo = factories.repository()
    attempt = factories.job(repo, name="build", sha="1" * 40)
    factories.failed_log(attempt, LOG)
    factories.settle()
    assert JobVerdict.objects.get(job=attempt).verdict == Verdict.NEW
    return attempt


def verdict_of(attempt: JobAttempt) -> JobVerdict:
    factories.settle()
    return JobVerdict.objects.get(job=attempt)


def test_flaky_and_infra_excuse_the_failure_and_say_who(failure: JobAttempt) -> None:
    classifications.classify_failure(failure, "flaky", note="seen twice this week", by="wanda")
    stale = PendingSummary.objects.get(sha=failure.sha)
    assert stale.refresh_at is not None  # marked stale, not recomputed inline
    verdict = verdict_of(failure)
    assert verdict.verdict == Verdict.FLAKY_MARKED and verdict.excused
    assert verdict.reasons[0].startswith("classified as flaky by wanda at ")
    assert verdict.reasons[0].endswith(": seen twice this week")
    assert verdict.pattern_id is not None  # the evidence is still named
    summary = CommitSummary.objects.get(sha=failure.sha)
    assert summary.all_excused and summary.counts == {"flaky_marked": 1}
    assert "1 of 1 failures flaky" in report_text.headline(summary)

    classifications.classify_failure(failure, "infra", by="ada")  # a second word replaces it
    verdict = verdict_of(failure)
    assert verdict.verdict == Verdict.INFRA
    assert FailureClassification.objects.get(job=failure).by == "ada"

    assert classifications.clear_classification(failure)
    assert verdict_of(failure).verdict == Verdict.NEW  # the rules decide again


def test_other_keeps_the_rules_verdict_with_the_note_first(failure: JobAttempt) -> None:
    classifications.classify_failure(failure, "other", note="real bug, see #88", by="ken")
    verdict = verdict_of(failure)
    assert verdict.verdict == Verdict.NEW and not verdict.excused
    assert verdict.reasons[0].endswith("real bug, see #88")
    assert "best match" in verdict.reasons[1]


def test_broken_trunk_names_the_breakage_covering_the_merge_base(log_store: Path) -> None:
    library.create_pattern(r"(\S+):(\d+):(\d+): error:", is_regex=True, specificity=4)
    repo = factories.repository("acme/trunk")
    main = [f"{i:x}".rjust(40, "b") for i in range(1, 4)]
    for i, sha in enumerate(main):
        recording.record_commit(repo, sha, parents=[main[i - 1]] if i else [], message=f"c{i}")
    recording.record_default_branch(repo, main)
    pr = "d" * 40
    recording.record_commit(repo, pr, parents=[main[1]], message="change")
    attempt = factories.job(repo, name="build", sha=pr, branch="change")
    factories.failed_log(attempt, LOG)
    breakage = breakages.create_breakage(
        repo,
        cause=repo.commits.get(sha=main[0]),
        jobs=["lint"],  # not this job: only the person's word makes it a known problem
        issue_url="https://issues.example.org/T-1",
    )
    assert verdict_of(attempt).verdict == Verdict.NEW
    classifications.classify_failure(attempt, "broken_trunk", by="grace")
    verdict = verdict_of(attempt)
    assert verdict.verdict == Verdict.KNOWN_PROBLEM and verdict.excused
    assert verdict.breakage_id is None  # no breakage covers `build`
    breakages.update_breakage(breakage, editor="grace", jobs=["lint", "build"])
    verdict = verdict_of(attempt)
    assert verdict.breakage_id == breakage.pk
    assert f"breakage #{breakage.pk}" in verdict.reasons[1]
    # the report names the breakage with its issue
    summary = CommitSummary.objects.get(sha=pr)
    verdicts, checks, running = reporting.inputs(repo, pr)
    body = report_text.report(summary, verdicts, checks, running=running, for_comment=True)
    assert "([issue](https://issues.example.org/T-1))" in body


def test_only_failures_and_known_kinds(failure: JobAttempt) -> None:
    passed = factories.job(failure.repository, name="lint", sha=failure.sha, conclusion="success")
    with pytest.raises(ValidationError, match="did not fail"):
        classifications.classify_failure(passed, "flaky")
    with pytest.raises(ValidationError, match="not a classification"):
        classifications.classify_failure(failure, "cosmic rays")
    assert not FailureClassification.objects.exists()
    assert set(Classification.values) == {"flaky", "infra", "broken_trunk", "other"}
