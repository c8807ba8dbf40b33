"""Reading the shared corpus's CI configurations (`ci-config/`) for tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from citriage.ciconfig.plan import WORKFLOWS_DIR


def workflow_set(configs: Path, name: str) -> dict[str, bytes]:
    """One repository's `.github/workflows` as the contents API would give it."""
    folder = configs / "github-actions" / name
    assert folder.is_dir(), folder
    return {f"{WORKFLOWS_DIR}/{path.name}": path.read_bytes() for path in folder.iterdir()}


def status_contexts(data: Any) -> set[str]:
    """Every `context` of a GraphQL statusCheckRollup response."""
    found: set[str] = set()
    if isinstance(data, dict):
        if isinstance(data.get("context"), str):
            found.add(data["context"])
        for value in data.values():
            found |= status_contexts(value)
    elif isinstance(data, list):
        for value in data:
            found |= status_contexts(value)
    return found


def reported_circleci_names(configs: Path) -> set[str]:
    data = json.loads(
        (configs / "reported-names/ljharb__can-merge__bcd84f1.watchPR.json").read_text()
    )
    prefix = "ci/circleci: "
    return {c.removeprefix(prefix) for c in status_contexts(data) if c.startswith(prefix)}
