"""The summary of a commit: what every failure on it means (filled in by the reporting work)."""

from __future__ import annotations

from citriage.ci.models import Repository


def summarize_commit(repository: Repository, sha: str) -> str:
    """Recompute the commit's summary and report it; returns a short note."""
    return f"{repository.full_name}@{sha[:10]}: nothing to report yet"
