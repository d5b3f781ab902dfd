"""Metric plots as inline SVG text: one chart per metric, a line per sweep point.

Made here, not by a plotting library, so the page needs no script from elsewhere and the
server no heavy import. Every label is escaped; values only become coordinates.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 360, 150, 34
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7b83")

Series = tuple[tuple[float, float], ...]


def metric_plots(by_point: Mapping[str, Mapping[str, Series]]) -> list[dict[str, Any]]:
    """For each metric (sorted by name): its name and the SVG of its chart."""
    names = sorted({name for series in by_point.values() for name in series})
    plots = []
    for name in names:
        lines = {p: s[name] for p, s in sorted(by_point.items()) if s.get(name)}
        plots.append({"metric": name, "svg": _chart(name, lines)})
    return plots


def _chart(name: str, lines: Mapping[str, Series]) -> str:
    steps = [x for series in lines.values() for x, _ in series]
    values = [y for series in lines.values() for _, y in series]
    x0, x1 = min(steps), max(steps)
    y0, y1 = min(values), max(values)

    def at(x: float, y: float) -> str:
        px = PAD + (x - x0) / ((x1 - x0) or 1) * (WIDTH - 2 * PAD)
        py = HEIGHT - PAD + (y0 - y) / ((y1 - y0) or 1) * (HEIGHT - 2 * PAD)
        return f"{px:.1f},{py:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(name)}">',
        f'<text x="{PAD}" y="14" class="title">{escape(name)}</text>',
        f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" '
        'class="frame"/>',
        f'<text x="2" y="{PAD + 4}" class="tick">{_num(y1)}</text>',
        f'<text x="2" y="{HEIGHT - PAD}" class="tick">{_num(y0)}</text>',
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" class="tick">{_num(x0)}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 14}" class="tick" '
        f'text-anchor="end">{_num(x1)}</text>',
    ]
    for index, (point, series) in enumerate(lines.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(at(x, y) for x, y in series)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{points}">'
            f"<title>point {escape(point)}: last {_num(series[-1][1])}</title></polyline>"
        )
        parts.append(
            f'<text x="{WIDTH - PAD + 3}" y="{PAD + 12 * index + 8}" class="key" '
            f'fill="{colour}">{escape(point)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _num(value: float) -> str:
    return f"{value:.4g}"
