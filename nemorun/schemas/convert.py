"""Validate a plain value against a type hint and convert it to that type.

The task receives what its signature promises: a list for a ``tuple`` becomes a tuple, a string
for a ``Path`` a Path, an int for a ``float`` a float, a member name for an ``Enum`` the member,
and a mapping for a dataclass (or any class with a typed ``__init__``) a `Call`, which the
compiler turns into an ``fdl.Config``.

Design points (details on the handlers):
- Dispatch is a table keyed by ``typing.get_origin`` (or the type itself), not an if-chain; the
  handlers live by concern: `scalars`, `unions`, `callables` (code and references), `envrefs`
  and `constructs` (library typing constructs, ``Annotated``).
- Errors never stop the walk: each goes to the `Collector` (`Validator.error`) and the walk
  continues, so one run reports every mistake.
- A mapping reached twice (a YAML alias) gives the *same* `Call` both times: sharing survives.
- A dataclass field may declare formats beyond its type (`nemorun.schemas.formats`): a
  converted value is checked against them, with the error at the value.
"""

from __future__ import annotations

import collections.abc
import enum
import pathlib
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Union

from nemorun.errors import Collector, KeyPath, Origin, SpecError, did_you_mean
from nemorun.schemas import callables, constructs, scalars, unions
from nemorun.schemas.envrefs import ENV_REF, EnvRef, env_reading, env_ref, is_env_template
from nemorun.schemas.formats import Format
from nemorun.schemas.hints import (
    CallableSchema,
    inspect_callable,
    is_config_class,
    is_protocol,
)
from nemorun.schemas.imports import TargetImportError, resolve
from nemorun.schemas.messages import describe, describe_value, example_for, fill_in
from nemorun.schemas.source import find_origin, value_origin
from nemorun.schemas.values import (
    CALL_KEY,
    INVALID,
    MISSING_VALUE,
    PARTIAL_KEY,
    TARGET_KEY,
    Call,
    is_reference,
    strip_annotated,
)

if TYPE_CHECKING:
    from nemorun.schemas.places import Places


