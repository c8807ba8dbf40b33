"""How the GitHub app hears what to say: a commit's report is due (triage), a pull
request has a new head (ci)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from citriage.ci import signals as ci_signals
from citriage.ci.models import PullRequest, Repository
from citriage.github import reporting
from citriage.github.tasks import waiting_comment_task
from citriage.triage import signals as triage_signals
from citriage.triage.models import CommitSummary


def _report_due(sender: Any, repository: Repository, summary: CommitSummary, **_: Any) -> list[str]:
    return reporting.report_commit(repository, summary)


def _pull_request_pushed(sender: Any, repository: Repository, pull: PullRequest, **_: Any) -> None:
    repository_id, number = repository.pk, pull.number
    transaction.on_commit(lambda: waiting_comment_task.enqueue(repository_id, number))


def connect() -> None:
    triage_signals.report_due.connect(_report_due, dispatch_uid="github-report-due")
    ci_signals.pull_request_pushed.connect(
        _pull_request_pushed, dispatch_uid="github-pull-request-pushed"
    )
