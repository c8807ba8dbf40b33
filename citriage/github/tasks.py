from __future__ import annotations

from django_tasks import task


@task()
def process_delivery_task(delivery_id: int) -> str:
    from citriage.github import events

    return events.process_delivery(delivery_id)


@task()
def pull_request_pushed_task(repository_id: int, number: int) -> str:
    from citriage.ci.models import Repository
    from citriage.github import reporting

    return reporting.pull_request_pushed(Repository.objects.get(pk=repository_id), number)
