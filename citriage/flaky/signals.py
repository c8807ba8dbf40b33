"""What flaky tells the apps above it (triage): they connect in their `AppConfig.ready`."""

from __future__ import annotations

from django.dispatch import Signal

# Tests changed state or quarantine. sender: Repository; repository; test_ids: list[int]
test_health_changed = Signal()
