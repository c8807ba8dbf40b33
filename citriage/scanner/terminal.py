"""Turn raw terminal output into the text a person would have seen.

Most CI logs only carry colour codes and CRLF line ends; those take a fast
path built from C-level byte operations. Chunks that move the cursor (progress
bars, docker pull, save/restore) go through a small terminal emulator that
keeps a window of recent lines it may still rewrite.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

# C0 controls other than tab and newline; ESC included (left over from broken sequences).
_C0_DELETE = bytes(b for b in range(0x20) if b not in (0x09, 0x0A))
_C0_DELETE_BUT_CR = _C0_DELETE.replace(b"\r", b"")

# Escape sequences that never move the cursor: SGR and other non-moving CSI,
# OSC (hyperlinks, titles; BEL or ST terminated), APC/DCS/PM/SOS (Buildkite's
# `ESC _bk;t=...BEL` timestamps), charset designations and other two-byte ESCs.
_SIMPLE_ESCAPE = re.compile(
    rb"\x1b\[[0-?]*[ -/]*[@-~]"
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    rb"|\x1b[P_^X][^\x07\x1b]*(?:\x07|\x1b\\)?"
    rb"|\x1b[ -/]+[0-~]"
    rb"|\x1b[0-~]"
)
try:  # the same two operations in C (optional: built with the package when a compiler is there)
    from citriage.scanner import _cstrip
except ImportError:
    _cstrip = None  # type: ignore[assignment]


def strip_simple_escapes(chunk: bytes) -> bytes:
    """Remove the escape sequences that do not move the cursor."""
    if _cstrip is not None:
        return _cstrip.strip_escapes(chunk)
    return _SIMPLE_ESCAPE.sub(b"", chunk)


def has_cursor_escape(chunk: bytes) -> bool:
    """Whether `chunk` holds an escape that moves the cursor, erases or saves/restores."""
    if _cstrip is not None:
        return _cstrip.has_cursor_escape(chunk)  # one look at each ESC (the regex: several)
    return _CURSOR_ESCAPE.search(chunk) is not None


def strip_timestamps(chunk: bytes) -> bytes:
    """Remove a GitHub Actions timestamp from the start of every line of `chunk`."""
    if _cstrip is not None:
        return _cstrip.strip_timestamps(chunk)
    # A literal replacement keeps `sub` in C (a group reference costs a Python call each).
    chunk = _GHA_TIMESTAMP_NEXT.sub(b"\n", chunk)
    first = _GHA_TIMESTAMP_AT_START.match(chunk)
    return chunk[first.end() :] if first else chunk


def strip_trailing_blanks(chunk: bytes) -> bytes:
    """Remove spaces and tabs at the end of every line."""
    if _cstrip is not None:
        return _cstrip.strip_trailing_blanks(chunk)
    if b" \n" not in chunk and b"\t\n" not in chunk and not chunk.endswith((b" ", b"\t")):
        return chunk
    return b"\n".join(line.rstrip(b" \t") for line in chunk.split(b"\n"))


def crlf_to_lf(chunk: bytes) -> tuple[bytes, bool]:
    """CRLF line ends as LF, and whether another CR (a rewritten line) is left."""
    if _cstrip is not None:
        return _cstrip.crlf_to_lf(chunk)
    rewritten = chunk.count(b"\r") != chunk.count(b"\r\n")
    # With only CRLF, the C0 delete drops the CRs anyway: no copy needed.
    return (chunk.replace(b"\r\n", b"\n") if rewritten else chunk), rewritten


def is_utf8(chunk: bytes) -> bool:
    if _cstrip is not None:
        return _cstrip.is_utf8(chunk)  # no str is built just to check
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Escapes that need the emulator: cursor movement, erasing, save/restore (and backspace);
# every CSI sequence the emulator acts on (see _EMULATOR_TOKEN and _Emulator._csi).
_CURSOR_ESCAPE = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[A-HJKfsu]|[78])")

_EMULATOR_TOKEN = re.compile(
    r"(?P<text>[^\x00-\x08\x0a-\x1f]+)"
    r"|(?P<newline>\n)|(?P<cr>\r+)|(?P<backspace>\x08+)"
    r"|\x1b\[(?P<params>[0-?]*)[ -/]*(?P<csi>[@-~])"
    r"|\x1b(?P<esc>[78])"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[P_^X][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b(?:[ -/]*[0-~])?"
    r"|[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f]+"  # other controls (not ESC: it starts a sequence)
)

# GitHub Actions prefixes every line with an ISO timestamp and a space.
_GHA_TIMESTAMP_FIRST = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?"
)
_GHA_TIMESTAMP_NEXT = re.compile(rb"\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
# Chunks fed to the stripper end at a newline, so each one also starts a line.
_GHA_TIMESTAMP_AT_START = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")

try:
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform
    hyperscan = None  # type: ignore[assignment]

MAX_LINE_BYTES = 16 * 1024  # longer lines are cut: bounds the cost of a regex on one line
EMULATOR_WINDOW = 500  # lines above the cursor that cursor movement can still reach
COLUMN_LIMIT = MAX_LINE_BYTES  # cursor moves stop here: what lies further right is cut anyway


# What a chunk may need done to it; found in one Hyperscan pass where available.
ESCAPE, CARRIAGE_RETURN, BACKSPACE, OTHER_CONTROL, TRAILING_BLANK = range(5)
_CHECKS = [rb"\x1b", rb"\r", rb"\x08", rb"[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f]", rb"[ \t]\n"]


def _build_check_database() -> Any:
    if hyperscan is None:
        return None
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=_CHECKS,
        ids=list(range(len(_CHECKS))),
        elements=len(_CHECKS),
        flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(_CHECKS),
    )
    return database


_CHECK_DATABASE = _build_check_database()
_CHECK_LOCK = threading.Lock()


def needs(chunk: bytes) -> set[int]:
    """Which kinds of clean-up `chunk` needs (ESCAPE, CARRIAGE_RETURN, ...)."""
    if _CHECK_DATABASE is not None:
        found: set[int] = set()
        with _CHECK_LOCK:
            _CHECK_DATABASE.scan(
                chunk, match_event_handler=lambda check, _s, _e, _f, _c: found.add(check)
            )
        if chunk.endswith((b" ", b"\t")):
            found.add(TRAILING_BLANK)
        return found
    found = set()
    if b"\x1b" in chunk:
        found.add(ESCAPE)
    if b"\r" in chunk:
        found.add(CARRIAGE_RETURN)
    if b"\x08" in chunk:
        found.add(BACKSPACE)
    if len(chunk.translate(None, _C0_DELETE)) != len(chunk) - chunk.count(b"\r") - chunk.count(
        b"\x1b"
    ) - chunk.count(b"\x08"):
        found.add(OTHER_CONTROL)
    if b" \n" in chunk or b"\t\n" in chunk or chunk.endswith((b" ", b"\t")):
        found.add(TRAILING_BLANK)
    return found


def _overlay_carriage_returns(line: bytes) -> bytes:
    """`abc\\rxy` shows `xyc`: every segment after a CR overwrites from column 0.

    Columns are characters (`line` is valid UTF-8); other controls take none, as in
    the emulator."""
    segments = line.translate(None, _C0_DELETE_BUT_CR).decode("utf-8").split("\r")
    shown = segments[0]
    for segment in segments[1:]:
        shown = segment + shown[len(segment) :]
    return shown.encode("utf-8")


def _overlay_lines_with_cr(chunk: bytes) -> bytes:
    """Apply `_overlay_carriage_returns` to just the lines that hold a CR."""
    pieces = []
    done = 0
    cr = chunk.find(b"\r")
    while cr >= 0:
        start = chunk.rfind(b"\n", 0, cr) + 1
        end = chunk.find(b"\n", cr)
        if end < 0:
            end = len(chunk)
        pieces.append(chunk[done:start])
        pieces.append(_overlay_carriage_returns(chunk[start:end]))
        done = end
        cr = chunk.find(b"\r", end)
    pieces.append(chunk[done:])
    return b"".join(pieces)


def _cut_utf8(data: bytes, limit: int) -> bytes:
    """The first `limit` bytes of `data`, not splitting a UTF-8 sequence."""
    end = limit
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end]


class TextSink(Protocol):
    """Where a stripper can write its text (`_cstrip.Text`, or logtext's pieces)."""

    def __len__(self) -> int: ...
    def append(self, data: bytes, /) -> None: ...


@dataclass
class _Emulator:
    """A terminal screen reduced to what affects the final text of a log.

    Line feed implies carriage return (as CI log renderers do). The emulator
    keeps the cursor's line and EMULATOR_WINDOW lines above it; a line that
    scrolls further up is final. Cursor moves stop at COLUMN_LIMIT columns (a
    longer line is cut anyway) and go down at most EMULATOR_WINDOW lines at a
    time, so memory and work stay bounded whatever the input. `_cstrip.Emulator`
    does exactly the same in C; the tests hold the two together.
    """

    lines: list[str] = field(default_factory=lambda: [""])
    row: int = 0
    col: int = 0
    saved: tuple[int, int] = (0, 0)
    scrolled: bool = False  # some line has left the window
    lost_moves: int = 0  # moves that aimed above the window (they stop at its top)
    _done: list[str] = field(default_factory=list)

    def feed(self, chunk: bytes) -> bytes:
        """Emulate `chunk`; the lines that became final, each ending with a newline."""
        for m in _EMULATOR_TOKEN.finditer(chunk.decode("utf-8", "replace")):
            kind = m.lastgroup
            if kind == "text":
                self._write(m.group(0))
            elif kind == "newline":
                self._move_to_row(self.row + 1)
                self.col = 0
            elif kind == "cr":
                self.col = 0
            elif kind == "backspace":
                self.col = max(0, self.col - len(m.group(0)))
            elif kind == "csi":
                self._csi(m.group("params"), m.group("csi"))
            elif kind == "esc":
                self._save_restore(m.group("esc"))
        return self._take(self._done)

    def finish(self) -> bytes:
        """The lines still held, as final (the emulator starts over afterwards)."""
        done = self._done + self.lines
        self._done, self.lines = [], [""]
        self.row = self.col = 0
        self.saved = (0, 0)
        # A final blank line is the one the last newline opened (or blanks written there).
        if not done[-1].rstrip(" \t"):
            done.pop()
        return self._take(done)

    @staticmethod
    def _take(lines: list[str]) -> bytes:
        if not lines:
            return b""
        text = "\n".join(line.rstrip(" \t") for line in lines) + "\n"
        lines.clear()
        return text.encode("utf-8")

    def _write(self, text: str) -> None:
        line = self.lines[self.row]
        if len(line) < self.col:
            line += " " * (self.col - len(line))
        self.lines[self.row] = line[: self.col] + text + line[self.col + len(text) :]
        self.col += len(text)

    def _move_to_row(self, row: int) -> None:
        if row < 0:
            self.lost_moves += self.scrolled
            row = 0
        while row >= len(self.lines):
            self.lines.append("")
        self.row = row
        excess = row - EMULATOR_WINDOW
        if excess > 0:
            self._done.extend(self.lines[:excess])
            del self.lines[:excess]
            self.row -= excess
            self.saved = (self.saved[0] - excess, self.saved[1])
            self.scrolled = True

    def _save_restore(self, which: str) -> None:
        if which in ("7", "s"):
            self.saved = (self.row, self.col)
        else:
            row, self.col = self.saved
            self._move_to_row(row)

    def _csi(self, params: str, final: str) -> None:
        if final in "su":
            self._save_restore(final)
            return
        if final not in "ABCDEFGHJKf":
            return
        numbers = [_csi_number(p) for p in params.lstrip("?").split(";")]
        n = max(1, numbers[0])
        if final == "A":
            self._move_to_row(self.row - n)
        elif final == "B":
            self._move_to_row(self.row + min(n, EMULATOR_WINDOW))
        elif final == "C":
            self.col = max(self.col, min(self.col + n, COLUMN_LIMIT))
        elif final == "D":
            self.col = max(0, self.col - n)
        elif final == "E":
            self._move_to_row(self.row + min(n, EMULATOR_WINDOW))
            self.col = 0
        elif final == "F":
            self._move_to_row(self.row - n)
            self.col = 0
        elif final == "G":
            self.col = min(n, COLUMN_LIMIT) - 1
        elif final in "Hf":
            # Absolute rows refer to a screen a log does not have; keep the column.
            self.col = min(max(1, numbers[1]) if len(numbers) > 1 else 1, COLUMN_LIMIT) - 1
        elif final == "K":
            line = self.lines[self.row]
            mode = numbers[0]
            if mode == 0:
                self.lines[self.row] = line[: self.col]
            elif mode == 1:  # from the start of the line through the cursor
                self.lines[self.row] = " " * (self.col + 1) + line[self.col + 1 :]
            else:
                self.lines[self.row] = ""
        elif final == "J" and numbers[0] == 0:
            self.lines[self.row] = self.lines[self.row][: self.col]
            del self.lines[self.row + 1 :]


def _csi_number(param: str) -> int:
    """A CSI parameter's value: 0 when empty or not a number, at most 999,999,999."""
    if not param.isdigit():
        return 0
    digits = param.lstrip("0")
    return int(digits or "0") if len(digits) <= 9 else 999_999_999


@dataclass
class Stripper:
    """Strips one log, fed in chunks that end at line boundaries.

    `feed` returns clean UTF-8 text of the completed lines, each ending in a
    newline; `finish` returns what is left. The result holds no C0 control
    other than tab, no escape sequence, no trailing blanks, and no line longer
    than MAX_LINE_BYTES. With `into` (a `_cstrip.Text`), the text goes there
    instead and both return b"": the C emulator writes into it directly, so a
    long log's text is not also held as pieces to join.
    """

    gha_timestamps: bool | None = None  # None: decide from the first line
    stripped: bool = False
    clipped_lines: int = 0
    lost_moves: int = 0  # cursor moves that aimed above the emulator's window
    at_log_start: bool = True  # False: the first chunk starts in the middle of a log
    into: TextSink | None = None  # where the text goes; None: returned
    _emulator: _Emulator | _cstrip.Emulator | None = None
    _alone: _cstrip.Emulator | None = None  # the C emulator for chunks without cursor moves

    def feed(self, chunk: bytes, todo: set[int] | None = None) -> bytes:
        """`todo`: what `needs(chunk)` would say, when the caller knows it already (an
        empty set for a piece of text found clean; more than needed takes slower paths)."""
        if not chunk:
            return b""
        first_chunk = self.at_log_start
        if first_chunk:
            chunk = self._strip_start(chunk)  # the first line's timestamp is gone already
        # The C emulator skips timestamps as it reads (no copy of the chunk without them);
        # other paths, and the first chunk, have them removed here.
        stamped = bool(self.gha_timestamps)
        if stamped and (first_chunk or _cstrip is None):
            chunk, stamped = self._strip_timestamps(chunk, first_chunk), False
        if not chunk.isascii() and not is_utf8(chunk):
            # Bad bytes first (columns count characters, and a later fix-up could
            # otherwise join bytes that escapes or controls stood between; a timestamp
            # follows a newline, so its removal joins none).
            chunk = chunk.decode("utf-8", "replace").encode("utf-8")
        if todo is None and self.into is not None and _cstrip is not None and chunk.endswith(b"\n"):
            # Into a Text every chunk is copied anyway, and the C emulator strips any: no
            # need to find out first what the chunk needs (a Hyperscan pass over it).
            if b"\x08" in chunk or has_cursor_escape(chunk):
                return self._emulate(chunk, stamped)
            return self._flush_emulator() + self._emulate_alone(chunk, stamped)
        if todo is None:
            todo = needs(chunk)
        if BACKSPACE in todo or (ESCAPE in todo and has_cursor_escape(chunk)):
            return self._emulate(chunk, stamped)
        done = self._flush_emulator()
        if todo and _cstrip is not None and chunk.endswith(b"\n"):
            # Without cursor moves a fresh emulator gives what _fast does, faster in C.
            return done + self._emulate_alone(chunk, stamped)
        if stamped:
            chunk = self._strip_timestamps(chunk, first_chunk)
        return done + self._give(self._fast(chunk, todo))

    def _strip_timestamps(self, chunk: bytes, first_chunk: bool) -> bytes:
        before = len(chunk)
        if first_chunk:
            rest = chunk.find(b"\n") + 1
            if rest:
                chunk = chunk[:rest] + strip_timestamps(chunk[rest:])
        else:
            chunk = strip_timestamps(chunk)  # chunks end at a newline: each starts a line
        self.stripped |= len(chunk) != before
        return chunk

    def finish(self) -> bytes:
        return self._flush_emulator()

    def _give(self, text: bytes) -> bytes:
        """`text` to return, or b"" once it is in `into`."""
        if self.into is None or not text:
            return text
        self.into.append(text)
        return b""

    def _strip_start(self, chunk: bytes) -> bytes:
        self.at_log_start = False
        if chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]
        if self.gha_timestamps is None:
            self.gha_timestamps = _GHA_TIMESTAMP_FIRST.match(chunk) is not None
        if self.gha_timestamps:
            chunk = _GHA_TIMESTAMP_FIRST.sub(b"", chunk, count=1)
            self.stripped = True
        return chunk

    def _fast(self, chunk: bytes, todo: set[int]) -> bytes:
        original = len(chunk)
        ended_line = chunk.endswith(b"\n")
        if ESCAPE in todo:
            chunk = strip_simple_escapes(chunk)
        # A CR right before LF changes nothing (the C0 delete below drops it);
        # any other CR rewrites its line.
        if CARRIAGE_RETURN in todo:
            chunk, rewritten = crlf_to_lf(chunk)
            if rewritten:
                chunk = _overlay_lines_with_cr(chunk)
        if todo & {ESCAPE, CARRIAGE_RETURN, OTHER_CONTROL}:
            chunk = chunk.translate(None, _C0_DELETE)
        if todo:  # blanks may be left where escapes or controls were removed
            chunk = strip_trailing_blanks(chunk)
        if chunk and not chunk.endswith(b"\n") and ended_line:
            chunk += b"\n"  # an escape string ran over the last newline: the line still ends
        self.stripped |= len(chunk) != original
        return self._clip_long_lines(chunk)

    def _emulate_alone(self, chunk: bytes, stamped: bool) -> bytes:
        if self._alone is None:  # kept: its buffers serve the next chunk too
            self._alone = _cstrip.Emulator(clip=MAX_LINE_BYTES)
        clipped, written = self._alone.clipped, self._written()
        done = self._alone.feed_all(chunk, self._text(), stamped)  # clips as it goes
        newly_clipped = self._alone.clipped - clipped
        self.clipped_lines += newly_clipped
        self.stripped |= newly_clipped > 0 or len(done) + self._written() - written != len(chunk)
        return done

    def _text(self) -> _cstrip.Text | None:
        """`into`, for the C emulator: a C Text wherever the C helpers are (see logtext)."""
        return cast("_cstrip.Text | None", self.into)

    def _written(self) -> int:
        return len(self.into) if self.into is not None else 0

    def _emulate(self, chunk: bytes, stamped: bool) -> bytes:
        self.stripped = True
        if self._emulator is None:
            self._emulator = (
                _cstrip.Emulator(clip=MAX_LINE_BYTES) if _cstrip is not None else _Emulator()
            )
        if isinstance(self._emulator, _Emulator):  # (`stamped` is only ever set for C)
            return self._give(self._clip_long_lines(self._emulator.feed(chunk)))
        return self._emulator.feed(chunk, self._text(), stamped)  # clips as it goes

    def _flush_emulator(self) -> bytes:
        if self._emulator is None:
            return b""
        emulator, self._emulator = self._emulator, None
        if isinstance(emulator, _Emulator):
            done = self._give(self._clip_long_lines(emulator.finish()))
        else:
            done = emulator.finish(self._text())
            self.clipped_lines += emulator.clipped
        self.lost_moves += emulator.lost_moves
        return done

    def _clip_long_lines(self, chunk: bytes) -> bytes:
        if len(chunk) <= MAX_LINE_BYTES:
            return chunk
        pieces = []
        done = 0
        for start, end in _long_lines(chunk):
            pieces.append(chunk[done:start])
            pieces.append(_cut_utf8(chunk[start:end], MAX_LINE_BYTES))
            done = end
            self.clipped_lines += 1
        if not pieces:
            return chunk
        self.stripped = True
        pieces.append(chunk[done:])
        return b"".join(pieces)


def _long_lines(chunk: bytes) -> Iterator[tuple[int, int]]:
    """Where the lines longer than MAX_LINE_BYTES start and end (before their newline)."""
    # Jump a window at a time: rfind finds the last newline of each window,
    # so a window without one starts a line longer than the window.
    pos, end = 0, len(chunk)
    while end - pos > MAX_LINE_BYTES:
        newline = chunk.rfind(b"\n", pos, pos + MAX_LINE_BYTES + 1)
        if newline >= 0:
            pos = newline + 1
            continue
        line_end = chunk.find(b"\n", pos)
        line_end = end if line_end < 0 else line_end
        yield pos, line_end
        pos = line_end + 1


def starts_with_gha_timestamp(head: bytes) -> bool:
    """Whether a log that starts with `head` carries GitHub Actions timestamps."""
    return _GHA_TIMESTAMP_FIRST.match(head) is not None


def strip_text(raw: bytes) -> str:
    """Strip a whole small log at once (tests, excerpts, the workbench)."""
    stripper = Stripper()
    out = stripper.feed(raw) + stripper.finish()
    return out.decode("utf-8").removesuffix("\n")
