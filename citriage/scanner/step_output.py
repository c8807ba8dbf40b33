"""CircleCI step output (the JSON array an action's `output_url` serves), read as a stream.

`[{"type": "out", "time": "...", "message": "..."}, ...]`: the messages, in
order, are the log. One message can be hundreds of megabytes, so a message is
given out in pieces as it is read (JSON parsers hand out whole strings, and
holding one, decoded, costs several times its size): time is linear in the
input and memory bounded by the read block, whatever the messages' sizes.

Only the shape CircleCI serves is read: an array of objects, of which the
`message` members that are strings are kept and every other value skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

_BLANK = re.compile(rb"[ \t\r\n]*")
_SCALAR = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null")
_PLAIN = re.compile(rb'[^"{}\[\]]*')  # inside a skipped value: no string, no nesting
_BACKSLASH = 0x5C
_QUOTE = 0x22
_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_LONGEST_ESCAPE = 12  # a surrogate pair, \uD83D\uDE00
PIECE_BYTES = 1 << 20  # a string's text is decoded and given out this much at a time
_KEY_LIMIT = 64
_SCALAR_LIMIT = 1024  # longer numbers than this are not CircleCI's


class Broken(Exception):
    """The JSON text stops making sense here; the message says how."""


class NotStepOutput(Exception):
    """The input started like CircleCI step output but is not JSON."""


def messages(blocks: Iterator[bytes], problems: list[str]) -> Iterator[bytes]:
    """The `message` of every entry, in order, as UTF-8 pieces.

    Broken JSON keeps what came before the break (and says so in `problems`);
    broken JSON before any message text means this was not step output after
    all: NotStepOutput.
    """
    reader = _Reader(blocks)
    entries = 0
    started = False  # some text of the entry being read was given out
    try:
        reader.expect(b"[")
        if reader.peek() == ord("]"):
            reader.pos += 1
        else:
            while True:
                if reader.peek() == ord("{"):
                    for piece in _entry_messages(reader):
                        started = True
                        yield piece
                else:
                    reader.skip_value()
                entries, started = entries + 1, False
                if reader.peek() == ord("]"):
                    reader.pos += 1
                    break
                reader.expect(b",")
        if not reader.at_end():
            raise Broken("text follows the array")
    except Broken as exc:
        if entries == 0 and not started:
            raise NotStepOutput(str(exc)) from None
        partly = " and the start of the next" if started else ""
        problems.append(
            f"step output JSON is broken after {entries} entries ({exc}); kept those{partly}"
        )


def _entry_messages(reader: _Reader) -> Iterator[bytes]:
    """The `message` of one entry (the reader is at its `{`), in pieces."""
    reader.expect(b"{")
    if reader.peek() == ord("}"):
        reader.pos += 1
        return
    while True:
        reader.expect(b'"')
        key = b""
        for piece in reader.string():
            key += piece[: _KEY_LIMIT - len(key)]
        reader.expect(b":")
        if key == b"message" and reader.peek() == _QUOTE:
            reader.pos += 1
            yield from reader.string()
        else:
            reader.skip_value()
        if reader.peek() == ord("}"):
            reader.pos += 1
            return
        reader.expect(b",")


class _Reader:
    """JSON text from an iterator of blocks, read front to back without holding it whole."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self.blocks = blocks
        self.buf = b""
        self.pos = 0

    def more(self) -> bool:
        """Append the next block (dropping what was read); False at the end of the text."""
        block = next(self.blocks, None)
        if block is None:
            return False
        self.buf = self.buf[self.pos :] + block if self.pos < len(self.buf) else block
        self.pos = 0
        return True

    def peek(self) -> int:
        """The next byte that is not white space (not consumed)."""
        while True:
            match = _BLANK.match(self.buf, self.pos)
            assert match is not None
            self.pos = match.end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                raise Broken("the text ends early")

    def expect(self, token: bytes) -> None:
        if self.peek() != token[0]:
            found = self.buf[self.pos : self.pos + 10]
            raise Broken(f"expected {token.decode()!r} at {found!r}")
        self.pos += 1

    def at_end(self) -> bool:
        try:
            self.peek()
        except Broken:
            return True
        return False

    def string(self, *, decode: bool = True) -> Iterator[bytes]:
        """The rest of a string (after its opening quote), decoded to UTF-8, in pieces."""
        while True:
            limit = min(len(self.buf), self.pos + PIECE_BYTES)
            close = _closing_quote(self.buf, self.pos, limit)
            end = close if close >= 0 else _safe_cut(self.buf, self.pos, limit)
            if end > self.pos and decode:
                yield _decoded(self.buf[self.pos : end])
            self.pos = end
            if close >= 0:
                self.pos += 1
                return
            if limit == len(self.buf) and not self.more():
                raise Broken("the text ends inside a string")

    def skip_value(self) -> None:
        first = self.peek()
        if first == _QUOTE:
            self.pos += 1
            for _ in self.string(decode=False):
                pass
        elif first in b"[{":
            self._skip_nested()
        else:
            while True:  # a number, true, false or null, maybe cut by the end of the block
                match = _SCALAR.match(self.buf, self.pos)
                whole = match is not None and match.end() < len(self.buf)
                if not whole and len(self.buf) - self.pos < _SCALAR_LIMIT and self.more():
                    continue
                if match is None:
                    raise Broken(f"unexpected {self.buf[self.pos : self.pos + 10]!r}")
                self.pos = match.end()
                return

    def _skip_nested(self) -> None:
        depth = 0
        while True:
            byte = self.peek()
            if byte == _QUOTE:
                self.pos += 1
                for _ in self.string(decode=False):
                    pass
                continue
            self.pos += 1
            if byte in b"[{":
                depth += 1
            elif byte in b"]}":
                depth -= 1
                if depth == 0:
                    return
            else:  # numbers, literals, commas and colons
                match = _PLAIN.match(self.buf, self.pos)
                assert match is not None
                self.pos = match.end()


