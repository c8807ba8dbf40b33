"""GitHub does not order webhooks: late, repeated and reordered deliveries of real payloads
end in the state in-order delivery gives, and a delivery that says nothing new writes
nothing and tells no one."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citriage.ci import actions, recording, signals
from citriage.ci.models import ExternalCheck, JobAttempt, Provider, Repository
from citriage.github.events import on_check_run
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db

REPO = "Codertocat/Hello-World"
HOOKS = Path("webhooks/workflow_job")


class Rollback(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run a hypothesis example in a transaction that is undone afterwards."""
    try:
        with transaction.atomic():
            yield
            raise Rollback
    except Rollback:
        pass


def octokit_job(corpus: Path) -> list[dict[str, Any]]:
    """One job's deliveries as recorded (queued, in progress, failed)."""
    return [
        load(corpus / HOOKS / name)["workflow_job"]
        for name in (
            "octokit.queued.payload.json",
            "octokit.in_progress.payload.json",
            "octokit.completed.failure.with-organization.payload.json",
        )
    ]


def stepped_job(corpus: Path) -> list[dict[str, Any]]:
    """A job seen with its steps half done (the recorded delivery), before (queued, no
    steps), a little later (a step further) and at the end (failed at step 4)."""
    middle = load(corpus / HOOKS / "octokit.in_progress.with-queued-steps.payload.json")
    middle = middle["workflow_job"]
    queued = copy.deepcopy(middle)
    queued.update(status="queued", steps=[], started_at=middle["created_at"])
    later = copy.deepcopy(middle)
    later["steps"][2].update(
        status="completed", conclusion="success", completed_at="2023-06-26T03:31:50Z"
    )
    later["steps"][3].update(status="in_progress", started_at="2023-06-26T03:31:50Z")
    done = copy.deepcopy(later)
    done.update(status="completed", conclusion="failure", completed_at="2023-06-26T03:32:30Z")
    for step in done["steps"][3:]:
        failed = step["number"] == 4
        step.update(
            status="completed",
            conclusion="failure" if failed else "skipped",
            started_at=step.get("started_at") or "2023-06-26T03:32:29Z",
            completed_at="2023-06-26T03:32:29Z",
        )
    return [queued, middle, later, done]


def state(repository: Repository) -> list[tuple[Any, ...]]:
    """Everything recorded about the repository's job attempts and their steps."""
    rows = []
    for job in JobAttempt.objects.filter(repository=repository).order_by("provider_id"):
        steps = [(s.index, s.name, s.status, s.timed_out) for s in job.steps.order_by("index")]
        rows.append(
            (
                job.provider_id,
                job.name,
                job.attempt,
                job.status,
                job.conclusion,
                job.queued_at,
                job.started_at,
                job.finished_at,
                job.log_state,
                job.details.get("steps"),
                steps,
            )
        )
    return rows


@pytest.fixture
def repository() -> Repository:
    return recording.get_repository(REPO, create=True, providers=[Provider.GITHUB_ACTIONS])


@pytest.mark.parametrize("deliveries", [octokit_job, stepped_job])
def test_any_order_of_a_jobs_deliveries_ends_as_in_order(
    corpus: Path, repository: Repository, deliveries: Any
) -> None:
    payloads = deliveries(corpus)
    with rolled_back():
        for payload in payloads:
            actions.record(repository, payload)
        in_order = state(repository)
    assert in_order[0][3] == "completed" and in_order[0][4] == "failure"

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        order=st.permutations(range(len(payloads))),
        again=st.lists(st.integers(0, len(payloads) - 1), max_size=3),
    )
    def shuffled(order: list[int], again: list[int]) -> None:
        with rolled_back():
            for index in [*order, *again]:  # late, reordered, and some twice
                actions.record(repository, payloads[index])
            assert state(repository) == in_order

    shuffled()


def test_a_delivery_saying_nothing_new_writes_nothing_and_tells_no_one(
    corpus: Path, repository: Repository
) -> None:
    payloads = octokit_job(corpus)
    for payload in payloads:
        actions.record(repository, payload)
    heard: list[Any] = []

    def listener(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    signals.jobs_recorded.connect(listener)
    try:
        before = JobAttempt.objects.values().get()
        for payload in (payloads[2], payloads[0], payloads[1], payloads[2]):
            _job, changed = actions.record(repository, payload)
            assert not changed
    finally:
        signals.jobs_recorded.disconnect(listener)
    assert heard == [] and JobAttempt.objects.values().get() == before


def test_a_late_created_check_run_does_not_undo_its_completion(
    corpus: Path, repository: Repository
) -> None:
    created = load(corpus / "webhooks/check_run/octokit.created.payload.json")
    completed = load(corpus / "webhooks/check_run/octokit.completed.payload.json")
    on_check_run(repository, completed)
    assert "nothing new" in on_check_run(repository, created)  # arrived late
    check = ExternalCheck.objects.get()
    assert (check.state, check.conclusion) == ("completed", "success")
    on_check_run(repository, completed)
    assert ExternalCheck.objects.get().updated == check.updated