class Validator:
    """One validation pass over a tree; ``origins`` says where each key path was written."""

    def __init__(self, origins: dict[KeyPath, Origin], errors: Collector) -> None:
        self.origins = origins
        self.errors = errors
        # Keyed by id(); the raw mapping is kept alive beside its Call so no id is ever reused.
        self.memo: dict[int, tuple[Any, Call]] = {}
        self.warnings: list[str] = []
        """Located doubts that do not stop the spec: checks that could not be made, values
        accepted unchecked (a hint that cannot be resolved)."""
        self.bindings: dict[Any, Any] = {}
        """Type variables bound by the generic class being read (``Bucket[int]``: T → int)."""
        self.places: Places | None = None
        """Where to note the arguments at some key paths (`Places`: a sweep's axes)."""
        self.choosing = 0
        """How many unions above are choosing an alternative: an argument below one is not at
        a place of its own (another value may make the union choose another class)."""

    # --- entry points -------------------------------------------------------------------------

    def value(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        """``raw`` converted to ``annotation``, or INVALID after recording an error."""
        if isinstance(raw, str) and raw == MISSING_VALUE:
            return self.error(
                path,
                "required value not filled in",
                expected=describe(annotation),
                suggestion=fill_in(annotation),
                at_value=True,
            )
        if typing.get_origin(annotation) is typing.Annotated:
            return constructs.annotated(self, raw, annotation, path)
        if is_env_template(raw):
            return env_ref(self, raw, annotation, path)
        if isinstance(annotation, typing.TypeVar):
            annotation = self.bindings.get(annotation, Any)
        while hasattr(annotation, "__supertype__"):  # NewType("UserId", int): an int
            annotation = annotation.__supertype__
        if is_reference(raw) and not _is_mapping_hint(annotation):
            obj = callables.reference(self, raw, path)  # the object itself, then held to the hint
            return obj if obj is INVALID else self.value(obj, annotation, path)
        if annotation is Any or annotation is object or isinstance(annotation, typing.TypeVar):
            return self._any(raw, path)
        origin = typing.get_origin(annotation)
        handler = _BY_ORIGIN.get(origin) if origin is not None else _BY_TYPE.get(annotation)
        if handler is None:
            handler = constructs.handler_for(annotation)
        if handler is not None:
            return handler(self, raw, annotation, path)
        if annotation is None or annotation is type(None):
            return None if raw is None else self.fail(path, "null", raw)
        if isinstance(annotation, type):
            if issubclass(annotation, enum.Enum):
                return scalars.member(self, raw, annotation, path)
            if issubclass(annotation, pathlib.PurePath):
                return scalars.to_path(self, raw, annotation, path)
            if is_protocol(annotation):
                return callables.protocol(self, raw, annotation, path)
            if is_config_class(annotation):
                return self._config(raw, annotation, path)
            if isinstance(raw, annotation):
                return raw
            if isinstance(raw, dict) and TARGET_KEY in raw:
                self.partial_for_class(raw, annotation, path)
                return self.call(raw, None, path, expected=annotation)
        return self.fail(path, describe(annotation), raw)

    def partial_for_class(self, raw: dict[str, Any], cls: type, path: KeyPath) -> None:
        """A ``_partial_: true`` where the hint asks for an instance: the task will get a
        callable instead. Hydra users do this with loosely typed code, so it is kept, not
        refused, but never silently."""
        if raw.get(PARTIAL_KEY) is True:
            self.warn(
                (*path, PARTIAL_KEY),
                f"'{PARTIAL_KEY}: true' gives the task a functools.partial where its hint "
                f"asks for a {cls.__qualname__}",
                suggestion=f"remove '{PARTIAL_KEY}', or type the argument "
                f"Callable[..., {cls.__qualname__}]",
            )

    def call(
        self, raw: dict[str, Any], default_target: Any, path: KeyPath, expected: Any = None
    ) -> Any:
        """A mapping of arguments → `Call` of its ``_target_`` (or of ``default_target``).

        An explicit ``_target_`` must make an ``expected`` (default: ``default_target``, when
        it is a class): name it, a subclass, or a factory whose return annotation is one. When
        that cannot be told (no return annotation), the call is kept with a warning."""
        target = default_target
        explicit = TARGET_KEY in raw
        if expected is None and isinstance(default_target, type):
            expected = default_target
        if explicit:
            target = self.target(raw[TARGET_KEY], (*path, TARGET_KEY))
            if target is INVALID:
                return INVALID
            if expected is not None and not callables.makes(self, target, expected, raw, path):
                return INVALID
        if target is None:
            return self.error(path, "no callable to call", expected=f"a '{TARGET_KEY}' key")
        cached = self.memo.get(id(raw))
        if cached is not None and cached[1].target is target:  # an alias: one shared object
            return cached[1]  # (under a hint that makes another class, it is another object)
        partial = raw.get(PARTIAL_KEY, False)
        if not isinstance(partial, bool):
            self.fail((*path, PARTIAL_KEY), "true or false", partial)
            partial = False
        try:
            schema = inspect_callable(target)
        except (TypeError, ValueError):
            return self.error(path, f"cannot read the signature of {target!r}")
        result = Call(target, {}, partial, explicit, path)
        self.memo[id(raw)] = (raw, result)
        for key, item in raw.items():
            if key in (TARGET_KEY, PARTIAL_KEY):
                continue
            converted = self.argument(schema, key, item, (*path, key))
            if converted is not INVALID:
                result.args[key] = converted
        if not partial:
            self._missing(schema, raw, path)
        return result

    def argument(self, schema: CallableSchema, key: Any, item: Any, path: KeyPath) -> Any:
        """``item`` converted as argument ``key`` of ``schema`` (at ``path``): by its hint,
        then held to its formats; INVALID after an error. A sweep value is converted here
        alone, at the argument's `Place` (`nemorun.schemas.places`)."""
        param = schema.params.get(key) if isinstance(key, str) else None
        if param is not None:
            annotation = param.annotation
        elif schema.accepts_any_keyword() and isinstance(key, str):
            annotation = schema.var_keyword
        else:
            return self.error(
                path,
                f"unknown argument of {schema.name}",
                suggestion=did_you_mean(str(key), schema.params),
            )
        converted = self.value(item, annotation, path)
        if converted is not INVALID and param is not None:
            converted = self._formats(item, converted, param.formats, path)
        if self.places is not None and not self.choosing:
            self.places.record(path, schema, key, self.bindings, converted)
        return converted

    def _missing(self, schema: CallableSchema, raw: dict[str, Any], path: KeyPath) -> None:
        """An error at ``path`` for each required argument of ``schema`` that ``raw`` lacks."""
        for name in schema.required():
            if name not in raw:
                example = example_for(schema.params[name].annotation)
                self.error(
                    path,
                    f"missing required argument '{name}' of {schema.name}",
                    suggestion=f"add '{name}: {example}'",
                )

    # --- errors -------------------------------------------------------------------------------

    def error(
        self,
        path: KeyPath,
        message: str,
        *,
        expected: str | None = None,
        found: str | None = None,
        suggestion: str | None = None,
        at_value: bool = False,
    ) -> Any:
        origin = find_origin(self.origins, path)
        if origin is not None and at_value:
            origin = origin.at_value()
        self.errors.add(SpecError(message, path, origin, expected, found, suggestion))
        return INVALID

    def fail(self, path: KeyPath, expected: str, raw: Any, suggestion: str | None = None) -> Any:
        return self.error(
            path,
            "wrong type",
            expected=expected,
            found=describe_value(raw),
            suggestion=suggestion,
            at_value=True,
        )

    def _formats(self, raw: Any, value: Any, formats: tuple[Format, ...], path: KeyPath) -> Any:
        """``value`` when it fits every format of its field, else INVALID after an error at each
        part that does not (the value, or an item, key or value of it). A number only a string
        takes (``time: 1.5`` on ``str | int``) becomes the text the job gets, and
        is still held to the format's bounds, as the JSON Schema holds it."""
        ok = True
        for fmt in formats:
            for where, candidates in _format_parts(fmt, raw, value, path):
                for candidate in candidates:
                    problem = None if isinstance(candidate, EnvRef) else fmt.problem(candidate)
                    if problem is not None:
                        ok = False
                        self.error(
                            where,
                            problem.message,
                            expected=problem.expected,
                            found=problem.found,
                            suggestion=problem.suggestion,
                            at_value=fmt.applies_to != "keys",
                        )
                        break  # one error for a number and the text it became
        return value if ok else INVALID

    def written_text(self, path: KeyPath) -> str | None:
        """The scalar as the user typed it, when it was a plain (unquoted) scalar at ``path``."""
        origin = self.origins.get(path)
        return origin.text if origin is not None else None

    def warn(self, path: KeyPath, message: str, suggestion: str | None = None) -> None:
        """A located warning, at the value: shown, but the spec stays valid."""
        origin = value_origin(self.origins, path)
        text = SpecError(message, path, origin, suggestion=suggestion).format()
        if text not in self.warnings:
            self.warnings.append(text)

    def _config(self, raw: Any, cls: type, path: KeyPath) -> Any:
        if isinstance(raw, dict):
            self.partial_for_class(raw, cls, path)
            return self.call(raw, cls, path)
        if isinstance(raw, (cls, Call)):
            return raw
        return self.fail(path, f"a mapping of {cls.__qualname__} arguments", raw)

    # --- handlers -----------------------------------------------------------------------------

    def _any(self, raw: Any, path: KeyPath) -> Any:
        if is_env_template(raw):  # at any depth of an untyped value, read where the job runs
            return env_ref(self, raw, Any, path)
        if isinstance(raw, dict):
            if TARGET_KEY in raw:
                return self.call(raw, None, path)
            if is_reference(raw):
                return callables.reference(self, raw, path)
            return {k: self._any(v, (*path, k)) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self._any(v, (*path, i)) for i, v in enumerate(raw)]
        if isinstance(raw, str) and callables.names_callable(raw):
            self.warn(
                path,
                f"'{raw}' reaches the task as text: nothing says this argument takes a function",
                suggestion=f"to pass the function itself, write {{{CALL_KEY}: '{raw}'}}",
            )
        return raw

    def target(self, ref: Any, path: KeyPath) -> Any:
        if not isinstance(ref, str):
            if callable(ref):
                return ref
            return self.fail(path, "a 'module:name' string", ref)
        try:
            return resolve(ref)
        except TargetImportError as exc:
            return self.error(path, exc.message, suggestion=exc.suggestion, at_value=True)

    def _sequence(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        origin = typing.get_origin(annotation) or annotation
        args = typing.get_args(annotation)
        if not isinstance(raw, (list, tuple, set, frozenset)):
            return self.fail(path, describe(annotation), raw)
        items = list(raw)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if args == ((),):
                args = ()
            if len(items) != len(args):
                return self.error(
                    path,
                    "wrong number of items",
                    expected=describe(annotation),
                    found=f"a list of {len(items)}",
                    at_value=True,
                )
            converted = [self.value(v, a, (*path, i)) for i, (v, a) in enumerate(zip(items, args))]
        else:
            item_type = args[0] if args else Any
            converted = [self.value(v, item_type, (*path, i)) for i, v in enumerate(items)]
        if any(c is INVALID for c in converted):
            return INVALID
        if origin in (tuple,):
            return tuple(converted)
        if origin in _SETS and any(isinstance(c, Call) for c in converted):  # unhashable
            why = "a set cannot hold objects that the job builds (a Fiddle config is not hashable)"
            return self.error(path, why, expected=describe(annotation), at_value=True)
        if origin in (set, collections.abc.Set, collections.abc.MutableSet):
            return set(converted)
        if origin is frozenset:
            return frozenset(converted)
        return converted

    def _mapping(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        args = typing.get_args(annotation)
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        if not isinstance(raw, dict):
            return self.fail(path, describe(annotation), raw)
        out: dict[Any, Any] = {}
        for key, item in raw.items():
            k = key
            if is_env_template(key):  # a key names something here; the job cannot rename it
                k = self.error(
                    (*path, key),
                    "a mapping key cannot be an environment reference",
                    found=repr(key),
                    suggestion="write the key itself; references go in values",
                )
            elif strip_annotated(key_type) is str and not isinstance(key, str):
                k = str(key)
            elif key_type is not Any:
                k = self.value(key, key_type, (*path, key))
            v = self.value(item, value_type, (*path, key))
            if k is not INVALID and v is not INVALID:
                out[k] = v
        return out


def _format_parts(
    fmt: Format, raw: Any, value: Any, path: KeyPath
) -> list[tuple[KeyPath, tuple[Any, ...]]]:
    """What `Format` ``fmt`` checks in a field's value: (where, the values to check there)."""
    if fmt.applies_to == "items":
        items = value if isinstance(value, list) else []
        return [((*path, i), (item,)) for i, item in enumerate(items)]
    if fmt.applies_to in ("keys", "values"):
        pairs = value.items() if isinstance(value, dict) else ()
        keys = fmt.applies_to == "keys"
        return [((*path, k), (k if keys else v,)) for k, v in pairs]
    number = isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw != value
    return [(path, (raw, value) if number else (value,))]


def _is_mapping_hint(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping)


_SETS = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)
Handler = Callable[[Validator, Any, Any, KeyPath], Any]

_BY_TYPE: dict[Any, Handler] = {
    int: scalars.integer,
    float: scalars.number,
    str: scalars.string,
    bool: scalars.boolean,
    list: Validator._sequence,
    tuple: Validator._sequence,
    set: Validator._sequence,
    frozenset: Validator._sequence,
    dict: Validator._mapping,
    collections.abc.Callable: callables.callable_ref,
    type: callables.type_ref,
}

_BY_ORIGIN: dict[Any, Handler] = {
    Union: unions.union,
    types.UnionType: unions.union,
    Literal: scalars.literal,
    list: Validator._sequence,
    tuple: Validator._sequence,
    set: Validator._sequence,
    frozenset: Validator._sequence,
    collections.abc.Sequence: Validator._sequence,
    collections.abc.MutableSequence: Validator._sequence,
    collections.abc.Set: Validator._sequence,
    collections.abc.MutableSet: Validator._sequence,
    dict: Validator._mapping,
    collections.abc.Mapping: Validator._mapping,
    collections.abc.MutableMapping: Validator._mapping,
    collections.abc.Callable: callables.callable_ref,
    type: callables.type_ref,
}

__all__ = [  # what other modules import from here; each name has its home module
    "ENV_REF",
    "INVALID",
    "TARGET_KEY",
    "Call",
    "EnvRef",
    "Handler",
    "Validator",
    "env_reading",
]
