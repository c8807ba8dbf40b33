"""Slow work on rows claimed with `select_for_update(skip_locked=True)`, without stalling
other writers.

PostgreSQL locks just the claimed rows until the transaction ends, so a scan may hold its
transaction while it reads logs: other workers skip those rows and everyone else writes
on. SQLite has no row locks: a write transaction (BEGIN IMMEDIATE, see settings) holds the
whole database, and one held over seconds of log reading, run back to back, starves every
other writer (heartbeats, the intake) past the lock timeout. There the slow part runs
outside any transaction and the results are written in a short one of their own, after
checking the rows are still as they were read.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def locks_rows() -> bool:
    """Does the database lock single rows (so a transaction may span slow work)?"""
    return bool(connection.features.has_select_for_update_skip_locked)


def claim_transaction() -> AbstractContextManager[object]:
    """The transaction that holds claimed rows over slow work where the database locks
    rows; none where a transaction would lock the whole database."""
    return transaction.atomic() if locks_rows() else nullcontext()
