"""Validate a plain value against a type hint and convert it to that type.

The task receives what its signature promises: a list for a ``tuple`` becomes a tuple, a string
for a ``Path`` a Path, an int for a ``float`` a float, a member name for an ``Enum`` the member,
and a mapping for a dataclass (or any class with a typed ``__init__``) a `Call`, which the
compiler turns into an ``fdl.Config``.

Design points:
- Dispatch is a table keyed by ``typing.get_origin`` (or the type itself), not an if-chain.
- Errors never stop the walk: each goes to the `Collector` and the walk continues, so one run
  reports every mistake. `Union` tries each alternative in a sandbox (errors, warnings and memo
  restored): the one taking the value's own YAML type exactly wins, a ``str`` reading a number
  as typed only when nothing else fits; when none fits, the error is inside the alternative
  clearly meant, if one is, else one error lists them all.
- An explicit ``_target_`` under a class, protocol or ``Callable[..., R]`` must make one (see
  `nemorun.schemas.hints.produces`); ``{_call_: ref}`` is the object itself, for any hint.
- A mapping reached twice (a YAML alias) gives the *same* `Call` both times: sharing survives.
- A dataclass field may declare formats beyond its type (`nemorun.schemas.formats`): a
  converted value is checked against them, with the error at the value.
- Values holding ``${oc.env:…}`` are never resolved here: they become `EnvRef`s, read and
  converted where the job runs. A literal default inside one is checked now.
"""

from __future__ import annotations

import collections.abc
import enum
import inspect
import pathlib
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from nemorun.errors import Collector, KeyPath, Origin, SpecError, did_you_mean, format_path
from nemorun.runtime import ENV_REFERENCE, env_convert, env_default
from nemorun.schemas.formats import Format
from nemorun.schemas.hints import (
    MISSING,
    inspect_callable,
    is_config_class,
    is_protocol,
    made_by,
    produces,
    protocol_members,
)
from nemorun.schemas.imports import TargetImportError, reference_of, resolve
from nemorun.schemas.source import find_origin

TARGET_KEY = "_target_"
PARTIAL_KEY = "_partial_"
CALL_KEY = "_call_"
"""``{_call_: mypkg.fns:warmup}``: the object the reference names, itself (not called)."""
CODE_KEYS = (TARGET_KEY, CALL_KEY)
"""Keys that make a spec import code: refused in nemorun's own options."""
ENV_REF = re.compile(ENV_REFERENCE)


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


@dataclass(frozen=True)
class EnvRef:
    """A value read from the job's environment where it runs: ``${oc.env:VAR[,default]}``."""

    template: str
    annotation: Any = Any

    def variables(self) -> list[str]:
        return [m.group(1).strip() for m in ENV_REF.finditer(self.template)]


