"""``nemorun new MODULE:FUNCTION``: a spec to start from, read off a callable's signature.

Every argument the schema layer sees (`nemorun.schemas.hints.inspect_callable`) becomes a key,
with its type and docstring as a comment above it. An argument whose hint is a config class
(a dataclass, a class with a typed ``__init__``) and that has no default, a
``default_factory`` of that class or a dataclass instance as default, is expanded into a
mapping of that class's own arguments, recursively (`MAX_DEPTH` deep; a class already being
expanded on the way down is not expanded again). Any other required argument gets
`MISSING_VALUE` (``???``), which validation reports by name until it is filled in.

What is tricky: a default must be written as the value validation reads back to that default.
Each is converted by the exporters' `GraphWriter`, then checked by the `Validator` against its
hint; one that fails either (an object, a lambda, ``None`` in TOML, a default its own hint
refuses, text a spec reads as something else: ``???``, ``${oc.env:…}``) is left out, as a
comment saying why, so the callable's own default applies and the spec is never broken.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import pathlib
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemorun.compiler.dumps import relative_path
from nemorun.compiler.graphwriter import GraphWriter
from nemorun.compiler.hint_text import param_comment, type_text, wrap
from nemorun.errors import Collector, KeyPath, SpecError, SpecErrors
from nemorun.registry import get_target
from nemorun.schemas.constructs import handler_for
from nemorun.schemas.convert import Validator
from nemorun.schemas.envrefs import is_env_template
from nemorun.schemas.hints import (
    MADE_WHEN_CALLED,
    MISSING,
    CallableSchema,
    Param,
    inspect_callable,
    is_config_class,
    is_protocol,
)
from nemorun.schemas.imports import (
    TargetImportError,
    code_root,
    reference_of,
    resolve,
    search_path,
)
from nemorun.schemas.options import DEFAULT_TARGET
from nemorun.schemas.values import CODE_KEYS, MISSING_VALUE, TARGET_KEY, strip_annotated
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY

MAX_DEPTH = 6
"""How many config classes deep arguments are expanded; deeper ones are `MISSING_VALUE`."""
SHOWN_OPTIONS = 10
"""How many of the target's option names the comment above ``executor.target`` lists."""
EMPTY_CONTAINERS = (list, dict, set, frozenset, tuple)
"""Factories whose value is known without calling user code: an empty container."""


