"""Metrics a job writes without a tracker: ``$NEMORUN_POINT_DIR/metrics.jsonl``.

One JSON object per line, e.g. ``{"step": 10, "loss": 0.3}``: ``step`` is optional (the line's
number otherwise) and every other numeric key is a metric. The file is read while the job may
still be writing it, so a half-written last line (no newline yet) is ignored, and a bad line is
skipped and counted, never an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class Metrics:
    """Each metric's ``(step, value)`` pairs, in the file's order, and the lines skipped."""

    series: Mapping[str, tuple[tuple[float, float], ...]]
    skipped_lines: int = 0

    def last(self) -> dict[str, float]:
        """The last value of each metric."""
        return {name: points[-1][1] for name, points in self.series.items() if points}


def read_metrics(path: Path) -> Metrics:
    """The metrics in ``path`` (none when it does not exist)."""
    try:
        data = path.read_bytes()
    except OSError:
        return Metrics({})
    lines = data.split(b"\n")[:-1]  # the part after the last newline is still being written
    series: dict[str, list[tuple[float, float]]] = {}
    skipped = 0
    for number, line in enumerate(lines, start=1):
        values = _numbers(line)
        if values is None:
            skipped += bool(line.strip())
            continue
        step = values.pop("step", float(number))
        for name, value in values.items():
            series.setdefault(name, []).append((step, value))
    return Metrics({k: tuple(v) for k, v in series.items()}, skipped)


def _numbers(line: bytes) -> dict[str, float] | None:
    """The numeric entries of one line's object, or None when it is not one."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    return {
        str(k): float(v)
        for k, v in obj.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
