"""What testresults tells the apps above it (triage). It never imports them: they connect
to these signals in their `AppConfig.ready`; receivers only note what is owed.
"""

from __future__ import annotations

from django.dispatch import Signal

# Test results of a job attempt were stored (or changed). sender: JobAttempt; job: JobAttempt
test_results_stored = Signal()
