"""The C loops of the stripper do exactly what the reference regexes do."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citriage.scanner import logtext, terminal
from citriage.scanner.logtext import read_log
from tests.conftest import CORPUS

_cstrip = terminal._cstrip

# Bytes that make up escapes and timestamps, so generated inputs hit every branch.
ALPHABET = list(b"\x1b\x07\\[]P_^X;?0123456789mABHJKfsu78 -/:.TZa\n\r\t\x00\x9b\xff")
chunks = st.lists(st.sampled_from(ALPHABET), max_size=80).map(bytes)
stamped = st.lists(
    st.tuples(st.booleans(), chunks),
    max_size=8,
).map(
    lambda lines: b"\n".join(
        (b"2024-05-01T10:00:00.1234567Z " if stamp else b"") + body.replace(b"\n", b"")
        for stamp, body in lines
    )
)


def python_timestamps(chunk: bytes) -> bytes:
    chunk = terminal._GHA_TIMESTAMP_NEXT.sub(b"\n", chunk)
    first = terminal._GHA_TIMESTAMP_AT_START.match(chunk)
    return chunk[first.end() :] if first else chunk


def test_the_c_helper_is_built() -> None:
    # `pip install` builds it wherever there is a compiler (make test's machines have one).
    assert _cstrip is not None, "citriage/scanner/_cstrip.c did not build; stripping is slower"


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=3000, deadline=None)
@given(chunks)
def test_escapes_as_the_regex(chunk: bytes) -> None:
    assert _cstrip.strip_escapes(chunk) == terminal._SIMPLE_ESCAPE.sub(b"", chunk)


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=3000, deadline=None)
@given(chunks)
def test_cursor_escape_check_as_the_regex(chunk: bytes) -> None:
    expected = terminal._CURSOR_ESCAPE.search(chunk) is not None
    assert _cstrip.has_cursor_escape(chunk) is expected


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=3000, deadline=None)
@given(st.one_of(chunks, stamped))
def test_timestamps_as_the_regex(chunk: bytes) -> None:
    assert _cstrip.strip_timestamps(chunk) == python_timestamps(chunk)


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=3000, deadline=None)
@given(chunks)
def test_trailing_blanks_as_rstrip(chunk: bytes) -> None:
    expected = b"\n".join(line.rstrip(b" \t") for line in chunk.split(b"\n"))
    assert _cstrip.strip_trailing_blanks(chunk) == expected


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=5000, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=40),
        st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
def test_utf8_check_as_the_decoder(chunk: bytes) -> None:
    try:
        chunk.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert _cstrip.is_utf8(chunk) is valid


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=3000, deadline=None)
@given(chunks)
def test_crlf_as_replace(chunk: bytes) -> None:
    text, rewritten = _cstrip.crlf_to_lf(chunk)
    assert text == chunk.replace(b"\r\n", b"\n")
    assert rewritten is (chunk.count(b"\r") != chunk.count(b"\r\n"))


def test_utf8_check_edges() -> None:
    if _cstrip is None:
        pytest.skip("the C helper is not built")
    for good in (b"", b"a", "é".encode(), "€".encode(), "\U0010ffff".encode(), b"\xed\x9f\xbf"):
        assert _cstrip.is_utf8(good), good
    for bad in (
        b"\xc0\x80",
        b"\xe0\x80\x80",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xe2\x82",
        b"\xff",
        b"\x80",
    ):
        assert not _cstrip.is_utf8(bad), bad


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
def test_corpus_logs_strip_the_same_with_and_without_it(
    corpus: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = sorted((CORPUS / "logs").rglob("*.log")) + sorted((CORPUS / "logs").rglob("*.raw"))
    assert len(logs) > 50
    with_c = [read_log(path).data for path in logs]
    monkeypatch.setattr(terminal, "_cstrip", None)
    assert [read_log(path).data for path in logs] == with_c


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"\n", b"x", b"\n\n", b"abcdefghijklmnop" * 20]), max_size=400).map(
        b"".join
    ),
    st.data(),
)
def test_newline_count_as_bytes_count(data: bytes, choose: st.DataObject) -> None:
    # Inputs run past the 16-byte blocks and the 255-block rounds of the C loop.
    start = choose.draw(st.integers(0, len(data)))
    end = choose.draw(st.integers(start, len(data)))
    assert _cstrip.count_newlines(data, start, end) == data.count(b"\n", start, end)


def test_newline_count_refuses_bounds_outside_the_data() -> None:
    if _cstrip is None:
        pytest.skip("the C helper is not built")
    for start, end in ((-1, 2), (2, 1), (0, 4)):
        with pytest.raises(ValueError, match="start <= end"):
            _cstrip.count_newlines(b"a\nb", start, end)


def test_file_read_from_an_offset(tmp_path: Path) -> None:
    if _cstrip is None:
        pytest.skip("the C helper is not built")
    content = bytes(range(256)) * 40_000  # 10 MB: spans several huge pages
    path = tmp_path / "log"
    path.write_bytes(content)
    with open(path, "rb") as source:
        assert _cstrip.read_file(source.fileno(), 0, len(content)) == content
        assert _cstrip.read_file(source.fileno(), 1234, 5000) == content[1234:6234]
        # Asking past the end (the file shrank since its size was taken) gives what is there.
        assert _cstrip.read_file(source.fileno(), len(content) - 10, 100) == content[-10:]
        with pytest.raises(ValueError, match="must not be negative"):
            _cstrip.read_file(source.fileno(), -1, 10)
        closed = source.fileno()
    with pytest.raises(OSError, match="Bad file descriptor"):
        _cstrip.read_file(closed, 0, 10)


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300).map(lambda b: b.replace(b"\x00", b"\n")),
    st.integers(0, 300),
    st.integers(0, 300),
)
def test_file_read_of_whole_lines(content: bytes, offset: int, size: int) -> None:
    """A read that got all it asked for ends after its last newline, if it holds one; the
    Python fallback (a plain file object) cuts the same."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log"
        path.write_bytes(content)
        part = content[offset : offset + size]
        expected = part[: part.rfind(b"\n") + 1] if len(part) == size and b"\n" in part else part
        with open(path, "rb") as source:
            assert _cstrip.read_file(source.fileno(), offset, size, True) == expected
            assert logtext._read_at(source, offset, size, whole_lines=True) == expected
        with open(path, "rb") as source:
            plain = io.BytesIO(source.read())
            assert logtext._read_at(plain, offset, size, whole_lines=True) == expected
            assert logtext._read_at(plain, offset, size) == part


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"", b"x", b"abcdefghijklmnop" * 3, "é".encode()]), max_size=300))
def test_line_starts_as_the_python_offsets(lines: list[bytes]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    expected = [0]
    for line in lines[:-1]:
        expected.append(expected[-1] + len(line) + 1)
    got = memoryview(_cstrip.line_starts(data)).cast("q").tolist()
    assert got == (expected if lines else [])


@pytest.mark.skipif(_cstrip is None, reason="the C helper is not built")
@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"\n", b"x\n", b"abc\ndef\n", b"\xc3\xa9\n", b"line of text\n" * 50])
    ),
    st.integers(-1, 2_000),
)
def test_text_keeps_what_the_tail_keeps(pieces: list[bytes], limit: int) -> None:
    # The text a stripper writes into one buffer (whole lines at a time), cut to the cap as
    # the tail of pieces cuts it.
    pieces = [*pieces, b"end\n"]
    text, fallback = _cstrip.Text(16), logtext._Pieces()
    tail = logtext._Tail(limit if limit >= 0 else sum(map(len, pieces)))
    for piece in pieces:
        text.append(piece)
        fallback.append(piece)
        tail.add(piece)
    assert len(text) == len(fallback) == sum(map(len, pieces))
    expected = (tail.join(), tail.dropped_lines)
    assert text.take(limit) == expected
    assert fallback.take(limit) == expected
    assert len(text) == 0 and text.take() == (b"", 0)  # taken: empty, and usable again
    text.append(b"again\n")
    assert text.take() == (b"again\n", 0)


def test_text_refuses_what_is_not_bytes() -> None:
    if _cstrip is None:
        pytest.skip("the C helper is not built")
    with pytest.raises(TypeError):
        _cstrip.Text().append("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="into must be a Text"):
        _cstrip.Emulator().feed(b"x\n", [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip must not be negative"):
        _cstrip.Emulator(clip=-1)
