"""What triage tells the app above it (github). triage never imports it."""

from __future__ import annotations

from django.dispatch import Signal

# A commit's report is due (its cool-off is over). Receivers post it; a receiver that
# raises means "not done, try again later" (the report stays owed, with the error).
# sender: the CommitSummary model; repository: Repository; summary: CommitSummary
report_due = Signal()
