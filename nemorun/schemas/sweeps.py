"""Sweep axes: read from ``sweep:`` (the command line's come with the resolved tree), counted
against `MAX_POINTS`, and put in place at a point as an override would put them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from nemorun.errors import Collector, KeyPath, Origin, SpecError
from nemorun.schemas.layout import TOP_LEVEL_KEYS, task_path
from nemorun.schemas.source import find_origin, value_origin

if TYPE_CHECKING:
    from nemorun.schemas.spec import Resolved

MAX_POINTS = 100_000
"""More points than this is almost certainly a mistake (``range(0, 10**8)``), and would take
minutes to validate: refused up front."""


@dataclass(frozen=True)
class SweepAxis:
    """One swept key: the spec path and the values it takes, in order."""

    path: KeyPath
    values: tuple[Any, ...]
    origin: Origin | None = None
    source: str = "spec"
    """``spec`` for the ``sweep:`` key, or the override's text."""
    value_origins: tuple[Origin | None, ...] = ()
    """Where each value was written (its own text included), when known."""

    def __len__(self) -> int:
        return len(self.values)

    def origin_of(self, index: int) -> Origin | None:
        """The origin of value ``index``: its own position and text, else the axis's."""
        if index < len(self.value_origins) and self.value_origins[index] is not None:
            return self.value_origins[index]
        if self.origin is None:
            return None
        return replace(self.origin, text=None)  # the axis's text is not this value's


def all_axes(resolved: Resolved, errors: Collector) -> list[SweepAxis]:
    """The spec's ``sweep:`` axes, then the command line's. Overrides win last: a key the
    command line sets or sweeps is not swept by the spec any more."""
    from_command_line = {axis.path for axis in resolved.axes}
    spec_axes = [
        axis
        for axis in _sweep_axes(resolved.tree, resolved.origins, errors)
        if axis.path not in from_command_line
        and not _set_by_override(resolved.origins.get(axis.path))
    ]
    axes = spec_axes + list(resolved.axes)
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > MAX_POINTS:
        shown = " x ".join(str(len(a)) for a in axes)
        errors.add(
            SpecError(
                f"the sweep has {count:,} points ({shown}), more than {MAX_POINTS:,}",
                ("sweep",),
                find_origin(resolved.origins, ("sweep",)) if "sweep" in resolved.tree else None,
                suggestion="sweep fewer values, or split the experiment into several sweeps",
            )
        )
        errors.raise_if_any()
    return axes


def _set_by_override(origin: Origin | None) -> bool:
    return origin is not None and origin.is_override()


def _sweep_axes(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], errors: Collector
) -> list[SweepAxis]:
    from nemorun.schemas.compose import split_path

    raw = tree.get("sweep")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        errors.add(
            SpecError(
                "wrong type",
                ("sweep",),
                value_origin(origins, ("sweep",)),
                expected="a mapping of key paths to lists of values",
                found=type(raw).__name__,
            )
        )
        return []
    axes = []
    for key, values in raw.items():
        origin = find_origin(origins, ("sweep", key))
        if not isinstance(values, list) or not values:
            errors.add(
                SpecError(
                    "a sweep axis needs a non-empty list of values",
                    ("sweep", key),
                    origin.at_value() if origin else None,
                    found=repr(values),
                    suggestion=f"write '{key}: [value1, value2]'",
                )
            )
            continue
        path = split_path(str(key))
        if path and path[0] not in TOP_LEVEL_KEYS and "tasks" in tree and "task" not in tree:
            names = (
                ", ".join(str(n) for n in tree["tasks"]) if isinstance(tree["tasks"], dict) else ""
            )
            errors.add(
                SpecError(
                    "this spec has several tasks: say which one",
                    ("sweep", key),
                    origin,
                    suggestion=f"write 'tasks.<name>.{key}' (tasks: {names})",
                )
            )
            continue
        path = task_path(path, tree)
        at = tuple(value_origin(origins, ("sweep", key, i)) for i in range(len(values)))
        axes.append(SweepAxis(path, tuple(values), origin, "spec", at))
    return axes


def put_value(
    tree: dict[str, Any], path: KeyPath, value: Any, errors: Collector, origin: Origin | None
) -> None:
    """Put a sweep value in place as the override ``key=value`` would: a mapping merges into
    the mapping already there, anything else replaces it."""
    from nemorun.schemas.compose import child_key, merge

    node: Any = tree
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(child_key(node, part), {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            errors.add(SpecError("cannot sweep here: no such key", path, origin))
            return
    last = child_key(node, path[-1])
    in_list = isinstance(node, list) and isinstance(last, int) and last < len(node)
    if isinstance(node, dict) and isinstance(value, dict) and isinstance(node.get(last), dict):
        merge(node[last], copy.deepcopy(value))
    elif isinstance(node, dict) or in_list:
        node[last] = copy.deepcopy(value)
    else:
        errors.add(SpecError("cannot sweep here: no such key", path, origin))


def copy_along(tree: dict[str, Any], paths: list[KeyPath]) -> dict[str, Any]:
    """``tree`` with each container on ``paths`` copied, and the value at the end of each path
    deep-copied (a swept mapping merges into it): `put_value` may then change the copy at those
    paths without touching ``tree``, which shares everything else."""
    from nemorun.schemas.compose import child_key

    root = dict(tree)
    for path in paths:
        node: Any = root
        for depth, part in enumerate(path):
            key = child_key(node, part)
            in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
            if not (in_list or (isinstance(node, dict) and key in node)):
                break
            child = node[key]
            if depth == len(path) - 1:
                node[key] = copy.deepcopy(child)
            elif isinstance(child, (dict, list)):
                node[key] = child = copy.copy(child)
            else:
                break
            node = child
    return root


def point_origins(origins: dict[KeyPath, Origin]) -> dict[KeyPath, Origin]:
    """``origins`` without those of the single ``sweep:`` values, which a point does not
    validate (its axis carries them, `SweepAxis.value_origins`): copying them for every point
    would make a sweep quadratic."""
    return {p: o for p, o in origins.items() if not (p[:1] == ("sweep",) and len(p) > 2)}
