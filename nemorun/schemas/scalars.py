"""Validator handlers for scalar hints: numbers, text, booleans, paths, enums and Literals.

A plain scalar is read as the user typed it where the loader's reading differs (``tag: 007``
for a ``str`` is ``'007'``; ``1e-3`` for a ``float`` is a number).
"""

from __future__ import annotations

import enum
import pathlib
import re
import typing
from typing import TYPE_CHECKING, Any

from nemorun.errors import KeyPath, did_you_mean
from nemorun.schemas.messages import describe_value

if TYPE_CHECKING:
    from nemorun.schemas.convert import Validator


def integer(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = v.written_text(path)
    if isinstance(raw, str) and text == raw and re.fullmatch(r"[-+]?\d[\d_]*", raw):
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d[\d_]*\s*", raw):
        return v.fail(path, "an integer", raw, suggestion=f"remove the quotes: {raw.strip()}")
    if isinstance(raw, float) and raw.is_integer():
        return v.fail(path, "an integer", raw, suggestion=f"write {int(raw)}")
    return v.fail(path, "an integer", raw)


def number(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str) and v.written_text(path) == raw:
        # PyYAML reads 1e-3 (no dot) as a string; the user meant a number.
        try:
            return float(raw)
        except ValueError:
            pass
    if isinstance(raw, str) and _is_number(raw):
        return v.fail(path, "a number", raw, suggestion=f"remove the quotes: {raw.strip()}")
    return v.fail(path, "a number", raw, suggestion="write it like 0.001 or 1.0e-3")


def string(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    if isinstance(raw, str):
        return raw
    text = v.written_text(path)
    if text is not None and raw is not None and not isinstance(raw, (dict, list)):
        return text  # `tag: 007` or `country: no` means exactly what was typed
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    return v.fail(path, "a string", raw, suggestion="quote the value")


_YAML11_BOOLEANS = {"yes": "true", "on": "true", "y": "true", "no": "false", "off": "false"}


def boolean(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    if isinstance(raw, bool):
        return raw
    meant = _YAML11_BOOLEANS.get(raw.lower()) if isinstance(raw, str) else None
    if meant is not None:  # YAML 1.1 spellings: YAML 1.2 (and nemorun) reads them as text
        return v.fail(path, "true or false", raw, suggestion=f"write {meant}")
    return v.fail(path, "true or false", raw)


def to_path(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    if isinstance(raw, pathlib.PurePath):
        return raw
    if isinstance(raw, str):
        return pathlib.Path(raw)
    text = v.written_text(path)
    if text is not None and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return pathlib.Path(text)  # `out: 2024` or `1e3` names a directory, as typed
    return v.fail(path, "a path string", raw)


def member(v: Validator, raw: Any, annotation: type[enum.Enum], path: KeyPath) -> Any:
    if isinstance(raw, annotation):
        return raw
    members = annotation.__members__
    if isinstance(raw, str) and raw in members:
        return members[raw]
    by_value = [m for m in annotation if m.value == raw and type(m.value) is type(raw)]
    if len(by_value) == 1:
        return by_value[0]
    names = ", ".join(f"'{n}'" for n in members)
    return v.error(
        path,
        f"not a member of {annotation.__qualname__}",
        expected=f"one of {names}",
        found=describe_value(raw),
        suggestion=did_you_mean(str(raw), members),
        at_value=True,
    )


def literal(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    choices = typing.get_args(annotation)
    for choice in choices:
        if type(choice) is type(raw) and choice == raw:
            return choice
    text = v.written_text(path)
    if text is not None and text in choices:
        return text
    for choice in choices:  # Literal[Color.RED]: the member, by name as enums are written
        if isinstance(choice, enum.Enum) and raw in (choice.name, choice.value):
            return choice
    names = [c.name if isinstance(c, enum.Enum) else c for c in choices]
    return v.error(
        path,
        "not an allowed value",
        expected="one of " + ", ".join(repr(c) for c in names),
        found=describe_value(raw),
        suggestion=did_you_mean(str(raw), [c for c in names if isinstance(c, str)]),
        at_value=True,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
