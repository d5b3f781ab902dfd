"""The little that a built graph needs at run time: reading ``${oc.env:…}`` references.

Fiddle graphs and Python exports hold ``fdl.Config(env_value, template=…, to=…)`` where the spec
referred to the job's environment, so the variable is read when the graph is *built*, on the
machine where the job runs. Kept free of heavy imports.
"""

from __future__ import annotations

import enum
import os
import pathlib
import re
from typing import Any

_REF = re.compile(r"\$\{oc\.env:([^,}]+)(?:,([^}]*))?\}")


def expand(template: str) -> str:
    """Substitute every ``${oc.env:VAR[,default]}`` in ``template`` from ``os.environ``."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1).strip(), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise KeyError(f"environment variable '{name}' is not set and has no default")
        return default.strip()

    return _REF.sub(one, template)


def env_value(
    template: str, to: Any = str, optional: bool = False, choices: tuple[Any, ...] = ()
) -> Any:
    """The value of ``template`` in this process's environment, converted to ``to``.

    ``to`` is a scalar type (str, int, float, bool, an Enum by member name, a Path), or a tuple
    of them tried in order (a Union); ``choices`` are a Literal's values, matched by their text;
    ``optional`` reads an empty, ``none`` or ``null`` text as None.
    """
    text = expand(template)
    if optional and text.lower() in ("null", "none", ""):
        return None
    if choices:
        for choice in choices:
            if str(choice) == text:
                return choice
        shown = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{template}: expected one of {shown}, got {text!r}")
    if isinstance(to, tuple):
        problems = []
        for option in to:
            try:
                return _convert(template, text, option)
            except ValueError as exc:
                problems.append(str(exc))
        raise ValueError("; ".join(problems))
    return _convert(template, text, to)


def _convert(template: str, text: str, to: Any) -> Any:
    if to is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{template}: expected true or false, got {text!r}")
    if isinstance(to, type) and issubclass(to, enum.Enum):
        if text in to.__members__:
            return to.__members__[text]
        names = ", ".join(to.__members__)
        raise ValueError(f"{template}: expected one of {names}, got {text!r}")
    if isinstance(to, type) and issubclass(to, pathlib.PurePath):
        return pathlib.Path(text)
    if to in (int, float):
        try:
            return to(text)
        except ValueError:
            kind = "an integer" if to is int else "a number"
            raise ValueError(f"{template}: expected {kind}, got {text!r}") from None
    return text
