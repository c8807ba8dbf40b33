"""The small rules every layer shares, in one place and without Django.

CI providers, the log reader, ingestion, triage and the pages all need the same
answers to a few questions: did this step fail, is this state later than that
one, what time does this string say, which attempt of a job is the latest. They
are answered here once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

# A step's state, in any provider's word for it (CircleCI: failed, timedout;
# GitHub Actions: failure, timed_out).
FAILED_STEP_STATES = ("failed", "failure", "timedout", "timed_out")


def step_failed(status: str, timed_out: bool = False) -> bool:
    return timed_out or status in FAILED_STEP_STATES


# A job's (or step's) progress only moves forward: a late delivery of an earlier
# state never undoes a later one.
PROGRESS = {
    "": 0,
    "requested": 0,
    "pending": 0,
    "waiting": 0,
    "queued": 0,
    "running": 1,
    "in_progress": 1,
    "completed": 2,
}


def progress(status: str) -> int:
    """How far along a job or step state is: 0 queued, 1 running, 2 completed."""
    return PROGRESS.get(status, 2 if status else 0)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as CI APIs send it ("...Z" included); None when absent or unreadable."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


# GitHub Actions starts every log line with an ISO timestamp (with up to 7 decimals)
# and a space; the first line of a log may carry a byte order mark before it.
ACTIONS_TIMESTAMP = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?"
ACTIONS_TIMESTAMP_PREFIX = re.compile(rb"(?:\xef\xbb\xbf)?(" + ACTIONS_TIMESTAMP + rb")")

Attempt = TypeVar("Attempt")


def latest_attempts(
    attempts: Iterable[Attempt],
    name: Callable[[Attempt], str],
    number: Callable[[Attempt], int],
) -> dict[str, Attempt]:
    """The latest attempt of each job (by name): reruns of one job on one commit count once."""
    latest: dict[str, Attempt] = {}
    for attempt in attempts:
        current = latest.get(name(attempt))
        if current is None or number(attempt) > number(current):
            latest[name(attempt)] = attempt
    return latest
