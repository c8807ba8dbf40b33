"""CircleCI configurations of the corpus -> the job names CircleCI reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from citriage.ciconfig import circleci
from citriage.ciconfig.plan import Context
from citriage.ciconfig.yamlload import ConfigError
from tests.ci_corpus import reported_circleci_names


def read(configs: Path, name: str) -> bytes:
    return (configs / "circleci" / name).read_bytes()


def test_react_names_equal_the_status_contexts_reported_for_its_pull_requests(
    configs: Path,
) -> None:
    """The pull requests of watchPR.json are built on their branches (not main): the
    names expected there are exactly the 32 `ci/circleci:` contexts GitHub showed,
    matrix jobs (`yarn_test-<args>`) included; `setup`, in three workflows, once."""
    reported = reported_circleci_names(configs)
    assert len(reported) == 32
    expected = circleci.expected_jobs(
        read(configs, "facebook__react__6bf1117.config.yml"),
        Context(
            "push", "dependabot/npm_and_yarn/scripts/bench/ini-1.3.8", repository="facebook/react"
        ),
    )
    assert expected.names() == reported
    assert all(job.certain for job in expected.jobs)
    assert expected.problems == []
    sizebot = next(j for j in expected.jobs if j.name == "sizebot")
    assert sizebot.needs == ["get_base_build", "yarn_build_combined"]
    assert "yarn_test--r=stable --env=development" in reported


def test_react_on_main_follows_the_branch_filters(configs: Path) -> None:
    expected = circleci.expected_jobs(
        read(configs, "facebook__react__6bf1117.config.yml"), Context("push", "main")
    )
    reported = reported_circleci_names(configs)
    # deploy_… is `only: main`; get_base_build and sizebot (which requires it) `ignore: main`
    assert expected.names() - reported == {"deploy_devtools_scheduling_profiler"}
    assert reported - expected.names() == {"get_base_build", "sizebot"}
    # the scheduled workflows and the one behind `when: prerelease_commit_sha` never run
    assert not expected.names() & {"test_fuzz", "Publish to Next channel"}


def test_matrix_names_alias_and_requires(configs: Path) -> None:
    jest = circleci.expected_jobs(
        read(configs, "facebook__jest__fdc74af.config.yml"), Context("push", "main")
    )
    assert jest.names() == {
        "test-jest-jasmine",
        "test-node-14",
        "test-node-partial-10",
        "test-node-partial-12",
        "test-node-partial-15",
        "test-node-partial-16",
    }
    apollo = circleci.expected_jobs(
        read(configs, "apollographql__apollo-client__54084bc.config.yml"), Context("push", "main")
    )
    integration = sorted(n for n in apollo.names() if n.startswith("Integration Test "))
    # 6 frameworks x 3 React versions; 6 of the 8 `exclude` entries name a framework in
    # the matrix (two name `next`, which is commented out)
    assert len(integration) == 12
    assert "Integration Test cra5 with React 18.3.0" in integration
    assert "Integration Test cra5 with React next" not in integration
    assert "Tests-Core Tests - RxJS min version" in apollo.names()
    assert "Test external types for graphql@^17.0.0-rc" in apollo.names()
    orb = circleci.expected_jobs(
        read(configs, "CircleCI-Public__node-orb__43e43d5.test-deploy.yml"), Context("push", "main")
    )
    publish_filtered = {n for n in orb.names() if n.startswith("orb-tools/publish")}
    assert publish_filtered == set()  # release filters: tags only
    arm = {n for n in orb.names() if n.endswith("-arm.medium")}
    assert arm and all(n.count("-arm.medium") == 1 for n in arm)
    solidity = circleci.expected_jobs(
        read(configs, "ethereum__solidity__a83ea40.config.yml"), Context("push", "develop")
    )
    compare = next(j for j in solidity.jobs if j.name == "t_bytecode_compare")
    # it requires six matrix jobs by job name: every job of each of those matrices
    assert len(compare.needs) == 24
    assert all(n.startswith("b_bytecode_") for n in compare.needs)


def test_pytorch_generated_configs(configs: Path) -> None:
    old = circleci.expected_jobs(
        read(configs, "pytorch__pytorch__ec76976.config.yml"), Context("push", "master")
    )
    assert len(old.jobs) == 68  # the `build` workflow; the other three are scheduled
    new = read(configs, "pytorch__pytorch__ddcacc7.config.yml")
    on_master = circleci.expected_jobs(new, Context("push", "master"))
    on_branch = circleci.expected_jobs(new, Context("push", "gh/someone/1/head"))
    assert "pytorch_linux_xenial_py3_6_gcc5_4_build" in on_master.names()
    assert len(on_branch.jobs) < len(on_master.jobs)  # most builds and tests: master only
    # the gradle builds ignore master
    assert "pytorch-linux-xenial-py3-clang5-android-ndk-r19c-gradle-build-x86_32" in (
        on_branch.names() - on_master.names()
    )
    # `binary_builds` runs only `when: run_binary_tests`, false by default
    assert not any(j.workflow == "binary_builds" for j in on_master.jobs)


def test_approval_holds_and_dynamic_configuration(configs: Path) -> None:
    glean = circleci.expected_jobs(
        read(configs, "mozilla__glean__fad8d19.config.yml"), Context("push", "feature")
    )
    held = [j for j in glean.jobs if not j.certain]
    assert held and all("approval" in j.reason for j in held)
    assert "hold" not in glean.names()
    orb = circleci.expected_jobs(
        read(configs, "CircleCI-Public__node-orb__43e43d5.config.yml"), Context("push", "main")
    )
    assert "orb-tools/continue" in orb.names()
    assert any("dynamic configuration" in note for note in orb.notes)


def test_contexts_change_certainty() -> None:
    config = "version: 2.1\nworkflows:\n  w:\n    jobs:\n      - a\n      - b:\n          requires: [a]\n"
    assert (
        circleci.expected_jobs(config, Context("pull_request", "x", base="main", pull=3)).jobs == []
    )
    fork = circleci.expected_jobs(
        config, Context("pull_request", "x", base="main", pull=3, fork=True)
    )
    assert fork.names(certain=False) == {"a", "b"}
    unsure = circleci.expected_jobs(config, Context("push", "x", certain=False))
    assert unsure.names(certain=False) == {"a", "b"}
    superseded = circleci.expected_jobs(config, Context("push", "x", superseded=True))
    assert superseded.names(certain=False) == {"a", "b"}
    on_default = circleci.expected_jobs(config, Context("push", "main", superseded=True))
    assert on_default.names(certain=True) == {"a", "b"}


def test_logic_statements_over_pipeline_values() -> None:
    config = """
