"""Reading logs: formats, compression, damage, size caps, memory bounds."""

from __future__ import annotations

import gzip
import io
import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import zstandard

from citriage.scanner.logtext import READ_LIMIT, LogText, read_log
from citriage.scanner.terminal import MAX_LINE_BYTES


def test_plain_gzip_and_zstd_inputs_give_the_same_text(tmp_path: Path) -> None:
    raw = b"\x1b[1mcompiling\x1b[0m\nmain.c:3:1: error: expected ';'\n"
    (tmp_path / "log.txt").write_bytes(raw)
    (tmp_path / "log.txt.gz").write_bytes(gzip.compress(raw))
    (tmp_path / "log.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    logs = [read_log(tmp_path / name) for name in ("log.txt", "log.txt.gz", "log.txt.zst")]
    assert [log.lines() for log in logs] == [["compiling", "main.c:3:1: error: expected ';'"]] * 3
    assert [log.compression for log in logs] == ["", "gzip", "zstd"]
    assert all(log.raw_bytes == len(raw) and log.stripped for log in logs)
    assert logs[1].input_bytes == (tmp_path / "log.txt.gz").stat().st_size


@pytest.mark.parametrize("escaped", [False, True], ids=["clean", "escaped"])
def test_a_large_file_reads_as_the_same_bytes_from_a_pipe(tmp_path: Path, escaped: bool) -> None:
    # Regular files up to the cap are read whole (clean text then passes in one
    # piece); a pipe is read in blocks. The text must not depend on the way.
    line = (
        b"\x1b[31mtest_io.py::test_%d FAILED\x1b[0m\r\n" if escaped else b"test_io.py::test_%d ok\n"
    )
    raw = b"".join(line % i for i in range(400_000))  # several READ_SIZE blocks
    path = tmp_path / "big.log"
    path.write_bytes(b"header to skip\n" + raw)
    with open(path, "rb") as source:
        source.readline()  # read from where the stream stands, not from the start
        from_file = read_log(source)
    from_pipe = read_log(io.BufferedReader(_Pipe(raw)))  # type: ignore[arg-type]
    assert from_file.data == from_pipe.data
    assert from_file.line_count == 400_000 and from_file.stripped is escaped
    assert from_file.lines()[-1] == ("test_io.py::test_399999 " + ("FAILED" if escaped else "ok"))
    assert from_file.input_bytes == from_file.raw_bytes == len(raw)


class _Pipe(io.RawIOBase):
    """A non-seekable stream, as stdin from a pipe."""

    def __init__(self, data: bytes) -> None:
        self.rest = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), len(self.rest), 65536)
        buffer[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n


def test_escapes_inside_circleci_step_output_are_stripped(tmp_path: Path) -> None:
    # The JSON text itself is clean ("\\u001b" spelled out); its messages are not.
    messages = [{"type": "out", "message": f"\u001b[32mok {i}\u001b[0m\r\n"} for i in range(50_000)]
    path = tmp_path / "output.json"
    path.write_text(json.dumps(messages))
    log = read_log(path)
    assert log.source_format == "circleci-json" and log.stripped
    assert log.lines()[:2] == ["ok 0", "ok 1"] and b"\x1b" not in log.data


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(b"first\n") + gzip.compress(b"second\n")
    assert read_log(data).lines() == ["first", "second"]


def test_circleci_step_output_keeps_out_and_err_in_order(corpus: Path) -> None:
    path = corpus / "circleci-api" / "step-output" / "ci_runner" / "job_test_output.json"
    entries = json.loads(path.read_bytes())
    log = read_log(path)
    assert log.source_format == "circleci-json"
    expected = "".join(e["message"] for e in entries)
    assert "rspec" in expected.lower()
    assert log.line_count >= expected.count("\n")
    assert "\x1b" not in log.text


def test_step_output_with_stdout_and_stderr_interleaved() -> None:
    body = json.dumps(
        [
            {"type": "out", "time": "t", "message": "running tests\r\n"},
            {
                "type": "err",
                "time": "t",
                "message": "\x1b[31mTraceback (most recent call last):\x1b[0m\n",
            },
            {"type": "out", "time": "t", "message": "done\n"},
        ]
    ).encode()
    assert read_log(body).lines() == ["running tests", "Traceback (most recent call last):", "done"]


def test_broken_step_output_keeps_what_parsed_and_says_so() -> None:
    log = read_log(b'[{"type": "out", "message": "first line\\n"}, {"type": "out", "mess')
    assert log.lines() == ["first line"]
    assert any("broken after 1 entries" in w for w in log.warnings)


def test_text_that_only_looks_like_json_is_kept_as_text() -> None:
    log = read_log(b"[{ not json at all\nsecond line\n")
    assert log.lines() == ["[{ not json at all", "second line"]
    assert log.source_format == "text"


def test_damaged_gzip_keeps_the_readable_part() -> None:
    data = gzip.compress(b"".join(b"line %d\n" % i for i in range(2000)))
    log = read_log(data[: len(data) // 2])
    assert 0 < log.line_count < 2000
    assert log.lines()[0] == "line 0"
    assert any("gzip" in w for w in log.warnings)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00" * 100,
        b"\xff\xfe\xfd",
        b"\x1f\x8b",
        b"\x28\xb5\x2f\xfd garbage",
        b"\x1b[",
        b"\r\r\r",
        b"[",
    ],
)
def test_any_bytes_give_a_log(raw: bytes) -> None:
    log = read_log(raw)
    log.data.decode("utf-8")  # always valid UTF-8
    assert b"\x00" not in log.data and b"\x1b" not in log.data


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    assert read_log(b"caf\xe9 \xc3\xa9t\xc3\xa9\n").lines() == ["caf\ufffd été"]


def test_size_cap_keeps_the_tail_at_a_line_boundary() -> None:
    raw = b"".join(b"line %05d\n" % i for i in range(10_000))  # 11 bytes a line
    log = read_log(raw, max_bytes=1100)
    assert log.truncated
    assert log.lines()[-1] == "line 09999"
    assert log.line_count == 100
    assert log.dropped_lines == 9_900
    assert log.lines()[0] == "line 09900"


def test_small_logs_are_not_truncated() -> None:
    log = read_log(b"a\nb\n")
    assert not log.truncated and log.dropped_lines == 0 and log.line_count == 2


def test_stdin_is_read_from_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BufferedReader(io.BytesIO(gzip.compress(b"from a pipe\n")))  # type: ignore[arg-type]

    monkeypatch.setattr(sys, "stdin", Stdin)
    assert read_log("-").lines() == ["from a pipe"]


def test_line_access_and_markers() -> None:
    log = read_log(
        b"2024-01-01T00:00:00.0000000Z ##[group]Run make\n"
        b"2024-01-01T00:00:01.0000000Z make: *** [all] Error 2\n"
        b"2024-01-01T00:00:02.0000000Z ##[endgroup]\n"
        b"2024-01-01T00:00:03.0000000Z ##[error]Process completed with exit code 2.\n"
    )
    assert log.line(2) == "make: *** [all] Error 2"
    assert log.line_at(log.line_offsets()[3]) == 4
    assert [(m.line, m.kind, m.text) for m in log.markers()] == [
        (1, "group", "Run make"),
        (3, "endgroup", ""),
        (4, "error", "Process completed with exit code 2."),
    ]


def test_from_text_round_trips() -> None:
    assert LogText.from_text("a\nb\n").lines() == ["a", "b"]


def test_a_gigabyte_log_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A 1 GB generated log (escapes, CRs, one huge line) is read and scanned in a
    child process whose peak memory stays bounded by the size cap, not the input."""
    script = tmp_path / "big.py"
    script.write_text(
        """
import resource, sys
from citriage.scanner.engine import PatternSet
from citriage.scanner.logtext import read_log
from citriage.scanner.patterns import Pattern

class Generated:
    def __init__(self, total):
        self.left = total
        line = b"\\x1b[32mtest_%d PASSED\\x1b[0m in 0.01s\\r\\n"
        self.block = b"".join(line % i for i in range(20000)) + b"x" * 3_000_000 + b"\\n"
    def read(self, n=-1):
        if self.left <= 0:
            return b""
        data = self.block[: min(len(self.block), self.left)]
        self.left -= len(data)
        return data
    def readable(self):
        return True
    def seekable(self):
        return False

log = read_log(Generated(1024 ** 3), max_bytes=64 * 1024 * 1024)
patterns = [Pattern(1, "test_19999 PASSED"), Pattern(2, r"test_\\d+5 PASSED", is_regex=True)]
report = PatternSet(patterns).run(log)  # keeps 1,000 matches a pattern
found = len(report.matches) if report.capped == {2} else 0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(log.raw_bytes, log.truncated, found, peak_mb)
"""
    )
    # stdin is not used: a non-seekable reader is passed directly, so nothing is spooled
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=600
    ).stdout.split()
    raw_bytes, truncated, found, peak_mb = int(out[0]), out[1], int(out[2]), float(out[3])
    assert raw_bytes == 1024**3
    assert truncated == "True"
    assert found > 1000  # the regex matches one line in ten of the kept 64 MB: capped
    assert peak_mb < 1024, f"peak memory {peak_mb:.0f} MB"
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 < 1024


def test_github_actions_timestamps_go_from_every_line_of_a_long_log() -> None:
    # Longer than one read block, so lines start at block boundaries too; no final newline.
    lines = [
        f"2024-05-01T10:{n // 60 % 60:02d}:{n % 60:02d}.1234567Z step output {n}"
        for n in range(20_000)
    ]
    log = read_log("\n".join(lines).encode())
    assert log.line_count == 20_000
    text = log.lines()
    assert text[0] == "step output 0" and text[-1] == "step output 19999"
    assert not [line for line in text if line[:4] == "2024"]


def test_file_objects_that_decode_and_files_of_unknown_size_are_read_through_python(
    tmp_path: Path,
) -> None:
    # A GzipFile has the compressed file's descriptor: the text must come from its read().
    path = tmp_path / "log.gz"
    path.write_bytes(gzip.compress(b"compiling\nerror: no space left on device\n"))
    with gzip.open(path, "rb") as source:
        assert read_log(source).lines() == ["compiling", "error: no space left on device"]
    # /proc files report a size of 0 but have content.
    status = Path("/proc/self/status")
    if status.is_file():
        assert read_log(status).line_count > 5


def test_a_file_appended_to_after_opening_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "growing.log"
    path.write_bytes(b"step 1\n" * 1000)
    with open(path, "rb") as source, open(path, "ab") as writer:
        source.read(10)
        source.seek(0)
        writer.write(b"step 2 failed\n")  # appended after the file was opened
        writer.flush()
        log = read_log(source)
    assert log.line_count == 1001 and log.lines()[-1] == "step 2 failed"


def _read_both_ways(path: Path, max_bytes: int) -> tuple[LogText, LogText]:
    """The log read from its file (from the end) and from a pipe (streamed in full)."""
    from_file = read_log(path, max_bytes=max_bytes)
    with open(path, "rb") as source:
        from_pipe = read_log(io.BufferedReader(_Pipe(source.read())), max_bytes=max_bytes)  # type: ignore[arg-type]
    return from_file, from_pipe


def test_a_long_file_is_read_from_its_end_with_the_text_a_full_read_keeps(
    tmp_path: Path,
) -> None:
    # Timestamps, colours, CRLF and carriage-return progress: no cursor moves, so reading
    # windows from the end gives exactly the text that stripping everything would.
    line = (
        b"2024-05-01T10:00:00.1234567Z \x1b[32mtest_%d\x1b[0m PASSED\r\n"
        b"2024-05-01T10:00:00.2Z fetch 10%%\rfetch 100%%   \n"
    )
    path = tmp_path / "long.log"
    path.write_bytes(b"".join(line % i for i in range(200_000)))  # 21 MB
    max_bytes = 2_000_000
    from_file, from_pipe = _read_both_ways(path, max_bytes)
    assert from_file.data == from_pipe.data
    assert len(from_file.data) <= max_bytes
    assert from_file.lines()[-2:] == ["test_199999 PASSED", "fetch 100%"]
    assert from_file.truncated and from_file.dropped_lines == from_pipe.dropped_lines
    assert from_file.raw_bytes == path.stat().st_size
    assert from_file.input_bytes < path.stat().st_size / 2  # the head was never read
    assert from_file.warnings == []
    with open(path, "rb") as source:
        source.readline()  # read from where the stream stands, not from the start
        after_first_line = read_log(source, max_bytes=max_bytes)
    assert after_first_line.data == from_file.data
    assert after_first_line.dropped_lines == from_file.dropped_lines - 1


def test_a_line_longer_than_a_window_is_found_whole(tmp_path: Path) -> None:
    path = tmp_path / "one-huge-line.log"
    path.write_bytes(
        b"before\n" * 1000 + b"x" * 3_000_000 + b" the end of it\n" + b"after\n" * 20_000
    )
    # A cap that keeps it all, so the windows after the first have to find where it starts.
    from_file, from_pipe = _read_both_ways(path, 1_000_000)
    assert from_file.data == from_pipe.data and not from_file.truncated
    assert from_file.lines()[999:1001] == ["before", "x" * MAX_LINE_BYTES]
    assert from_file.clipped_lines == 1


def test_a_log_that_strips_to_little_is_read_only_so_far_and_says_so(tmp_path: Path) -> None:
    # Each line is a progress bar redrawn 20 times: 20 bytes of text for 800 read.
    bar = b"".join(b"\r[%-20s]\x1b[K" % (b"#" * i) for i in range(21))
    path = tmp_path / "progress.log"
    with open(path, "wb") as out:
        out.write(b"downloading\n")  # (a log starting "[ ]" would be taken for JSON first)
        for i in range(60_000):
            out.write(bar + b" %d\n" % i)  # about 50 MB
    max_bytes = 1_000_000
    log = read_log(path, max_bytes=max_bytes)
    assert log.input_bytes <= READ_LIMIT * max_bytes
    assert log.lines()[-1] == "[####################] 59999"
    assert log.truncated and len(log.data) < max_bytes
    assert log.warnings == [
        f"read only the last 4 MB of {path.stat().st_size / 1e6:,.0f} MB "
        f"(at most {READ_LIMIT} times the size cap is stripped per log)"
    ]
    assert log.dropped_lines == 60_001 - log.line_count


def test_a_cursor_move_beyond_the_kept_lines_is_said() -> None:
    log = read_log(b"".join(b"step %d\n" % i for i in range(600)) + b"\x1b[550Arewritten\n")
    assert log.warnings == [
        "1 cursor move(s) went above the 500 lines kept for rewriting; "
        "they rewrote the oldest kept line"
    ]
    assert log.lines()[-1] == "step 599" and "rewritten" in log.lines()


def test_a_file_of_gigabytes_is_read_from_its_end_in_memory_bounded_by_the_cap(
    tmp_path: Path,
) -> None:
    """2 GB of (sparse) head and 40 MB of lines: only the end is read, memory stays
    within a small multiple of the 16 MB cap, and the dropped lines are still counted."""
    path = tmp_path / "huge.log"
    with open(path, "wb") as out:
        out.write(b"first line\n")
        out.truncate(2 * 1024**3)  # a hole: reads as NUL bytes, costs no disk
        out.seek(0, io.SEEK_END)
        out.write(b"\n" + b"".join(b"\x1b[32mline %08d\x1b[0m ok\n" % i for i in range(1_500_000)))
    script = tmp_path / "read.py"
    script.write_text(
        f"""
from pathlib import Path
from citriage.scanner.logtext import read_log
log = read_log({str(path)!r}, max_bytes=16 * 1024 * 1024)
# This process's own peak (ru_maxrss would count what the forking parent held)
peak_kb = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
print(log.input_bytes, log.dropped_lines, log.line_count, log.lines()[-1], int(peak_kb) / 1024)
"""
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=600
    ).stdout.split()
    input_bytes, dropped, kept, peak_mb = int(out[0]), int(out[1]), int(out[2]), float(out[-1])
    assert " ".join(out[3:-1]) == "line 01499999 ok"
    assert input_bytes < 32 * 1024 * 1024
    assert dropped + kept == 1 + 1 + 1_500_000
    assert peak_mb < 150, f"peak memory {peak_mb:.0f} MB"


def test_lines_read_the_same_from_the_end_or_through_the_index() -> None:
    """A line near the end is found without indexing the log; one further back builds the
    index once (a log viewer's window in the second half of a long log stays linear)."""
    text = "\n".join(f"line {n}" for n in range(1, 5001))
    near_end = LogText.from_text(text)
    assert near_end.line(5000) == "line 5000" and near_end.line(4990) == "line 4990"
    assert near_end._offsets is None
    middle = LogText.from_text(text)
    assert [middle.line(n) for n in (3500, 3501, 4999, 1)] == [
        "line 3500",
        "line 3501",
        "line 4999",
        "line 1",
    ]
    assert middle._offsets is not None
