"""Bytes in, clean lines out: decompression, CircleCI step output, stripping, a size cap.

`read_log` never raises on content: whatever the bytes are, the result is a
LogText whose `data` is valid UTF-8 with one line per `\\n`.
"""

from __future__ import annotations

import bisect
import collections
import io
import os
import re
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import IO

import zstandard

try:  # optional C helpers, built with the package when a compiler is there
    from citriage.scanner import _cstrip
except ImportError:  # pragma: no cover - depends on the build
    _cstrip = None  # type: ignore[assignment]

from citriage.scanner import step_output
from citriage.scanner.terminal import EMULATOR_WINDOW, Stripper, needs, starts_with_gha_timestamp

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
RAW_LINE_MAX = 8 * 1024 * 1024  # a raw line (before stripping) longer than this is cut
# Blocks small enough that the copy into them, and the stripping of them after, mostly stay
# in the CPU's cache, and that freed ones are reused rather than fresh pages taken (4 MB
# blocks cost 10% more on the real-log mix); large enough that Python's work per block is
# small beside the stripping.
READ_SIZE = 512 * 1024
# A plain file longer than the cap is stripped from its end backwards until the cap is
# full, reading at most this many times the cap (a log of progress bars strips to little).
READ_LIMIT = 4

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

_MARKER = re.compile(rb"(?:\A|\n)##\[([a-z]+)\]([^\n]*)")


