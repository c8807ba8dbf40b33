"""What every CI provider client returns: plain data, no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from citriage.rules import step_failed


class ProviderError(Exception):
    """A provider call failed for good (bad request, not found, no permission).

    `status` is the HTTP status of the answer, when there was one.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientProviderError(ProviderError):
    """A provider call failed in a way that may pass on a later try (5xx, timeout, rate limit)."""


class RateLimited(TransientProviderError):
    """The service asks to be left alone for a while (a rate limit), or the budget left is
    kept for more important calls: try again at `until` (seconds since the epoch). Owed
    work is deferred to then rather than waited for in a worker."""

    def __init__(self, message: str, *, until: float, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.until = until


@dataclass
class StepRun:
    name: str
    index: int
    container: int = 0
    status: str = ""  # the provider's word: success, failed, timedout, ...
    timed_out: bool = False
    exit_code: int | None = None
    output_url: str = ""
    has_output: bool = True

    @property
    def failed(self) -> bool:
        return step_failed(self.status, self.timed_out)


@dataclass
class JobRun:
    """One attempt of one CI job as a provider (or a webhook) describes it at one moment."""

    provider: str
    provider_id: str
    name: str
    sha: str
    status: str  # queued | running | completed
    conclusion: str = ""  # success | failure | timed_out | cancelled | skipped | ...
    attempt: int = 0  # 0: the provider does not number reruns (citriage does, by id order)
    workflow: str = ""
    workflow_id: str = ""
    branch: str = ""
    url: str = ""
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    steps: list[StepRun] | None = None  # None: not known yet
    extra: dict[str, object] = field(default_factory=dict)
