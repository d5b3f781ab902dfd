"""Environment references (``${oc.env:VAR[,default]}``): kept as `EnvRef`, read where the job runs.

Validation checks only that a reference may fill the argument (a scalar) and that a literal
default fits; `env_reading` says how the job converts the text, so validation, the Fiddle
graph and the entry point agree on every value.
"""

from __future__ import annotations

import enum
import pathlib
import re
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Union

from nemorun.errors import KeyPath
from nemorun.runtime import ENV_REFERENCE, env_convert, env_default
from nemorun.schemas.messages import describe
from nemorun.schemas.values import strip_annotated

if TYPE_CHECKING:
    from nemorun.schemas.convert import Validator


ENV_REF = re.compile(ENV_REFERENCE)


@dataclass(frozen=True)
class EnvRef:
    """A value read from the job's environment where it runs: ``${oc.env:VAR[,default]}``."""

    template: str
    annotation: Any = Any

    def variables(self) -> list[str]:
        return [m.group(1).strip() for m in ENV_REF.finditer(self.template)]


def is_env_template(value: Any) -> bool:
    return isinstance(value, str) and "${oc.env:" in value


def env_ref(v: Validator, raw: str, annotation: Any, path: KeyPath) -> Any:
    annotation = strip_annotated(annotation)
    whole = ENV_REF.fullmatch(raw)
    scalar = scalar_core(annotation)
    if scalar is None:
        return v.error(
            path,
            "an environment reference can only fill a scalar argument",
            expected=describe(annotation),
            found=repr(raw),
            at_value=True,
        )
    if whole is None and scalar not in (str, pathlib.Path, Any):
        return v.error(
            path,
            "text around an environment reference makes a string",
            expected=describe(annotation),
            found=repr(raw),
            suggestion="use the reference alone, e.g. '${oc.env:VAR,default}'",
            at_value=True,
        )
    if whole is not None and whole.group(2) is not None:
        default = env_default(whole.group(2))
        try:
            env_convert(default, **env_reading(annotation))
        except ValueError:
            variable = whole.group(1).strip()
            return v.error(
                path,
                f"the default of '{raw}' does not fit",
                expected=describe(annotation),
                found=repr(default),
                suggestion=f"the job gets this default when {variable} is not set",
                at_value=True,
            )
    return EnvRef(raw, annotation)


def env_reading(annotation: Any) -> dict[str, Any]:
    """The keyword arguments of `nemorun.runtime.env_value` that read ``annotation``'s value.

    ``to``: the scalar types of the hint's alternatives, in order (omitted for plain text);
    ``choices``: the values of its Literals; ``optional``: whether None is allowed. Validation,
    the Fiddle graph and the job's entry point all read environment text with these, so they
    agree on every value.
    """
    annotation = strip_annotated(annotation)
    is_union = typing.get_origin(annotation) in (Union, types.UnionType)
    options = typing.get_args(annotation) if is_union else (annotation,)
    kinds: list[Any] = []
    choices: list[Any] = []
    for option in options:
        option = strip_annotated(option)
        if option is type(None):
            continue
        if typing.get_origin(option) is Literal:
            choices.extend(c for c in typing.get_args(option) if c not in choices)
            continue
        core = scalar_core(option)
        kind = str if core in (Any, None) else core
        if kind not in kinds:
            kinds.append(kind)
    reading: dict[str, Any] = {}
    if kinds and (kinds != [str] or choices):
        reading["to"] = kinds[0] if len(kinds) == 1 else tuple(kinds)
    if choices:
        reading["choices"] = tuple(choices)
    if type(None) in options:
        reading["optional"] = True
    return reading


def scalar_core(annotation: Any) -> Any:
    """The scalar type behind ``annotation`` (through Optional and Annotated), or None if not
    a scalar."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        cores = [scalar_core(a) for a in typing.get_args(annotation) if a is not type(None)]
        return cores[0] if len(cores) == 1 else (Any if all(cores) else None)
    if origin is Literal:
        return str
    if annotation in (int, float, str, bool, Any):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, (enum.Enum, pathlib.PurePath)):
        return pathlib.Path if issubclass(annotation, pathlib.PurePath) else annotation
    return None
