"""How flaky hears that test results changed: a check of the repository becomes owed."""

from __future__ import annotations

from typing import Any

from citriage.ci.models import JobAttempt
from citriage.flaky.tasks import owe_check
from citriage.testresults import signals as test_signals


def _test_results_stored(sender: Any, job: JobAttempt, **_: Any) -> None:
    owe_check(job.repository_id)


def connect() -> None:
    test_signals.test_results_stored.connect(
        _test_results_stored, dispatch_uid="flaky-test-results-stored"
    )
