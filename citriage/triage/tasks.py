from __future__ import annotations

from django_tasks import task

from citriage.ci.models import Repository
from citriage.triage import cooloff, summary


@task()
def summarize_commit_task(repository_id: int, sha: str) -> str:
    if not cooloff.claim(repository_id, sha):
        return "postponed: more events arrived"
    repository = Repository.objects.get(pk=repository_id)
    note = summary.summarize_commit(repository, sha)
    cooloff.done(repository_id, sha)
    return note
