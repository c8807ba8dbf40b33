"""Markdown rendered the way GitHub shows citriage's check run and comment: CommonMark with
tables and raw HTML (the <details> blocks), then sanitised (GitHub sanitises too)."""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def github_html(text: str) -> SafeString:
    """HTML safe to put in a page: scripts, handlers and styles are removed, links get
    rel="noopener noreferrer", hidden comments go."""
    return mark_safe(nh3.clean(_renderer.render(text), link_rel="noopener noreferrer"))
