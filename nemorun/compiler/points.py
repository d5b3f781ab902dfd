"""The points of a sweep: each one's index and values, made when asked for.

Points are numbered in cartesian order (the last axis varies fastest), the order the job's
``NEMORUN_POINT`` decodes; a sweep of 100,000 points never holds 100,000 objects.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from nemorun.schemas.sweeps import SweepAxis


@dataclass(frozen=True)
class Point:
    """One point of a sweep: its index and, per axis, the value as the spec wrote it."""

    index: int
    values: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        """``optim.lr=0.01 seed=3``"""
        return " ".join(f"{label}={_show(value)}" for label, value in self.values)


@dataclass(frozen=True)
class Points(Sequence[Point]):
    """The points of a sweep, in cartesian order (the last axis varies fastest), each made
    when asked for: a sweep of 100,000 points does not hold 100,000 `Point` objects."""

    labels: tuple[str, ...]
    axes: tuple[SweepAxis, ...]

    def __len__(self) -> int:
        n = 1
        for axis in self.axes:
            n *= len(axis)
        return n

    @overload
    def __getitem__(self, index: int) -> Point: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Point]: ...

    def __getitem__(self, index: int | slice) -> Point | Sequence[Point]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if not -n <= index < n:
            raise IndexError(index)
        index %= n
        rest, values = index, []
        for label, axis in zip(reversed(self.labels), reversed(self.axes)):
            rest, i = divmod(rest, len(axis))
            values.append((label, axis.values[i]))
        return Point(index, tuple(reversed(values)))

    def __iter__(self) -> Iterator[Point]:
        for index in range(len(self)):
            yield self[index]


def _show(value: Any) -> str:
    """A value as one would type it in an override: ``0.01``, ``adam``, ``"two words"``."""
    if isinstance(value, str) and re.fullmatch(r"[\w./:+-]+", value, re.ASCII):
        return value
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return repr(value)  # what json.dumps writes for them, without its encoder
    return json.dumps(value, ensure_ascii=False, default=str)
