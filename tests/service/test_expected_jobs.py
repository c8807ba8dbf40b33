"""The CI configuration of each commit, read through a fake GitHub serving the corpus's
workflow files and CircleCI configs, and the jobs it expects: named as the providers
report them, read once per file content, re-evaluated when a commit's branches change,
and recorded with the reason when something cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from citriage.ci import actions, github_app, recording
from citriage.ci.models import CommitConfig, ConfigBlob, ConfigState, ExpectedJob, Provider
from citriage.ciconfig.plan import CIRCLECI_CONFIG
from citriage.providers.github_actions import job_name
from tests import factories
from tests.ci_corpus import reported_circleci_names, workflow_set
from tests.fake_github import FakeGitHub, app_on
from tests.fakes import Reply
from tests.gha_corpus import load

pytestmark = pytest.mark.django_db(transaction=True)

PYGITHUB = "PyGithub/PyGithub"
PYGITHUB_SHA = "06ec040b2eeef6c0316dd5abcda0608525a3f205"
OTHER_SHA = "1" * 40


@pytest.fixture
def configured(fake_github: FakeGitHub, log_store: Path) -> Iterator[None]:
    with app_on(fake_github, LOG_FETCH_ATTEMPTS=3):
        yield


def expected(sha: str, *, certain: bool | None = None) -> set[str]:
    rows = ExpectedJob.objects.filter(sha=sha)
    if certain is not None:
        rows = rows.filter(certain=certain)
    return set(rows.values_list("name", flat=True))


def fetched(fake_github: FakeGitHub, path: str) -> int:
    return len([r for r in fake_github.server.requests if r.path.endswith(f"/contents/{path}")])


def test_expected_actions_jobs_are_the_recorded_jobs_and_files_are_read_once(
    corpus: Path, configs: Path, fake_github: FakeGitHub, configured: None
) -> None:
    recorded = load(corpus / "github-api/workflow-jobs/pygithub.WorkflowJob.setUp.2.json")["jobs"]
    branch = recorded[0]["head_branch"]
    repository = recording.get_repository(
        PYGITHUB, create=True, providers=[Provider.GITHUB_ACTIONS]
    )
    files = workflow_set(configs, "PyGithub__PyGithub__06ec040")
    fake_github.files[PYGITHUB_SHA] = files
    fake_github.files[OTHER_SHA] = files  # the next commit did not touch the workflows
    # a push of the branch: its head is built
    recording.record_commit(
        repository, PYGITHUB_SHA, message="x", pushed_at=timezone.now(), pushed_branch=branch
    )
    factories.work()
    config = CommitConfig.objects.get(sha=PYGITHUB_SHA)
    assert config.state == ConfigState.READ, config.error
    assert set(config.files) == set(files)
    assert config.contexts == [f"push to {branch}"]
    assert expected(PYGITHUB_SHA, certain=True) == {job_name(job) for job in recorded}
    # the jobs as Actions reports them carry exactly those names
    for job in recorded:
        actions.record(repository, job)
    assert set(repository.jobs.values_list("name", flat=True)) == expected(PYGITHUB_SHA)
    # a second commit with the same workflow files: listed, but no file fetched again
    calls = fetched(fake_github, ".github/workflows/ci.yml")
    recording.record_commit(
        repository, OTHER_SHA, message="y", pushed_at=timezone.now(), pushed_branch=branch
    )
    factories.work()
    assert fetched(fake_github, ".github/workflows/ci.yml") == calls == 1
    assert ConfigBlob.objects.count() == len(files)
    assert expected(OTHER_SHA) == expected(PYGITHUB_SHA)
    # ... and the first commit, no longer its branch's head, still expects them
    assert expected(PYGITHUB_SHA, certain=True) == {job_name(job) for job in recorded}


def test_circleci_expected_names_follow_the_commit_onto_a_pull_request(
    configs: Path, fake_github: FakeGitHub, configured: None
) -> None:
    """React's config, seen first as a bare commit (no branch known: nothing expected
    yet), then as the head of a pull request from a branch of the repository: the 32
    contexts GitHub showed for such pull requests."""
    sha = "6bf111772afb73e2d91a563bf5e8e5e7e1f7d7a9"
    repository = recording.get_repository(
        "facebook/react", create=True, providers=[Provider.CIRCLECI]
    )
    fake_github.files[sha] = {
        CIRCLECI_CONFIG: (configs / "circleci/facebook__react__6bf1117.config.yml").read_bytes()
    }
    recording.record_commit(repository, sha, message="Bump ini")
    factories.work()
    config = CommitConfig.objects.get(sha=sha)
    assert config.state == ConfigState.READ and expected(sha) == set()
    assert config.notes == ["no push or pull request that builds this commit is known yet"]
    recording.record_pull_request(
        repository,
        21770,
        head_sha=sha,
        head_ref="dependabot/npm_and_yarn/scripts/bench/ini-1.3.8",
        base_ref="main",
        head_repository="facebook/react",
    )
    listings = fetched(fake_github, ".circleci")
    factories.work()
    assert expected(sha, certain=True) == reported_circleci_names(configs)
    assert fetched(fake_github, ".circleci") == listings  # worked out again from the stored file
    # merged onto main (the same commit): main's filters apply too
    recording.record_default_branch(repository, [sha])
    factories.work()
    assert "deploy_devtools_scheduling_profiler" in expected(sha, certain=False)  # no push seen


def test_what_cannot_be_read_is_recorded_with_the_reason(
    fake_github: FakeGitHub, configured: None
) -> None:
    repository = recording.get_repository(
        "acme/rocket", create=True, providers=[Provider.GITHUB_ACTIONS]
    )
    good, broken = "a" * 40, "b" * 40
    fake_github.files[good] = {
        ".github/workflows/ok.yml": b"name: OK\non: push\njobs:\n  test: {runs-on: x}\n",
        ".github/workflows/bad.yml": b"on: push\njobs:\n  a: [\n",
        ".github/workflows/README.md": b"# not a workflow\n",
    }
    recording.record_commit(
        repository, good, message="x", pushed_at=timezone.now(), pushed_branch="main"
    )
    factories.work()
    config = CommitConfig.objects.get(sha=good)
    assert expected(good) == {"OK / test"}
    assert config.problems and config.problems[0].startswith(
        ".github/workflows/bad.yml: not valid YAML"
    )
    assert ".github/workflows/README.md" not in config.files
    # GitHub fails for the next commit: twice a 502 (transient), then no permission
    recording.record_commit(
        repository, broken, message="y", pushed_at=timezone.now(), pushed_branch="main"
    )
    fake_github.fail("GET", "/contents/.github/workflows$", Reply(502, b"{}"), times=2)
    factories.work()
    retry = CommitConfig.objects.get(sha=broken)
    assert retry.state == ConfigState.PENDING_RETRY and "502" in retry.error
    fake_github.fail(
        "GET",
        "/contents/.github/workflows$",
        Reply(403, b'{"message": "Resource not accessible"}'),
        times=5,
    )
    CommitConfig.objects.filter(sha=broken).update(due_at=timezone.now())
    factories.work()
    failed = CommitConfig.objects.get(sha=broken)
    assert failed.state == ConfigState.ERROR and "403" in failed.error
    assert expected(broken) == set()


def test_nothing_is_owed_without_the_app(configs: Path) -> None:
    repository = recording.get_repository(
        "acme/rocket", create=True, providers=[Provider.GITHUB_ACTIONS]
    )
    recording.record_commit(repository, "c" * 40, message="x")
    assert not CommitConfig.objects.exists()  # no App configured: nothing can be read


def test_nothing_is_owed_where_the_app_was_removed(
    fake_github: FakeGitHub, configured: None
) -> None:
    repository = recording.get_repository(
        "acme/rocket", create=True, providers=[Provider.GITHUB_ACTIONS]
    )
    github_app.remember_installation(repository, None)
    recording.record_commit(repository, "c" * 40, message="x")
    assert not CommitConfig.objects.exists()
    github_app.remember_installation(repository, 4242)
    recording.record_commit(repository, "d" * 40, message="y")
    assert list(CommitConfig.objects.values_list("sha", flat=True)) == ["d" * 40]
