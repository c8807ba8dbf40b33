"""`citriage scan` as a user runs it: a real process, real files."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

CITRIAGE = [sys.executable, "-m", "citriage.cli"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CITRIAGE, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    failing = b"\x1b[1m$ make\x1b[0m\nsrc/a.c:3:9: error: unknown type name 'sizet'\nmake: *** [all] Error 1\n"
    paths = {
        "plain": tmp_path / "build.log",
        "gzip": tmp_path / "build.log.gz",
        "clean": tmp_path / "ok.log",
    }
    paths["plain"].write_bytes(failing)
    paths["gzip"].write_bytes(gzip.compress(failing))
    paths["clean"].write_bytes(b"all good\n")
    return paths


def test_json_output_one_object_per_file(logs: dict[str, Path], corpus: Path) -> None:
    dump = corpus / "patterns" / "drci-original" / "patterns-dump.json"
    result = run(
        "scan",
        "--json",
        "--patterns",
        str(dump),
        str(logs["plain"]),
        str(logs["gzip"]),
        str(logs["clean"]),
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == [
        str(logs["plain"]),
        str(logs["gzip"]),
        str(logs["clean"]),
    ]
    first = records[0]
    assert first["lines"] == 3 and first["truncated"] is False
    compile_error = next(m for m in first["matches"] if m["pattern_id"] == 22)
    assert compile_error == {
        "pattern_id": 22,
        "line": 2,
        "span": [0, 19],
        "text": "src/a.c:3:9: error: unknown type name 'sizet'",
        "captures": ["src/a.c", "3", "9"],
    }
    assert first["best"]["pattern_id"] == 22  # specificity 5 beats "Error" lines
    assert records[1]["matches"] == first["matches"]
    assert records[2] == {
        "file": str(logs["clean"]),
        "lines": 1,
        "truncated": False,
        "warnings": [],
        "timed_out": {},
        "capped": [],
        "matches": [],
        "best": None,
        "failure_lines": [],
        "signature": None,
        "failure_lines_looked_at": 0,
        "failure_lines_cut_before": 0,
        "failure_lines_unjudged": 0,
    }


def test_failure_lines_can_be_left_out(logs: dict[str, Path]) -> None:
    full = json.loads(run("scan", "--json", str(logs["plain"])).stdout)
    bare = json.loads(run("scan", "--json", "--no-failure-lines", str(logs["plain"])).stdout)
    assert full["failure_lines"] and "signature" in full
    assert "failure_lines" not in bare and "signature" not in bare
    assert bare["matches"] == full["matches"] and bare["best"] == full["best"]


def test_work_cut_short_is_said_in_the_json(tmp_path: Path) -> None:
    # The cursor goes back further than the emulator keeps lines: the output says so.
    log = tmp_path / "progress.log"
    log.write_bytes(b"".join(b"step %d\n" % i for i in range(700)) + b"\x1b[650Adone\n")
    record = json.loads(run("scan", "--json", str(log)).stdout)
    assert record["warnings"] == [
        "1 cursor move(s) went above the 500 lines kept for rewriting; "
        "they rewrote the oldest kept line"
    ]


# Runs the command in this process, then names the heavy libraries it loaded.
LOADED = """
import sys
from citriage.cli import main
try:
    main()
except SystemExit:
    pass