def is_env_template(value: Any) -> bool:
    return isinstance(value, str) and "${oc.env:" in value


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

    # --- entry points -------------------------------------------------------------------------

    def value(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        """``raw`` converted to ``annotation``, or INVALID after recording an error."""
        from nemorun.schemas import constructs  # it builds on this module

        if typing.get_origin(annotation) is typing.Annotated:
            return constructs.annotated(self, raw, annotation, path)
        if is_env_template(raw):
            return self._env_ref(raw, annotation, path)
        if isinstance(annotation, typing.TypeVar):
            annotation = self.bindings.get(annotation, Any)
        if is_reference(raw) and not _is_mapping_hint(annotation):
            obj = self._reference(raw, path)  # the object itself, then held to the hint
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
            return None if raw is None else self._fail(path, "null", raw)
        if isinstance(annotation, type):
            if issubclass(annotation, enum.Enum):
                return self._enum(raw, annotation, path)
            if issubclass(annotation, pathlib.PurePath):
                return self._path(raw, annotation, path)
            if is_protocol(annotation):
                return self._protocol(raw, annotation, path)
            if is_config_class(annotation):
                return self._config(raw, annotation, path)
            if isinstance(raw, annotation):
                return raw
            if isinstance(raw, dict) and TARGET_KEY in raw:
                return self.call(raw, None, path, expected=annotation)
        return self._fail(path, describe(annotation), raw)

    def call(
        self, raw: dict[str, Any], default_target: Any, path: KeyPath, expected: Any = None
    ) -> Any:
        """A mapping of arguments → `Call` of its ``_target_`` (or of ``default_target``).

        An explicit ``_target_`` must make an ``expected`` (default: ``default_target``, when
        it is a class): name it, a subclass, or a factory whose return annotation is one. When
        that cannot be told (no return annotation), the call is kept with a warning."""
        if id(raw) in self.memo:
            return self.memo[id(raw)][1]
        target = default_target
        explicit = TARGET_KEY in raw
        if expected is None and isinstance(default_target, type):
            expected = default_target
        if explicit:
            target = self._target(raw[TARGET_KEY], (*path, TARGET_KEY))
            if target is INVALID:
                return INVALID
            if expected is not None and not self._makes(target, expected, raw, path):
                return INVALID
        if target is None:
            return self._error(path, "no callable to call", expected=f"a '{TARGET_KEY}' key")
        partial = raw.get(PARTIAL_KEY, False)
        if not isinstance(partial, bool):
            self._fail((*path, PARTIAL_KEY), "true or false", partial)
            partial = False
        try:
            schema = inspect_callable(target)
        except (TypeError, ValueError):
            return self._error(path, f"cannot read the signature of {target!r}")
        result = Call(target, {}, partial, explicit, path)
        self.memo[id(raw)] = (raw, result)
        for key, item in raw.items():
            if key in (TARGET_KEY, PARTIAL_KEY):
                continue
            param = schema.params.get(key) if isinstance(key, str) else None
            if param is not None:
                annotation = param.annotation
            elif schema.accepts_any_keyword() and isinstance(key, str):
                annotation = schema.var_keyword
            else:
                self._error(
                    (*path, key),
                    f"unknown argument of {schema.name}",
                    suggestion=did_you_mean(str(key), schema.params),
                )
                continue
            converted = self.value(item, annotation, (*path, key))
            if converted is not INVALID and param is not None:
                converted = self._formats(item, converted, param.formats, (*path, key))
            if converted is not INVALID:
                result.args[key] = converted
        if not partial:
            for name in schema.required():
                if name not in raw:
                    example = example_for(schema.params[name].annotation)
                    self._error(
                        path,
                        f"missing required argument '{name}' of {schema.name}",
                        suggestion=f"add '{name}: {example}'",
                    )
        return result

    # --- errors -------------------------------------------------------------------------------

    def _error(
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

    def _fail(self, path: KeyPath, expected: str, raw: Any, suggestion: str | None = None) -> Any:
        return self._error(
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
                        self._error(
                            where,
                            problem.message,
                            expected=problem.expected,
                            found=problem.found,
                            suggestion=problem.suggestion,
                            at_value=fmt.applies_to != "keys",
                        )
                        break  # one error for a number and the text it became
        return value if ok else INVALID

    def _written_text(self, path: KeyPath) -> str | None:
        """The scalar as the user typed it, when it was a plain (unquoted) scalar at ``path``."""
        origin = self.origins.get(path)
        return origin.text if origin is not None else None

    # --- handlers -----------------------------------------------------------------------------

    def _any(self, raw: Any, path: KeyPath) -> Any:
        if is_env_template(raw):  # at any depth of an untyped value, read where the job runs
            return self._env_ref(raw, Any, path)
        if isinstance(raw, dict):
            if TARGET_KEY in raw:
                return self.call(raw, None, path)
            if is_reference(raw):
                return self._reference(raw, path)
            return {k: self._any(v, (*path, k)) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self._any(v, (*path, i)) for i, v in enumerate(raw)]
        if isinstance(raw, str) and _REFERENCE_TEXT.fullmatch(raw) and _names_callable(raw):
            self._warn(
                path,
                f"'{raw}' reaches the task as text: nothing says this argument takes a function",
                suggestion=f"to pass the function itself, write {{{CALL_KEY}: '{raw}'}}",
            )
        return raw

    def _target(self, ref: Any, path: KeyPath) -> Any:
        if not isinstance(ref, str):
            if callable(ref):
                return ref
            return self._fail(path, "a 'module:name' string", ref)
        try:
            return resolve(ref)
        except TargetImportError as exc:
            return self._error(path, exc.message, suggestion=exc.suggestion, at_value=True)

    def _makes(self, target: Any, expected: Any, raw: dict[str, Any], path: KeyPath) -> bool:
        """False after an error when ``target`` decidably does not make an ``expected``."""
        verdict = produces(target, expected)
        if verdict is True:
            return True
        name = _type_name(expected)
        ref = raw[TARGET_KEY]
        made = made_by(target)
        if verdict is None:
            why = "a member it only annotates" if made is not None else "no return annotation"
            self._warn(
                (*path, TARGET_KEY),
                f"cannot check that '{ref}' makes {_a(name)} ({why}); the job will tell",
            )
            return True
        if is_protocol(expected):
            missing = [m for m in protocol_members(expected) if not hasattr(made, m)]
            message = f"'{ref}' does not implement {name}: it has no {_names(missing)}"
            wanted = f"a class with the members of {name}"
        elif isinstance(target, type):
            message = f"'{ref}' is not a subclass of {name}"
            wanted = f"{name} or a subclass of it"
        else:
            message = f"'{ref}' returns {_type_name(made)}, not {_a(name)}"
            wanted = f"{name}, a subclass, or a factory returning one"
        self._error((*path, TARGET_KEY), message, expected=wanted, at_value=True)
        return False

    def _protocol(self, raw: Any, protocol: type, path: KeyPath) -> Any:
        """A ``_target_`` whose class structurally has the protocol's members."""
        if isinstance(raw, dict) and TARGET_KEY in raw:
            return self.call(raw, None, path, expected=protocol)
        if isinstance(raw, Call) or (
            getattr(protocol, "_is_runtime_protocol", False) and isinstance(raw, protocol)
        ):
            return raw
        return self._fail(path, describe(protocol), raw)

    def _reference(self, raw: dict[str, Any], path: KeyPath) -> Any:
        """``{_call_: 'mod:fn'}`` → the function itself, for hints that cannot say so."""
        for key in raw:
            if key != CALL_KEY:
                both = key == TARGET_KEY
                self._error(
                    (*path, key),
                    f"a '{CALL_KEY}' mapping holds nothing else",
                    suggestion=f"write {{{CALL_KEY}: 'module:name'}} to pass the object itself, "
                    f"or {{{TARGET_KEY}: 'module:name', ...}} to call it"
                    if both
                    else f"remove '{key}'",
                )
        ref = raw[CALL_KEY]
        if not isinstance(ref, str):
            return self._fail((*path, CALL_KEY), "a 'module:name' string", ref)
        obj = self._target(ref, (*path, CALL_KEY))
        if obj is not INVALID and not callable(obj):
            return self._error(
                (*path, CALL_KEY),
                f"'{ref}' is not callable",
                found=type(obj).__name__,
                suggestion="name a function or a class",
                at_value=True,
            )
        return INVALID if len(raw) > 1 else obj

    def _warn(self, path: KeyPath, message: str, suggestion: str | None = None) -> None:
        """A located warning, at the value: shown, but the spec stays valid."""
        origin = find_origin(self.origins, path)
        origin = origin.at_value() if origin is not None else None
        text = SpecError(message, path, origin, suggestion=suggestion).format()
        if text not in self.warnings:
            self.warnings.append(text)

    def _config(self, raw: Any, cls: type, path: KeyPath) -> Any:
        if isinstance(raw, dict):
            return self.call(raw, cls, path)
        if isinstance(raw, (cls, Call)):
            return raw
        return self._fail(path, f"a mapping of {cls.__qualname__} arguments", raw)

    def _int(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        text = self._written_text(path)
        if isinstance(raw, str) and text == raw and re.fullmatch(r"[-+]?\d[\d_]*", raw):
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"\s*[-+]?\d[\d_]*\s*", raw):
            return self._fail(
                path, "an integer", raw, suggestion=f"remove the quotes: {raw.strip()}"
            )
        if isinstance(raw, float) and raw.is_integer():
            return self._fail(path, "an integer", raw, suggestion=f"write {int(raw)}")
        return self._fail(path, "an integer", raw)

    def _float(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str) and self._written_text(path) == raw:
            # PyYAML reads 1e-3 (no dot) as a string; the user meant a number.
            try:
                return float(raw)
            except ValueError:
                pass
        if isinstance(raw, str) and _is_number(raw):
            return self._fail(path, "a number", raw, suggestion=f"remove the quotes: {raw.strip()}")
        return self._fail(path, "a number", raw, suggestion="write it like 0.001 or 1.0e-3")

    def _str(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        if isinstance(raw, str):
            return raw
        text = self._written_text(path)
        if text is not None and raw is not None and not isinstance(raw, (dict, list)):
            return text  # `tag: 007` or `country: no` means exactly what was typed
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        return self._fail(path, "a string", raw, suggestion="quote the value")

    def _bool(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        if isinstance(raw, bool):
            return raw
        return self._fail(path, "true or false", raw)

    def _path(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        if isinstance(raw, pathlib.PurePath):
            return raw
        if isinstance(raw, str):
            return pathlib.Path(raw)
        return self._fail(path, "a path string", raw)

    def _enum(self, raw: Any, annotation: type[enum.Enum], path: KeyPath) -> Any:
        if isinstance(raw, annotation):
            return raw
        members = annotation.__members__
        if isinstance(raw, str) and raw in members:
            return members[raw]
        by_value = [m for m in annotation if m.value == raw and type(m.value) is type(raw)]
        if len(by_value) == 1:
            return by_value[0]
        names = ", ".join(f"'{n}'" for n in members)
        return self._error(
            path,
            f"not a member of {annotation.__qualname__}",
            expected=f"one of {names}",
            found=describe_value(raw),
            suggestion=did_you_mean(str(raw), members),
            at_value=True,
        )

    def _literal(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        choices = typing.get_args(annotation)
        for choice in choices:
            if type(choice) is type(raw) and choice == raw:
                return choice
        text = self._written_text(path)
        if text is not None and text in choices:
            return text
        shown = ", ".join(repr(c) for c in choices)
        return self._error(
            path,
            "not an allowed value",
            expected=f"one of {shown}",
            found=describe_value(raw),
            suggestion=did_you_mean(str(raw), [c for c in choices if isinstance(c, str)]),
            at_value=True,
        )

    def _union(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        """The alternative that takes the value's own YAML/TOML type exactly (``2`` is an int,
        even for ``str | int``) wins; else the first that takes it, a ``str`` reading a number
        or boolean as typed (``1.10`` → ``'1.10'``) only when nothing else does."""
        options = [o for o in typing.get_args(annotation) if o is not type(None)]
        if raw is None and len(options) < len(typing.get_args(annotation)):
            return None
        native = self._native(raw, path)
        typed = isinstance(native, (int, float))  # a bool too: YAML typed it
        fallback: _Trial | None = None
        failures: list[tuple[Any, list[SpecError]]] = []
        for option in options:
            trial = self._trial(raw, option, path)
            if trial.errors:
                failures.append((option, trial.errors))
                continue
            value = trial.value
            as_typed = isinstance(value, str) and not isinstance(native, str)
            if not typed or (type(value) is type(native) and value == native):
                return self._keep(trial)
            if fallback is None or (fallback.as_text and not as_typed):
                fallback = _Trial(value, [], trial.memo, trial.warnings, as_typed)
        if fallback is not None:
            return self._keep(fallback)
        return self._union_error(raw, annotation, path, failures)

    def _native(self, raw: Any, path: KeyPath) -> Any:
        """``raw`` as YAML 1.2 reads what was typed: ``1e-3`` a number (PyYAML leaves it text),
        ``no`` text (PyYAML makes it false)."""
        text = self._written_text(path)
        if text is None:
            return raw
        if isinstance(raw, bool):
            return raw if text.lower() in ("true", "false") else text
        if isinstance(raw, str) and text == raw and _YAML12_NUMBER.fullmatch(raw):
            number = float(raw)
            return int(number) if _YAML12_INT.fullmatch(raw) else number
        return raw

    def _trial(self, raw: Any, option: Any, path: KeyPath) -> _Trial:
        """``raw`` as ``option``, in a sandbox: this validator's errors, warnings and memo are
        as before; the trial's own are returned, for `_keep` to adopt."""
        saved = self.errors, self.memo, self.warnings
        self.errors, self.memo, self.warnings = Collector(), dict(self.memo), list(self.warnings)
        try:
            value = self.value(raw, option, path)
            return _Trial(value, self.errors.errors, self.memo, self.warnings)
        finally:
            self.errors, self.memo, self.warnings = saved

    def _keep(self, trial: _Trial) -> Any:
        self.memo, self.warnings = trial.memo, trial.warnings
        return trial.value

    def _union_error(
        self, raw: Any, annotation: Any, path: KeyPath, failures: list[tuple[Any, list[SpecError]]]
    ) -> Any:
        """One alternative's own errors when it clearly was meant (the only one, as in
        ``Optional[X]``, or the only one that took a mapping or list's shape and found a
        mistake inside); else one error listing the alternatives."""
        telling = [(o, errors) for o, errors in failures if _telling(errors, path)]
        if isinstance(raw, dict) and TARGET_KEY in raw:  # not the classes the target cannot make
            target = _peek(raw[TARGET_KEY])
            fitting = [t for t in telling if produces(target, t[0]) is not False]
            telling = fitting or telling
        structured = isinstance(raw, (dict, list))
        if len(failures) == 1 or (structured and len(telling) == 1):
            self.errors.extend((failures if len(failures) == 1 else telling)[0][1])
            return INVALID
        why = [_why_not(o, errors[0], path) for o, errors in telling]
        found = describe_value(raw)
        if why:  # only the informative ones: "wrong type" says nothing the list does not
            found += " (" + "; ".join(why) + ")"
        hints = {e.suggestion for _, errors in telling for e in errors[:1] if e.suggestion}
        return self._error(
            path,
            "matches none of the allowed types",
            expected=describe(annotation),
            found=found,
            suggestion=hints.pop() if len(hints) == 1 else None,
            at_value=True,
        )

    def _sequence(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        origin = typing.get_origin(annotation) or annotation
        args = typing.get_args(annotation)
        if not isinstance(raw, (list, tuple, set, frozenset)):
            return self._fail(path, describe(annotation), raw)
        items = list(raw)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if args == ((),):
                args = ()
            if len(items) != len(args):
                return self._error(
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
        if origin in (set, collections.abc.Set, collections.abc.MutableSet):
            return set(converted)
        if origin is frozenset:
            return frozenset(converted)
        return converted

    def _mapping(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        args = typing.get_args(annotation)
        key_type, value_type = args if len(args) == 2 else (Any, Any)
        if not isinstance(raw, dict):
            return self._fail(path, describe(annotation), raw)
        out: dict[Any, Any] = {}
        for key, item in raw.items():
            k = key
            if is_env_template(key):  # a key names something here; the job cannot rename it
                k = self._error(
                    (*path, key),
                    "a mapping key cannot be an environment reference",
                    found=repr(key),
                    suggestion="write the key itself; references go in values",
                )
            elif _strip_annotated(key_type) is str and not isinstance(key, str):
                k = str(key)
            elif key_type is not Any:
                k = self.value(key, key_type, (*path, key))
            v = self.value(item, value_type, (*path, key))
            if k is not INVALID and v is not INVALID:
                out[k] = v
        return out

    def _callable(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        """A reference (``module:name``) to a callable making what ``Callable[..., R]`` says, or
        a ``_target_`` mapping: with ``_partial_: true`` a `functools.partial` of the target
        (validated against its signature, the caller's arguments left to the caller)."""
        if isinstance(raw, dict) and TARGET_KEY in raw:
            return self._factory(raw, annotation, path)
        obj = self._target(raw, path) if isinstance(raw, str) else raw
        if obj is INVALID or isinstance(obj, Call):
            return obj
        if not callable(obj):
            return self._fail(path, describe(annotation), raw)
        returned = _callable_return(annotation)
        if returned is not None and produces(obj, returned) is False:
            return self._error(
                path,
                f"'{reference_text(obj)}' does not make {_a(_type_name(returned))}",
                expected=describe(annotation),
                found=describe_value(raw),
                at_value=True,
            )
        return obj

    def _factory(self, raw: dict[str, Any], annotation: Any, path: KeyPath) -> Any:
        partial = raw.get(PARTIAL_KEY) is True
        target = _peek(raw[TARGET_KEY])
        if not partial and isinstance(target, type) and not _instances_callable(target):
            name = target.__qualname__
            return self._error(
                path,
                f"{name}(...) makes an object that is not callable",
                expected=describe(annotation),
                found="a mapping without '_partial_: true'",
                suggestion=f"add '{PARTIAL_KEY}: true' to pass {name} with these arguments, "
                "for the caller to complete",
            )
        returned = _callable_return(annotation) if partial else None
        result = self.call(raw, None, path, expected=returned)
        if isinstance(result, Call) and partial:
            for name in _caller_supplies(result.target, annotation):
                if name in raw:
                    self._error(
                        (*path, name),
                        f"'{name}' is passed when the partial is called",
                        suggestion="remove it here",
                    )
        return result

    def _type(self, raw: Any, annotation: Any, path: KeyPath) -> Any:
        args = typing.get_args(annotation)
        if isinstance(raw, dict):
            return self._fail(path, describe(annotation), raw)
        obj = self._target(raw, path) if isinstance(raw, str) else raw
        if obj is INVALID:
            return INVALID
        base = args[0] if args else object
        if not isinstance(obj, type) or (isinstance(base, type) and not issubclass(obj, base)):
            return self._fail(path, describe(annotation), raw)
        return obj

    def _env_ref(self, raw: str, annotation: Any, path: KeyPath) -> Any:
        annotation = _strip_annotated(annotation)
        whole = ENV_REF.fullmatch(raw)
        scalar = _scalar_core(annotation)
        if scalar is None:
            return self._error(
                path,
                "an environment reference can only fill a scalar argument",
                expected=describe(annotation),
                found=repr(raw),
                at_value=True,
            )
        if whole is None and scalar not in (str, pathlib.Path, Any):
            return self._error(
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
                return self._error(
                    path,
                    f"the default of '{raw}' does not fit",
                    expected=describe(annotation),
                    found=repr(default),
                    suggestion=f"the job gets this default when {variable} is not set",
                    at_value=True,
                )
        return EnvRef(raw, annotation)


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


# --- descriptions for messages -----------------------------------------------------------------


@dataclass(frozen=True)
class _Trial:
    """A union alternative tried in a sandbox: its value, errors, memo and warnings."""

    value: Any
    errors: list[SpecError]
    memo: dict[int, tuple[Any, Call]]
    warnings: list[str]
    as_text: bool = False
    """True when a ``str`` took a number or boolean as the text typed."""


def _telling(errors: list[SpecError], path: KeyPath) -> bool:
    """True unless the only error is "wrong type" at the value: the alternative looked inside."""
    return not (len(errors) == 1 and errors[0].message == "wrong type" and errors[0].path == path)


def _why_not(option: Any, error: SpecError, path: KeyPath) -> str:
    """Why a union alternative refused a value, in a few words."""
    where = format_path(error.path[len(path) :]) if error.path[: len(path)] == path else ""
    return f"as {describe(option)}: {where + ': ' if where else ''}{error.message}"


_YAML12_INT = re.compile(r"[-+]?\d+")
_YAML12_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_REFERENCE_TEXT = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def takes_reference_text(annotation: Any) -> bool:
    """True when ``annotation`` reads ``module:name`` text as the object it names (``Callable``,
    ``type[X]``, optionally None): elsewhere an object is written ``{_call_: module:name}``."""
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return all(takes_reference_text(a) for a in options)
    return (origin or annotation) in (collections.abc.Callable, type)


def is_reference(raw: Any) -> bool:
    """True for ``{_call_: ...}``: an object by reference, not a call."""
    return isinstance(raw, dict) and CALL_KEY in raw and TARGET_KEY not in raw


def _is_mapping_hint(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _names_callable(text: str) -> bool:
    """True when ``module:name`` text names a callable (its module imports)."""
    try:
        return callable(resolve(text))
    except TargetImportError:
        return False


def _peek(ref: Any) -> Any:
    """The object a ``_target_`` names, or None (its errors are `Validator.call`'s to report)."""
    try:
        return resolve(ref) if isinstance(ref, str) else ref
    except TargetImportError:
        return None


def _instances_callable(cls: type) -> bool:
    return any("__call__" in vars(c) for c in cls.__mro__ if c is not object)


def _callable_return(annotation: Any) -> Any:
    """``R`` of ``Callable[..., R]`` when it is a class worth checking (not a builtin)."""
    args = typing.get_args(annotation)
    returned = _strip_annotated(args[-1]) if args else None
    checked = typing.get_origin(returned) or returned
    if not isinstance(checked, type) or checked.__module__ == "builtins":
        return None
    return returned


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


def reference_text(obj: Any) -> str:
    """``module:name`` of ``obj`` for messages, or its repr."""
    try:
        return reference_of(obj)
    except TargetImportError:
        return repr(obj)


def _type_name(tp: Any) -> str:
    """A class's own name, or a typing construct without its module prefixes."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and origin is None:
        return tp.__qualname__
    if isinstance(origin, type) and origin.__module__ not in ("builtins", "typing"):
        return origin.__qualname__
    return re.sub(r"\b(typing|collections\.abc|builtins)\.", "", str(tp))


def _a(name: str) -> str:
    """``an Optimizer``, ``a Module``."""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def describe(annotation: Any) -> str:
    """A short human description of a type hint: ``list of int``, ``one of 'a', 'b'``."""
    annotation = _strip_annotated(annotation)
    if annotation is Any:
        return "any value"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):  # shortest first, null last, each said once
        parts = sorted(dict.fromkeys(describe(a) for a in args if a is not type(None)), key=len)
        parts += ["null"] if type(None) in args else []
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    if origin in (list, *_LIKE_LISTS):
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin in (set, frozenset, collections.abc.Set, collections.abc.MutableSet):
        return f"a list of unique {_plural(args[0])}" if args else "a list of unique values"
    if origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {_plural(args[0])}" if args else "a list"
        if args == ((),):
            return "an empty list"
        return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return f"a mapping of names to {_plural(args[1])}" if args else "a mapping"
    if origin in (collections.abc.Callable,) or annotation is collections.abc.Callable:
        returned = _callable_return(annotation)
        making = f" making {_a(_type_name(returned))}" if returned is not None else ""
        return f"a 'module:name' reference to a callable{making}"
    if origin is type:
        return f"a 'module:name' reference to {_type_name(args[0])} or a subclass"
    if annotation is type(None) or annotation is None:
        return "null"
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
    }
    if annotation in names:
        return names[annotation]
    if isinstance(annotation, type):
        name = annotation.__qualname__
        if issubclass(annotation, enum.Enum):
            return "one of " + ", ".join(f"'{n}'" for n in annotation.__members__)
        if issubclass(annotation, pathlib.PurePath):
            return "a path"
        if is_protocol(annotation):
            return f"a mapping with '{TARGET_KEY}' naming a class that implements {name}"
        if not is_config_class(annotation):
            return f"a mapping with '{TARGET_KEY}' naming {name} or a subclass"
        return f"a mapping of {name} arguments"
    return _type_name(annotation)


_LIKE_LISTS = (
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Iterable,
    collections.abc.Collection,
    collections.abc.Iterator,
)


_PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def _plural(annotation: Any) -> str:
    """``integers`` for int; otherwise ``items that are each <description>``."""
    annotation = _strip_annotated(annotation)
    if annotation is Any:
        return "values"
    if annotation in _PLURALS:
        return _PLURALS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, pathlib.PurePath):
        return "paths"
    return f"items, each {describe(annotation)}"


def describe_value(raw: Any) -> str:
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return f"{str(raw).lower()} (a boolean)"
    if isinstance(raw, int):
        return f"{raw} (an integer)"
    if isinstance(raw, float):
        return f"{raw} (a number)"
    if isinstance(raw, str):
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        return f"{shown!r} (a string)"
    if isinstance(raw, dict):
        return "a mapping"
    if isinstance(raw, (list, tuple)):
        return "a list"
    if callable(raw):  # an object a reference named
        return f"{reference_text(raw)} (a {'class' if isinstance(raw, type) else 'function'})"
    return type(raw).__name__


def example_for(annotation: Any) -> str:
    """A valid value to show in a suggestion."""
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return repr(args[0]) if isinstance(args[0], str) else str(args[0])
    if origin in (Union, types.UnionType):
        return example_for(next(a for a in args if a is not type(None)))
    if origin in (list, tuple, set, frozenset, collections.abc.Sequence):
        return "[]"
    if origin in (dict, collections.abc.Mapping):
        return "{}"
    examples = {int: "1", float: "0.1", str: "text", bool: "true"}
    if annotation in examples:
        return examples[annotation]
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return next(iter(annotation.__members__))
        if issubclass(annotation, pathlib.PurePath):
            return "/path/to/file"
        if is_config_class(annotation):
            return "{...}"
    return "..."


# --- environment references: how the job reads them ------------------------------------------


def env_reading(annotation: Any) -> dict[str, Any]:
    """The keyword arguments of `nemorun.runtime.env_value` that read ``annotation``'s value.

    ``to``: the scalar types of the hint's alternatives, in order (omitted for plain text);
    ``choices``: the values of its Literals; ``optional``: whether None is allowed. Validation,
    the Fiddle graph and the job's entry point all read environment text with these, so they
    agree on every value.
    """
    annotation = _strip_annotated(annotation)
    is_union = typing.get_origin(annotation) in (Union, types.UnionType)
    options = typing.get_args(annotation) if is_union else (annotation,)
    kinds: list[Any] = []
    choices: list[Any] = []
    for option in options:
        option = _strip_annotated(option)
        if option is type(None):
            continue
        if typing.get_origin(option) is Literal:
            choices.extend(c for c in typing.get_args(option) if c not in choices)
            continue
        core = _scalar_core(option)
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


def _scalar_core(annotation: Any) -> Any:
    """The scalar type behind ``annotation`` (through Optional), or None if not a scalar."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        cores = [_scalar_core(a) for a in typing.get_args(annotation) if a is not type(None)]
        return cores[0] if len(cores) == 1 else (Any if all(cores) else None)
    if origin is Literal:
        return str
    if annotation in (int, float, str, bool, Any):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, (enum.Enum, pathlib.PurePath)):
        return pathlib.Path if issubclass(annotation, pathlib.PurePath) else annotation
    return None


def _strip_annotated(annotation: Any) -> Any:
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


_Handler = Callable[[Validator, Any, Any, KeyPath], Any]

_BY_TYPE: dict[Any, _Handler] = {
    int: Validator._int,
    float: Validator._float,
    str: Validator._str,
    bool: Validator._bool,
    list: Validator._sequence,
    tuple: Validator._sequence,
    set: Validator._sequence,
    frozenset: Validator._sequence,
    dict: Validator._mapping,
    collections.abc.Callable: Validator._callable,
    type: Validator._type,
}

_BY_ORIGIN: dict[Any, _Handler] = {
    Union: Validator._union,
    types.UnionType: Validator._union,
    Literal: Validator._literal,
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
    collections.abc.Callable: Validator._callable,
    type: Validator._type,
}

__all__ = [
    "INVALID",
    "MISSING",
    "Call",
    "EnvRef",
    "Validator",
    "describe",
    "env_reading",
    "example_for",
    "reference_of",
    "takes_reference_text",
]
