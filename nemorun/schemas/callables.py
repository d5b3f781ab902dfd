"""Validator handlers for code: ``Callable``, ``type[X]``, protocols, ``{_call_: ref}``.

An explicit ``_target_`` under a class, protocol or ``Callable[..., R]`` must make one (see
`nemorun.schemas.hints.produces`); when that cannot be told, it is kept with a warning.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from typing import TYPE_CHECKING, Any

from nemorun.errors import KeyPath
from nemorun.schemas.hints import (
    inspect_callable,
    is_protocol,
    made_by,
    produces,
    protocol_members,
)
from nemorun.schemas.imports import TargetImportError, resolve
from nemorun.schemas.messages import (
    article,
    callable_return,
    describe,
    describe_value,
    example_for,
    quoted,
    reference_text,
    type_name,
)
from nemorun.schemas.values import CALL_KEY, INVALID, PARTIAL_KEY, TARGET_KEY, Call

if TYPE_CHECKING:
    from nemorun.schemas.convert import Validator


def callable_ref(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """A reference (``module:name``) to a callable making what ``Callable[..., R]`` says, or
    a ``_target_`` mapping: with ``_partial_: true`` a `functools.partial` of the target
    (validated against its signature, the caller's arguments left to the caller)."""
    if isinstance(raw, dict) and TARGET_KEY in raw:
        return _factory(v, raw, annotation, path)
    obj = v.target(raw, path) if isinstance(raw, str) else raw
    if obj is INVALID or isinstance(obj, Call):
        return obj
    if not callable(obj):
        return v.fail(path, describe(annotation), raw)
    returned = callable_return(annotation)
    if returned is not None and produces(obj, returned) is False:
        return v.error(
            path,
            f"'{reference_text(obj)}' does not make {article(type_name(returned))}",
            expected=describe(annotation),
            found=describe_value(raw),
            at_value=True,
        )
    return obj


def _factory(v: Validator, raw: dict[str, Any], annotation: Any, path: KeyPath) -> Any:
    partial = raw.get(PARTIAL_KEY) is True
    target = peek_target(raw[TARGET_KEY])
    made = target if isinstance(target, type) else made_by(target) if callable(target) else None
    if not partial and made is not None and not _instances_callable(made):
        name = getattr(target, "__qualname__", str(target))
        return v.error(
            path,
            f"{name}(...) makes {article(made.__qualname__)}, which is not callable",
            expected=describe(annotation),
            found="a mapping without '_partial_: true'",
            suggestion=f"add '{PARTIAL_KEY}: true' to pass {name} with these arguments, "
            "for the caller to complete",
        )
    returned = callable_return(annotation) if partial else None
    result = v.call(raw, None, path, expected=returned)
    if isinstance(result, Call) and partial:
        supplied = _caller_supplies(result.target, annotation)
        for name in supplied:
            if name in raw:
                v.error(
                    (*path, name),
                    f"'{name}' is passed when the partial is called",
                    suggestion="remove it here",
                )
        _missing_for_caller(v, raw, result, annotation, supplied, path)
    return result


def _missing_for_caller(
    v: Validator,
    raw: dict[str, Any],
    result: Call,
    annotation: Any,
    supplied: list[str],
    path: KeyPath,
) -> None:
    """A required argument that neither the spec nor ``Callable[[A, B], R]``'s caller passes
    (the caller's arguments are known only when listed, not for ``Callable[..., R]``)."""
    listed = typing.get_args(annotation)
    if not listed or not isinstance(listed[0], list):
        return
    schema = inspect_callable(result.target)
    for name in schema.required():
        if name not in raw and name not in supplied:
            v.error(
                path,
                f"missing required argument '{name}' of {schema.name}: the partial's caller "
                f"passes only {len(listed[0])} positional argument(s)",
                suggestion=f"add '{name}: {example_for(schema.params[name].annotation)}'",
            )


def type_ref(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    args = typing.get_args(annotation)
    if isinstance(raw, dict):
        return v.fail(path, describe(annotation), raw)
    obj = v.target(raw, path) if isinstance(raw, str) else raw
    if obj is INVALID:
        return INVALID
    base = args[0] if args else object
    if not isinstance(obj, type) or (isinstance(base, type) and not issubclass(obj, base)):
        return v.fail(path, describe(annotation), raw)
    return obj


def protocol(v: Validator, raw: Any, protocol: type, path: KeyPath) -> Any:
    """A ``_target_`` whose class structurally has the protocol's members."""
    if isinstance(raw, dict) and TARGET_KEY in raw:
        v.partial_for_class(raw, protocol, path)
        return v.call(raw, None, path, expected=protocol)
    if isinstance(raw, Call) or (
        getattr(protocol, "_is_runtime_protocol", False) and isinstance(raw, protocol)
    ):
        return raw
    return v.fail(path, describe(protocol), raw)


def reference(v: Validator, raw: dict[str, Any], path: KeyPath) -> Any:
    """``{_call_: 'mod:fn'}`` → the function itself, for hints that cannot say so."""
    for key in raw:
        if key != CALL_KEY:
            both = key == TARGET_KEY
            v.error(
                (*path, key),
                f"a '{CALL_KEY}' mapping holds nothing else",
                suggestion=f"write {{{CALL_KEY}: 'module:name'}} to pass the object itself, "
                f"or {{{TARGET_KEY}: 'module:name', ...}} to call it"
                if both
                else f"remove '{key}'",
            )
    ref = raw[CALL_KEY]
    if not isinstance(ref, str):
        return v.fail((*path, CALL_KEY), "a 'module:name' string", ref)
    obj = v.target(ref, (*path, CALL_KEY))
    if obj is not INVALID and not callable(obj):
        return v.error(
            (*path, CALL_KEY),
            f"'{ref}' is not callable",
            found=type(obj).__name__,
            suggestion="name a function or a class",
            at_value=True,
        )
    return INVALID if len(raw) > 1 else obj


def makes(v: Validator, target: Any, expected: Any, raw: dict[str, Any], path: KeyPath) -> bool:
    """False after an error when ``target`` decidably does not make an ``expected``."""
    verdict = produces(target, expected)
    if verdict is True:
        return True
    name = type_name(expected)
    ref = raw[TARGET_KEY]
    made = made_by(target)
    if verdict is None:
        why = "a member it only annotates" if made is not None else "no return annotation"
        v.warn(
            (*path, TARGET_KEY),
            f"cannot check that '{ref}' makes {article(name)} ({why}); the job will tell",
        )
        return True
    if is_protocol(expected):
        missing = [m for m in protocol_members(expected) if not hasattr(made, m)]
        message = f"'{ref}' does not implement {name}: it has no {quoted(missing)}"
        wanted = f"a class with the members of {name}"
    elif isinstance(target, type):
        message = f"'{ref}' is not a subclass of {name}"
        wanted = f"{name} or a subclass of it"
    else:
        message = f"'{ref}' returns {type_name(made)}, not {article(name)}"
        wanted = f"{name}, a subclass, or a factory returning one"
    v.error((*path, TARGET_KEY), message, expected=wanted, at_value=True)
    return False


def peek_target(ref: Any) -> Any:
    """The object a ``_target_`` names, or None (its errors are `Validator.call`'s to report)."""
    try:
        return resolve(ref) if isinstance(ref, str) else ref
    except TargetImportError:
        return None


def _instances_callable(cls: type) -> bool:
    return any("__call__" in vars(c) for c in cls.__mro__ if c is not object)


def _caller_supplies(target: Any, annotation: Any) -> list[str]:
    """The parameters of ``target`` that ``Callable[[A, B], R]``'s caller passes: its first
    positional ones, one per listed argument (none for ``Callable[..., R]``)."""
    args = typing.get_args(annotation)
    if not args or not isinstance(args[0], list):
        return []
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[: len(args[0])]


_REFERENCE_TEXT = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def names_callable(text: str) -> bool:
    """True when ``module:name`` text names a callable of a module already imported (the
    task's own, or one it imports). Text is data: a module is never imported, and its code
    never run, because an untyped value such as ``split: train:val`` looks like a reference."""
    if not _REFERENCE_TEXT.fullmatch(text) or text.partition(":")[0] not in sys.modules:
        return False
    try:
        return callable(resolve(text))
    except TargetImportError:
        return False
