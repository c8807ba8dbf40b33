"""Plotly figures as plain data: the page passes them to plotly.js (served locally)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.utils.safestring import SafeString, mark_safe

from citriage.triage.models import Verdict

VERDICT_COLOURS = {
    Verdict.NEW: "#cf222e",
    Verdict.UNMATCHED: "#bc4c00",
    Verdict.TIMEOUT: "#9a6700",
    Verdict.NO_LOG: "#8c959f",
    Verdict.INFRA: "#8250df",
    Verdict.KNOWN_PROBLEM: "#0969da",
    Verdict.FLAKY_PATTERN: "#1a7f37",
    Verdict.FLAKY_CONFIRMED: "#4ac26b",
    Verdict.FLAKY_MARKED: "#2da44e",
    Verdict.FLAKY_TEST: "#82e596",
    Verdict.PENDING: "#d0d7de",
}
LAYOUT = {
    "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
    "height": 260,
    "barmode": "stack",
    "legend": {"orientation": "h"},
    "font": {"size": 11},
    # room for the tick labels (dates, job names) instead of cutting them
    "xaxis": {"automargin": True},
    "yaxis": {"automargin": True},
}


def to_json(figure: dict[str, Any]) -> SafeString:
    """Figure JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(figure, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return mark_safe(text)


def stacked_bars(
    x: Sequence[Any], series: Mapping[str, Sequence[int]], colours: Mapping[str, str] | None = None
) -> dict[str, Any]:
    data = []
    for name, values in series.items():
        trace: dict[str, Any] = {"type": "bar", "name": name, "x": list(x), "y": list(values)}
        if colours and name in colours:
            trace["marker"] = {"color": colours[name]}
        data.append(trace)
    return {"data": data, "layout": LAYOUT}


def bars(
    labels: Iterable[str], values: Iterable[int], *, horizontal: bool = True
) -> dict[str, Any]:
    labels, values = list(labels), list(values)
    trace: dict[str, Any] = {"type": "bar", "orientation": "h" if horizontal else "v"}
    if horizontal:
        trace |= {"y": labels[::-1], "x": values[::-1]}
    else:
        trace |= {"x": labels, "y": values}
    layout = {**LAYOUT, "margin": {"l": 180 if horizontal else 40, "r": 10, "t": 10, "b": 40}}
    return {"data": [trace], "layout": layout}


def sparkline(values: Sequence[int], width: int = 96, height: int = 20) -> SafeString:
    """A tiny inline SVG trend (no script needed in long tables)."""
    if not values or max(values) == 0:
        return mark_safe(f'<svg class="spark" width="{width}" height="{height}"></svg>')
    top = max(values)
    step = width / max(1, len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 1 - (v / top) * (height - 2):.1f}" for i, v in enumerate(values)
    )
    return mark_safe(
        f'<svg class="spark" width="{width}" height="{height}" aria-label="trend">'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>'
    )
