"""A small test history for flaky-test detection, uploaded through the real path: default
branch c1..c12, pull requests by two authors (see tests/service/test_flaky.py)."""

from __future__ import annotations

import io
from typing import Any

from citriage.ci import recording
from citriage.ci.models import JobAttempt, Provider, Repository
from citriage.testresults import uploads
from tests import factories

MAIN = [f"{n:x}" * 40 for n in range(1, 13)]  # c1..c12 ("1"*40 .. "c"*40)
FILLER = [f"test_ok{i}" for i in range(6)]
NAMES = ["test_flaky", "test_fixed", "test_broken", "test_pr", "test_retry", *FILLER]


def junit(failing: dict[str, str], names: list[str] = NAMES) -> bytes:
    cases = []
    for name in names:
        message = failing.get(name)
        body = f'<failure message="{message}">{message}</failure>' if message else ""
        cases.append(f'<testcase classname="tests.test_core" name="{name}">{body}</testcase>')
    return f'<testsuite name="pytest">{"".join(cases)}</testsuite>'.encode()


def run(
    repository: Repository, sha: str, failing: dict[str, str], *, attempt: int = 1, **kw: Any
) -> JobAttempt:
    uploads.upload(
        repository,
        sha=sha,
        job_name="unit",
        attempt=attempt,
        files=[("junit.xml", io.BytesIO(junit(failing, **kw)))],
    )
    return JobAttempt.objects.get(repository=repository, sha=sha, name="unit", attempt=attempt)


def main_failures(n: int) -> dict[str, str]:
    """What fails at c<n> on the default branch."""
    failing: dict[str, str] = {}
    if n in (3, 7):
        failing["test_flaky"] = "ConnectionResetError: peer reset the connection"
    if n in (4, 5, 6):
        failing["test_fixed"] = "AssertionError: assert 1 == 2"
    if n >= 9:
        failing["test_broken"] = "KeyError: 'widget'"
    if n == 8:  # an outage: nearly everything fails
        failing = {name: "OSError: No space left on device" for name in NAMES[:-1]}
    return failing


def pr_commit(repository: Repository, sha: str, author: str) -> None:
    recording.record_commit(
        repository, sha, parents=[MAIN[-1]], message="a change", author_login=author
    )


def build() -> Repository:
    repository = recording.get_repository(
        "acme/widgets", create=True, providers=[Provider.CIRCLECI]
    )
    parent: list[str] = []
    for sha in MAIN:
        recording.record_commit(repository, sha, parents=parent, message=f"commit {sha[:1]}")
        parent = [sha]
    recording.record_default_branch(repository, MAIN)
    for n, sha in enumerate(MAIN, start=1):
        run(repository, sha, main_failures(n))
    pr_commit(repository, "a1" * 20, "alice")
    pr_commit(repository, "b1" * 20, "bob")
    pr_commit(repository, "a2" * 20, "alice")
    run(repository, "a1" * 20, {"test_pr": "TimeoutError: read timed out"})
    run(repository, "b1" * 20, {"test_pr": "TimeoutError: read timed out"})
    run(repository, "a2" * 20, {"test_retry": "AssertionError: order differs"})
    run(repository, "a2" * 20, {}, attempt=2)
    factories.work()  # the owed check runs (a worker's task), then the verdicts
    factories.settle()
    return repository
