"""CircleCI step output read as a stream: messages in pieces, broken JSON, linear time."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from citriage.scanner import step_output
from citriage.scanner.logtext import read_log

# Escapes of every kind, so that block boundaries fall inside each of them.
TRICKY_MESSAGE = (
    '\x1b[32mok\x1b[0m "quoted" back\\slash \\\\ double \r\n'
    "café naïve — 日本語 😀🎉 \ud83d lone\t tab \u0001 control / solidus\n"
) * 40


def in_blocks(data: bytes, seed: int) -> Iterator[bytes]:
    """The data in blocks of 1 to 40 bytes."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        size = rng.randint(1, 40)
        yield data[pos : pos + size]
        pos += size


def read(data: bytes, seed: int = 0) -> tuple[bytes, list[str]]:
    problems: list[str] = []
    text = b"".join(step_output.messages(in_blocks(data, seed), problems))
    return text, problems


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_messages_cut_anywhere_decode_exactly(ensure_ascii: bool, seed: int) -> None:
    # A lone surrogate can only be spelled as an escape: raw, it is not UTF-8 text.
    message = TRICKY_MESSAGE if ensure_ascii else TRICKY_MESSAGE.replace("\ud83d", "")
    entries = [
        {"type": "out", "time": "2024-01-01T00:00:00Z", "message": message},
        {"type": "err", "message": "second\n", "truncated": False},
    ]
    data = json.dumps(entries, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    text, problems = read(data, seed)
    assert problems == []
    expected = "".join(e["message"] for e in entries)  # type: ignore[misc]
    assert text == expected.encode("utf-8", "surrogatepass")


def test_other_members_and_non_string_messages_are_skipped() -> None:
    data = json.dumps(
        [
            {
                "type": "out",
                "extra": {"a": [1, -2.5e3, {"b": ']}\\"', "c": None}]},
                "message": "hi\n",
            },
            {"message": 42, "type": "out"},
            {"message": ["not", "text"]},
            "a string entry",
            7,
            {},
            {"time": "t", "message": "bye\n"},
        ]
    ).encode()
    assert read(data) == (b"hi\nbye\n", [])


def test_a_break_inside_a_message_keeps_its_start_and_says_so() -> None:
    data = b'[{"type": "out", "message": "first\\n"}, {"type": "out", "message": "second half'
    text, problems = read(data)
    assert text == b"first\nsecond half"
    assert len(problems) == 1
    assert "broken after 1 entries" in problems[0] and "start of the next" in problems[0]


def test_a_truncated_single_huge_message_keeps_what_arrived() -> None:
    message = "line of output\n" * 100_000
    data = json.dumps([{"type": "out", "message": message}]).encode()
    text, problems = read(data[: len(data) // 2])
    assert message.encode().startswith(text) and len(text) > len(message) // 3
    assert "broken after 0 entries" in problems[0]


def test_text_that_is_not_json_is_not_step_output() -> None:
    for data in [b"[{ not json at all\n", b'[{"message" 1}]', b'[{"type": "out"']:
        with pytest.raises(step_output.NotStepOutput):
            list(step_output.messages(iter([data]), []))


def test_a_bad_escape_or_trailing_text_stops_with_a_warning() -> None:
    text, problems = read(b'[{"message": "ok\\n"}, {"message": "bad \\x escape"}]')
    assert text == b"ok\n" and "bad escape" in problems[0]
    text, problems = read(b'[{"message": "ok\\n"}] trailing')
    assert text == b"ok\n" and "text follows the array" in problems[0]


def test_read_log_takes_step_output_with_one_huge_message_in_bounded_pieces() -> None:
    message = "".join(f"\x1b[1mstep {i}\x1b[0m: Killed\r\n" for i in range(200_000))
    pieces: list[int] = []
    problems: list[str] = []
    data = json.dumps([{"type": "out", "message": message}]).encode()
    blocks = iter([data[i : i + 4 << 20] for i in range(0, len(data), 4 << 20)])
    for piece in step_output.messages(blocks, problems):
        pieces.append(len(piece))
    assert max(pieces) <= step_output.PIECE_BYTES and sum(pieces) == len(message.encode())
    log = read_log(data)
    assert log.source_format == "circleci-json" and log.warnings == []
    assert log.line_count == 200_000 and log.lines()[-1] == "step 199999: Killed"
