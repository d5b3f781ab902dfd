"""Typing constructs of real libraries' signatures, read by `convert.Validator`.

`handler_for` gives the handler for a hint the validator's dispatch tables do not know:
``TypedDict``, ``NamedTuple``, a generic class (``Bucket[int]``), ``os.PathLike``,
``datetime.timedelta``, ``torch.dtype`` / ``torch.device`` and the abstract collections
(``Iterable[X]``, ``Collection[X]``…); `annotated` checks ``Annotated`` constraints.

What the job receives must survive being written into its entry point (generated Python, run
in another process) and into exports, so values that are objects become `Call`s of their
type: a NamedTuple is ``ImageSize(width=…, height=…)``, a timedelta ``timedelta(seconds=…)``,
a device ``device(type='cuda', index=0)``. A torch dtype is a module constant
(``torch.float16``): `constant_reference` names it for the writers.

torch is never imported here: a torch hint exists only once its module has imported torch.
Constraints are read by attribute (``ge``, ``lt``, ``min_length``… as annotated-types and
pydantic's ``Field`` spell them), so neither library needs to be installed.
"""

from __future__ import annotations

import collections.abc
import datetime
import os
import pathlib
import re
import sys
import typing
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from nemorun.errors import KeyPath, SpecError, did_you_mean
from nemorun.runtime import env_convert, env_default
from nemorun.schemas.envrefs import ENV_REF, EnvRef, env_reading
from nemorun.schemas.hints import inspect_callable, type_hints
from nemorun.schemas.messages import describe_value, example_for
from nemorun.schemas.signatures import Unchecked
from nemorun.schemas.source import find_origin
from nemorun.schemas.values import INVALID, Call

if TYPE_CHECKING:
    from nemorun.schemas.convert import Handler, Validator


def handler_for(annotation: Any) -> Handler | None:
    """The handler for ``annotation``, or None when it is none of this module's constructs."""
    origin = typing.get_origin(annotation)
    if origin is not None:
        if origin in _COLLECTIONS:
            return _collection
        if origin is os.PathLike:
            return _path_like
        return _generic if _is_generic_class(origin) else None
    if any(annotation is c for c in _COLLECTIONS):  # a hint need not be hashable
        return _collection
    if annotation is os.PathLike:
        return _path_like
    if annotation is datetime.timedelta:
        return _timedelta
    if not isinstance(annotation, type):
        return None
    if issubclass(annotation, dict) and hasattr(annotation, "__required_keys__"):
        return _typed_dict
    if issubclass(annotation, tuple) and hasattr(annotation, "_fields"):
        return _named_tuple
    if annotation.__module__ == "torch" and annotation.__name__ in ("dtype", "device"):
        return _torch_dtype if annotation.__name__ == "dtype" else _torch_device
    return None


_COLLECTIONS = frozenset(
    {collections.abc.Iterable, collections.abc.Collection, collections.abc.Reversible}
)
"""Read as ``list[X]``: the job gets a list, which is each of these."""


