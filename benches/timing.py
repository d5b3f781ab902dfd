"""What every bench shares: timing an action several times, and one report line per figure.

Benches run as scripts (``python benches/run.py``), so this module is imported as ``timing``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(action: Callable[[], object], runs: int) -> list[float]:
    """Wall times of ``runs`` calls of ``action``, in seconds."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def report(
    name: str, samples: list[float], budget: float | None = None, note: str = "", width: int = 46
) -> bool:
    """Print the median (with min, max and count) and whether it is within ``budget``."""
    median = statistics.median(samples)
    verdict = ""
    if budget is not None:
        verdict = f"  {'ok' if median < budget else 'OVER'} (budget {budget:g} s)"
    print(
        f"{name:<{width}} median {median:.3f} s  (min {min(samples):.3f}, max {max(samples):.3f}, "
        f"n={len(samples)}){verdict}{note}"
    )
    return budget is None or median < budget
