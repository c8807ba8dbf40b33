"""What the configuration readers share: the context a commit is built in, the jobs
expected of it, and how the expectations of several contexts add up."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CIRCLECI = "circleci"
GITHUB_ACTIONS = "github-actions"
CIRCLECI_CONFIG = ".circleci/config.yml"
WORKFLOWS_DIR = ".github/workflows"


@dataclass(frozen=True)
class Context:
    """One way a commit is built: pushed to `branch`, or the head of a pull request
    (`event` "pull_request", from `branch` into `base`)."""

    event: str  # "push" or "pull_request"
    branch: str
    base: str = ""  # pull_request: the base branch
    repository: str = ""  # owner/name
    sha: str = ""
    default_branch: str = "main"
    pull: int | None = None
    fork: bool = False  # pull_request: the head lives in another repository
    # CI surely ran for it (a push's head, a pull request's head); else its jobs only "may" run
    certain: bool = True
    # a newer commit took its place (on its pull request or branch): runs may be cancelled
    superseded: bool = False

    def describe(self) -> str:
        if self.event == "pull_request":
            return f"pull request #{self.pull} ({self.branch} into {self.base})"
        return f"push to {self.branch}"


@dataclass
class ExpectedJob:
    """A job the configuration asks for, under the name its provider reports it by
    (GitHub Actions jobs as citriage names them: `workflow / job`)."""

    provider: str
    name: str
    workflow: str  # the workflow's name (CircleCI: its key in `workflows`)
    path: str  # the configuration file
    certain: bool = True  # False: it may run (a condition, a filter or a name only the run knows)
    reason: str = ""  # why it only may run; else what asks for it
    needs: list[str] = field(default_factory=list)  # names of the jobs it waits for
    # its condition calls a status function (always(), failure()...): it can run when a job
    # it needs failed, where other jobs are skipped
    after_failure: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "name": self.name,
            "workflow": self.workflow,
            "path": self.path,
            "certain": self.certain,
            "reason": self.reason,
            "needs": self.needs,
            "after_failure": self.after_failure,
        }


@dataclass
class Expectation:
    """The jobs expected of a commit, and what could not be read (per file)."""

    jobs: list[ExpectedJob] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "path: why it could not be read"
    notes: list[str] = field(default_factory=list)  # what else limits the answer

    def names(self, *, certain: bool | None = None) -> set[str]:
        return {j.name for j in self.jobs if certain is None or j.certain == certain}


def merge(expectations: Iterable[Expectation]) -> Expectation:
    """Several contexts of one commit: a job expected in any of them is expected (surely,
    if surely in one); what it needs is the union."""
    by_name: dict[tuple[str, str], ExpectedJob] = {}
    out = Expectation()
    for expectation in expectations:
        for job in expectation.jobs:
            key = (job.provider, job.name)
            known = by_name.get(key)
            if known is None:
                by_name[key] = ExpectedJob(**{**job.to_json(), "needs": list(job.needs)})
                continue
            if job.certain and not known.certain:
                known.certain, known.reason = True, job.reason
            known.needs = sorted(set(known.needs) | set(job.needs))
            known.after_failure = known.after_failure or job.after_failure
        out.problems += [p for p in expectation.problems if p not in out.problems]
        out.notes += [n for n in expectation.notes if n not in out.notes]
    out.jobs = sorted(by_name.values(), key=lambda j: (j.provider, j.name))
    return out


def dedupe(jobs: Iterable[ExpectedJob]) -> list[ExpectedJob]:
    """One entry per name (a name asked for twice is reported once): surely over maybe."""
    return merge([Expectation(jobs=list(jobs))]).jobs


def as_list(value: Any) -> list[Any]:
    """A YAML value that may be one item or a list of them."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def compiled_filter(pattern: str) -> re.Pattern[str]:
    """A branch pattern of CircleCI: `/regex/` matches the whole name, else the exact name."""
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return re.compile(pattern[1:-1])
    return re.compile(re.escape(pattern))
