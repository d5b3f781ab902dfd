"""Holes: where a sweep's axes land in the task's call tree, and the values each one takes.

A hole is a key path inside the call tree, the same at every point; the entry point
(`nemorun.compiler.entry`) is written once with ``at[i]`` in hole ``i``. An axis whose values
change the shape of the task, or two axes that overlap, are refused with a located error.
"""

from __future__ import annotations

from typing import Any

from nemorun.compiler.pysource import Doc, HoleKey, Names, Writer, flat
from nemorun.errors import KeyPath, SpecError, format_path
from nemorun.schemas.convert import Call, EnvRef
from nemorun.schemas.spec import Spec


def holes_of_axes(spec: Spec, trees: list[Call]) -> list[KeyPath]:
    """Per distinct hole, its key path inside the task's call tree (same at every point)."""
    prefix = spec.task.path
    holes: list[KeyPath] = []
    for axis in spec.axes:
        if axis.path[: len(prefix)] != prefix:
            raise SpecError(
                f"a sweep over '{format_path(axis.path)}' is not supported yet",
                axis.path,
                axis.origin,
                suggestion="sweep task arguments only; compile each executor setting separately",
            )
        rel = axis.path[len(prefix) :]
        found = {_walk(tree, rel) for tree in trees}
        hole = _walk(trees[0], rel)
        if len(found) > 1 or not hole:
            raise SpecError(
                f"a sweep over '{format_path(rel) or 'the task itself'}' is not supported yet: "
                "its values change the shape of the task",
                axis.path,
                axis.origin,
            )
        if hole in holes:
            continue
        for other in holes:
            short, long = sorted((hole, other), key=len)
            if long[: len(short)] == short:
                raise SpecError(
                    f"sweep axes '{format_path(other)}' and '{format_path(hole)}' overlap",
                    axis.path,
                    axis.origin,
                    suggestion="sweep one of them only",
                )
        holes.append(hole)
    return holes


def interpolated_holes(spec: Spec, trees: list[Call], holes: list[KeyPath]) -> list[KeyPath]:
    """Holes for the task's interpolated values (``tag: lr_${task.optim.lr}``): each point
    resolved them against its own sweep values, so they may differ from point to point.
    `varying_holes` drops those that do not."""
    prefix = spec.task.path
    found: list[KeyPath] = []
    for path, _ in spec.resolved.interpolations:
        if path[: len(prefix)] != prefix:
            continue
        rel = path[len(prefix) :]
        hole = _walk(trees[0], rel)
        if hole != rel or any(_walk(tree, rel) != rel for tree in trees):
            continue  # it builds (or lost) a whole sub-tree: the shape check below decides
        if any(hole[: len(h)] == h for h in holes + found):
            continue  # inside a swept value, which is a hole already
        found.append(hole)
    return found


def varying_holes(
    holes: list[KeyPath],
    choices: list[list[Doc]],
    lazy: list[bool],
    rows: list[tuple[int, ...]],
    axis_holes: int,
) -> tuple[list[KeyPath], list[list[Doc]], list[bool], list[tuple[int, ...]]]:
    """The axes' holes, and the interpolated holes whose value differs between points."""
    keep = [i for i in range(len(holes)) if i < axis_holes or len(choices[i]) > 1]
    return (
        [holes[i] for i in keep],
        [choices[i] for i in keep],
        [lazy[i] for i in keep],
        [tuple(row[i] for i in keep) for row in rows],
    )


_ABSENT = object()


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, Call):
        return node.args.get(key, _ABSENT)
    if isinstance(node, dict):
        return node.get(key, _ABSENT)
    if isinstance(node, (list, tuple)) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _ABSENT


def _walk(tree: Call, rel: KeyPath) -> KeyPath:
    """The longest prefix of ``rel`` naming a value in ``tree`` (``_target_`` stops it)."""
    node: Any = tree
    found: KeyPath = ()
    for key in rel:
        node = _child(node, key)
        if node is _ABSENT:
            break
        found = (*found, key)
    return found


def locate(tree: Call, hole: KeyPath) -> tuple[HoleKey, Any]:
    """The (container id, key) of ``hole`` in ``tree``, and the value there."""
    node: Any = tree
    for key in hole[:-1]:
        node = _child(node, key)
    return (id(node), hole[-1]), _child(node, hole[-1])


def hole_choices(
    holes: list[KeyPath], trees: list[Call], names: Names
) -> tuple[list[list[Doc]], list[bool], list[tuple[int, ...]], set[str]]:
    """Per hole its distinct values (as code) and whether they are lazy; per point its row;
    and the helpers those values call."""
    writer = Writer(names)
    choices: list[list[Doc]] = [[] for _ in holes]
    seen: list[dict[str, int]] = [{} for _ in holes]
    lazy = [False for _ in holes]
    rows = []
    for tree in trees:
        row = []
        for i, hole in enumerate(holes):
            _, value = locate(tree, hole)
            doc = writer.value(value, hole)
            text = flat(doc)
            if text not in seen[i]:
                seen[i][text] = len(choices[i])
                choices[i].append(doc)
                lazy[i] = lazy[i] or builds(value)
            row.append(seen[i][text])
        rows.append(tuple(row))
    return choices, lazy, rows, writer.helpers


def builds(value: Any) -> bool:
    """True when writing ``value`` calls something or reads the environment."""
    if isinstance(value, (Call, EnvRef)):
        return True
    if isinstance(value, dict):
        return any(builds(k) or builds(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(builds(v) for v in value)
    return False