def _closing_quote(buf: bytes, pos: int, limit: int) -> int:
    """Where the string that continues at `pos` ends (its closing quote) before `limit`, or -1."""
    quote = buf.find(b'"', pos, limit)
    while quote >= 0:
        backslashes = 0
        while quote - backslashes - 1 >= pos and buf[quote - backslashes - 1] == _BACKSLASH:
            backslashes += 1
        if backslashes % 2 == 0:
            return quote
        quote = buf.find(b'"', quote + 1, limit)
    return -1


def _safe_cut(buf: bytes, pos: int, end: int) -> int:
    """The furthest place up to `end` where the string's text can be cut and decoded.

    Not inside an escape (`\\n`, `\\u00e9`), not between the halves of a
    surrogate pair, not inside a UTF-8 sequence.
    """
    backslash = buf.find(b"\\", max(pos, end - _LONGEST_ESCAPE), end)
    if backslash >= 0:
        run_start = backslash
        while run_start > pos and buf[run_start - 1] == _BACKSLASH:
            run_start -= 1
        if (backslash - run_start) % 2:
            return backslash + 1  # it ends an escaped backslash
        high = backslash - 6  # an escape starts here; keep a surrogate pair together
        if (
            high >= pos
            and _HIGH_SURROGATE.fullmatch(buf, high, backslash)
            and _escapes(buf, pos, high)
        ):
            return high
        return backslash
    for back in range(1, min(4, end - pos) + 1):  # a UTF-8 sequence cut short
        byte = buf[end - back]
        if byte < 0x80:
            return end
        if byte >= 0xC0:
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return end if back >= length else end - back
    return end


def _escapes(buf: bytes, pos: int, at: int) -> bool:
    """The backslash at `at` starts an escape (it is not itself escaped)."""
    run = 0
    while at - run - 1 >= pos and buf[at - run - 1] == _BACKSLASH:
        run += 1
    return run % 2 == 0


def _decoded(raw: bytes) -> bytes:
    """A piece of a JSON string's text, its escapes decoded, as UTF-8."""
    if b"\\" not in raw:
        return raw  # invalid UTF-8 is repaired later, with the rest of the log
    try:
        text = json.loads('"' + raw.decode("utf-8", "replace") + '"', strict=False)
    except ValueError as exc:
        raise Broken(f"a bad escape in a string ({exc})") from None
    assert isinstance(text, str)
    return text.encode("utf-8", "surrogatepass")
