"""GitHub Actions workflow sets of the corpus -> the job names GitHub reports, checked
against recorded API responses and webhook deliveries."""

from __future__ import annotations

from pathlib import Path

import pytest

from citriage.ciconfig import actions
from citriage.ciconfig.plan import Context
from citriage.providers.github_actions import job_name
from tests.ci_corpus import workflow_set
from tests.gha_corpus import load


def test_pygithub_matrix_names_equal_the_recorded_jobs(corpus: Path, configs: Path) -> None:
    recorded = load(corpus / "github-api/workflow-jobs/pygithub.WorkflowJob.setUp.2.json")["jobs"]
    assert {job["head_sha"][:7] for job in recorded} == {"06ec040"}
    branch = recorded[0]["head_branch"]
    expected = actions.expected_jobs(
        workflow_set(configs, "PyGithub__PyGithub__06ec040"),
        Context("push", branch, repository="PyGithub/PyGithub"),
    )
    # citriage names Actions jobs `workflow / job` (providers.github_actions.job_name)
    assert expected.names(certain=True) == {job_name(job) for job in recorded}
    assert len(recorded) == 5


def test_pytorch_reusable_workflow_names_equal_the_recorded_jobs(
    corpus: Path, configs: Path
) -> None:
    """Run 3201497249 of `pull.yml` at 0e30da3f (a push to master): callers of
    `_linux-build.yml` report `<caller name> / build`; the two callers whose
    `if: github.event_name == 'pull_request'` was false were skipped (reported under the
    caller name alone), so none of their jobs is expected."""
    recorded = load(corpus / "github-api/workflow-jobs/pytorch-torchci.workflow_jobs.json")["jobs"]
    ran = {job["name"] for job in recorded if job["conclusion"] != "skipped"}
    skipped = {job["name"] for job in recorded if job["conclusion"] == "skipped"}
    assert ran == {
        "linux-focal-py3.7-gcc7 / build",
        "linux-focal-py3.7-gcc7-pch / build",
        "linux-bionic-cuda11.6-py3.10-gcc7 / build",
    }
    files = workflow_set(configs, "pytorch__pytorch__0e30da3")
    on_master = actions.expected_jobs(
        files, Context("push", "master", repository="pytorch/pytorch")
    )
    # the recorded jobs predate `workflow_name` in the API: their names lack "pull / "
    in_pull = {j.name.removeprefix("pull / ") for j in on_master.jobs if j.workflow == "pull"}
    assert ran <= {n for n in in_pull}
    assert all(j.certain for j in on_master.jobs if j.name.removeprefix("pull / ") in ran)
    assert not any(n.startswith(tuple(skipped)) for n in in_pull)
    # on a pull request the same callers run, as `<caller> / build`
    on_pull = actions.expected_jobs(
        files,
        Context("pull_request", "feature", base="master", pull=1, repository="pytorch/pytorch"),
    )
    assert "pull / win-vs2019-cuda11.6-py3 / build" in on_pull.names(certain=True)
    # the test matrix comes from another job's output: its names only the run knows
    tests = [j for j in on_master.jobs if j.name.startswith("pull / linux-focal-py3.7-gcc7 / test")]
    assert [j.certain for j in tests] == [False]
    assert tests[0].needs == [
        "pull / linux-focal-py3.7-gcc7 / build",
        "pull / linux-focal-py3.7-gcc7 / filter",
    ]
    # ... but trunk's ROCm tests take the matrix the caller passes: known before the run
    rocm = sorted(
        n
        for n in on_master.names(certain=True)
        if n.startswith("trunk / linux-focal-rocm5.2-py3.7 / test (")
    )
    assert rocm == [
        "trunk / linux-focal-rocm5.2-py3.7 / test (default, 1, 2, linux.rocm.gpu)",
        "trunk / linux-focal-rocm5.2-py3.7 / test (default, 2, 2, linux.rocm.gpu)",
    ]


def test_a_static_name_on_a_matrix_gets_the_values_appended(corpus: Path, configs: Path) -> None:
    """A CodeQL workflow (`name: Analyze` over a `language` matrix) was reported as
    `Analyze (javascript)` in a workflow_job delivery; aiohttp's CodeQL workflow has the
    same shape."""
    delivery = load(corpus / "webhooks/workflow_job/octokit.in_progress.payload.json")[
        "workflow_job"
    ]
    expected = actions.expected_jobs(
        workflow_set(configs, "aio-libs__aiohttp__495e778"),
        Context("push", "master", repository="aio-libs/aiohttp"),
    )
    assert job_name(delivery) == "CodeQL / Analyze (javascript)"
    assert {"CodeQL / Analyze (javascript)", "CodeQL / Analyze (python)"} <= expected.names(
        certain=True
    )
    # an expression in the name stops the values being appended (aiohttp's "hack to
    # nest jobs under the same sidebar category"), caller / called job
    wheels = {
        n for n in expected.names() if n.startswith("CI / 📦 Build platform-specific wheels / ")
    }
    assert "CI / 📦 Build platform-specific wheels / windows-latest" in wheels
    # a job that `if: always()` aggregates: it runs whatever the jobs it needs did
    check = next(j for j in expected.jobs if j.name == "CI / check")
    assert check.after_failure and check.certain and len(check.needs) > 10


