"""A default branch whose CI configuration expects jobs that did not all report, read
through a fake GitHub: for the page and browser tests."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from citriage.ci import actions, configs, recording
from citriage.ci.models import CommitConfig, Provider, Repository
from tests import factories
from tests.fake_github import FakeGitHub

REPO = "acme/orbit"
WORKFLOW = b"""name: Build
on:
  push:
    branches: [main]
jobs:
  compile:
    runs-on: ubuntu-latest
    steps: [{run: make}]
  test:
    needs: compile
    strategy:
      matrix:
        shard: [1, 2]
    runs-on: ubuntu-latest
    steps: [{run: make test}]
  lint:
    runs-on: ubuntu-latest
    steps: [{run: make lint}]
"""


def _job(number: int, sha: str, name: str) -> dict[str, object]:
    return {
        "id": number,
        "run_id": 1000 + number // 10,
        "run_attempt": 1,
        "head_sha": sha,
        "head_branch": "main",
        "workflow_name": "Build",
        "name": name,
        "status": "completed",
        "conclusion": "success",
        "started_at": "2026-11-02T10:00:00Z",
        "completed_at": "2026-11-02T10:05:00Z",
        "steps": [],
    }


def branch_with_missing_jobs(github: FakeGitHub) -> tuple[Repository, list[str]]:
    """Three pushes to main (the GitHub App configured on `github`), four jobs expected
    of each: the oldest has all four; the middle one, seen two hours ago, lacks
    `lint` (missing); the newest, just pushed, has only `compile` (the rest awaited)."""
    repository = recording.get_repository(REPO, create=True, providers=[Provider.GITHUB_ACTIONS])
    shas = [f"{i:x}" * 40 for i in (10, 11, 12)]
    reported = [
        ["compile", "test (1)", "test (2)", "lint"],
        ["compile", "test (1)", "test (2)"],
        ["compile"],
    ]
    for i, sha in enumerate(shas):
        github.files[sha] = {".github/workflows/build.yml": WORKFLOW}
        recording.record_commit(
            repository,
            sha,
            parents=[shas[i - 1]] if i else [],
            message=f"Orbit change {i}",
            author_login="ada",
            pushed_at=timezone.now(),
            pushed_branch="main",
        )
        recording.advance_default_branch(repository, sha)
        for number, name in enumerate(reported[i]):
            actions.record(repository, _job(10 * (i + 1) + number, sha, name))
    two_hours = timezone.now() - timedelta(hours=2)
    CommitConfig.objects.filter(sha__in=shas[:2]).update(seen_at=two_hours)
    for config in CommitConfig.objects.filter(sha__in=shas).select_related("repository"):
        configs.read(config)  # what a worker does: list, fetch, work out the expected jobs
    factories.settle()
    return repository, shas
