"""What every bench shares: timing an action several times, and one report line per figure.

Benches run as scripts (``python benches/run.py``), so this module is imported as ``timing``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path


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


def alternated(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Wall times of each action, ``runs`` each, taken in turns (a, b, a, b…), so that the
    load of a shared machine falls on every action alike: how two trees are compared."""
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for action in actions.values():
        action()  # warm the disk cache (and the template cache)
    for _ in range(runs):
        for name, action in actions.items():
            samples[name].extend(timed(action, 1))
    return samples


def trees(base: str | None, root: Path) -> dict[str, Path]:
    """The source trees a bench runs: this one, and ``--base DIR`` when given (a checkout of
    the commit to compare with: ``git archive COMMIT | tar -x -C DIR``)."""
    found = {"this": root}
    if base is not None:
        found["base"] = Path(base).resolve()
    return found


def tree_env(env: dict[str, str], tree: Path) -> dict[str, str]:
    """``env`` with ``tree``'s nemorun first on the import path."""
    rest = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": f"{tree}:{rest}" if rest else str(tree)}
