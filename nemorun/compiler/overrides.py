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
import math
from builtins import range as builtins_range
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nemorun.errors import Collector, KeyPath, Origin, SpecError, did_you_mean, format_path
from nemorun.schemas.compose import child_key, merge, split_path
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
    texts: tuple[str | None, ...] = ()
    """Per sweep value, the text it was typed as, when that text matters (see `_sweep_values`)."""

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
        texts = self.texts or (None,) * len(self.sweep)
        return tuple(Origin(override=self.label(), text=t) for t in texts)


_KINDS = {"CHANGE": OverrideKind.SET, "ADD": OverrideKind.ADD, "FORCE_ADD": OverrideKind.FORCE}


def parse_overrides(texts: list[str]) -> list[Override]:
    """Parse every override; raise `SpecErrors` naming each one that does not parse."""
    errors = Collector()
    parsed = []
    if not texts:
        return []
    parser = _parser()
    for index, text in enumerate(texts):
        try:
            parsed.append(_convert(parser.parse_override(text), index, text))
        except SpecError as exc:
            errors.add(exc)
        except Exception as exc:  # hydra raises OverrideParseException / HydraException
            errors.add(_parse_error(index, text, exc))
    errors.raise_if_any()
    return parsed


def _parser() -> Any:
    """Hydra's parser, with ``sort`` replaced so a sorted range keeps its own bounds (hydra
    1.3's ``sort(range(0,5,2), reverse=true)`` computes 3, 1, -1; we expand ranges ourselves)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser, create_functions
    from hydra.core.override_parser.types import RangeSweep

    functions = create_functions()
    hydra_sort = functions.functions.pop("sort")
    signature = functions.definitions.pop("sort")

    def sort(*args: Any, sweep: Any = None, list: Any = None, reverse: bool = False) -> Any:
        target = sweep if sweep is not None else (args[0] if len(args) == 1 else None)
        if isinstance(target, RangeSweep):
            return SortedRange(target, reverse)
        return hydra_sort(*args, sweep=sweep, list=list, reverse=reverse)

    sort.__signature__ = signature  # type: ignore[attr-defined]  # hydra checks arguments by it
    functions.register(name="sort", func=sort)
    return OverridesParser(functions)


@dataclass(frozen=True)
class SortedRange:
    """``sort(range(…))``: the range as written, and the order asked for."""

    range: Any
    reverse: bool


def _convert(hydra_override: Any, index: int, text: str) -> Override:
    key = hydra_override.key_or_group
    at = Origin(override=f"override {index + 1} '{text}'")
    if hydra_override.package is not None:
        raise SpecError(
            "'@package' is a Hydra config-group feature nemorun specs do not have",
            origin=at,
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
            _plain(hydra_override.value(), at) if has_value else None,
            raw_value,
            has_value=has_value,
        )
    kind = _KINDS[hydra_override.type.name]
    value = hydra_override.value()
    if isinstance(value, SortedRange) or hydra_override.is_sweep_override():
        values, texts = _sweep_values(value, raw_value or "", at)
        return Override(index, text, kind, key, None, raw_value, values, texts=texts)
    return Override(index, text, kind, key, _plain(value, at), raw_value)


def _sweep_values(
    sweep: Any, raw: str, at: Origin
) -> tuple[tuple[Any, ...], tuple[str | None, ...]]:
    """The values of a sweep, expanded here (never by hydra's iterators), and the text each
    was typed as where that matters (a number or bool given to a ``str`` argument)."""
    from hydra.core.override_parser.types import ChoiceSweep, Glob, RangeSweep

    if isinstance(sweep, Glob):
        raise SpecError(
            "glob() picks Hydra config-group options, which nemorun specs do not have",
            origin=at,
            suggestion="list the values: 'key=a,b,c'",
        )
    if getattr(sweep, "shuffle", False) or (isinstance(sweep, SortedRange) and sweep.range.shuffle):
        raise SpecError(
            "shuffle() would make the compiled sweep differ from run to run",
            origin=at,
            suggestion="list the values in the order you want them run",
        )
    if isinstance(sweep, SortedRange):
        values = tuple(sorted(expand_range(sweep.range, at), reverse=sweep.reverse))
        texts: tuple[str | None, ...] = (None,) * len(values)
    elif isinstance(sweep, RangeSweep):
        values = expand_range(sweep, at)
        texts = (None,) * len(values)
    elif isinstance(sweep, ChoiceSweep):
        values = tuple(_plain(v, at) for v in sweep.list)
        typed = _sweep_texts(raw, len(values))
        texts = tuple(
            None if isinstance(v, (str, dict, list)) else t for v, t in zip(values, typed)
        )
    else:
        raise SpecError(
            "only discrete sweeps can be expanded (interval() cannot)",
            origin=at,
            suggestion="use 'choice(…)', 'range(…)' or 'a,b,c'",
        )
    if not values:
        raise SpecError(
            "the sweep has no values",
            origin=at,
            suggestion="a range's stop is exclusive and its step must go towards it: "
            "range(0,5) is 0..4, range(5,0,-1) is 5..1",
        )
    return values, texts


def expand_range(sweep: Any, at: Origin) -> tuple[Any, ...]:
    """The values of ``range(start, stop, step)``, as Python's range for integers and the
    same rule for floats, computed in decimal from the numbers as typed (``range(0,1,0.1)``
    gives 0.1, 0.2, 0.3, not 0.30000000000000004). The size is known before any value is
    made, so ``range(0, 10**9)`` is refused at once."""
    from nemorun.schemas.spec import MAX_POINTS

    start, stop, step = sweep.start, sweep.stop, sweep.step
    if step == 0:
        raise SpecError("a range's step cannot be 0", origin=at)
    if all(isinstance(x, int) and not isinstance(x, bool) for x in (start, stop, step)):
        count = len(builtins_range(start, stop, step))
        _check_size(count, MAX_POINTS, at)
        return tuple(builtins_range(start, stop, step))
    first, last, by = (Decimal(repr(float(x))) for x in (start, stop, step))
    count = max(0, math.ceil((last - first) / by))
    _check_size(count, MAX_POINTS, at)
    return tuple(float(first + i * by) for i in builtins_range(count))


def _check_size(count: int, limit: int, at: Origin) -> None:
    if count > limit:
        raise SpecError(
            f"the range has {count:,} values, more than {limit:,} (the most a sweep may have)",
            origin=at,
            suggestion="sweep fewer values, or split the experiment into several sweeps",
        )


def _plain(value: Any, at: Origin) -> Any:
    """A parsed value as plain data: a quoted string is its text (without the quotes)."""
    from hydra.core.override_parser.types import QuotedString, Sweep

    if isinstance(value, QuotedString):
        return value.text
    if isinstance(value, dict):
        return {_plain(k, at): _plain(v, at) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, at) for v in value]
    if isinstance(value, (Sweep, SortedRange)):
        raise SpecError(
            "a sweep cannot be nested inside a value",
            origin=at,
            suggestion="sweep the key itself: 'key=a,b' or 'key=choice([1,2],[3])'",
        )
    return value


def _sweep_texts(raw: str, count: int) -> tuple[str | None, ...]:
    """The text of each value of ``a,b,c`` or ``choice(a,b,c)``; Nones when it cannot tell."""
    raw = raw.strip()
    if raw.startswith("choice(") and raw.endswith(")"):
        raw = raw[len("choice(") : -1]
    elif raw.endswith(")"):  # range(…) and friends: the values were computed, not typed
        return (None,) * count
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    escaped = False
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quote:
            if ch == quote:
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
