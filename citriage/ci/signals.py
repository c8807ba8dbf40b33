"""What ci tells the apps above it (patterns, triage, github). ci never imports them:
they connect to these signals in their `AppConfig.ready`.

Every signal is sent inside the transaction that made the change, so a receiver's
writes commit (or roll back) with it; receivers only note what is owed (a scan to
queue, a commit to summarize) and leave the work itself to tasks.
"""

from __future__ import annotations

from django.dispatch import Signal

# Job attempts were created or moved forward (status, conclusion, steps).
# sender: Repository; jobs: list[JobAttempt]
jobs_recorded = Signal()

# Logs of a job's failed steps were stored (or replaced). sender: JobAttempt; logs: list[StoredLog]
logs_stored = Signal()

# A GitHub Actions workflow run (an attempt of it) completed. sender: Repository; run_id: str
workflow_run_completed = Signal()

# Something else about a commit's CI changed: a foreign status or check run, a log
# fetch that ended without logs. sender: Repository; sha: str
commit_changed = Signal()

# A pull request got a new head commit. sender: Repository; pull: PullRequest
pull_request_pushed = Signal()
