"""Type hints as JSON Schema: `SchemaBuilder` turns a callable's parameters, and each hint, into
the schema an editor completes and checks, the way `nemorun.schemas.convert` reads values.

A mapping under a class hint may name a subclass or a factory with ``_target_``: the schema
switches on ``_target_`` (``if``/``then``, one branch per target the spec names that fits the
hint, see `NamedTargets`), so a nested ``_target_`` mapping is completed and checked by its own
signature, and a ``_target_`` validation refuses is refused. Config classes go to ``$defs``
(named ``module.QualName``, ``whole.`` when required keys are held), which also stops recursion.

A ``str`` accepts any scalar, as the validator does (``tag: 007`` is the text typed); a scalar
may be an ``${oc.env:…}`` reference or an interpolation, a mapping or list an interpolation.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import enum
import json
import os
import pathlib
import re
import types
import typing
from typing import Any, Literal, Union

from nemorun.schemas.compose import REF_KEY
from nemorun.schemas.constructs import constraints, handler_for
from nemorun.schemas.convert import TARGET_KEY
from nemorun.schemas.formats import Format
from nemorun.schemas.hints import MISSING, CallableSchema, inspect_callable, is_config_class
from nemorun.schemas.named_targets import NamedTargets
from nemorun.schemas.options import DEFAULT_TARGET, CommandTask, ScriptTask

_ENV_OR_INTERPOLATION = {"type": "string", "pattern": r"\$\{.*\}"}
_REF = {"type": "string", "description": "Key path of the sub-config shared here."}
_SHARED = {
    "type": "object",
    "properties": {REF_KEY: _REF},
    "required": [REF_KEY],
    "additionalProperties": False,
}
"""``{_ref_: task.model}``: how JSON and TOML write a sub-config shared with another place."""

_PARTIAL = {"required": ["_partial_"], "properties": {"_partial_": {"const": True}}}

UNKNOWN_TASK = object()
"""A task whose ``_target_`` does not resolve: its arguments cannot be described."""


class SchemaBuilder:
    """Schemas of task arguments and target options; ``whole`` says whether required keys are
    required (not in a partial spec, whose base or sweep may give them)."""

    def __init__(self, defs: dict[str, Any], targets: NamedTargets, whole: bool) -> None:
        self.defs = defs
        self.targets = targets
        self.whole = whole

    def task(self, target: Any) -> dict[str, Any]:
        if target is UNKNOWN_TASK:  # any arguments; the `_target_` itself is refused
            refused = {"type": "string", "not": {"enum": list(self.targets.unresolved)}}
            return {"type": "object", "properties": {TARGET_KEY: refused}}
        if target is None:
            return {
                "anyOf": [
                    self.config(ScriptTask, with_target=False),
                    self.config(CommandTask, with_target=False),
                ]
            }
        try:
            return self.arguments(inspect_callable(target), with_target=True)
        except (TypeError, ValueError):
            return {"type": "object"}

    def executor(self) -> dict[str, Any]:
        """Each target's options; or null, which means the defaults (all options left out)."""
        variants = []
        from nemorun.registry import get_target, target_names

        for name in target_names():
            cls = get_target(name).options
            body = self.arguments(inspect_callable(typing.cast(Any, cls)), with_target=False)
            body["properties"] = {"target": {"const": name}, **body["properties"]}
            if self.whole and name != DEFAULT_TARGET:
                body["required"] = ["target"]
            variants.append(body)
        return {
            "description": "Where the job runs and the target's options.",
            "anyOf": [*variants, {"type": "null"}],
        }

    def config(self, cls: Any, with_target: bool = True) -> dict[str, Any]:
        """A ``$ref`` to the arguments of ``cls``; under a class, switched on ``_target_``."""
        key = ("whole." if self.whole else "") + f"{cls.__module__}.{cls.__qualname__}"
        if key not in self.defs:
            self.defs[key] = {}  # placeholder stops recursion
            own = self.arguments(inspect_callable(cls), with_target)
            if with_target and isinstance(cls, type):
                own = self.switch(cls, own)
            self.defs[key] = own
        return {"$ref": f"#/$defs/{key}"}

    def any_value(self) -> dict[str, Any]:
        """Any value; a mapping whose ``_target_`` the spec names is that target's call, at
        any depth (the validator reads an untyped value's items and values the same way)."""
        if not self.targets.by_spelling and not self.targets.unresolved:
            return {}
        key = ("whole." if self.whole else "") + "nemorun.any"
        ref = {"$ref": f"#/$defs/{key}"}
        if key not in self.defs:
            self.defs[key] = self.switch(object, {"items": ref, "additionalProperties": ref})
        return ref

    def switch(self, hint: type, otherwise: dict[str, Any]) -> dict[str, Any]:
        """``otherwise``, unless ``_target_`` names a target of the spec that fits ``hint``:
        then that target's arguments. A ``_target_`` of the spec that does not fit ``hint``
        (or does not import) is refused, as validation refuses it; those that fit are offered
        for completion."""
        fitting = self.targets.fitting(hint)
        spellings = [ref for refs, _ in fitting for ref in refs]
        refused = self.targets.refused(hint)
        prop = dict(otherwise.get("properties", {}).get(TARGET_KEY, {}))
        if spellings and prop:
            prop["examples"] = spellings
        if refused:
            prop["not"] = {"enum": refused}
        out = otherwise
        if prop:
            out = {**out, "properties": {**out.get("properties", {}), TARGET_KEY: prop}}
        for refs, target in reversed(fitting):
            out = {
                "if": {
                    "type": "object",  # else a scalar would pass the `if` and meet `then`
                    "required": [TARGET_KEY],
                    "properties": {TARGET_KEY: {"enum": refs}},
                },
                "then": self.config(target),
                "else": out,
            }
        return out

    def arguments(self, schema: CallableSchema, with_target: bool) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        if with_target:
            about = "module:qualname of the callable (a subclass where a class is expected)."
            properties["_target_"] = {
                "type": "string",
                "description": f"{schema.name}: {schema.doc}\n\n{about}" if schema.doc else about,
            }
            properties["_partial_"] = {"type": "boolean"}
            properties[REF_KEY] = _REF
        required = []
        for param in schema.params.values():
            prop = _with_formats(self.type(param.annotation), param.formats)
            if param.doc:  # hover shows markdownDescription, else description
                prop = {
                    **prop,
                    "description": param.doc,
                    "markdownDescription": _markdown(param.doc),
                }
            default = _json_default(param.default)
            if default is not MISSING:
                prop = {**prop, "default": default}
            properties[param.name] = prop
            if param.is_required() and self.whole:
                required.append(param.name)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if schema.doc and not with_target:  # else on `_target_`: hover on an argument that
            out["description"] = schema.doc  # holds a config shows the argument's own docs
        if with_target:  # a config may be a reference to one written elsewhere, alone
            out["if"] = {"required": [REF_KEY]}
            out["then"] = _SHARED
            if required:  # …and a partial one (`_partial_: true`) may leave any argument out
                out["else"] = {"if": _PARTIAL, "else": {"required": required}}
        elif required:
            out["required"] = required
        out["additionalProperties"] = (
            self.type(schema.var_keyword) if schema.accepts_any_keyword() else False
        )
        return out

    def type(self, annotation: Any) -> dict[str, Any]:
        """The schema of a value of ``annotation``. A mapping or list may also be written as an
        interpolation (``${task.model}``), resolved before validation as it is."""
        schema = self._type(annotation)
        if "$ref" in schema or schema.get("type") in ("object", "array"):
            return {"anyOf": [schema, _INTERPOLATION]}
        return schema

    def _type(self, annotation: Any) -> dict[str, Any]:
        if typing.get_origin(annotation) is typing.Annotated:  # its bounds, as validate reads them
            inner, *metadata = typing.get_args(annotation)
            bounds = {_BOUND_KEYWORDS[n]: limit for n, limit in constraints(metadata)}
            schema = self.type(inner)
            if any(k.endswith("Length") for k in bounds) and "type" not in schema:
                bounds = {k.replace("Length", "Items"): v for k, v in bounds.items()}
            return {**schema, **bounds}
        if annotation is Any or annotation is object or isinstance(annotation, typing.TypeVar):
            return self.any_value()
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is Literal:
            return {"anyOf": [{"enum": list(args)}, _ENV_OR_INTERPOLATION]}
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.type(a) for a in args]}
        if origin in _ARRAYS:
            out: dict[str, Any] = {"type": "array"}
            if args:  # a set's duplicates are not refused: the validator merges them
                out["items"] = self.type(args[0])
            return out
        if origin is tuple:
            if not args or (len(args) == 2 and args[1] is Ellipsis):
                return {"type": "array", "items": self.type(args[0]) if args else {}}
            return {
                "type": "array",
                "prefixItems": [self.type(a) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
            return {"type": "object", "additionalProperties": self.type(args[1]) if args else {}}
        if handler_for(annotation) is not None:
            return self.construct(annotation)
        if origin is type:
            return _REFERENCE
        if origin is collections.abc.Callable:  # or a factory: {_target_: …, _partial_: true}
            returns = args[-1] if args else Any  # …that makes what the callable returns
            made = returns if isinstance(returns, type) else object
            return {"anyOf": [_REFERENCE, self.switch(made, {"type": "object"})]}
        scalar = {int: "integer", float: "number", str: "string", bool: "boolean"}
        if annotation in scalar:
            base = {"type": scalar[annotation]}
            if annotation is float:
                base = {"type": "number"}
            if annotation is str:
                return {"type": ["string", "number", "boolean"]}
            return {"anyOf": [base, _ENV_OR_INTERPOLATION]}
        if annotation is None or annotation is type(None):
            return {"type": "null"}
        if isinstance(annotation, type):
            if issubclass(annotation, enum.Enum):
                return {"anyOf": [{"enum": _enum_spellings(annotation)}, _ENV_OR_INTERPOLATION]}
            if issubclass(annotation, pathlib.PurePath):
                return {"type": "string"}
            if is_config_class(annotation):
                return self.config(annotation)
            # a class written only as a `_target_` mapping (a base without arguments, a Protocol)
            return self.switch(annotation, {"type": "object", "required": [TARGET_KEY]})
        return {}

    def construct(self, annotation: Any) -> dict[str, Any]:
        """The typing constructs of `nemorun.schemas.constructs`, as far as a schema tells
        them; the others (a torch dtype or device) take any value."""
        origin = typing.get_origin(annotation) or annotation
        if origin is os.PathLike:
            return {"type": "string"}
        if origin is datetime.timedelta:
            return {"anyOf": [_DURATION, self.config(datetime.timedelta, with_target=False)]}
        if not isinstance(origin, type):
            return {}
        if origin is not annotation:  # a generic class: Bucket[int]
            return self.config(origin) if is_config_class(origin) else {}
        if issubclass(origin, dict):  # a TypedDict
            keys = _required_keys(origin) if self.whole else []
            return {**self.fields(origin), **({"required": keys} if keys else {})}
        if issubclass(origin, tuple):  # a NamedTuple: a mapping of its fields, or a list
            fields = list(getattr(origin, "_fields", ()))
            needed = [f for f in fields if f not in getattr(origin, "_field_defaults", {})]
            by_name = {**self.fields(origin), **({"required": needed} if needed else {})}
            items = [by_name["properties"][f] for f in fields]
            by_position = {"type": "array", "prefixItems": items, "items": False}
            return {"anyOf": [by_name, {**by_position, "minItems": len(needed)}]}
        return {}

    def fields(self, cls: Any) -> dict[str, Any]:
        """A mapping of ``cls``'s annotated fields (a TypedDict's keys, a NamedTuple's)."""
        try:
            hints = typing.get_type_hints(cls)
        except Exception:
            return {"type": "object"}
        properties = {name: self.type(hint) for name, hint in hints.items()}
        return {"type": "object", "properties": properties, "additionalProperties": False}


_ARRAYS = (
    list,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
    collections.abc.Iterable,
    collections.abc.Collection,
)
"""Origins whose value is written as a list (``Iterable[Logger]``: a list of loggers)."""

_INTERPOLATION = {"type": "string", "pattern": r"^\$\{(?!oc\.env:).*\}$"}
"""A whole value taken from another key (an environment reference only fills scalars)."""

_DURATION = {
    "type": "string",
    "pattern": r"^\s*(?:[-+]?\d+\s+days?,\s*)?\d+:[0-5]\d:[0-5]\d(?:\.\d{1,6})?\s*$",
}
"""A ``timedelta`` as ``str(timedelta)`` writes it (the other form is a mapping of its
arguments)."""

_BOUND_KEYWORDS = {
    "gt": "exclusiveMinimum",
    "ge": "minimum",
    "lt": "exclusiveMaximum",
    "le": "maximum",
    "multiple_of": "multipleOf",
    "min_length": "minLength",
    "max_length": "maxLength",
}
"""JSON Schema's word for each bound `nemorun.schemas.constructs.constraints` reads (lengths
of a list become ``minItems``/``maxItems``)."""

_REFERENCE = {"type": "string", "pattern": r"^[\w.]+:[\w.]+$|^[\w.]+\.[\w]+$"}
"""A ``module:name`` (or dotted) reference to a Python object."""


def _required_keys(cls: Any) -> list[str]:
    """A TypedDict's required keys, from its hints (``__required_keys__`` is wrong for a
    module with postponed annotations: it cannot see ``NotRequired[…]`` in a string)."""
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception:
        return []
    marks = {getattr(typing, n, n): n == "Required" for n in ("Required", "NotRequired")}
    total = getattr(cls, "__total__", True)
    return [k for k, h in hints.items() if marks.get(typing.get_origin(h), total)]


def _enum_spellings(cls: type[enum.Enum]) -> list[Any]:
    """An enum's member names, then the values that name one member alone, as the validator
    reads them (a value of a JSON type; ``True`` never stands for ``1``)."""
    values = [m.value for m in cls]
    by_value = [
        v
        for v in values
        if isinstance(v, (str, int, float))
        and sum(type(w) is type(v) and w == v for w in values) == 1
    ]
    return list(dict.fromkeys([*cls.__members__, *by_value]))


def _markdown(doc: str) -> str:
    """A docstring's reStructuredText inline markup as Markdown: ``code`` and :role:`name`
    (:class:`~a.B` shows ``B``, as Sphinx does)."""

    def role(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"`{name.rsplit('.', 1)[-1] if match.group(1) else name}`"

    return re.sub(r":[\w:]+:`(~?)([^`]+)`", role, doc.replace("``", "`"))


def _with_formats(schema: dict[str, Any], formats: tuple[Format, ...]) -> dict[str, Any]:
    """``schema`` with each format's keywords on the value, its items, keys or values. A value
    with a pattern may still be written as an interpolation, resolved before it is checked."""
    for fmt in formats:
        keywords = fmt.json_schema()
        if fmt.applies_to == "items":
            schema = {**schema, "items": {**schema.get("items", {}), **keywords}}
        elif fmt.applies_to == "keys":
            schema = {**schema, "propertyNames": keywords}
        elif fmt.applies_to == "values":
            values = schema.get("additionalProperties", {})
            schema = {**schema, "additionalProperties": {**values, **keywords}}
        elif "pattern" in keywords:
            schema = {"anyOf": [{**schema, **keywords}, _ENV_OR_INTERPOLATION]}
        else:
            schema = {**schema, **keywords}
    return schema


def _json_default(value: Any) -> Any:
    if value is MISSING:
        return MISSING
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, (tuple, set, frozenset)):
        value = list(value)
    if dataclasses.is_dataclass(value):
        return MISSING
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return MISSING
    return value
