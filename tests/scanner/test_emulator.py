"""The C terminal emulator does exactly what the Python one does (the fallback)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citriage.scanner import logtext, terminal
from citriage.scanner.logtext import _lines
from citriage.scanner.terminal import EMULATOR_WINDOW, MAX_LINE_BYTES, Stripper, _Emulator
from tests.conftest import CORPUS

_cstrip = terminal._cstrip

# CSI parameters and finals that reach every branch of the cursor handling.
params = st.one_of(
    st.sampled_from(["", "0", "1", "2", "3", "5", "?25", "1;5", ";7", "2;", "1:2", "0007", "a"]),
    st.integers(0, 2000).map(str),
    st.just("9" * 30),  # far past any limit
    st.lists(st.sampled_from("0123456789;?:<=>"), max_size=8).map("".join),
)
csi = st.builds(
    lambda p, inter, final: f"\x1b[{p}{inter}{final}",
    params,
    st.sampled_from(["", "", " ", "!"]),
    st.sampled_from(list("ABCDEFGHJKfsumlhX@~")),
)
token = st.one_of(
    csi,
    st.sampled_from(
        [
            "a",
            "progress 42%",
            "é",
            "€uro",
            "😀",
            "\t",
            " ",
            "x" * 300,
            "\n",
            "\n" * (EMULATOR_WINDOW // 2),
            "\r",
            "\r\n",
            "\b",
            "\b\b\b",
            "\x1b7",
            "\x1b8",
            "\x1b]0;title\x07",
            "\x1b]8;;https://example.com\x1b\\",
            "\x1b_bk;t=1\x07",
            "\x1bP unterminated",
            "\x1b[",
            "\x1b",
            "\x1b(B",
            "\x1b #",
            "\x1bc",
            "\x00\x01\x7f\x0b\x0c",
            "\x01\x1b[31m",
            "\xad\u200b",
        ]
    ),
)
chunked = st.lists(st.lists(token, max_size=40).map("".join), min_size=1, max_size=4)


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=2000, deadline=None)
@given(chunked)
def test_c_emulator_as_the_python_one(chunks: list[str]) -> None:
    in_c, in_python = _cstrip.Emulator(), _Emulator()
    for chunk in chunks:
        data = chunk.encode("utf-8")
        assert in_c.feed(data) == in_python.feed(data)
    assert in_c.finish() == in_python.finish()
    assert in_c.lost_moves == in_python.lost_moves


def corpus_logs() -> list[Path]:
    """Every log of the shared corpus (compressed ones too), not the labels beside them."""
    logs = CORPUS / "logs"
    assert logs.is_dir(), f"the shared corpus is not at {CORPUS}"
    suffixes = (".log", ".txt", ".raw", ".log.gz", ".txt.gz")
    return sorted(p for p in logs.rglob("*") if p.is_file() and p.name.endswith(suffixes))


def raw_text(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
def test_every_corpus_log_emulates_the_same_in_c_and_python() -> None:
    # The whole text goes through both emulators, not only the chunks the stripper sends there.
    logs = corpus_logs()
    assert len(logs) > 150
    for path in logs:
        data = raw_text(path).decode("utf-8", "replace").encode("utf-8")
        in_c, in_python = _cstrip.Emulator(), _Emulator()
        for piece in _lines(
            iter([data[i : i + 300_000] for i in range(0, len(data), 300_000)]), [0]
        ):
            assert in_c.feed(piece) == in_python.feed(piece), path
        assert in_c.finish() == in_python.finish(), path
        assert in_c.lost_moves == in_python.lost_moves, path


raw_token = st.one_of(
    token.map(lambda t: t.encode("utf-8")),
    st.binary(max_size=6),
    # GitHub Actions timestamps, whole and cut short, starting lines (the C emulator skips
    # them as it reads), a chunk, or in the middle of a line (kept)
    st.sampled_from(
        [
            b"\n2024-05-01T10:00:00.1234567Z ",
            b"\n2024-05-01T10:00:00Z",
            b"\n2024-05-01T1",
            b"2024-05-01T10:00:00.1Z ",
        ]
    ),
)


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.lists(raw_token, max_size=30).map(b"".join), min_size=1, max_size=4),
    st.sampled_from([None, True, False]),
)
def test_the_stripper_gives_the_same_text_with_and_without_c(
    chunks: list[bytes], gha_timestamps: bool | None
) -> None:
    # Any bytes (bad UTF-8 too), in chunks ending at a newline as read_log gives them.
    chunks = [chunk + b"\n" for chunk in chunks]
    assert_strippers_agree(chunks, gha_timestamps)


def assert_strippers_agree(chunks: list[bytes], gha_timestamps: bool | None = None) -> None:
    """The same text, clipped lines, lost moves and `stripped` from the stripper in C, in
    C writing into one Text, and in Python (returned, and into the fallback's pieces)."""
    outputs = []
    for c_helper, into in (
        (_cstrip, None),
        (_cstrip, _cstrip.Text),
        (None, None),
        (None, logtext._Pieces),
    ):
        terminal._cstrip = c_helper
        try:
            sink = into() if into is not None else None
            stripper = Stripper(gha_timestamps=gha_timestamps, into=sink)
            text = b"".join(stripper.feed(chunk) for chunk in chunks) + stripper.finish()
        finally:
            terminal._cstrip = _cstrip
        if sink is not None:
            assert text == b""
            text = sink.take()[0]
        outputs.append((text, stripper.clipped_lines, stripper.lost_moves, stripper.stripped))
    assert outputs[1:] == outputs[:1] * 3
    outputs[0][0].decode("utf-8")


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(MAX_LINE_BYTES - 4, MAX_LINE_BYTES + 6),
            st.sampled_from(["x", "é", "€", "😀"]),
            st.sampled_from(["", "\x1b[31m", "\x1b[1A", "\r", "  "]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_long_lines_are_cut_alike(lines: list[tuple[int, str, str]]) -> None:
    # Lines around the cut, whose last character may straddle it, with and without escapes
    # and cursor moves (the C emulator cuts as it writes; Python cuts the text after).
    text = "".join(
        escape + ("a" * (size - len(char.encode()))) + char + "\n" for size, char, escape in lines
    )
    assert_strippers_agree([text.encode("utf-8")])
