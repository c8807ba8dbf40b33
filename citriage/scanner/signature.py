"""A stable key for a log line: the same failure on another day, machine or run gets the same key.

What varies between runs is replaced by a placeholder: timestamps, durations,
UUIDs, memory addresses, hex ids (commit SHAs, container ids), IP addresses
and ports, temporary and workspace paths, and numbers standing on their own.
What names the failure is kept: words, test names (digits inside an
identifier such as `test_case_2` stay), file names and exception types.
"""

from __future__ import annotations

import re

from citriage.scanner.boilerplate import is_generic

MAX_SIGNATURE = 300

# Order matters: the specific shapes go before the bare numbers they contain.
_REPLACEMENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(expression), placeholder)
    for expression, placeholder in (
        # 2024-01-31T12:34:56.789Z, 2024-01-31 12:34:56,789 +0000
        (
            r"\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|\s?[+-]\d\d:?\d\d)?)?",
            "<time>",
        ),
        (r"\b\d\d?:\d\d:\d\d(?:[.,]\d+)?\b", "<time>"),  # 12:34:56.789
        (
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b",
            "<uuid>",
        ),
        (r"\b0x[0-9a-fA-F]+\b", "<addr>"),
        # Temporary directories and CI workspaces (the part after them stays).
        (r"(?:/private)?/var/folders/[^\s/]+/[^\s/]+/[^\s/]+", "<tmp>"),
        (r"/tmp/pytest-of-[^\s/]+/pytest-\d+", "<tmp>"),
        (r"/tmp/[^\s/:'\"]+", "<tmp>"),
        (r"(?i)[a-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp\\[^\\\s]+", "<tmp>"),
        (r"/home/[^\s/]+/(?:work|build)/[^\s/]+/[^\s/]+", "<workspace>"),
        (r"/__w/[^\s/]+/[^\s/]+", "<workspace>"),
        (r"(?i)[a-z]:\\a\\[^\\\s]+\\[^\\\s]+", "<workspace>"),
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "<ip>"),
        (r"(?<=[\w>\]]):\d{2,5}\b(?![:\d])(?=/|\s|$|[)\],;'\"])", ":<port>"),
        # Hex ids: 7+ hex digits holding both a digit and a letter (not plain words).
        (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b", "<hex>"),
        (
            r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|milliseconds?|s|secs?|seconds?|mins?|minutes?|h|hours?)\b",
            "<duration>",
        ),
        (r"(?<![\w.<])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w>])", "<n>"),
        (r"\s+", " "),
    )
)

_PREFIX = re.compile(
    r"""^(?:
        \s*\[?\d{4}-\d\d-\d\d[T ][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]?\s*   # ISO timestamp
      | \s*\[?\d\d:\d\d:\d\d(?:[.,]\d+)?\]?\s+                         # clock time
    )""",
    re.VERBOSE,
)


def signature(line: str) -> str:
    """The stable key of `line` (see the module doc)."""
    text = _PREFIX.sub("", line, count=1)
    for pattern, placeholder in _REPLACEMENTS:
        text = pattern.sub(placeholder, text)
    return text.strip()[:MAX_SIGNATURE]


_PLACEHOLDER = re.compile(r"<(?:time|uuid|addr|tmp|workspace|ip|port|hex|duration|n)>")


def is_generic_signature(key: str) -> bool:
    """A key that says nothing specific (an exit-code line, or little but placeholders).

    Such keys are never grouped as evidence of anything (flakiness least of all).
    """
    if not key or is_generic(key.replace("<n>", "1")):
        return True
    words = re.findall(r"[A-Za-z]{2,}", _PLACEHOLDER.sub(" ", key))
    return sum(len(word) for word in words) < 12