version: 2.1
parameters:
  nightly: {type: boolean, default: false}
workflows:
  main-only:
    when: {equal: [main, << pipeline.git.branch >>]}
    jobs: [a]
  not-nightly:
    unless: << pipeline.parameters.nightly >>
    jobs: [b]
  by-pattern:
    when: {matches: {pattern: "^release/.*$", value: << pipeline.git.branch >>}}
    jobs: [c]
  by-trigger:
    when: {and: [{not: << pipeline.parameters.nightly >>}, << pipeline.trigger_parameters.x >>]}
    jobs: [d]
"""
    on_main = circleci.expected_jobs(config, Context("push", "main"))
    assert on_main.names(certain=True) == {"a", "b"}
    assert on_main.names(certain=False) == {"d"}
    assert circleci.expected_jobs(config, Context("push", "release/1.0")).names(certain=True) == {
        "b",
        "c",
    }


def test_broken_configurations_say_why() -> None:
    with pytest.raises(ConfigError, match="not a mapping"):
        circleci.expected_jobs("- a\n- b\n", Context("push", "main"))
    with pytest.raises(ConfigError, match="not a job"):
        circleci.expected_jobs("workflows:\n  w:\n    jobs: [[a]]\n", Context("push", "main"))
    with pytest.raises(ConfigError, match="cycle"):
        circleci.expected_jobs(
            "workflows:\n  w:\n    jobs:\n      - a: {requires: [b]}\n      - b: {requires: [a]}\n",
            Context("push", "main"),
        )
    cut = circleci.expected_jobs(
        "workflows:\n  w:\n    jobs:\n      - a: {requires: [z]}\n", Context("push", "main")
    )
    assert cut.names() == set()
    assert cut.problems == [
        ".circleci/config.yml: workflow w: 'a' requires 'z', not in the workflow"
    ]