@dataclass(frozen=True)
class Section:
    """A mapping of the spec: its keys in order, and comment lines after them."""

    fields: tuple[Field, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Field:
    """One key: its value (a plain value, `MISSING_VALUE` or a `Section`) and the comment lines
    above it. A key with ``left_out`` set is written as a comment only, saying why."""

    key: str
    value: Any = None
    comment: tuple[str, ...] = ()
    left_out: str | None = None

    def is_section(self) -> bool:
        return isinstance(self.value, Section)


@dataclass(frozen=True)
class Required:
    """Where a `MISSING_VALUE` stands in the spec, and the type hint its value must fit."""

    path: KeyPath
    annotation: Any


@dataclass(frozen=True)
class Skeleton:
    """A spec to start from: header comment lines, the spec's keys, the values to fill in."""

    header: tuple[str, ...]
    body: Section
    required: tuple[Required, ...]


def new_skeleton(
    reference: str,
    fmt: str = "yaml",
    target: str | None = None,
    dest_dir: Path | None = None,
    pythonpath: tuple[Path, ...] = (),
) -> Skeleton:
    """The skeleton of a spec calling ``reference`` on ``target`` (default: local); paths are
    written relative to ``dest_dir`` (default: the current directory), where the file goes."""
    options = get_target(target or DEFAULT_TARGET).options
    with search_path([p.resolve() for p in pythonpath]):
        obj = _resolve(reference)
        writer = _Writer(fmt)
        task = writer.task(obj, reference)
        roots = [p.resolve() for p in pythonpath]
        modules = {str(getattr(u, "__module__", "")).partition(".")[0]: u for u in writer.used}
        for used in modules.values():
            if _imported_from(used, roots):
                continue  # (code_root would scan every installed distribution to say so)
            root = code_root(used)
            if root is not None and root not in roots:
                roots.append(root)
    base = dest_dir or Path.cwd()
    fields = [
        Field(VERSION_KEY, CURRENT_VERSION, ("spec format version",)),
        Field("name", _name(obj, reference)),
    ]
    if roots:
        paths = [relative_path(r, base) for r in roots]
        fields.append(Field("pythonpath", paths, ("where the task's code is imported from",)))
    fields.append(_executor(target or DEFAULT_TARGET, options))
    summary = inspect_callable(obj).doc
    fields.append(Field("task", task, wrap(summary) if summary else ()))
    header = (
        f"A spec for {reference}, started by 'nemorun new'.",
        f"Fill in each {MISSING_VALUE} (a required value), then: nemorun validate FILE",
    )
    return Skeleton(
        header if writer.required else header[:1], Section(tuple(fields)), tuple(writer.required)
    )


def _imported_from(obj: Any, roots: list[Path]) -> bool:
    """True when the module defining ``obj`` is a file under one of ``roots``."""
    module = sys.modules.get(str(getattr(obj, "__module__", "")))
    file = getattr(module, "__file__", None)
    return file is not None and any(Path(file).resolve().is_relative_to(r) for r in roots)


def _resolve(reference: str) -> Any:
    try:
        obj = resolve(reference)
    except TargetImportError as exc:
        raise SpecErrors([SpecError(exc.message, suggestion=exc.suggestion)]) from None
    if not callable(obj):
        found = type(obj).__name__
        raise SpecErrors(
            [
                SpecError(
                    f"'{reference}' cannot be called", expected="a function or class", found=found
                )
            ]
        )
    try:
        inspect_callable(obj)
    except (TypeError, ValueError):
        raise SpecErrors(
            [
                SpecError(
                    f"'{reference}' has no signature to read",
                    suggestion="name a Python function or class (not a C builtin)",
                )
            ]
        ) from None
    return obj


def _executor(target: str, options: type) -> Field:
    names = list(inspect_callable(options).params)
    text = f"options of the {target} target: {', '.join(names[:SHOWN_OPTIONS])}"
    if len(names) > SHOWN_OPTIONS:
        text += f", … ({len(names)} in all: 'nemorun schema FILE' lists them)"
    comment = wrap(text)
    return Field("executor", Section((Field("target", target, comment),)))


def _name(obj: Any, reference: str) -> str:
    """The callable's name (``train`` for ``trainlib:train``), as a run name may spell it."""
    name = getattr(obj, "__name__", None) or re.split(r"[:.]", reference)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "task"


@dataclass
class _Writer:
    """Walks the signatures down from the task, remembering the required values it leaves
    and every callable it expanded (their code roots make the spec's ``pythonpath``)."""

    fmt: str
    required: list[Required] = field(default_factory=list)
    used: list[Any] = field(default_factory=list)

    def task(self, obj: Any, reference: str) -> Section:
        body = self.section(obj, ("task",), (obj,), {})
        target = Field(TARGET_KEY, reference, ("module:function (or module:Class) it calls",))
        return Section((target, *body.fields), body.notes)

    def section(
        self, obj: Any, path: KeyPath, stack: tuple[Any, ...], given: dict[str, Any]
    ) -> Section:
        """The arguments of ``obj`` at ``path``; ``given`` replaces defaults (a dataclass
        instance's fields)."""
        self.used.append(obj)
        schema = inspect_callable(obj)
        fields = []
        for param in schema.params.values():
            if param.name in given:
                param = dataclasses.replace(param, default=given[param.name])
            fields.append(self.argument(obj, param, (*path, param.name), stack))
        return Section(tuple(fields), _extra_keywords(obj, schema))

    def argument(self, owner: Any, param: Param, path: KeyPath, stack: tuple[Any, ...]) -> Field:
        comment = param_comment(param)
        default = param.default
        factory = _factory(owner, param.name) if default is MADE_WHEN_CALLED else None
        if factory in EMPTY_CONTAINERS:  # ``field(default_factory=list)``: known without a call
            default, factory = factory(), None
        if default is MISSING or factory is not None:
            expanded = self.expand(param, factory, path, stack)
            if expanded is not None:
                return Field(param.name, expanded, comment)
        if default is MISSING:
            self.required.append(Required(path, param.annotation))
            return Field(param.name, MISSING_VALUE, comment)
        if default is MADE_WHEN_CALLED:
            made = "made when called, by its default_factory"
            return Field(param.name, comment=comment, left_out=made)
        if _is_instance_config(default):
            given = _field_values(default)
            expanded = self.expand(param, type(default), path, stack, given)
            if expanded is not None:
                return Field(param.name, expanded, comment)
        written, why = self.default(default, param.annotation, path)
        if why is not None:
            return Field(param.name, comment=comment, left_out=why)
        return Field(param.name, written, comment)

    def expand(
        self,
        param: Param,
        cls: type | None,
        path: KeyPath,
        stack: tuple[Any, ...],
        given: dict[str, Any] | None = None,
    ) -> Section | None:
        """``param`` as a mapping of the arguments of ``cls`` (default: the config class its
        hint names), or None when there is none, the walk is too deep, or it comes back to a
        class it is inside."""
        cls = cls or config_class(param.annotation)
        if cls is None or not _expandable(cls) or cls in stack or len(stack) > MAX_DEPTH:
            return None
        body = self.section(cls, path, (*stack, cls), given or {})
        if _names_only(param.annotation, cls):
            return body
        target = Field(TARGET_KEY, reference_of(cls))
        return Section((target, *body.fields), body.notes)

    def default(self, value: Any, annotation: Any, path: KeyPath) -> tuple[Any, str | None]:
        """(the spec value of a default, None) or (None, why it is left out)."""
        shown = _short_repr(value)
        if isinstance(value, str) and value == MISSING_VALUE:
            return None, f"{shown} by default, which a spec reads as a value to fill in"
        if _names_environment(value):  # text holding ``${oc.env:…}`` reads as a reference
            return None, f"{shown} by default, which a spec would read as an environment variable"
        if _names_code(value):  # a plain dict keyed ``_target_``/``_call_`` reads as code
            return None, f"{shown} by default, which a spec would read as a callable to import"
        if value is None and self.fmt == "toml":
            return None, "None by default (TOML has no null: leave it out for the default)"
        writer = GraphWriter(self.fmt)
        try:
            written = writer.value(value, path, annotation)
        except Exception:  # a default no writer knows: an object of the user's own
            written = value
        if writer.errors or not _is_plain(written):
            return None, f"{shown} by default, which a spec cannot write"
        errors = Collector()
        try:
            Validator({}, errors).value(written, annotation, path)
        except Exception:  # a hint the validator cannot take: the default is not written either
            errors.add(SpecError("unreadable hint", path))
        if errors:
            return None, f"{shown} by default, which does not fit its own type hint"
        return written, None


def config_class(annotation: Any) -> type | None:
    """The config class a hint asks for (``ModelConfig``, ``ModelConfig | None``; the first of
    a union of several), or None."""
    annotation = strip_annotated(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if is_union else (annotation,)
    return next((o for o in options if _expandable(o)), None)


def _expandable(cls: Any) -> bool:
    """True for a class validation reads as a mapping of its arguments (as `Validator.value`
    decides: not an enum, path, protocol or a construct with a handler of its own)."""
    if not is_config_class(cls) or is_protocol(cls) or inspect.isabstract(cls):
        return False
    if issubclass(cls, (enum.Enum, pathlib.PurePath)) or handler_for(cls) is not None:
        return False
    try:
        inspect_callable(cls)
    except (TypeError, ValueError):
        return False
    return True


def _names_only(annotation: Any, cls: type) -> bool:
    """True when the hint alone names ``cls`` (``cls`` or ``cls | None``): no ``_target_``."""
    annotation = strip_annotated(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if is_union else (annotation,)
    return [o for o in options if o is not type(None)] == [cls]


def _factory(owner: Any, name: str) -> type | None:
    """A dataclass field's ``default_factory`` when it is a class (so it can be expanded)."""
    if dataclasses.is_dataclass(owner):
        for f in dataclasses.fields(owner):
            if f.name == name and isinstance(f.default_factory, type):
                return f.default_factory
    return None


def _is_instance_config(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _field_values(instance: Any) -> dict[str, Any]:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance) if f.init}


def _extra_keywords(obj: Any, schema: CallableSchema) -> tuple[str, ...]:
    """The comment after a callable's keys on what it also takes: ``*args``, ``**kwargs``,
    positional-only arguments (none can be written in a spec but ``**kwargs``)."""
    notes = []
    if schema.accepts_any_keyword():
        notes.append(f"{type_text(schema.var_keyword)}: any other keyword is passed on (**kwargs)")
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        params = []  # type: ignore[assignment]
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            notes.append(f"*{p.name} cannot be given in a spec")
        elif p.kind == p.POSITIONAL_ONLY and p.name not in ("self", "cls"):
            notes.append(f"'{p.name}' is positional-only: a spec cannot give it")
    return tuple(notes)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _short_repr(value: Any) -> str:
    text = _ADDRESS.sub("", repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _names_environment(value: Any) -> bool:
    """True when text in ``value`` holds ``${oc.env:``, which a spec reads as a reference."""
    if isinstance(value, str):
        return is_env_template(value)
    if isinstance(value, dict):
        return any(_names_environment(k) or _names_environment(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_names_environment(v) for v in value)
    return False


def _names_code(value: Any) -> bool:
    """True when a mapping in ``value`` has a key a spec reads as code (`CODE_KEYS`)."""
    if isinstance(value, dict):
        return any(k in CODE_KEYS or _names_code(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_names_code(v) for v in value)
    return False


def _is_plain(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int, bool)) and _is_plain(v) for k, v in value.items())
    return False
