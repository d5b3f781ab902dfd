"""Command-line overrides: Hydra's grammar, parsed by hydra-core.

This is the only module that imports hydra. `parse_override` turns hydra's `Override` into our
own small `Override` so a change in hydra touches this file alone. Hydra is imported lazily,
and only for what `parse_plain` cannot read: plain ``key=value``, ``+k=v``, ``++k=v``, ``~k``,
``a,b,c`` sweeps of unquoted scalars and ``range(a,b[,s])`` of unquoted numbers are read here,
to the same result as hydra's (a property test holds the two side by side), since importing
hydra doubles a short command.

What the parsed overrides do to a spec is `nemorun.compiler.overrides`' (Hydra's semantics).
A value keeps the text it was written with, so ``tag=007`` stays ``"007"`` where the schema
says ``str``.
"""

from __future__ import annotations

import enum
import math
import re
from builtins import range as builtins_range
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nemorun.errors import Collector, Origin, SpecError


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
    parser = None
    for index, text in enumerate(texts):
        plain = parse_plain(index, text)
        if plain is not None:
            parsed.append(plain)
            continue
        try:
            parser = parser or _parser()
            parsed.append(_convert(parser.parse_override(text), index, text))
        except SpecError as exc:
            errors.add(exc)
        except Exception as exc:  # hydra raises OverrideParseException / HydraException
            errors.add(_parse_error(index, text, exc))
    errors.raise_if_any()
    return parsed


# Hydra's lexer (OverrideLexer.g4), for the unquoted scalars `parse_plain` reads. A value
# that is exactly one of these tokens is typed; any other run of `_PLAIN_CHARS` is its text.
_UNSIGNED = r"(?:0|[1-9](?:_?[0-9])*)"
_POINT = rf"(?:{_UNSIGNED}?\.[0-9](?:_?[0-9])*|{_UNSIGNED}\.)"
_FLOAT = re.compile(
    rf"[+-]?(?:(?:{_UNSIGNED}|{_POINT})[eE][+-]?[0-9](?:_?[0-9])*|{_POINT}|[Ii][Nn][Ff]|[Nn][Aa][Nn])"
)
_INT = re.compile(rf"[+-]?{_UNSIGNED}")
_PLAIN_CHARS = re.compile(r"[A-Za-z0-9_\-/+.%*@?|:]+")
_SEGMENT = rf"(?:[A-Za-z_][A-Za-z0-9_-]*|{_UNSIGNED})"
_KEY = re.compile(rf"[A-Za-z_][A-Za-z0-9_-]*|{_SEGMENT}(?:\.{_SEGMENT})+")
_WORDS = {"true": True, "false": False, "null": None}


def parse_plain(index: int, text: str) -> Override | None:
    """``text`` parsed without hydra when it is plain: an optional ``+``, ``++`` or ``~``, a
    dotted key, and unless deleting, ``=`` and a value of unquoted scalars, commas between
    several (a sweep). None for anything else (quotes, spaces, brackets, functions,
    interpolations, escapes…): hydra reads those."""
    kind = OverrideKind.SET
    rest = text
    if rest.startswith("++"):
        kind, rest = OverrideKind.FORCE, rest[2:]
    elif rest.startswith(("+", "~")):
        kind = OverrideKind.ADD if rest[0] == "+" else OverrideKind.DELETE
        rest = rest[1:]
    key, equals, raw = rest.partition("=")
    if not _KEY.fullmatch(key):
        return None
    if not equals:
        if kind is not OverrideKind.DELETE:
            return None
        return Override(index, text, kind, key, None, None, has_value=False)
    if raw.startswith("range(") and kind is not OverrideKind.DELETE:
        return _plain_range(index, text, kind, key, raw)
    parts = raw.split(",")
    if raw and not all(_PLAIN_CHARS.fullmatch(part) for part in parts):
        return None
    try:
        values = tuple(_plain_scalar(part) for part in parts)
    except ValueError:  # an integer too long for int(): hydra says so, located
        return None
    if len(values) == 1:
        return Override(index, text, kind, key, values[0], raw)
    if kind is OverrideKind.DELETE:
        return None
    texts = tuple(None if isinstance(v, str) else t for v, t in zip(values, parts))
    return Override(index, text, kind, key, None, raw, values, texts=texts)


def _plain_range(index: int, text: str, kind: OverrideKind, key: str, raw: str) -> Override | None:
    """``range(stop)``, ``range(start,stop)`` or ``range(start,stop,step)`` of unquoted finite
    numbers, no spaces, expanded as `expand_range` expands hydra's; None for anything else,
    and for a range hydra's path refuses (a step of 0, no values, too many), so that the
    refusal is the same located error."""
    if not raw.endswith(")"):
        return None
    args = raw[len("range(") : -1].split(",")
    if not 1 <= len(args) <= 3 or not all(_INT.fullmatch(a) or _FLOAT.fullmatch(a) for a in args):
        return None
    numbers = [_plain_scalar(a) for a in args]
    if not all(isinstance(n, int) or math.isfinite(n) for n in numbers):
        return None
    if len(numbers) == 1:  # range(stop), as hydra reads it
        numbers = [0, *numbers]
    start, stop, step = (*numbers, 1)[:3]
    try:
        values = range_values(start, stop, step, Origin())
    except SpecError:
        return None
    if not values:
        return None
    return Override(index, text, kind, key, None, raw, values, texts=(None,) * len(values))


def _plain_scalar(text: str) -> Any:
    """One unquoted scalar as hydra types it: a whole token INT, FLOAT, BOOL or NULL is
    that; anything else (several tokens, an ID) is its text."""
    word = text.lower()
    if word in _WORDS:
        return _WORDS[word]
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


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
    return range_values(sweep.start, sweep.stop, sweep.step, at)


def range_values(start: Any, stop: Any, step: Any, at: Origin) -> tuple[Any, ...]:
    """`expand_range` of the three numbers."""
    from nemorun.schemas.spec import MAX_POINTS

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
