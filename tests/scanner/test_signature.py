"""Signatures: what changes between runs goes, what names the failure stays."""

from __future__ import annotations

import pytest

from citriage.scanner.signature import is_generic_signature, signature


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "2024-01-31T12:34:56.789Z ERROR connection to 10.0.0.7:5432 refused after 1.5s",
            "2024-02-01T08:00:01.001Z ERROR connection to 10.0.3.9:6543 refused after 12s",
        ),
        (
            "RuntimeError: tensor at 0x7f3a2b1c0d00 freed twice",
            "RuntimeError: tensor at 0x55aa00112233 freed twice",
        ),
        (
            "checkout of 4eb869d365a9443caf3485db60ac89b08418ad93 failed",
            "checkout of 93846705e9e3f9cf554b523be20273dc94e9f2ee failed",
        ),
        (
            "job 123e4567-e89b-12d3-a456-426614174000 lost its lease",
            "job 00000000-1111-2222-3333-444444444444 lost its lease",
        ),
        (
            "OSError: [Errno 28] No space left on device: '/tmp/pytest-of-root/pytest-12/f.bin'",
            "OSError: [Errno 28] No space left on device: '/tmp/tmpa8f3kx/f.bin'",
        ),
        (
            "/home/runner/work/acme/acme/src/a.c:3:9: error: unknown type name 'sizet'",
            "/home/runner/work/fork/acme/src/a.c:7:2: error: unknown type name 'sizet'",
        ),
        (
            "Timed out after 300 seconds waiting for pod",
            "Timed out after 120 seconds waiting for pod",
        ),
    ],
)
def test_runs_of_the_same_failure_share_a_signature(first: str, second: str) -> None:
    assert signature(first) == signature(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "FAILED tests/test_io.py::test_read_2 - AssertionError",
            "FAILED tests/test_io.py::test_read_3 - AssertionError",
        ),
        ("--- FAIL: TestParse (0.01s)", "--- FAIL: TestFormat (0.01s)"),
        ("ImportError: cannot import name 'a'", "ImportError: cannot import name 'b'"),
        ("src/a.c:3:9: error: unknown type", "src/b.c:3:9: error: unknown type"),
    ],
)
def test_different_tests_and_files_keep_different_signatures(first: str, second: str) -> None:
    assert signature(first) != signature(second)


def test_signature_keeps_the_words() -> None:
    key = signature("2024-01-31T12:34:56Z   FAILED tests/test_io.py::test_read_2 - took 3.2s")
    assert key == "FAILED tests/test_io.py::test_read_2 - took <duration>"


def test_generic_signatures() -> None:
    assert is_generic_signature(signature("##[error]Process completed with exit code 1."))
    assert is_generic_signature(signature("make: *** [all] Error 2"))
    assert is_generic_signature(signature("error 0x1234 at 10.0.0.1:80"))
    assert not is_generic_signature(signature("ImportError: cannot import name 'frobnicate'"))
