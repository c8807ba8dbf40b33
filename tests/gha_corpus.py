"""Reading GitHub Actions material of the shared corpus for tests.

`gh run view --log` output (job, step, line separated by tabs, as in the cidiff
logs) carries the step of every line: the raw job log is the third column, and
the steps list GitHub's API would give is the second column in order, with the
first and last line times of each step.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

BOM = b"\xef\xbb\xbf"  # job logs served by GitHub start with one


def load(path: Path) -> Any:
    """A JSON payload; recorded deliveries wrapped as {name, id, payload} are unwrapped,
    recorded API replies as {_request, body} give their body."""
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "payload" in data and "name" in data:
        return data["payload"]
    if isinstance(data, dict) and "_request" in data:
        return data["body"]
    return data


def _iso(line: str) -> str:
    return line[:19] + ".000Z"


def run_view_log(path: Path, failed: set[str]) -> tuple[bytes, list[dict[str, Any]], list[str]]:
    """(raw job log, the steps list, the step name of every line) of a `gh run view
    --log` file; steps named in `failed` are given the conclusion "failure"."""
    rows = [line.split("\t", 2) for line in path.read_text().split("\n") if line]
    raw = BOM + "".join(row[2] + "\n" for row in rows).encode()
    truth = [row[1] for row in rows]
    steps = []
    for number, (name, group) in enumerate(itertools.groupby(rows, key=lambda r: r[1]), 1):
        lines = [row[2] for row in group]
        steps.append(
            {
                "name": name,
                "status": "completed",
                "conclusion": "failure" if name in failed else "success",
                "number": number,
                "started_at": _iso(lines[0]),
                "completed_at": _iso(lines[-1]),
            }
        )
    return raw, steps, truth
