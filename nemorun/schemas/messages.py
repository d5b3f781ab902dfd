"""The words of validation messages: a type hint, a found value, an example to suggest."""

from __future__ import annotations

import collections.abc
import enum
import pathlib
import re
import types
import typing
from typing import Any, Literal, Union

from nemorun.schemas.hints import is_config_class, is_protocol
from nemorun.schemas.imports import TargetImportError, reference_of
from nemorun.schemas.values import MISSING_VALUE, TARGET_KEY, strip_annotated


def describe(annotation: Any) -> str:
    """A short human description of a type hint: ``list of int``, ``one of 'a', 'b'``."""
    annotation = strip_annotated(annotation)
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
        returned = callable_return(annotation)
        making = f" making {article(type_name(returned))}" if returned is not None else ""
        return f"a 'module:name' reference to a callable{making}"
    if origin is type:
        return f"a 'module:name' reference to {type_name(args[0])} or a subclass"
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
    return type_name(annotation)


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
    annotation = strip_annotated(annotation)
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
    annotation = strip_annotated(annotation)
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


def reference_text(obj: Any) -> str:
    """``module:name`` of ``obj`` for messages, or its repr."""
    try:
        return reference_of(obj)
    except TargetImportError:
        return repr(obj)


def type_name(tp: Any) -> str:
    """A class's own name, or a typing construct without its module prefixes."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and origin is None:
        return tp.__qualname__
    if isinstance(origin, type) and origin.__module__ not in ("builtins", "typing"):
        return origin.__qualname__
    return re.sub(r"\b(typing|collections\.abc|builtins)\.", "", str(tp))


def article(name: str) -> str:
    """``an Optimizer``, ``a Module``."""
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def quoted(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def callable_return(annotation: Any) -> Any:
    """``R`` of ``Callable[..., R]`` when it is a class worth checking (not a builtin)."""
    args = typing.get_args(annotation)
    returned = strip_annotated(args[-1]) if args else None
    checked = typing.get_origin(returned) or returned
    if not isinstance(checked, type) or checked.__module__ == "builtins":
        return None
    return returned


def fill_in(annotation: Any) -> str:
    """The hint for a required value left as the placeholder."""
    example = example_for(annotation)
    return f"replace '{MISSING_VALUE}' with a value" + (
        "" if example == "..." else f", e.g. {example}"
    )
