"""A task that returns what it received, for the YAML-reading tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any


def take(  # type: ignore[no-untyped-def]
    text: str = "",
    count: int = 0,
    ratio: float = 0.0,
    either: str | int = "",
    interval: int | timedelta | None = None,
    untyped=None,
    steps: int = 100,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "text": text,
        "count": count,
        "ratio": ratio,
        "either": either,
        "interval": interval,
        "untyped": untyped,
        "steps": steps,
        **extra,
    }