print(sorted({name.split(".")[0] for name in sys.modules} & {"rich", "pydantic", "typer"}))
"""


def test_json_output_loads_neither_rich_nor_pydantic(logs: dict[str, Path]) -> None:
    """They cost 0.15 s of CPU at every start; a scan of a small log took less."""

    def loaded(*args: str) -> tuple[str, list[str]]:
        result = subprocess.run(
            [sys.executable, "-c", LOADED, "scan", "--no-failure-lines", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        *said, modules = result.stdout.splitlines()
        return "\n".join(said), json.loads(modules.replace("'", '"'))

    said, modules = loaded("--json", str(logs["plain"]))
    assert json.loads(said)["best"]["line"] == 2
    assert modules == []
    said, modules = loaded(str(logs["plain"]))  # people read this: rich draws it
    assert "best match" in said and modules == ["rich"]


def test_default_library_and_stdin(logs: dict[str, Path]) -> None:
    result = run("scan", "--json", "-", stdin=logs["plain"].read_bytes())
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["file"] == "-"
    assert record["best"]["line"] == 2


def test_human_output_shows_the_best_match_in_context(logs: dict[str, Path]) -> None:
    result = run("scan", "--context", "1", str(logs["plain"]))
    assert result.returncode == 0, result.stderr
    assert "best match" in result.stdout
    assert "error: unknown type name 'sizet'" in result.stdout
    assert "matches" in result.stdout


def test_step_filter_applies_restrictions(tmp_path: Path, corpus: Path) -> None:
    log = tmp_path / "apt.log"
    log.write_text("E: Failed to fetch http://deb.example.org/pool/x.deb\n")
    dump = corpus / "patterns" / "drci-original" / "patterns-dump.json"
    anywhere = json.loads(run("scan", "--json", "-p", str(dump), str(log)).stdout)
    in_build = json.loads(
        run("scan", "--json", "-p", str(dump), "--step", "Build", str(log)).stdout
    )
    assert 13 in {m["pattern_id"] for m in anywhere["matches"]}
    assert 13 not in {m["pattern_id"] for m in in_build["matches"]}


def test_usage_errors_exit_2_with_a_message(tmp_path: Path, logs: dict[str, Path]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: citriage-patterns/1\npatterns:\n- id: 7\n  regex: '(x+)+y'\n")
    invalid = run("scan", "--patterns", str(bad), str(logs["plain"]))
    assert invalid.returncode == 2
    assert "pattern 7" in invalid.stderr and "backtrack" in invalid.stderr
    missing = run("scan", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "no such log file" in missing.stderr
    no_args = run("scan")
    assert no_args.returncode == 2


def test_json_output_carries_the_warnings_of_damaged_input(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.log.gz"
    whole = gzip.compress(
        b"".join(b"step %d\n" % i for i in range(20_000)) + b"Segmentation fault\n"
    )
    damaged.write_bytes(whole[: len(whole) // 2])
    intact = tmp_path / "whole.log.gz"
    intact.write_bytes(whole)
    result = run("scan", "--json", str(damaged), str(intact))
    assert result.returncode == 0, result.stderr
    cut, full = (json.loads(line) for line in result.stdout.splitlines())
    assert cut["warnings"] == ["gzip stream ended early; kept what was readable"]
    assert full["warnings"] == [] and full["timed_out"] == {} and full["capped"] == []
    assert 0 < cut["lines"] < full["lines"]


def test_patterns_out_of_time_and_capped_are_reported(tmp_path: Path) -> None:
    log = tmp_path / "many.log"
    log.write_text("".join(f"Segmentation fault {i}\n" for i in range(1500)))
    result = run("scan", "--json", str(log))
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    segfault = next(m["pattern_id"] for m in record["matches"] if "Segmentation" in m["text"])
    assert segfault in record["capped"]
    lines = [m["line"] for m in record["matches"] if m["pattern_id"] == segfault]
    assert lines == [*range(1, 1000), 1500]
    human = run("scan", str(log))
    assert "matched more lines than are kept" in human.stdout


def test_human_output_shows_the_likely_failure_lines_too(tmp_path: Path) -> None:
    """The failing test is often among the finder's lines, whether or not a pattern matched
    the log: the human output shows them beside the best match."""
    log = tmp_path / "pytest.log"
    log.write_text(
        "collected 3 items\n"
        "tests/test_io.py::test_read PASSED\n"
        "tests/test_io.py::test_write FAILED\n"
        "E   AssertionError: wrote 3 bytes, expected 4\n"
        "FAILED tests/test_io.py::test_write - AssertionError: wrote 3 bytes, expected 4\n"
        "=== 1 failed, 2 passed in 0.12s ===\n"
    )
    result = run("scan", str(log))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "best match:" in out and "likely failure lines" in out
    listed = out[out.index("likely failure lines") :]
    assert "5 | FAILED tests/test_io.py::test_write" in listed
    assert out.index("best match:") < out.index("likely failure lines")

    nothing = tmp_path / "custom.log"
    nothing.write_text("step 1\nERROR: breaking API change: Client.connect() lost 'timeout'\n")
    result = run("scan", str(nothing))
    assert "no pattern matched" in result.stdout
    assert "2 | ERROR: breaking API change" in result.stdout
