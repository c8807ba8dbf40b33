"""Escape stripping against terminal-to-html's renderings, and the cases behind them."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from citriage.scanner import terminal
from citriage.scanner.terminal import MAX_LINE_BYTES, Stripper, strip_text

RENDER_WRAP = 32000  # terminal-to-html wraps lines at this many columns


def visible_text(rendered: str) -> str:
    """The text a reader sees in terminal-to-html output.

    Buildkite timestamps are rendered as <time> elements; citriage removes
    them (they are metadata, not output), so they are dropped here too.
    """
    rendered = re.sub(r"<time[^>]*>.*?</time>", "", rendered, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace("\xa0", " ")
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def unwrapped(lines: list[str]) -> list[str]:
    """Undo terminal-to-html's wrapping of long lines."""
    joined: list[str] = []
    for line in lines:
        if joined and len(joined[-1]) % RENDER_WRAP == 0 and joined[-1]:
            joined[-1] += line
        else:
            joined.append(line)
    return joined


def terminal_cases(corpus: Path) -> list[Path]:
    return sorted((corpus / "logs" / "terminal").glob("*.raw"))


@pytest.fixture(params=["c", "python"])
def emulator(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with the C helpers (where built) and with the Python fallback."""
    if request.param == "python":
        monkeypatch.setattr(terminal, "_cstrip", None)
    elif terminal._cstrip is None:
        pytest.skip("the C helper is not built")
    return str(request.param)


def test_every_terminal_capture_renders_like_terminal_to_html(corpus: Path, emulator: str) -> None:
    cases = terminal_cases(corpus)
    assert len(cases) >= 9
    for raw in cases:
        expected = unwrapped(
            visible_text(raw.with_suffix(".rendered").read_text("utf-8")).split("\n")
        )
        got = strip_text(raw.read_bytes()).split("\n")
        assert len(got) == len(expected), raw.name
        for number, (ours, theirs) in enumerate(zip(got, expected, strict=True), start=1):
            if len(theirs.encode()) > MAX_LINE_BYTES:  # citriage cuts overlong lines
                assert len(ours.encode()) <= MAX_LINE_BYTES
                assert theirs.startswith(ours), f"{raw.name}:{number}"
            else:
                assert ours == theirs, f"{raw.name}:{number}"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"\x1b[31mred\x1b[0m plain", "red plain"),
        (b"\x1b[1;38;5;208mbold orange\x1b[m", "bold orange"),
        (b"\x1b]8;;https://example.com\x1b\\link\x1b]8;;\x1b\\", "link"),
        (b"\x1b]0;window title\x07text", "text"),
        (b"\x1b_bk;t=1706575117741\x07started", "started"),
        (b"\x1b(Bcharset", "charset"),
        (b"progress 10%\rprogress 55%\rprogress 100%", "progress 100%"),
        (b"abc\rxy", "xyc"),
        (b"windows line\r\nnext\r\n", "windows line\nnext"),
        (b"tab\tstays\x00\x07\x0b\x0c", "tab\tstays"),
        (b"trailing   \t", "trailing"),
        (b"12345\x08\x08ab", "123ab"),
        (b"loading...\r\x1b[Kdone", "done"),
        (b"one\ntwo\x1b[1A\x1b[2K\runo\n", "uno\ntwo"),
        (b"one\ntwo\x1b[1A\x1b[2Kuno\n", "   uno\ntwo"),
        (b"\xef\xbb\xbfbom", "bom"),
        ("h\u00e9llo\rab".encode(), "abllo"),  # columns are characters, not bytes
        (b"a\x01\x02bc\rxyz", "xyz"),  # controls take no column
        (b"\x01\x1b[31mred", "red"),  # an escape right after another control
        (b"abcdef\x1b[3D\x1b[1K", "    ef"),  # erase from the start through the cursor
        (b"a\x1b[" + b"9" * 5000 + b"Cb", "a" + " " * (MAX_LINE_BYTES - 1)),  # cut at 16 KiB
        (b"title \x1b]0;unterminated\nnext", "title"),
        (b"bad \xff\xfe utf8", "bad \ufffd\ufffd utf8"),
    ],
)
def test_stripping(raw: bytes, shown: str, emulator: str) -> None:
    assert strip_text(raw) == shown


def test_github_actions_timestamps_are_removed_from_every_line() -> None:
    raw = (
        b"\xef\xbb\xbf2024-05-01T10:00:00.1234567Z ##[group]Run pytest\n"
        b"2024-05-01T10:00:01.0000000Z E   assert 1 == 2\n"
        b"2024-05-01T10:00:02.5Z ##[error]Process completed with exit code 1.\n"
    )
    assert strip_text(raw).split("\n") == [
        "##[group]Run pytest",
        "E   assert 1 == 2",
        "##[error]Process completed with exit code 1.",
    ]


def test_timestamps_are_left_alone_when_the_log_does_not_start_with_one() -> None:
    raw = b"build started\n2024-05-01T10:00:00Z is when it began\n"
    assert strip_text(raw) == "build started\n2024-05-01T10:00:00Z is when it began"


def test_stripped_flag_reports_whether_anything_changed() -> None:
    plain = Stripper()
    plain.feed(b"nothing to strip\n")
    assert not plain.stripped
    coloured = Stripper()
    coloured.feed(b"\x1b[32mok\x1b[0m\n")
    assert coloured.stripped


def test_overlong_lines_are_cut_on_a_character_boundary() -> None:
    line = ("é" * MAX_LINE_BYTES).encode()  # two bytes a character
    stripper = Stripper()
    out = stripper.feed(line + b"\nshort\n") + stripper.finish()
    first, second, _ = out.split(b"\n")
    assert len(first) <= MAX_LINE_BYTES
    assert first.decode("utf-8") == "é" * (len(first) // 2)
    assert second == b"short"
    assert stripper.clipped_lines == 1


def test_backspace_progress_bar_keeps_only_its_final_state() -> None:
    bar = b"".join(b"[" + b"#" * i + b"-" * (10 - i) + b"]" + b"\x08" * 12 for i in range(11))
    assert strip_text(b"before\n" + bar + b"\nafter") == "before\n[##########]\nafter"


def test_cursor_movement_reaches_back_into_the_previous_emulated_chunk() -> None:
    stripper = Stripper()
    out = stripper.feed(b"pull a: waiting\x1b[K\npull b: waiting\x1b[K\n")
    out += stripper.feed(b"\x1b[2A\x1b[2Kpull a: done\x1b[2B\n")
    out += stripper.finish()
    assert out == b"pull a: done\npull b: waiting\n\n"
