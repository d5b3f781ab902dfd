"""Command-line overrides: Hydra's grammar, parsed by hydra-core, applied by us.

This is the only module that imports hydra. `parse_override` turns hydra's `Override` into our
own small `Override` so a change in hydra touches this file alone. Hydra is imported lazily:
commands given no overrides never pay for it.

Application semantics follow Hydra: ``k=v`` sets (creating the key if the schema will accept it:
validation reports unknown names with a suggestion), ``+k=v`` adds and fails if the key is
already set, ``++k=v`` sets whatever is there, ``~k`` deletes (a task argument then falls back to
its default) and ``~k=v`` deletes only if the value matches. Dict values merge into the existing
mapping; lists replace. Sweeps (``a=1,2``, ``range()``, ``choice()``) are not applied: they become
sweep axes. A value keeps the text it was written with, so ``tag=007`` stays ``"007"`` where the
schema says ``str``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from nemorun.errors import Collector, KeyPath, Origin, SpecError, did_you_mean, format_path
from nemorun.schemas.compose import split_path
from nemorun.schemas.source import find_origin
from nemorun.schemas.spec import TOP_LEVEL_KEYS, SweepAxis, task_path


class OverrideKind(enum.Enum):
    SET = "set"
    ADD = "add"
    FORCE = "force"
    DELETE = "delete"


@dataclass(frozen=True)
class Override:
    """One parsed ``key=value`` from the command line."""

    index: int
    text: str
    kind: OverrideKind
    key: str
    value: Any = None
    raw_value: str | None = None
    sweep: tuple[Any, ...] | None = None
    has_value: bool = True

    def label(self) -> str:
        """``override 2 'model.hiden_size=3'`` (1-based, as users count)."""
        return f"override {self.index + 1} '{self.text}'"

    def is_sweep(self) -> bool:
        """True for ``a=1,2,3``, ``range(…)`` and ``choice(…)``."""
        return self.sweep is not None

    def is_delete(self) -> bool:
        return self.kind is OverrideKind.DELETE

    def origin(self) -> Origin:
        return Origin(override=self.label(), text=self.raw_value)

    def sweep_origins(self) -> tuple[Origin, ...]:
        """One origin per sweep value, each with that value's own text where it can be split
        out (``tag=007,008``), so a ``str`` argument receives exactly what was typed."""
        assert self.sweep is not None
        texts = _sweep_texts(self.raw_value or "", len(self.sweep))
        return tuple(Origin(override=self.label(), text=t) for t in texts)


_KINDS = {"CHANGE": OverrideKind.SET, "ADD": OverrideKind.ADD, "FORCE_ADD": OverrideKind.FORCE}


def parse_overrides(texts: list[str]) -> list[Override]:
    """Parse every override; raise `SpecErrors` naming each one that does not parse."""
    errors = Collector()
    parsed = []
    if not texts:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for index, text in enumerate(texts):
        try:
            parsed.append(_convert(parser.parse_override(text), index, text))
        except SpecError as exc:
            errors.add(exc)
        except Exception as exc:  # hydra raises OverrideParseException / HydraException
            errors.add(_parse_error(index, text, exc))
    errors.raise_if_any()
    return parsed


def _convert(hydra_override: Any, index: int, text: str) -> Override:
    key = hydra_override.key_or_group
    if hydra_override.package is not None:
        raise SpecError(
            "'@package' is a Hydra config-group feature nemorun specs do not have",
            origin=Origin(override=f"override {index + 1} '{text}'"),
            suggestion=f"write '{key}=...'",
        )
    raw_value = text.split("=", 1)[1].strip() if "=" in text else None
    if hydra_override.is_delete():
        has_value = hydra_override.value_type is not None
        return Override(
            index,
            text,
            OverrideKind.DELETE,
            key,
            hydra_override.value() if has_value else None,
            raw_value,
            has_value=has_value,
        )
    kind = _KINDS[hydra_override.type.name]
    if hydra_override.is_sweep_override():
        if not hydra_override.is_discrete_sweep():
            raise SpecError(
                "only discrete sweeps can be expanded (interval() cannot)",
                origin=Origin(override=f"override {index + 1} '{text}'"),
                suggestion="use 'choice(…)', 'range(…)' or 'a,b,c'",
            )
        from hydra.core.override_parser.types import ChoiceSweep, Glob

        sweep = hydra_override.value()
        if isinstance(sweep, Glob):
            raise SpecError(
                "glob() picks Hydra config-group options, which nemorun specs do not have",
                origin=Origin(override=f"override {index + 1} '{text}'"),
                suggestion="list the values: 'key=a,b,c'",
            )
        if isinstance(sweep, ChoiceSweep) and sweep.shuffle:
            raise SpecError(
                "shuffle() would make the compiled sweep differ from run to run",
                origin=Origin(override=f"override {index + 1} '{text}'"),
                suggestion="list the values in the order you want them run",
            )
        values = tuple(hydra_override.sweep_iterator())
        return Override(index, text, kind, key, None, raw_value, sweep=values)
    return Override(index, text, kind, key, hydra_override.value(), raw_value)


def _sweep_texts(raw: str, count: int) -> tuple[str | None, ...]:
    """The text of each value of ``a,b,c`` or ``choice(a,b,c)``; Nones when it cannot tell."""
    raw = raw.strip()
    if raw.startswith("choice(") and raw.endswith(")"):
        raw = raw[len("choice(") : -1]
    elif raw.endswith(")"):  # range(…) and friends: the values were computed, not typed
        return (None,) * count
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(raw):
        if quote:
            if ch == quote and raw[i - 1] != "\\":
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(raw[start:i].strip())
            start = i + 1
    parts.append(raw[start:].strip())
    if len(parts) != count:
        return (None,) * count
    return tuple(p or None for p in parts)


def _parse_error(index: int, text: str, exc: Exception) -> SpecError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    suggestion = None
    key, equals, value = text.partition("=")
    if not equals and not text.startswith("~"):
        suggestion = f"overrides look like 'key=value'; did you mean '{text}=…'?"
    elif value and value[0] not in "'\"":
        # The shell removes one level of quotes, so the user needs two.
        escaped = value.replace("'", "\\'")
        suggestion = (
            f"if the value is text, quote it, and the whole override for the shell: "
            f"\"{key}='{escaped}'\""
        )
    return SpecError(
        f"cannot parse: {message}",
        origin=Origin(override=f"override {index + 1} '{text}'"),
        suggestion=suggestion,
    )


# --- application ------------------------------------------------------------------------------


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
    last = path[-1]
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
        at = f" (set at {where.label()})" if where is not None else ""
        raise SpecError(
            f"already set{at}; '+' only adds new keys",
            path,
            suggestion=f"write '{override.key}={override.raw_value}' to change it",
        )
    value = override.value
    if isinstance(value, dict) and exists and isinstance(parent[last], dict):
        _merge(parent[last], value)
        origins[path] = override.origin()
        return
    if isinstance(parent, list):
        assert isinstance(last, int)  # `_parent` checked the index
        parent[last] = value
    else:
        parent[last] = value
    _drop_origins(origins, path)
    origins[path] = override.origin()


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


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
