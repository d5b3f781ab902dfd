"""`Format`: what an option's value must look like beyond its type, declared once on its field.

An option field carries its formats in its dataclass metadata (`option`). The validator
(`convert.py`) checks every value it converts for that field, with a located error at the value,
and the JSON Schema (`jsonschema.py`) writes the same rule as ``pattern``, ``minimum``,
``exclusiveMinimum`` and ``maximum``. So ``nemorun validate``, ``compile`` and an editor refuse
the same values.

The keywords mean what JSON Schema says: a pattern constrains strings only, bounds numbers only,
so one `Format` serves a ``str | int`` field (``time: 30`` or ``time: '04:00:00'``). Patterns
are in the common subset of Python's ``re`` and ECMA-262 (``[0-9]``, never ``\\d``, which Python
lets match other scripts' digits; no inline flags: see `any_case`) and match the whole value.
``rule`` is for what a pattern cannot say (a port range's order): the validator applies it,
the schema cannot.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from nemorun.errors import did_you_mean

FORMAT_KEY = "nemorun.format"
"""The dataclass-metadata key that holds a field's formats (a tuple of `Format`)."""


@dataclass(frozen=True)
class Problem:
    """Why a value does not fit a `Format`, in `SpecError`'s words."""

    message: str
    expected: str | None = None
    found: str | None = None
    suggestion: str | None = None


@dataclass(frozen=True)
class Format:
    """A value's format: a pattern for strings, bounds for numbers, and how to say so."""

    what: str
    """What the value is, with its article: ``a Slurm time`` (the error says ``not a …``)."""
    pattern: str | None = None
    expected: str | None = None
    """The pattern in words, for the error."""
    example: str | None = None
    minimum: int | None = None
    exclusive_minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    """Known words, for a "did you mean" (the pattern is still what decides)."""
    choice_of: Callable[[str], str] | None = None
    """The part of a value compared with ``choices`` (default: all of it)."""
    fractions: bool = False
    """Whether the text of a number with a fraction (``1.5``) can fit the pattern: a number
    written unquoted is checked as its text, which the JSON Schema can only say by type."""
    rule: Callable[[str], str | None] | None = None
    """Beyond the pattern, for a string that matched it: why it is still wrong, or None."""
    applies_to: Literal["value", "items", "keys", "values"] = "value"
    """The field's value itself, each item of its list, or each key or value of its mapping."""
    reserved: tuple[str, ...] = ()
    """Values that fit the pattern but are nemorun's own (``NEMORUN_POINT`` as an env name):
    refused with ``reserved_message``, and ``not: {enum: …}`` in the JSON Schema."""
    reserved_message: str = "nemorun sets {} itself"
    reserved_hint: str | None = "use a name of your own"

    def problem(self, value: Any) -> Problem | None:
        """Why ``value`` does not fit, or None when it does (or the format says nothing of it)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, (int, float)):
            if self.minimum is not None and value < self.minimum:
                return Problem(f"must be at least {self.minimum}", found=str(value))
            if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
                return Problem(f"must be more than {self.exclusive_minimum}", found=str(value))
            if self.maximum is not None and value > self.maximum:
                return Problem(f"must be at most {self.maximum}", found=str(value))
            return None
        if not isinstance(value, str) or self.pattern is None:
            return None
        why = None if re.fullmatch(self.pattern, value) else f"not {self.what}"
        if why is None and value in self.reserved:
            return Problem(self.reserved_message.format(value), suggestion=self.reserved_hint)
        if why is None and self.rule is not None:
            why = self.rule(value)
        if why is None:
            return None
        word = self.choice_of(value) if self.choice_of is not None else value
        hint = did_you_mean(word, self.choices) if self.choices else None
        if hint is None and self.example is not None:
            hint = f"e.g. {self.example!r}"
        return Problem(why, self.expected, repr(value), hint)

    def json_schema(self) -> dict[str, Any]:
        """The same rule as JSON Schema keywords (for the value, its items or its keys)."""
        keywords: dict[str, Any] = {}
        if self.pattern is not None:
            keywords["pattern"] = f"^(?:{self.pattern})$"
            if not self.fractions:  # nor does `true`: an unquoted scalar is read as its text
                keywords["if"] = {"not": {"type": "string"}}
                keywords["then"] = {"type": "integer"}
        if self.minimum is not None:
            keywords["minimum"] = self.minimum
        if self.exclusive_minimum is not None:
            keywords["exclusiveMinimum"] = self.exclusive_minimum
        if self.maximum is not None:
            keywords["maximum"] = self.maximum
        if self.reserved:
            keywords["not"] = {"enum": list(self.reserved)}
        return keywords


def option(*formats: Format, default: Any = None, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its formats: ``time: str | None = option(SLURM_TIME)``."""
    metadata = {FORMAT_KEY: formats}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def formats_of(field: dataclasses.Field[Any]) -> tuple[Format, ...]:
    """The formats declared on a dataclass field (none for a plain field)."""
    return tuple(field.metadata.get(FORMAT_KEY, ()))


def any_case(word: str) -> str:
    """A pattern matching ``word`` in any case (``[uU][nN]…``): ECMA-262 has no inline flags."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)