def _collection(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    args = typing.get_args(annotation)
    return v.value(raw, list[args[0]] if args else list, path)  # type: ignore[valid-type]


def _path_like(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    if isinstance(raw, pathlib.PurePath):
        return raw
    if isinstance(raw, str):
        return pathlib.Path(raw)
    return v.fail(path, "a path", raw)


def _is_generic_class(origin: Any) -> bool:
    """A user class subscripted with types (``Bucket[int]``); not a Protocol (read elsewhere)."""
    return (
        isinstance(origin, type)
        and issubclass(origin, typing.Generic)
        and not getattr(origin, "_is_protocol", False)
    )


def _generic(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """The class itself, with its type variables bound while its arguments are read."""
    origin = typing.get_origin(annotation)
    params = getattr(origin, "__parameters__", ())
    args = [v.bindings.get(a, a) for a in typing.get_args(annotation)]
    saved = v.bindings
    v.bindings = {**saved, **dict(zip(params, args))}
    try:
        return v.value(raw, origin, path)
    finally:
        v.bindings = saved


# --- TypedDict and NamedTuple ------------------------------------------------------------------


def _typed_dict(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """A plain dict (what a TypedDict is) with each key's value read as its hint says."""
    name = annotation.__qualname__
    if not isinstance(raw, dict):
        return v.fail(path, f"a mapping of {name} keys", raw)
    declared = type_hints(annotation)
    required = {k for k, h in declared.items() if _is_required(annotation, k, h)}
    hints = {k: _strip_required(h) for k, h in declared.items()}
    out: dict[str, Any] = {}
    for key, item in raw.items():
        if key not in hints:
            v.error(
                (*path, key), f"unknown key of {name}", suggestion=did_you_mean(str(key), hints)
            )
            continue
        converted = v.value(item, hints[key], (*path, key))
        if converted is not INVALID:
            out[key] = converted
    for key in hints:
        if key in required and key not in raw:
            v.error(
                path,
                f"missing required key '{key}' of {name}",
                suggestion=f"add '{key}: {example_for(hints[key])}'",
            )
    return out


_REQUIRED_MARKS = tuple(
    getattr(typing, n) for n in ("Required", "NotRequired") if hasattr(typing, n)
)


def _is_required(cls: Any, key: str, hint: Any) -> bool:
    """``Required[…]`` / ``NotRequired[…]`` say; else ``total=``. Read from the resolved hint:
    under ``from __future__ import annotations`` ``__required_keys__`` misses the marks."""
    origin = typing.get_origin(hint)
    if origin in _REQUIRED_MARKS:
        return origin is _REQUIRED_MARKS[0]
    return key in cls.__required_keys__


def _strip_required(hint: Any) -> Any:
    while typing.get_origin(hint) in _REQUIRED_MARKS:
        hint = typing.get_args(hint)[0]
    return hint


def _named_tuple(v: Validator, raw: Any, cls: Any, path: KeyPath) -> Any:
    """A mapping of fields (by name) or a list of them (in order) → ``cls(field=…, …)``."""
    if isinstance(raw, dict):
        return v.call(raw, cls, path)
    if isinstance(raw, cls):
        return raw
    fields = ", ".join(cls._fields)
    if not isinstance(raw, (list, tuple)):
        return v.fail(path, f"a mapping or a list of {cls.__qualname__} fields ({fields})", raw)
    params = list(inspect_callable(cls).params.values())
    if len(raw) > len(params):
        return v.error(
            path,
            "too many items",
            expected=f"at most {len(params)} ({fields})",
            found=f"a list of {len(raw)}",
            at_value=True,
        )
    args: dict[str, Any] = {}
    for i, (item, param) in enumerate(zip(raw, params)):
        converted = v.value(item, param.annotation, (*path, i))
        if converted is not INVALID:
            args[param.name] = converted
    missing = [p.name for p in params[len(raw) :] if p.is_required()]
    if missing:
        return v.error(
            path,
            f"missing {', '.join(repr(m) for m in missing)} of {cls.__qualname__}",
            expected=f"a list of {len(params)} ({fields})",
            found=f"a list of {len(raw)}",
            at_value=True,
        )
    return Call(cls, args, path=path)


# --- durations ---------------------------------------------------------------------------------

_DURATION = re.compile(
    r"\s*(?:(?P<days>[-+]?\d+)\s+days?,\s*)?"
    r"(?P<hours>\d+):(?P<minutes>[0-5]\d):(?P<seconds>[0-5]\d(?:\.\d{1,6})?)\s*"
)
_DURATION_FORMS = "'H:MM:SS', 'D days, H:MM:SS' or a mapping such as {hours: 1, minutes: 30}"


def _timedelta(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """A mapping of ``timedelta`` arguments, or text as ``str(timedelta)`` writes it. YAML 1.1
    reads an unquoted ``1:00:00`` as the integer 3600: the text as typed is what counts."""
    if isinstance(raw, dict):
        return v.call(raw, datetime.timedelta, path)
    if isinstance(raw, datetime.timedelta):
        return timedelta_call(raw, path)
    text = raw if isinstance(raw, str) else v.written_text(path)
    match = _DURATION.fullmatch(text) if text is not None else None
    if match is None:
        return v.fail(path, f"a duration: {_DURATION_FORMS}", raw)
    parts = {k: float(n) if k == "seconds" else int(n) for k, n in match.groupdict(0).items()}
    return timedelta_call(datetime.timedelta(**parts), path)


def timedelta_call(value: datetime.timedelta, path: KeyPath = ()) -> Call:
    """``timedelta(days=…, seconds=…, microseconds=…)`` with only the parts that are not 0."""
    parts = {"days": value.days, "seconds": value.seconds, "microseconds": value.microseconds}
    return Call(datetime.timedelta, {k: n for k, n in parts.items() if n}, path=path)


# --- torch -------------------------------------------------------------------------------------


def _torch_dtype(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """``float16`` or ``torch.float16`` → ``torch.float16``."""
    torch = sys.modules["torch"]
    if isinstance(raw, annotation):
        return raw
    if isinstance(raw, str):
        found = getattr(torch, raw.removeprefix("torch."), None)
        if isinstance(found, annotation):
            return found
    names = [n for n, obj in vars(torch).items() if isinstance(obj, annotation)]
    return v.error(
        path,
        "not a torch dtype",
        expected="a dtype name such as 'float32' or 'torch.bfloat16'",
        found=describe_value(raw),
        suggestion=did_you_mean(str(raw).removeprefix("torch."), names),
        at_value=True,
    )


def _torch_device(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """``cpu``, ``cuda``, ``cuda:0`` (or ``{type: cuda, index: 0}``, as exports write it) →
    ``torch.device(type=…, index=…)``."""
    if isinstance(raw, dict):
        return v.call(raw, annotation, path)
    if isinstance(raw, str):
        try:
            device = annotation(raw)
        except (RuntimeError, ValueError):
            device = None
        if device is not None:
            args = {"type": device.type}
            if device.index is not None:
                args["index"] = device.index
            return Call(annotation, args, path=path)
    return v.fail(path, "a device such as 'cpu', 'cuda' or 'cuda:0'", raw)


def constant_reference(value: Any) -> tuple[str, str] | None:
    """(module, name) of a value the job refers to by name (``torch.float16``), or None."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.dtype):
        name = str(value).removeprefix("torch.")
        if getattr(torch, name, None) is value:
            return "torch", name
    return None


# --- Annotated: constraints and unchecked hints ------------------------------------------------

_BOUNDS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "gt": ("greater than {}", lambda value, limit: value > limit),
    "ge": ("at least {}", lambda value, limit: value >= limit),
    "lt": ("less than {}", lambda value, limit: value < limit),
    "le": ("at most {}", lambda value, limit: value <= limit),
    "multiple_of": ("a multiple of {}", lambda value, limit: value % limit == 0),
    "min_length": ("a length of at least {}", lambda value, limit: len(value) >= limit),
    "max_length": ("a length of at most {}", lambda value, limit: len(value) <= limit),
}


def annotated(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """``Annotated[X, …]``: ``raw`` read as X, then held to every constraint in the metadata
    (one error per constraint it breaks). An `Unchecked` marker adds a warning instead."""
    inner, *metadata = typing.get_args(annotation)
    for item in metadata:
        if isinstance(item, Unchecked):
            origin = find_origin(v.origins, path)
            v.warnings.append(SpecError(item.warning(), path, origin).format())
    value = v.value(raw, inner, path)
    if isinstance(value, EnvRef):
        default = _env_default_value(value, inner)
        found = f"{describe_value(default)}, the default of {raw!r}"
        if default is not None and _broken_bounds(v, default, found, metadata, path):
            return INVALID
        return value
    if value is INVALID or isinstance(value, Call):
        return value
    return INVALID if _broken_bounds(v, value, describe_value(raw), metadata, path) else value


def _env_default_value(ref: EnvRef, annotation: Any) -> Any:
    """The value the job gets from ``ref``'s default (None without one): the job reads the
    variable itself, so only the default can be held to bounds here."""
    whole = ENV_REF.fullmatch(ref.template)
    if whole is None or whole.group(2) is None:
        return None
    try:
        return env_convert(env_default(whole.group(2)), **env_reading(annotation))
    except ValueError:  # already reported as a default that does not fit the type
        return None


def _broken_bounds(
    v: Validator, value: Any, found: str, metadata: list[Any], path: KeyPath
) -> bool:
    """True after an error for each bound in ``metadata`` that ``value`` breaks."""
    ok = True
    for name, limit in constraints(metadata):
        words, holds = _BOUNDS[name]
        try:
            fits = holds(value, limit)
        except TypeError:  # a bound for another kind of value (a length on a number)
            continue
        if not fits:
            ok = False
            length = name.endswith("length")
            v.error(
                path,
                "wrong length" if length else "out of range",
                expected=words.format(limit),
                found=found + (f" of length {len(value)}" if length else ""),
                at_value=True,
            )
    return not ok


def constraints(metadata: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    """(bound, limit) pairs of ``Annotated`` metadata, read by attribute: annotated-types'
    ``Ge(0)``, ``Interval(gt=0, le=1)``, ``Len(1, 3)``…, and pydantic's ``Field(ge=0)``
    (whose constraints are in its ``metadata`` list)."""
    for item in metadata:
        if isinstance(item, (str, bytes, int, float, type)):
            continue
        nested = getattr(item, "metadata", None)
        if isinstance(nested, (list, tuple)):
            yield from constraints(nested)
        for name in _BOUNDS:
            limit = getattr(item, name, None)
            if limit is not None and not callable(limit):
                yield name, limit
