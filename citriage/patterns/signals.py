"""What the patterns app tells the apps above it (triage). It never imports them."""

from __future__ import annotations

from django.dispatch import Signal

# The best match of these jobs changed, or what their best match means did (a pattern's
# tags, specificity or retirement). Sent inside the transaction that made the change.
# sender: the Pattern model; job_ids: list[int]
best_matches_changed = Signal()