def test_include_exclude_and_triggers(configs: Path) -> None:
    hermes = workflow_set(configs, "facebook__hermes__aa4dc53")
    pull = Context("pull_request", "feature", base="static_h", pull=9, repository="facebook/hermes")
    names = actions.expected_jobs(hermes, pull).names(certain=True)
    windows = sorted(n for n in names if "test-windows-test262" in n)
    assert len(windows) == 4  # 2 x 2 x 2 minus the excluded arm64 x86_64 combinations
    assert "RN Build Static Hermes / build_hermes_macos / build-hermes-macos (Debug)" in names
    # build.yml's pull_request trigger is for the static_h base only
    other_base = Context(
        "pull_request", "feature", base="main", pull=9, repository="facebook/hermes"
    )
    assert not any("test262" in n for n in actions.expected_jobs(hermes, other_base).names())
    pytest_set = workflow_set(configs, "pytest-dev__pytest__df87db7")
    on_tag_only = actions.expected_jobs(
        pytest_set, Context("push", "feature-x", repository="pytest-dev/pytest")
    )
    assert on_tag_only.names() == set()  # push: branches main/…, tags; pull requests run it
    numpy = workflow_set(configs, "numpy__numpy__1f90bbb")
    pr = actions.expected_jobs(
        numpy, Context("pull_request", "f", base="main", pull=1, repository="numpy/numpy")
    )
    maybe = [j for j in pr.jobs if not j.certain]
    assert maybe and any("files changed" in j.reason for j in maybe)  # paths-ignore filters
    fork = actions.expected_jobs(
        numpy, Context("pull_request", "f", base="main", pull=1, repository="someone/numpy")
    )
    assert fork.names(certain=True) < pr.names(certain=True) | pr.names(certain=False)


def test_branch_patterns() -> None:
    assert actions.ref_matches(["release/*"], "release/1.0")
    assert not actions.ref_matches(["release/*"], "release/1.0/x")
    assert actions.ref_matches(["release/**"], "release/1.0/x")
    assert actions.ref_matches(["[0-9].[0-9]+"], "3.10")
    assert not actions.ref_matches(["[0-9].[0-9]+"], "3.")
    assert actions.ref_matches(["feature/*", "!feature/wip"], "feature/x")
    assert not actions.ref_matches(["feature/*", "!feature/wip"], "feature/wip")


def test_matrix_expansion_follows_the_reference() -> None:
    cells = actions.expand_matrix(
        {
            "fruit": ["apple", "pear"],
            "animal": ["cat", "dog"],
            "include": [
                {"color": "green"},
                {"color": "pink", "animal": "cat"},
                {"fruit": "apple", "shape": "circle"},
                {"fruit": "banana"},
                {"fruit": "banana", "animal": "cat"},
            ],
        }
    )
    # the example of GitHub's "Expanding or adding matrix configurations"
    assert cells == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]
    assert actions.expand_matrix({"os": ["a", "b"], "v": [1, 2], "exclude": [{"os": "a"}]}) == [
        {"os": "b", "v": 1},
        {"os": "b", "v": 2},
    ]
    assert actions.cell_suffix(
        {"os": "ubuntu", "python": {"key": "3.12", "version": 3.12}, "x": True}
    ) == (" (ubuntu, 3.12, 3.12, true)")


def test_unreadable_workflows_are_named_and_the_rest_still_count() -> None:
    files = {
        ".github/workflows/good.yml": "on: push\njobs:\n  a: {runs-on: x}\n",
        ".github/workflows/broken.yml": "on: push\njobs: [a\n",
        ".github/workflows/huge-matrix.yml": (
            "on: push\njobs:\n  a:\n    strategy:\n      matrix: {x: "
            + str(list(range(20)))
            + ", y: "
            + str(list(range(20)))
            + "}\n"
        ),
        ".github/workflows/bad-if.yml": "on: push\njobs:\n  a: {if: 'github.x ==', runs-on: x}\n",
        ".github/workflows/calls.yml": "on: push\njobs:\n  a:\n    uses: ./.github/workflows/gone.yml\n",
    }
    expected = actions.expected_jobs(files, Context("push", "main"))
    assert expected.names(certain=True) == {".github/workflows/good.yml / a"}
    assert expected.names(certain=False) == {".github/workflows/calls.yml / a / …"}
    problems = "\n".join(expected.problems)
    assert ".github/workflows/broken.yml: not valid YAML" in problems
    assert ".github/workflows/huge-matrix.yml: a matrix of 400 jobs (GitHub allows 256)" in problems
    assert ".github/workflows/bad-if.yml: job a: if:" in problems


@pytest.mark.parametrize("depth,reported", [(4, True), (5, False)])
def test_calls_nest_four_levels(depth: int, reported: bool) -> None:
    files = {}
    for level in range(1, depth + 1):
        body = (
            f"    uses: ./.github/workflows/w{level + 1}.yml\n"
            if level < depth
            else "    runs-on: x\n"
        )
        on = "push" if level == 1 else "workflow_call"
        files[f".github/workflows/w{level}.yml"] = (
            f"name: W{level}\non: {on}\njobs:\n  j{level}:\n{body}"
        )
    expected = actions.expected_jobs(files, Context("push", "main"))
    chain = " / ".join(f"j{level}" for level in range(1, depth + 1))
    assert (f"W1 / {chain}" in expected.names()) is reported
    assert bool(expected.problems) is not reported