def count_newlines(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Newlines in data[start:end] (0 <= start <= end <= len(data)).

    The C helper compares 16 bytes at a time (ten times `bytes.count`); numpy's
    vectorised compare is the fallback (twice `bytes.count`).
    """
    end = len(data) if end is None else end
    if end - start < 4096:
        return data.count(b"\n", start, end)
    if _cstrip is not None:
        return _cstrip.count_newlines(data, start, end)
    try:  # imported here: it takes longer to import than most scans (0.1 s)
        import numpy
    except ImportError:  # pragma: no cover - numpy only makes counting faster
        return data.count(b"\n", start, end)
    return int(numpy.count_nonzero(numpy.frombuffer(data, numpy.uint8, end - start, start) == 10))


@dataclass(frozen=True)
class Marker:
    """A GitHub Actions workflow command at the start of a line (`##[group]Run x`)."""

    line: int  # 1-based
    kind: str  # group, endgroup, error, warning, ...
    text: str


@dataclass
class LogText:
    """A stripped log. `data` holds its lines, each ending with `\\n`."""

    data: bytes
    # bytes read from the source (compressed size for .gz/.zst; for a long plain file
    # read from its end, the part read)
    input_bytes: int = 0
    raw_bytes: int = 0  # log text before stripping (after decompression / JSON decoding)
    truncated: bool = False  # the size cap dropped the head of the log
    # lines dropped by the size cap (in the part of a long file that was not read: its newlines)
    dropped_lines: int = 0
    stripped: bool = False  # escapes, controls, timestamps or trailing blanks were removed
    clipped_lines: int = 0  # lines cut at MAX_LINE_BYTES
    source_format: str = "text"  # text | circleci-json
    compression: str = ""  # "", gzip, zstd
    warnings: list[str] = field(default_factory=list)
    _offsets: Sequence[int] | None = field(default=None, repr=False)
    _line_count: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.data and not self.data.endswith(b"\n"):
            self.data += b"\n"

    @classmethod
    def from_text(cls, text: str) -> LogText:
        """A LogText from text that is already clean (tests, the pattern workbench)."""
        data = text.encode("utf-8")
        return cls(data=data, raw_bytes=len(data), input_bytes=len(data))

    @property
    def line_count(self) -> int:
        if self._line_count is None:
            self._line_count = count_newlines(self.data)
        return self._line_count

    @property
    def stripped_bytes(self) -> int:
        return len(self.data)

    @property
    def text(self) -> str:
        """The whole log as one string (lines separated by newlines, no final newline)."""
        return self.data[:-1].decode("utf-8")

    def lines(self) -> list[str]:
        return self.text.split("\n") if self.data else []

    def line_offsets(self) -> Sequence[int]:
        """Byte offset of the start of every line (computed once, on demand)."""
        if self._offsets is None and _cstrip is not None:
            # 8 bytes a line: a list of ints would take 40
            self._offsets = memoryview(_cstrip.line_starts(self.data)).cast("q")
        if self._offsets is None:
            starts = [0]
            starts.extend(accumulate(len(part) + 1 for part in self.data.split(b"\n")))
            del starts[-2:]  # the end of the data, and the empty piece after the last newline
            self._offsets = starts if self.data else []
        return self._offsets

    def line(self, number: int) -> str:
        """Line `number` (1-based). One of the last few is found from the end without
        indexing the log; any other builds the index once (a viewer asking for 500 lines
        in the second half of a long log would otherwise walk back from the end 500 times)."""
        if self._offsets is None and self.line_count - number < UNINDEXED_TAIL:
            return self.line_from_end(self.line_count - number)
        start = self.line_offsets()[number - 1]
        return self.data[start : self.data.index(b"\n", start)].decode("utf-8")

    def line_from_end(self, back: int) -> str:
        """The line `back` lines before the last (0 = the last line), without indexing the log."""
        end = len(self.data) - 1
        for _ in range(back):
            end = self.data.rindex(b"\n", 0, end)
        return self.data[self.data.rfind(b"\n", 0, end) + 1 : end].decode("utf-8")

    def line_at(self, offset: int) -> int:
        """The 1-based number of the line holding byte `offset`."""
        return bisect.bisect_right(self.line_offsets(), offset)

    def markers(self) -> list[Marker]:
        """GitHub Actions `##[...]` markers, in order."""
        if b"##[" not in self.data:
            return []
        found = []
        line, pos = 1, 0
        for m in _MARKER.finditer(self.data):
            start = m.start() + (1 if self.data[m.start() : m.start() + 1] == b"\n" else 0)
            line += count_newlines(self.data, pos, start)
            pos = start
            found.append(Marker(line, m.group(1).decode(), m.group(2).decode("utf-8")))
        return found


# Lines this close to the end are found by walking back from it (no index of the log).
UNINDEXED_TAIL = 32


def _open_source(source: bytes | str | os.PathLike[str] | IO[bytes]) -> IO[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    if isinstance(source, str | os.PathLike):
        if str(source) == "-":
            return _spool(sys.stdin.buffer)
        return open(source, "rb")
    if source.seekable():
        return source
    return _spool(source)


def _spool(stream: IO[bytes]) -> IO[bytes]:
    """Copy a pipe to a seekable file so that a misdetected format can be re-read."""
    import tempfile  # here: only pipes need it

    spool = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115
    while block := stream.read(READ_SIZE):
        spool.write(block)
    spool.seek(0)
    return spool


class _CountingReader(io.RawIOBase):
    """Counts bytes read from the source (for `input_bytes`)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _decompressed(raw: IO[bytes], head: bytes, problems: list[str]) -> tuple[Iterator[bytes], str]:
    if head.startswith(GZIP_MAGIC):
        return _gunzip(raw, problems), "gzip"
    if head.startswith(ZSTD_MAGIC):
        return _unzstd(raw, problems), "zstd"
    return _blocks(raw), ""


def _blocks(raw: IO[bytes]) -> Iterator[bytes]:
    while block := raw.read(READ_SIZE):
        yield block


def _gunzip(raw: IO[bytes], problems: list[str]) -> Iterator[bytes]:
    """Inflate gzip (also concatenated members) in bounded pieces."""
    decompressor = zlib.decompressobj(wbits=31)
    fed = False
    try:
        for block in _blocks(raw):
            while block:
                fed = True
                yield decompressor.decompress(block, READ_SIZE)
                block = decompressor.unconsumed_tail
                if decompressor.eof:
                    block = decompressor.unused_data
                    decompressor, fed = zlib.decompressobj(wbits=31), False  # next member
    except zlib.error as exc:
        problems.append(f"gzip data is corrupt ({exc}); kept what was readable")
        return
    if fed and not decompressor.eof:
        yield decompressor.flush()
        problems.append("gzip stream ended early; kept what was readable")


def _unzstd(raw: IO[bytes], problems: list[str]) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    try:
        while block := reader.read(READ_SIZE):
            yield block
    except zstandard.ZstdError as exc:
        problems.append(f"zstd data is corrupt ({exc}); kept what was readable")


def _looks_like_circleci_json(head: bytes) -> bool:
    stripped = head.lstrip()
    if not stripped.startswith(b"["):
        return False
    rest = stripped[1:].lstrip()
    return rest.startswith(b"{") or rest.startswith(b"]")


def _lines(blocks: Iterator[bytes], cut: list[int]) -> Iterator[bytes]:
    """Re-block a byte stream so every piece ends at a newline.

    A line longer than RAW_LINE_MAX keeps its head; the rest up to the next
    newline is dropped (counted in `cut`). A block is copied once at most: the
    line it finishes goes out as a piece of its own.
    """
    carry = b""
    skipping = False
    for block in blocks:
        start = 0
        if skipping:
            start = block.find(b"\n") + 1
            if not start:
                continue
            skipping = False
        last = block.rfind(b"\n", start) + 1
        if not last:
            carry += block[start:] if start else block
            if len(carry) > RAW_LINE_MAX:
                yield carry[:RAW_LINE_MAX] + b"\n"
                cut[0] += 1
                carry, skipping = b"", True
            continue
        if carry:
            first = block.find(b"\n", start) + 1
            yield carry + block[start:first]
            carry, start = b"", first
        if start < last:
            yield block if start == 0 and last == len(block) else block[start:last]
        carry = block[last:]
    if carry:
        yield carry + b"\n"  # the text's lines all end with a newline, the last one too


class _Tail:
    """Keeps the last `limit` bytes of text, cut at a line boundary."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.dropped_lines = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.chunks.append(chunk)
        self.size += len(chunk)
        while self.size > self.limit:
            self.truncated = True
            first = self.chunks[0]
            excess = self.size - self.limit
            if excess >= len(first):
                self.chunks.popleft()
                self.size -= len(first)
                self.dropped_lines += first.count(b"\n")
                continue
            newline = first.find(b"\n", excess - 1)
            if newline < 0:
                self.chunks.popleft()
                self.size -= len(first)
                self.dropped_lines += first.count(b"\n")
                continue
            self.chunks[0] = first[newline + 1 :]
            self.size -= newline + 1
            self.dropped_lines += first.count(b"\n", 0, newline + 1)

    def join(self) -> bytes:
        """The text kept, taken out of the tail (peak memory: the text and one chunk)."""
        if len(self.chunks) == 1:
            return self.chunks.pop()
        pieces = list(self.chunks)
        self.chunks.clear()
        if _cstrip is not None:
            return _cstrip.join_chunks(pieces)  # frees each piece once copied
        return b"".join(pieces)


class _Pieces:
    """What `_cstrip.Text` does, without the C helpers: the pieces, joined when taken."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def append(self, data: bytes) -> None:
        self.pieces.append(bytes(data))
        self.size += len(data)

    def take(self, limit: int = -1) -> tuple[bytes, int]:
        tail = _Tail(limit if limit >= 0 else self.size)
        for piece in self.pieces:
            tail.add(piece)
        self.pieces, self.size = [], 0
        return tail.join(), tail.dropped_lines


def _new_text(capacity: int) -> _cstrip.Text | _Pieces:
    """Where a stripper writes a log's text: one buffer (the C helper) rather than pieces
    to join, so that the text takes fresh memory once (the kernel zeroes every fresh page:
    for a large log, the most time reading takes)."""
    return _cstrip.Text(capacity) if _cstrip is not None else _Pieces()


def read_log(
    source: bytes | str | os.PathLike[str] | IO[bytes],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    gha_timestamps: bool | None = None,
) -> LogText:
    """Read, decompress, decode and strip a log; keep its last `max_bytes` of text."""
    stream = _open_source(source)
    close = stream is not source
    try:
        start = stream.tell()
        log = _read(stream, max_bytes, gha_timestamps, json_allowed=True)
        if log is None:  # looked like CircleCI JSON but was not: read it again as text
            stream.seek(start)
            log = _read(stream, max_bytes, gha_timestamps, json_allowed=False)
            assert log is not None
            log.warnings.append("input looked like CircleCI step output but is not valid JSON")
        return log
    finally:
        if close:
            stream.close()


def _size_left(stream: IO[bytes]) -> int | None:
    """Bytes left in a regular file or in-memory buffer; None for pipes."""
    try:
        if isinstance(stream, io.BytesIO):
            return len(stream.getbuffer()) - stream.tell()
        return os.fstat(stream.fileno()).st_size - stream.tell()
    except (OSError, AttributeError, io.UnsupportedOperation):
        return None


def _read_rest(stream: IO[bytes], start: int, size: int) -> bytes:
    """The rest of `stream` from `start`; `size` is what fstat said was left.

    A plain file is read with one pread into memory that asks for huge pages (the
    C helper); anything else (an in-memory buffer, a file object that decodes, a
    file whose size the kernel does not report, such as /proc files) by `read()`.
    """
    read_file = getattr(_cstrip, "read_file", None)
    if read_file is not None and size > 0 and type(stream) in (io.BufferedReader, io.FileIO):
        whole: bytes = read_file(stream.fileno(), start, size)
        stream.seek(start + len(whole))
        grown = stream.read()  # the log was still being written
        return whole + grown if grown else whole
    stream.seek(start)
    return stream.read()


def _read(
    stream: IO[bytes], max_bytes: int, gha_timestamps: bool | None, *, json_allowed: bool
) -> LogText | None:
    start = stream.tell()
    head = stream.read(4096)
    stream.seek(start)
    size = _size_left(stream)
    counter = _CountingReader(stream)
    problems: list[str] = []
    plain = head[:4] not in (b"", GZIP_MAGIC + head[2:4], ZSTD_MAGIC)
    if (
        plain
        and size is not None
        and size > max_bytes
        and type(stream) in _POSITIONED
        and not (json_allowed and _looks_like_circleci_json(head))
    ):
        return _read_from_end(stream, start, size, head, max_bytes, gha_timestamps)
    if (
        plain
        and size is not None
        and size <= max_bytes
        and not (json_allowed and _looks_like_circleci_json(head))  # JSON goes in blocks
    ):
        # A plain file that fits: one read. Clean text then goes through in one
        # piece; text to strip goes in blocks (one large strip is slower and
        # holds several copies of the text at once).
        whole = _read_rest(stream, start, size)
        counter.count = len(whole)
        is_clean = not needs(whole)
        # Text to strip goes into one buffer; clean text is kept as read.
        text = None if is_clean else _new_text(len(whole))
        blocks, compression = (iter([whole]) if is_clean else _slices(whole)), ""
        del whole  # freed once the last block is read (the slices hold it until then)
    else:  # a stream (or a file of unknown size): its text goes to the tail piece by piece
        is_clean, text = False, None
        raw = io.BufferedReader(counter, buffer_size=READ_SIZE)
        blocks, compression = _decompressed(raw, head[:4], problems)
    source_format = "text"
    first = b""
    while len(first) < 64 and (more := next(blocks, None)) is not None:
        first += more
    blocks = _chain(first, blocks)
    if json_allowed and _looks_like_circleci_json(first[:4096]):
        source_format = "circleci-json"
        blocks = step_output.messages(blocks, problems)
        is_clean = False  # decoded messages may hold escapes the JSON text spelled out
    raw_size = [0]
    cut = [0]
    # A piece of clean text is clean: the stripper need not look for what to do.
    todo: set[int] | None = set() if is_clean else None
    stripper = Stripper(gha_timestamps=gha_timestamps, into=text)
    tail = _Tail(max_bytes)
    try:
        for piece in _lines(_counted(blocks, raw_size), cut):
            tail.add(stripper.feed(piece, todo))
    except step_output.NotStepOutput:
        return None
    except OSError as exc:
        problems.append(f"reading stopped: {exc}; kept what was read")
    tail.add(stripper.finish())
    if text is not None:
        produced = len(text)
        data, dropped_lines = text.take(max_bytes)
        truncated = len(data) < produced
    else:
        data, dropped_lines, truncated = tail.join(), tail.dropped_lines, tail.truncated
    log = LogText(
        data=data,
        input_bytes=counter.count,
        raw_bytes=raw_size[0],
        truncated=truncated,
        dropped_lines=dropped_lines,
        stripped=stripper.stripped,
        clipped_lines=stripper.clipped_lines + cut[0],
        source_format=source_format,
        compression=compression,
        warnings=problems,
    )
    _add_stripping_warnings(log, stripper.lost_moves)
    return log


def _add_stripping_warnings(log: LogText, lost_moves: int) -> None:
    if log.clipped_lines:
        log.warnings.append(f"{log.clipped_lines} overlong line(s) cut")
    if lost_moves:
        log.warnings.append(
            f"{lost_moves} cursor move(s) went above the {EMULATOR_WINDOW} lines kept for "
            "rewriting; they rewrote the oldest kept line"
        )


# Streams whose bytes can be read at any offset without decoding (files, in-memory buffers).
_POSITIONED = (io.BufferedReader, io.FileIO, io.BytesIO)


def _read_from_end(
    stream: IO[bytes],
    start: int,
    size: int,
    head: bytes,
    max_bytes: int,
    gha_timestamps: bool | None,
) -> LogText:
    """A plain log longer than the cap, stripped backwards from its end a window at a
    time until the cap is full: what it costs depends on the cap, not on the file.

    Each window starts at a line start and is stripped forward on its own (a cursor
    move cannot reach into the window before it). At most READ_LIMIT caps are read;
    the warnings say when that left the cap unfilled.
    """
    if gha_timestamps is None:
        gha_timestamps = starts_with_gha_timestamp(head)
    end = start + size  # where the text not stripped yet ends
    lowest = max(start, end - READ_LIMIT * max_bytes)  # where reading must stop
    read_from = end
    span = max_bytes + max_bytes // 20 + (64 << 10)  # raw bytes of the next window
    windows: list[bytes] = []  # the text of each window, from the end backwards
    have = clipped = lost_moves = dropped_lines = 0
    stripped = truncated = False
    while end > lowest and have < max_bytes:
        begin = max(lowest, end - span)
        read_from = min(read_from, begin)
        text, line_start, stripper, cut = _strip_window(
            stream, begin, end, begin == start, gha_timestamps
        )
        if line_start >= end:  # the window lies inside one line: look further back
            if begin == lowest:
                break
            span *= 2
            continue
        produced = len(text)
        kept, dropped = text.take(max_bytes - have)  # the part the cap has room for
        windows.append(kept)
        truncated |= len(kept) < produced
        dropped_lines += dropped
        have += produced
        stripped |= stripper.stripped
        clipped += stripper.clipped_lines + cut
        lost_moves += stripper.lost_moves
        # The next window: what the rest of the cap needs at this window's raw/text ratio.
        span = int((max_bytes - have) * (end - line_start) / max(produced, 1) * 1.1) + (64 << 10)
        end = line_start
    windows.reverse()
    if len(windows) == 1:
        data = windows.pop()
    elif _cstrip is not None:
        data = _cstrip.join_chunks(windows)  # frees each window once copied
    else:
        data = b"".join(windows)
    unread = end - start
    problems = []
    if unread and have < max_bytes:
        problems.append(
            f"read only the last {(start + size - read_from) / 1e6:,.0f} MB of "
            f"{size / 1e6:,.0f} MB "
            f"(at most {READ_LIMIT} times the size cap is stripped per log)"
        )
    log = LogText(
        data=data,
        input_bytes=start + size - read_from,
        raw_bytes=size,
        truncated=truncated or unread > 0,
        dropped_lines=dropped_lines + (_count_raw_newlines(stream, start, unread) if unread else 0),
        stripped=stripped,
        clipped_lines=clipped,
        warnings=problems,
    )
    _add_stripping_warnings(log, lost_moves)
    return log


def _strip_window(
    stream: IO[bytes], begin: int, end: int, at_log_start: bool, gha_timestamps: bool
) -> tuple[_cstrip.Text | _Pieces, int, Stripper, int]:
    """The text of stream[begin:end) from its first line start (the part before that
    belongs to the window before), where that line starts, the stripper, and the raw
    lines cut."""
    blocks = _file_blocks(stream, begin, end)
    line_start = begin
    if not at_log_start:
        for block in blocks:
            newline = block.find(b"\n")
            if newline >= 0:
                line_start += newline + 1
                blocks = _chain(block[newline + 1 :], blocks)
                break
            line_start += len(block)
    text = _new_text(end - line_start)  # stripping seldom adds: the raw size mostly does
    stripper = Stripper(gha_timestamps=gha_timestamps, at_log_start=at_log_start, into=text)
    cut = [0]
    for raw in _lines(blocks, cut):
        stripper.feed(raw)
    stripper.finish()
    return text, line_start, stripper, cut[0]


def _read_at(stream: IO[bytes], offset: int, size: int, whole_lines: bool = False) -> bytes:
    """Up to `size` bytes from `offset`; with `whole_lines`, a read that got `size` bytes
    ends after its last newline when it holds one."""
    read_file = getattr(_cstrip, "read_file", None)
    if read_file is not None and type(stream) in (io.BufferedReader, io.FileIO):
        return read_file(stream.fileno(), offset, size, whole_lines)  # type: ignore[no-any-return]
    stream.seek(offset)
    block = stream.read(size)
    if whole_lines and len(block) == size and (last := block.rfind(b"\n") + 1):
        return block[:last]
    return block


def _file_blocks(stream: IO[bytes], begin: int, end: int) -> Iterator[bytes]:
    """stream[begin:end) in blocks of about READ_SIZE, each but the last ending after a
    newline where it holds one (`_lines` then passes them on without a copy)."""
    while begin < end:
        size = min(READ_SIZE, end - begin)
        block = _read_at(stream, begin, size, whole_lines=size < end - begin)
        if not block:  # the file shrank
            return
        yield block
        begin += len(block)


def _count_raw_newlines(stream: IO[bytes], offset: int, size: int) -> int:
    count = getattr(_cstrip, "count_file_newlines", None)
    if count is not None and type(stream) in (io.BufferedReader, io.FileIO):
        return count(stream.fileno(), offset, size)  # type: ignore[no-any-return]
    return sum(block.count(b"\n") for block in _file_blocks(stream, offset, offset + size))


def _slices(data: bytes) -> Iterator[bytes]:
    """`data` in pieces of about READ_SIZE, each cut after a newline where there is one."""
    start = 0
    while start < len(data):
        stop = data.rfind(b"\n", start, start + READ_SIZE) + 1
        if stop <= start:  # a line longer than a piece
            stop = start + READ_SIZE
        yield data[start:stop]
        start = stop


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _counted(blocks: Iterator[bytes], total: list[int]) -> Iterator[bytes]:
    for block in blocks:
        total[0] += len(block)
        yield block


def read_path(path: str | Path, **options: int) -> LogText:
    return read_log(Path(path), **options)  # type: ignore[arg-type]
