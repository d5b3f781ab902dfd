"""Sweep values converted once each, at their own place in the schema, not as a whole spec.

An axis that sets one argument of a task's call (``task.optim.lr``) with plain values (numbers,
text, booleans, null, lists of them) changes nothing else: the spec at its first point is
validated whole, noting the argument's `Place` (the callable's schema, the key, the type
variables bound there), and every other value is converted there alone by the same
`Validator.argument`, with the origins that value's point would have, so its errors read the
same and sit at its own line.

Axes that may change the task's shape keep the whole-spec path, one point per value: a mapping
value (it merges, or builds an object), a ``_target_``, a key under a list or a mapping, an
argument below a union that chooses among classes, values that feed interpolations, axes that
overlap, settings outside the tasks and non-Python tasks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.errors import Collector, KeyPath, Origin

if TYPE_CHECKING:
    from nemorun.schemas.hints import CallableSchema
    from nemorun.schemas.sweeps import SweepAxis


@dataclass(frozen=True)
class Place:
    """Where an argument was converted: ``key`` of ``schema``, with the type variables bound
    there, and the value it took at the first point."""

    schema: CallableSchema
    key: str
    bindings: tuple[tuple[Any, Any], ...]
    value: Any


class Places:
    """The `Place` of each wanted key path, as `Validator.argument` notes them."""

    def __init__(self, wanted: Iterable[KeyPath]) -> None:
        self.wanted = frozenset(wanted)
        self.found: dict[KeyPath, Place] = {}

    def record(
        self, path: KeyPath, schema: CallableSchema, key: str, bindings: dict[Any, Any], value: Any
    ) -> None:
        if path in self.wanted:
            self.found[path] = Place(schema, key, tuple(bindings.items()), value)


def alone(axes: list[SweepAxis], interpolated: bool) -> list[KeyPath]:
    """The paths of the axes whose values may be converted at their place alone (see the
    module's docstring; the task's kind and the place itself are checked once known)."""
    if interpolated or any(may_interpolate(axis.values) for axis in axes):
        return []  # a value read through an interpolation may land anywhere
    paths = [axis.path for axis in axes]
    out = []
    for axis in axes:
        path = axis.path
        in_task = path[:1] == ("task",) or (path[:1] == ("tasks",) and path[2:3] == ("task",))
        overlaps = sum(p[: len(path)] == path or path[: len(p)] == p for p in paths) > 1
        if (
            len(axis) > 1
            and in_task
            and not overlaps
            and all(isinstance(part, str) for part in path)
            and all(_plain(value) for value in axis.values)
        ):
            out.append(path)
    return out


def may_interpolate(values: Iterable[Any]) -> bool:
    """True when a value holds an interpolation (``${…}``), which each point resolves."""
    from nemorun.schemas.interpolate import needs_interpolation

    return needs_interpolation([v for v in values if not isinstance(v, (int, float))])


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    return not isinstance(value, dict)


def convert_axis(
    axis: SweepAxis, place: Place, origins: dict[KeyPath, Origin], errors: Collector
) -> tuple[Any, ...]:
    """Every value of ``axis`` converted at ``place`` (the first as the spec's first point
    took it), INVALID where one is wrong, after its errors. ``origins``: the spec's, without
    those of the ``sweep:`` values (`point_origins`): each value's own replaces those at and
    under the axis's path, as at its point."""
    from nemorun.schemas.convert import Validator

    v = Validator({}, errors)
    v.bindings = dict(place.bindings)
    path = axis.path
    unplaced: dict[KeyPath, Origin] | None = None
    out = [place.value]
    for j in range(1, len(axis)):
        here = axis.origin_of(j)
        if here is not None:
            v.origins = {path: here}
        else:  # the point keeps the origins at the path (see `_validate_point`)
            if unplaced is None:
                unplaced = _around(origins, path)
            v.origins = unplaced
        out.append(v.argument(place.schema, place.key, axis.values[j], path))
    return tuple(out)


def _around(origins: dict[KeyPath, Origin], path: KeyPath) -> dict[KeyPath, Origin]:
    """The origins at, under and above ``path``: all a conversion at ``path`` looks up."""
    near = {p: o for p, o in origins.items() if p[: len(path)] == path}
    for n in range(len(path)):
        if path[:n] in origins:
            near[path[:n]] = origins[path[:n]]
    return near
