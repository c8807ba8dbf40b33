"""Who hears that best matches changed: the verdicts (triage) recompute from them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

_listeners: list[Callable[[list[int]], None]] = []


def on_best_matches_changed(listener: Callable[[list[int]], None]) -> Callable[[list[int]], None]:
    _listeners.append(listener)
    return listener


def best_matches_changed(job_ids: Iterable[int]) -> None:
    ids = list(job_ids)
    if not ids:
        return
    for listener in _listeners:
        listener(ids)
