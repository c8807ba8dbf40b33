from __future__ import annotations

from django_tasks import task


@task()
def process_delivery_task(delivery_id: int) -> str:
    from citriage.github import events

    return events.process_delivery(delivery_id)
