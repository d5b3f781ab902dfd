"""Metrics without a tracker: the ``metrics.jsonl`` a job may write into its point's directory.

**The format.** ``$NEMORUN_POINT_DIR/metrics.jsonl``, one JSON object per line, e.g.
``{"step": 10, "loss": 0.3}``. ``step`` is optional (the line's number, from 1, otherwise);
every other key with a number for a value is a metric (text, lists and booleans are left
alone, so a line may carry notes). A job is free to append while it is read, so the last line
may be half written: it is ignored when it does not end with a newline. Any other line that is
not a JSON object is skipped and counted (`Metrics.skipped_lines`), never an error: a crash of
the reader would hide every good line.

Pure text → data; `sparkline` draws a series in eight block characters for the terminal, and
`nemorun.launchers.metrics_svg` draws it as an SVG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

METRICS_FILE = "metrics.jsonl"
"""The file a job writes its metrics to, in its point's directory (``NEMORUN_POINT_DIR``)."""

BARS = "▁▂▃▄▅▆▇█"

Series = tuple[tuple[float, float], ...]
"""``((step, value), …)`` in the order the job wrote them."""


@dataclass(frozen=True)
class Metrics:
    """What one ``metrics.jsonl`` holds: each metric's series, and how many lines were bad."""

    series: Mapping[str, Series] = field(default_factory=dict)
    skipped_lines: int = 0

    def last(self) -> dict[str, float]:
        """Each metric's last value written."""
        return {name: points[-1][1] for name, points in self.series.items() if points}

    def is_empty(self) -> bool:
        return not self.series


def read_metrics(path: Path) -> Metrics:
    """The metrics in ``path`` (see the module docstring); no file is no metrics."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return Metrics()
    return parse_metrics(text)


def metric_files(run_dir: Path) -> dict[str, Path]:
    """The ``metrics.jsonl`` of each point of a run that has one, by point: ``"0"``, or
    ``"TASK/0"`` for one task of several (``points/TASK/0``), in point order."""
    base = run_dir / "points"
    found = [*base.glob(f"*/{METRICS_FILE}"), *base.glob(f"*/*/{METRICS_FILE}")]

    def order(path: Path) -> tuple[str, int]:
        where = path.parent.relative_to(base)
        return (where.parent.as_posix(), int(where.name) if where.name.isdigit() else -1)

    return {path.parent.relative_to(base).as_posix(): path for path in sorted(found, key=order)}


def parse_metrics(text: str) -> Metrics:
    """`read_metrics` of a text."""
    lines = text.split("\n")
    lines.pop()  # after the last newline: empty, or a line still being written
    series: dict[str, list[tuple[float, float]]] = {}
    skipped = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            skipped += 1
            continue
        step = data.get("step", number)
        if not _is_number(step):
            skipped += 1
            continue
        for key, value in data.items():
            if key != "step" and _is_number(value):
                series.setdefault(str(key), []).append((float(step), float(value)))
    return Metrics({k: tuple(v) for k, v in series.items()}, skipped)


def _is_number(value: object) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return ok and math.isfinite(float(value))  # type: ignore[arg-type]


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """``values`` as at most ``width`` block characters (averaged into buckets when longer)."""
    if not values:
        return ""
    if len(values) > width:
        buckets = [
            values[i * len(values) // width : (i + 1) * len(values) // width] for i in range(width)
        ]
        values = [sum(b) / len(b) for b in buckets if b]
    low, high = min(values), max(values)
    if high == low:
        return BARS[len(BARS) // 2] * len(values)
    scale = (len(BARS) - 1) / (high - low)
    return "".join(BARS[round((v - low) * scale)] for v in values)


def format_number(value: float) -> str:
    """A metric's value, short: ``0.3``, ``1.25e-05``, ``1200``."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"
