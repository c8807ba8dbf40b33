"""Background work the pages ask for: a workbench backtest runs in a worker, never in a
web request (it scans many stored logs; a web worker must stay free for webhooks)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django_tasks import task

from citriage.web import workbench


@task(queue_name="scan")
def backtest_task(candidate: dict[str, Any]) -> dict[str, Any]:
    pattern = workbench.candidate(
        candidate["expression"],
        is_regex=candidate["is_regex"],
        applicable_steps=tuple(candidate["applicable_steps"]),
        lines_from_end=candidate["lines_from_end"],
        specificity=candidate["specificity"],
    )
    return asdict(workbench.backtest(pattern, time_budget=settings.BACKTEST_SECONDS))
