"""The summary of a commit: fresh verdicts, reported on GitHub, flaky reruns."""

from __future__ import annotations

import logging

from django.conf import settings

from citriage.ci.models import Commit, Repository
from citriage.triage import verdicts
from citriage.triage.models import JobVerdict, Verdict

logger = logging.getLogger(__name__)


def summarize_commit(repository: Repository, sha: str) -> str:
    """Recompute the commit's verdicts and summary, then post them; returns a note."""
    from citriage.github import reporting

    summary = verdicts.recompute_commit(repository, sha)
    notes = [f"{summary.failures} failure(s), {summary.excused} excused"]
    notes += reporting.report_commit(repository, sha)
    if settings.AUTO_RERUN_FLAKY:
        notes.append(rerun_flaky_on_default_branch(repository, sha))
    return "; ".join(notes)


def rerun_flaky_on_default_branch(repository: Repository, sha: str) -> str:
    from citriage.ci.reruns import rerun

    on_branch = Commit.objects.filter(
        repository=repository, sha=sha, branch_position__isnull=False
    ).exists()
    if not on_branch:
        return "not on the default branch: no automatic rerun"
    flaky = JobVerdict.objects.filter(
        repository=repository,
        sha=sha,
        verdict=Verdict.FLAKY_PATTERN,
        superseded=False,
        job__reruns__isnull=True,
    ).select_related("job")
    done = [rerun(v.job, requested_by="citriage", automatic=True) for v in flaky]
    return f"{sum(r.ok for r in done)} flaky job(s) rerun automatically"
