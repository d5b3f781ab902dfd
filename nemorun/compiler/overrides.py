"""Command-line overrides applied to a spec tree, with Hydra's semantics.

``k=v`` sets (creating the key if the schema will accept it: validation reports unknown names
with a suggestion), ``+k=v`` adds and fails if the key is already set, ``++k=v`` sets whatever
is there, ``~k`` deletes (a task argument then falls back to its default) and ``~k=v`` deletes
only if the value matches. Dict values merge into the existing mapping; lists replace. Sweeps
(``a=1,2``, ``range()``, ``choice()``) are not applied: they become sweep axes. Parsing is
`nemorun.compiler.override_parse`'s.
"""

from __future__ import annotations

from typing import Any

from nemorun.compiler.override_parse import Override, OverrideKind, parse_overrides
from nemorun.errors import Collector, KeyPath, Origin, SpecError, did_you_mean, format_path
from nemorun.schemas.compose import child_key, merge, split_path
from nemorun.schemas.source import find_origin
from nemorun.schemas.spec import TOP_LEVEL_KEYS, SweepAxis, task_path

__all__ = ["Override", "OverrideKind", "apply_overrides", "override_path", "parse_overrides"]


def override_path(key: str, tree: dict[str, Any]) -> KeyPath:
    """The spec path an override key addresses (first segment not top-level → under task)."""
    path = split_path(key)
    if path and path[0] in TOP_LEVEL_KEYS:
        return task_path(path, tree)
    if "tasks" in tree and "task" not in tree:
        tasks = tree["tasks"]
        names = ", ".join(str(n) for n in tasks) if isinstance(tasks, dict) else ""
        raise SpecError(
            "this spec has several tasks: say which one",
            suggestion=f"write 'tasks.<name>.{key}' (tasks: {names})",
        )
    return task_path(path, tree)


_READ_BEFORE_OVERRIDES = ("nemorun", "extends")


def apply_overrides(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], overrides: list[Override]
) -> list[SweepAxis]:
    """Apply ``overrides`` to ``tree`` in place, in order; return the sweep axes they add."""
    errors = Collector()
    axes: list[SweepAxis] = []
    for override in overrides:
        try:
            path = override_path(override.key, tree)
            if path[0] in _READ_BEFORE_OVERRIDES:
                raise SpecError(
                    f"'{path[0]}' cannot be overridden: it is read before overrides apply",
                    path,
                    suggestion=f"edit the spec's '{path[0]}:' instead",
                )
            # The last override of a key wins, sweep or not: an earlier sweep of it is dropped.
            axes = [axis for axis in axes if axis.path != path]
            if override.is_sweep():
                assert override.sweep is not None
                if path[0] == "sweep":
                    raise SpecError(
                        "'sweep' itself cannot be swept",
                        path,
                        suggestion="sweep the key: 'KEY=a,b', or set 'sweep={KEY:[a,b]}'",
                    )
                if override.kind is OverrideKind.ADD:
                    _check_sweep_add(tree, origins, override, path)
                axes.append(
                    SweepAxis(
                        path,
                        override.sweep,
                        override.origin(),
                        override.text,
                        override.sweep_origins(),
                    )
                )
                continue
            _apply_one(tree, origins, override, path)
        except SpecError as exc:
            if exc.origin is None or exc.origin.override is None:
                exc.origin = override.origin()
            errors.add(exc)
    errors.raise_if_any()
    return axes


def _apply_one(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], override: Override, path: KeyPath
) -> None:
    parent = _parent(tree, path, create=not override.is_delete(), origins=origins)
    last = child_key(parent, path[-1])
    path = (*path[:-1], last)
    exists = _has(parent, last)
    where = find_origin(origins, path)
    if override.kind is OverrideKind.DELETE:
        if not exists:
            siblings = [str(k) for k in parent] if isinstance(parent, dict) else []
            raise SpecError(
                "nothing to delete: the key is not set",
                path,
                suggestion=did_you_mean(str(last), siblings),
            )
        if override.has_value and parent[last] != override.value:
            raise SpecError(
                "not deleted: the current value differs",
                path,
                expected=repr(override.value),
                found=repr(parent[last]),
            )
        del parent[last]
        _drop_origins(origins, path)
        return
    if override.kind is OverrideKind.ADD and exists:
        _check_add(override, path, parent[last], override.value, where)
    value = override.value
    if isinstance(value, dict) and exists and isinstance(parent[last], dict):
        merge(parent[last], value)
        origins[path] = override.origin()
        return
    parent[last] = value
    _drop_origins(origins, path)
    origins[path] = override.origin()


def _check_sweep_add(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], override: Override, path: KeyPath
) -> None:
    """``+key=a,b``: each point adds ``key``, so the rule of `_check_add` holds per value."""
    from nemorun.schemas.compose import get_path

    try:
        current = get_path(tree, path)
    except KeyError:
        return
    assert override.sweep is not None
    for value in override.sweep:
        _check_add(override, path, current, value, find_origin(origins, path))


def _check_add(
    override: Override, path: KeyPath, current: Any, value: Any, where: Origin | None
) -> None:
    """Hydra's ``+key=value`` on a key that is set: a mapping merges, a list replaces, a null
    is filled in; any other value is refused."""
    if current is None or isinstance(value, (dict, list)):
        return
    at = f" (set at {where.label()})" if where is not None else ""
    raise SpecError(
        f"already set{at}; '+' only adds new keys",
        path,
        suggestion=f"write '{override.key}={override.raw_value}' to change it",
    )


def _has(parent: Any, key: Any) -> bool:
    if isinstance(parent, dict):
        return key in parent
    return isinstance(key, int) and 0 <= key < len(parent)


def _parent(
    tree: dict[str, Any], path: KeyPath, create: bool, origins: dict[KeyPath, Origin]
) -> Any:
    node: Any = tree
    for depth, part in enumerate(path[:-1]):
        here = path[: depth + 1]
        if isinstance(node, dict):
            part = child_key(node, part)
            if part not in node:
                if not create:
                    raise SpecError(
                        "no such key",
                        here,
                        suggestion=did_you_mean(str(part), [str(k) for k in node]),
                    )
                node[part] = {}
            node = node[part]
        elif isinstance(node, list):
            if not isinstance(part, int) or not 0 <= part < len(node):
                raise SpecError(f"list index out of range (the list has {len(node)} items)", here)
            node = node[part]
        else:
            raise SpecError(f"'{format_path(here)}' holds a value, not a mapping", here)
        if node is None and not create:
            raise SpecError(
                f"nothing to delete: '{format_path(here)}' is null",
                path,
                suggestion=f"'~{format_path(here)}' deletes the null itself",
            )
        if not isinstance(node, (dict, list)):
            raise SpecError(
                "cannot set a key inside a value that is not a mapping",
                here,
                found=repr(node),
            )
    last = path[-1]
    if isinstance(node, list) and (not isinstance(last, int) or not 0 <= last < len(node)):
        raise SpecError(f"list index out of range (the list has {len(node)} items)", path)
    return node


def _drop_origins(origins: dict[KeyPath, Origin], path: KeyPath) -> None:
    for stale in [p for p in origins if p[: len(path)] == path]:
        del origins[stale]
