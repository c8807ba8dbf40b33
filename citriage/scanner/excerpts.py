"""A few lines of context around a match, safe to put in HTML or plain text."""

from __future__ import annotations

import html
from dataclasses import dataclass

from citriage.scanner.logtext import LogText

MAX_EXCERPT_LINE = 400  # characters of a context line shown; the matched span is always kept


@dataclass(frozen=True)
class ExcerptLine:
    number: int
    text: str
    is_match: bool
    span: tuple[int, int] | None = None  # within `text`, for the matched line


@dataclass(frozen=True)
class Excerpt:
    lines: tuple[ExcerptLine, ...]

    def plain(self) -> str:
        width = len(str(self.lines[-1].number)) if self.lines else 1
        return "\n".join(
            f"{'>' if line.is_match else ' '} {line.number:>{width}} | {line.text}"
            for line in self.lines
        )

    def html(self) -> str:
        """Escaped HTML; the matched span is wrapped in <mark>."""
        rows = []
        for line in self.lines:
            if line.span:
                start, end = line.span
                body = (
                    html.escape(line.text[:start])
                    + "<mark>"
                    + html.escape(line.text[start:end])
                    + "</mark>"
                    + html.escape(line.text[end:])
                )
            else:
                body = html.escape(line.text)
            css = "line match" if line.is_match else "line"
            rows.append(
                f'<span class="{css}" data-line="{line.number}">'
                f'<span class="no">{line.number}</span>{body}</span>'
            )
        return "\n".join(rows)


def window(
    text: str, span: tuple[int, int] | None, width: int
) -> tuple[str, tuple[int, int] | None]:
    """`text` cut to about `width` characters centred on `span` ("…" where cut), and the span
    within what is kept. A match longer than `width` keeps its start."""
    if len(text) <= width:
        return text, span
    if span is None:
        return text[:width] + "…", None
    start, end = span
    left = max(0, min(start - max(0, width - (end - start)) // 2, len(text) - width))
    right = min(len(text), left + width)
    prefix = "…" if left else ""
    suffix = "…" if right < len(text) else ""
    shift = left - len(prefix)
    kept = (start - shift, min(end, right) - shift)
    return prefix + text[left:right] + suffix, kept


def _shorten(text: str, span: tuple[int, int] | None) -> tuple[str, tuple[int, int] | None]:
    return window(text, span, MAX_EXCERPT_LINE)


def excerpt(
    log: LogText, line: int, context: int = 3, span: tuple[int, int] | None = None
) -> Excerpt:
    """Lines `line - context` .. `line + context` (1-based, clipped to the log)."""
    total = log.line_count
    first, last = max(1, line - context), min(total, line + context)
    lines = []
    for number in range(first, last + 1):
        is_match = number == line
        text, shown_span = _shorten(log.line(number), span if is_match else None)
        lines.append(ExcerptLine(number, text, is_match, shown_span))
    return Excerpt(tuple(lines))
