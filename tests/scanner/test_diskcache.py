"""Results kept on disk between runs: read back, made again when unreadable, never needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from citriage.scanner import diskcache, failure_lines
from citriage.scanner.logtext import LogText


def made_counting(made: list[int]) -> int:
    made.append(1)
    return 41 + len(made)


def cached_number(made: list[int]) -> int:
    return diskcache.cached(
        "number",
        diskcache.key_of("the answer"),
        lambda: made_counting(made),
        lambda n: str(n).encode(),
        lambda data: int(data.decode()),
    )


def test_a_value_is_made_once_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITRIAGE_CACHE_DIR", str(tmp_path / "cache"))
    made: list[int] = []
    assert cached_number(made) == 42
    assert cached_number(made) == 42
    assert len(made) == 1
    (entry,) = (tmp_path / "cache").iterdir()
    assert entry.name.startswith("number-") and entry.read_bytes() == b"42"


def test_an_unreadable_entry_is_made_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITRIAGE_CACHE_DIR", str(tmp_path))
    made: list[int] = []
    cached_number(made)
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(b"not a number")
    assert cached_number(made) == 43
    assert entry.read_bytes() == b"43"
    assert [p.name for p in tmp_path.iterdir()] == [entry.name]  # no temporary file left


def test_a_directory_that_cannot_be_written_only_costs_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    monkeypatch.setenv("CITRIAGE_CACHE_DIR", str(blocker / "cache"))
    made: list[int] = []
    assert cached_number(made) == 42
    assert cached_number(made) == 43  # made again each time, no error
    assert blocker.read_text() == "in the way"


def test_keys_differ_with_what_the_value_is_made_from() -> None:
    assert diskcache.key_of("a", 1) == diskcache.key_of("a", 1)
    assert diskcache.key_of("a", 1) != diskcache.key_of("a", 2)


def test_the_finder_database_read_back_finds_the_same_lines(tmp_path: Path) -> None:
    text = "\n".join(
        ["compiling a.c", "src/a.c:3:9: error: unknown type name 'sizet'", "Traceback"]
        + [f"step {i}: ok" for i in range(50)]
        + ["make: *** [all] Error 2", "##[error]Process completed with exit code 2."]
    )
    fresh = failure_lines.failure_lines(LogText.from_text(text))
    assert fresh.candidates
    env = {**os.environ, "CITRIAGE_CACHE_DIR": str(tmp_path)}
    program = (
        "import json, sys\n"
        "from citriage.scanner import failure_lines\n"
        "from citriage.scanner.logtext import LogText\n"
        "found = failure_lines.failure_lines(LogText.from_text(sys.stdin.read()))\n"
        "print(json.dumps([[c.line, c.text, c.score] for c in found.candidates]))\n"
    )
    runs = []
    for _ in range(2):  # the first writes the database, the second reads it
        result = subprocess.run(
            [sys.executable, "-c", program],
            input=text,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        runs.append(json.loads(result.stdout))
        assert any(p.name.startswith("finder-hyperscan-") for p in tmp_path.iterdir())
    expected = [[c.line, c.text, c.score] for c in fresh.candidates]
    assert runs == [expected, expected]
