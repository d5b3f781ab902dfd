"""JSON Schema of a whole spec for its task(s), for editors' completion and hover docs.

Built from the same `CallableSchema`s the validator uses, so the editor and ``nemorun validate``
agree on names and types. Config classes go to ``$defs`` (named ``module.QualName``), which
also stops recursion for self-referencing dataclasses. Parameter docs come from docstrings.

A spec that extends others or sweeps is partial: its required keys may come from its base or
its sweep, so only a spec that is neither is held to them (see `spec_schema`). A ``str``
accepts any scalar, as the validator does (``tag: 007`` is the text typed).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import json
import pathlib
import types
import typing
from typing import Any, Literal, Union

from nemorun.schemas.compose import REF_KEY
from nemorun.schemas.convert import _strip_annotated
from nemorun.schemas.formats import Format
from nemorun.schemas.hints import MISSING, CallableSchema, inspect_callable, is_config_class
from nemorun.schemas.options import (
    DEFAULT_TARGET,
    CommandTask,
    LauncherOptions,
    ScriptTask,
)
from nemorun.schemas.spec import PACKAGERS, Spec
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY

DRAFT = "https://json-schema.org/draft/2020-12/schema"
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


PARTIAL_WHEN = ("extends", "sweep")
"""Top-level keys that make a spec partial: its base specs or its sweep may give the keys it
leaves out, required ones included."""


def spec_schema(spec: Spec) -> dict[str, Any]:
    """The schema of a format-1 spec whose task(s) are those of ``spec``.

    Its properties (what editors complete) require nothing but ``nemorun``; a spec without
    `PARTIAL_WHEN` keys must also be whole, which the ``else`` branch checks with every
    required key (configs in ``$defs`` under ``whole.``).
    """
    defs: dict[str, Any] = {}
    partial = _spec_body(spec, _Builder(defs, whole=False))
    whole = _spec_body(spec, _Builder(defs, whole=True))
    return {
        "$schema": DRAFT,
        "title": f"nemorun spec: {spec.name or spec.resolved.source.name}",
        **partial,
        "if": {"anyOf": [{"required": [key]} for key in PARTIAL_WHEN]},
        "else": whole,
        "$defs": defs,
    }


def _spec_body(spec: Spec, builder: _Builder) -> dict[str, Any]:
    required = [VERSION_KEY]
    if spec.single_task:
        task_schema = builder.task(spec.task.call.target if spec.task.call else None)
        tasks_schema = None
    else:
        task_schema = None
        entry_required = ["task"] if builder.whole else []
        tasks_schema = {
            "type": "object",
            "properties": {
                name: {
                    "type": "object",
                    "properties": {
                        "task": builder.task(task.call.target if task.call else None),
                        "executor": builder.executor(),
                        "after": {"type": "array", "items": {"enum": list(spec.tasks)}},
                    },
                    **({"required": entry_required} if entry_required else {}),
                    "additionalProperties": False,
                }
                for name, task in spec.tasks.items()
            },
            "additionalProperties": False,
        }
    properties: dict[str, Any] = {
        VERSION_KEY: {"const": CURRENT_VERSION, "description": "Spec format version."},
        "name": {"type": "string", "description": "Name of the experiment and its runs."},
        "description": {"type": "string"},
        "extends": {
            "description": "Base specs, relative to this file, merged first (this file wins).",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "executor": builder.executor(),
        "launcher": builder.config(LauncherOptions, with_target=False),
        "sweep": {
            "type": "object",
            "description": "Key paths (like override paths) mapped to the values to sweep.",
            "additionalProperties": {"type": "array", "minItems": 1},
        },
        "packager": {"enum": list(PACKAGERS), "default": "none"},
        "templates": {
            "type": "string",
            "description": "A directory of your own templates, searched before nemorun's.",
        },
        "pythonpath": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Directories (relative to this file) to import the task's code from.",
        },
    }
    if task_schema is not None:
        properties["task"] = task_schema
    if tasks_schema is not None:
        properties["tasks"] = tasks_schema
    if builder.whole:
        required.append("task" if task_schema is not None else "tasks")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


class _Builder:
    """Schemas of task arguments and target options; ``whole`` says whether required keys are
    required (not in a partial spec, whose base or sweep may give them)."""

    def __init__(self, defs: dict[str, Any], whole: bool) -> None:
        self.defs = defs
        self.whole = whole

    def task(self, target: Any) -> dict[str, Any]:
        if target is None:
            return {
                "anyOf": [
                    self.config(ScriptTask, with_target=False),
                    self.config(CommandTask, with_target=False),
                ]
            }
        return self.arguments(inspect_callable(target), with_target=True)

    def executor(self) -> dict[str, Any]:
        variants = []
        from nemorun.registry import get_target, target_names

        for name in target_names():
            cls = get_target(name).options
            body = self.arguments(inspect_callable(typing.cast(Any, cls)), with_target=False)
            body["properties"] = {"target": {"const": name}, **body["properties"]}
            if self.whole and name != DEFAULT_TARGET:
                body["required"] = ["target"]
            variants.append(body)
        return {"description": "Where the job runs and the target's options.", "anyOf": variants}

    def config(self, cls: type, with_target: bool = True) -> dict[str, Any]:
        key = ("whole." if self.whole else "") + f"{cls.__module__}.{cls.__qualname__}"
        if key not in self.defs:
            self.defs[key] = {}  # placeholder stops recursion
            self.defs[key] = self.arguments(inspect_callable(cls), with_target)
        return {"$ref": f"#/$defs/{key}"}

    def arguments(self, schema: CallableSchema, with_target: bool) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        if with_target:
            properties["_target_"] = {
                "type": "string",
                "description": "module:qualname of the callable (a subclass where a class is "
                "expected).",
            }
            properties["_partial_"] = {"type": "boolean"}
            properties[REF_KEY] = _REF
        required = []
        for param in schema.params.values():
            prop = _with_formats(self.type(param.annotation), param.formats)
            if param.doc:
                prop = {**prop, "description": param.doc}
            default = _json_default(param.default)
            if default is not MISSING:
                prop = {**prop, "default": default}
            properties[param.name] = prop
            if param.is_required() and self.whole:
                required.append(param.name)
        out: dict[str, Any] = {"type": "object", "properties": properties}
        if schema.doc:
            out["description"] = schema.doc
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
        annotation = _strip_annotated(annotation)
        if annotation is Any or annotation is object or isinstance(annotation, typing.TypeVar):
            return {}
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is Literal:
            return {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.type(a) for a in args]}
        if origin in (list, set, frozenset, collections.abc.Sequence, collections.abc.Set):
            out: dict[str, Any] = {"type": "array"}
            if args:
                out["items"] = self.type(args[0])
            if origin in (set, frozenset, collections.abc.Set):
                out["uniqueItems"] = True
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
        if origin in (collections.abc.Callable, type):
            return {"type": "string", "pattern": r"^[\w.]+:[\w.]+$|^[\w.]+\.[\w]+$"}
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
                return {"enum": list(annotation.__members__)}
            if issubclass(annotation, pathlib.PurePath):
                return {"type": "string"}
            if is_config_class(annotation):
                return self.config(annotation)
        return {}


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
