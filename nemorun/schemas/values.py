"""What validation makes of a spec: `Call`, the ``INVALID`` marker, and the spec's code keys.

Shared by the validator (`nemorun.schemas.convert`), its handler modules and the compiler,
which turns each `Call` into an ``fdl.Config``.
"""

from __future__ import annotations

import collections.abc
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Union

from nemorun.errors import KeyPath

TARGET_KEY = "_target_"
PARTIAL_KEY = "_partial_"
CALL_KEY = "_call_"
"""``{_call_: mypkg.fns:warmup}``: the object the reference names, itself (not called)."""
CODE_KEYS = (TARGET_KEY, CALL_KEY)
MISSING_VALUE = "???"
"""OmegaConf's mark of a value still to be given (``nemorun new`` writes it for required
arguments): never a value, always the error "required value not filled in"."""


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


@dataclass(eq=False)
class Call:
    """A validated call: ``target(**args)``, or ``functools.partial`` of it when ``partial``."""

    target: Any
    args: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    explicit_target: bool = False
    """True when the spec named the target (``_target_``) rather than leaving it to the hint."""
    path: KeyPath = ()


def is_reference(raw: Any) -> bool:
    """True for ``{_call_: ...}``: an object by reference, not a call."""
    return isinstance(raw, dict) and CALL_KEY in raw and TARGET_KEY not in raw


def takes_reference_text(annotation: Any) -> bool:
    """True when ``annotation`` reads ``module:name`` text as the object it names (``Callable``,
    ``type[X]``, optionally None): elsewhere an object is written ``{_call_: module:name}``."""
    annotation = strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return all(takes_reference_text(a) for a in options)
    return (origin or annotation) in (collections.abc.Callable, type)


def strip_annotated(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation
