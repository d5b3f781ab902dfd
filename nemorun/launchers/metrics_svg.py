"""Metric series drawn as one SVG: a small chart per metric, stacked, with its axes' ranges.

Written by hand (a few elements: polyline, text, rect) rather than with a plotting library, so
``nemorun metrics --svg`` needs nothing installed. Every text goes through XML escaping (metric
names are the job's words). Deterministic: the same series give the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape

from nemorun.launchers.metrics import Series, format_number

WIDTH = 640
CHART_HEIGHT = 160
MARGIN_LEFT = 70
MARGIN_RIGHT = 20
TITLE_HEIGHT = 24
GAP = 36


def metrics_svg(series: Mapping[str, Series], title: str = "") -> str:
    """An SVG document with one line chart per metric of ``series`` (in its order)."""
    top = TITLE_HEIGHT if title else 0
    height = top + len(series) * (CHART_HEIGHT + GAP) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
    ]
    if title:
        parts.append(f'<text x="10" y="17" font-size="14">{escape(title)}</text>')
    for index, (name, points) in enumerate(series.items()):
        parts.extend(_chart(name, points, top + index * (CHART_HEIGHT + GAP) + GAP - 10))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _chart(name: str, points: Series, y0: float) -> list[str]:
    """One metric's chart, its plot area starting at height ``y0``."""
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    bottom = y0 + CHART_HEIGHT
    steps = [s for s, _ in points]
    values = [v for _, v in points]
    lo_s, hi_s = min(steps), max(steps)
    lo_v, hi_v = min(values), max(values)

    def x(step: float) -> float:
        return left + (right - left) * ((step - lo_s) / (hi_s - lo_s) if hi_s > lo_s else 0.5)

    def y(value: float) -> float:
        share = (value - lo_v) / (hi_v - lo_v) if hi_v > lo_v else 0.5
        return bottom - CHART_HEIGHT * share

    line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
    last = format_number(values[-1])
    return [
        f'<text x="{left}" y="{y0 - 6}" font-weight="bold">{escape(name)}'
        f'<tspan font-weight="normal"> (last {escape(last)})</tspan></text>',
        f'<rect x="{left}" y="{y0}" width="{right - left}" height="{CHART_HEIGHT}" '
        'fill="none" stroke="#bbb"/>',
        f'<text x="{left - 6}" y="{y0 + 10}" text-anchor="end">{format_number(hi_v)}</text>',
        f'<text x="{left - 6}" y="{bottom}" text-anchor="end">{format_number(lo_v)}</text>',
        f'<text x="{left}" y="{bottom + 14}">step {format_number(lo_s)}</text>',
        f'<text x="{right}" y="{bottom + 14}" text-anchor="end">{format_number(hi_s)}</text>',
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{line}"/>',
    ]
