"""What every CI provider client returns: plain data, no Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ProviderError(Exception):
    """A provider call failed for good (bad request, not found, no permission)."""


class TransientProviderError(ProviderError):
    """A provider call failed in a way that may pass on a later try (5xx, timeout, rate limit)."""


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
        return self.timed_out or self.status in ("failed", "failure", "timedout", "timed_out")


@dataclass
class JobRun:
    provider: str
    provider_id: str
    name: str
    sha: str
    status: str  # queued | running | completed
    conclusion: str = ""  # success | failure | timed_out | cancelled | skipped | ...
    attempt: int = 1
    workflow: str = ""
    workflow_id: str = ""
    branch: str = ""
    url: str = ""
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    steps: list[StepRun] | None = None  # None: not known yet
    extra: dict[str, object] = field(default_factory=dict)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as the CI APIs send it ("...Z" included); None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
