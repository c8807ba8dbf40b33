"""Template filters for triage pages: verdict labels, linked reasons, matches in context."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from citriage.scanner.excerpts import window
from citriage.triage.models import Verdict

register = template.Library()

# What a stored reason names: breakages, patterns and commits (reasons give at least 10
# hex digits of a sha; no word or line number is that long).
REFERENCE = re.compile(
    r"(?P<breakage>breakage #(?P<bk>\d+))"
    r"|(?P<pattern>pattern #(?P<pt>\d+))"
    r"|(?P<sha>\b[0-9a-f]{10,40}\b)"
)


@register.filter
def verdict_label(value: str | None) -> str:
    """ "known problem" for known_problem: what people read, not the stored name."""
    if not value:
        return "—"
    return str(Verdict(value).label) if value in Verdict.values else str(value)


@register.filter
def reason_links(reason: Any) -> SafeString:
    """A verdict's reason with the breakages, patterns and commits it names linked."""
    text = str(reason)
    parts: list[str] = []
    at = 0
    for found in REFERENCE.finditer(text):
        parts.append(escape(text[at : found.start()]))
        shown = escape(found.group(0))
        if found.group("breakage"):
            href = f"/breakages/{found.group('bk')}/"
        elif found.group("pattern"):
            href = f"/patterns/{found.group('pt')}/"
        else:
            href = f"/commits/{found.group('sha')}/"
        parts.append(f'<a href="{href}">{shown}</a>')
        at = found.end()
    parts.append(escape(text[at:]))
    return mark_safe("".join(parts))


@register.filter
def match_html(match: Any, width: int = 160) -> SafeString:
    """A matched line cut to `width` characters centred on the match, which is marked."""
    if match is None:
        return mark_safe("")
    text, span = window(match.text, (match.start, match.end), int(width))
    if span is None:
        return format_html("<code>{}</code>", text)
    start, end = span
    return format_html(
        '<code class="matched">{}<mark>{}</mark>{}</code>',
        text[:start],
        text[start:end],
        text[end:],
    )
