"""Background work of the GitHub app: processing deliveries, the "waiting" comment."""

from __future__ import annotations

from django_tasks import task

from citriage.ci.models import Repository
from citriage.github import events, reporting


@task()
def process_delivery_task(delivery_id: int) -> str:
    return events.process_delivery(delivery_id)


@task()
def waiting_comment_task(repository_id: int, number: int) -> str:
    """A new head on a pull request: its comment says so until the builds are in (a
    courtesy: should it fail, the report for the new head updates the comment anyway)."""
    return reporting.pull_request_pushed(Repository.objects.get(pk=repository_id), number)
