"""Bounds spelled with the real annotated-types and pydantic (imported only by the tests that
have them)."""

from __future__ import annotations

import json
from typing import Annotated

import annotated_types as at
from pydantic import Field, PositiveInt


def bounded(
    out: str,
    workers: Annotated[int, at.Ge(0)] = 0,
    ratio: Annotated[float, at.Interval(gt=0, lt=1)] = 0.5,
    step: Annotated[int, at.MultipleOf(8)] = 8,
    name: Annotated[str, Field(min_length=2, max_length=4)] = "ab",
    size: PositiveInt = 1,
) -> None:
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"workers": workers, "ratio": ratio, "step": step, "name": name, "size": size}, f)
