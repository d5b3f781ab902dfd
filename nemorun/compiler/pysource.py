"""Validated values as Python source text: the expression writer behind the job's entry point.

A value from a validated spec (numbers, strings, paths, enum members, containers, `Call`s,
callables, `EnvRef`s, module constants such as ``torch.float16``) becomes an expression in a
small layout tree (`Group`), and `layout` prints that tree: a group that fits on its line stays
there, one that does not puts each item on its own line with a trailing comma (the black style,
so generated code reads like code).

Two things are tricky:
- **Names.** Every object the code refers to is imported by name (``from trainlib.loop import
  ModelConfig``). `Names` gives each one a local name, aliases a clash (two ``Config`` classes
  become ``Config`` and ``Config_2``), keeps the generated module's own names free, and refuses
  objects that cannot be imported back (``<locals>``, ``__main__``, lambdas).
- **Determinism.** Output depends only on the values: sets are printed sorted by their text,
  aliases are numbered in the order of first use, floats use ``repr`` (shortest round-trip).

`EnvRef`s become calls of ``env_value``: the entry embeds the source of
`nemorun.runtime.env_value` (and the functions it calls), so the job converts its environment
exactly as validation does, without nemorun.
"""

from __future__ import annotations

import enum
import inspect
import keyword
import math
import pathlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from nemorun.errors import KeyPath, SpecError
from nemorun.runtime import ENTRY_FUNCTIONS, ENTRY_MODULES, ENV_REFERENCE
from nemorun.schemas.constructs import constant_reference
from nemorun.schemas.convert import Call, EnvRef, env_reading

WIDTH = 96
INDENT = "    "

# Names the generated module defines or imports itself; user objects never take them.
RESERVED = frozenset(
    {"os", "sys", "functools", "pathlib", "enum", "re", "main", "AXES", "POINTS", "at"}
    | {"_this_point", "ENV_REFERENCE", *(f.__name__ for f in ENTRY_FUNCTIONS)}
)


@dataclass
class Group:
    """A bracketed list of items: a call, a list, a tuple, a dict or a set."""

    open: str
    items: list[tuple[str, Doc]]
    """Each item: a prefix (``name=`` or ``key: ``) and its value."""
    close: str
    single_comma: bool = False
    """A one-item tuple needs its comma even when flat."""


Doc = Union[str, Group]  # noqa: UP007 (a runtime alias: `|` needs Python 3.10 types)


def flat(doc: Doc) -> str:
    """The expression on one line."""
    if isinstance(doc, str):
        return doc
    inner = ", ".join(prefix + flat(item) for prefix, item in doc.items)
    if doc.single_comma and len(doc.items) == 1:
        inner += ","
    return doc.open + inner + doc.close


def layout(doc: Doc, indent: str = "", column: int | None = None) -> str:
    """The expression laid out for a line starting at ``column`` inside block ``indent``."""
    text = flat(doc)
    start = len(indent) if column is None else column
    if isinstance(doc, str) or start + len(text) + 1 <= WIDTH or not doc.items:
        return text
    inner = indent + INDENT
    lines = [doc.open]
    for prefix, item in doc.items:
        value = layout(item, inner, len(inner) + len(prefix))
        lines.append(f"{inner}{prefix}{value},")
    lines.append(indent + doc.close)
    return "\n".join(lines)


@dataclass
class Names:
    """The imports of a generated module, and the local name of every imported object."""

    local: dict[tuple[str, str], str] = field(default_factory=dict)
    """(module, top-level name) → local name."""
    stdlib: set[str] = field(default_factory=set)
    """Standard modules the code uses (``os``, ``pathlib`` …), imported whole."""
    taken: set[str] = field(default_factory=lambda: set(RESERVED))

    def of(self, obj: Any, path: KeyPath = ()) -> str:
        """An expression naming ``obj``, importing it on first use."""
        module = getattr(obj, "__module__", None)
        qualname = getattr(obj, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise _cannot_name(obj, path, "it has no module and name")
        if "<" in qualname or module == "__main__":
            raise _cannot_name(obj, path, "it is not importable by name")
        if module == "builtins" and "." not in qualname:
            return qualname
        head, _, rest = qualname.partition(".")
        if _lookup(module, qualname) is not obj:
            raise _cannot_name(obj, path, f"'{module}:{qualname}' names something else")
        return self.imported(module, head) + ("." + rest if rest else "")

    def imported(self, module: str, name: str) -> str:
        """The local name of ``from module import name``, importing it on first use."""
        key = (module, name)
        if key not in self.local:
            local, n = name, 1
            while local in self.taken:
                n += 1
                local = f"{name}_{n}"
            self.taken.add(local)
            self.local[key] = local
        return self.local[key]

    def module(self, name: str) -> str:
        """Use a standard-library module (``os``, ``pathlib`` …) by its own name."""
        self.stdlib.add(name)
        return name

    def import_lines(self) -> list[str]:
        """``import os`` lines, a blank line, then one ``from m import a, b as c`` per module."""
        lines = [f"import {m}" for m in sorted(self.stdlib)]
        by_module: dict[str, list[str]] = {}
        for (module, head), local in self.local.items():
            by_module.setdefault(module, []).append(head if head == local else f"{head} as {local}")
        if lines and by_module:
            lines.append("")
        for module in sorted(by_module):
            lines.append(f"from {module} import {', '.join(sorted(by_module[module]))}")
        return lines


def _lookup(module: str, qualname: str) -> Any:
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _cannot_name(obj: Any, path: KeyPath, why: str) -> SpecError:
    return SpecError(
        f"the job's entry point cannot refer to {obj!r}: {why}",
        path,
        suggestion="use a function or class defined at the top level of an importable module",
    )


HoleKey = tuple[int, Any]
"""(id of a container — a `Call`, dict, list or tuple — and a key in it)."""


class Writer:
    """Turns validated values into `Doc`s, importing what they need through ``names``.

    ``holes`` replaces the value at (container, key) by a given expression: the sweep's
    per-point lookups. ``variables`` names `Call`s that are built once and shared.
    """

    def __init__(
        self,
        names: Names,
        holes: dict[HoleKey, str] | None = None,
        variables: dict[int, str] | None = None,
    ) -> None:
        self.names = names
        self.holes = holes or {}
        self.variables = variables or {}
        self.helpers: set[str] = set()

    def value(self, value: Any, path: KeyPath) -> Doc:
        if isinstance(value, Call):
            if id(value) in self.variables:
                return self.variables[id(value)]
            return self.call(value, path)
        for kind, write in _WRITERS:
            if isinstance(value, kind):
                return write(self, value, path)
        if isinstance(value, pathlib.PurePath):
            cls = type(value).__name__ if type(value).__module__ == "pathlib" else "Path"
            return f"{self.names.module('pathlib')}.{cls}({str(value)!r})"
        if callable(value):
            return self.names.of(value, path)
        constant = constant_reference(value)
        if constant is not None:
            return self.names.imported(*constant)
        raise SpecError(
            f"a {type(value).__name__} value cannot be written into the job's entry point",
            path,
            suggestion="use plain values, paths, enum members, or a mapping with '_target_'",
        )

    def call(self, call: Call, path: KeyPath, called: bool = False) -> Group:
        """``Target(a=…, b=…)``, or ``functools.partial(Target, …)`` for a partial call
        (unless ``called``: the task's own root, which the spec marks partial, is called)."""
        target = self.names.of(call.target, (*call.path, "_target_") if call.path else path)
        items: list[tuple[str, Doc]] = []
        odd: list[tuple[str, Doc]] = []
        for name, arg in call.args.items():
            doc = self._item(call, name, arg, (*path, name))
            if _is_name(name):
                items.append((f"{name}=", doc))
            else:
                odd.append((f"{name!r}: ", doc))
        if odd:
            items.append(("**", Group("{", odd, "}")))
        if call.partial and not called:
            return Group(f"{self.names.module('functools')}.partial(", [("", target), *items], ")")
        return Group(f"{target}(", items, ")")

    def _item(self, container: Any, key: Any, value: Any, path: KeyPath) -> Doc:
        hole = self.holes.get((id(container), key))
        return hole if hole is not None else self.value(value, path)

    def _list(self, value: list[Any], path: KeyPath) -> Doc:
        items = [("", self._item(value, i, v, (*path, i))) for i, v in enumerate(value)]
        return Group("[", items, "]")

    def _tuple(self, value: tuple[Any, ...], path: KeyPath) -> Doc:
        if not value:
            return "()"
        items = [("", self._item(value, i, v, (*path, i))) for i, v in enumerate(value)]
        return Group("(", items, ")", single_comma=True)

    def _dict(self, value: dict[Any, Any], path: KeyPath) -> Doc:
        items = [
            (flat(self.value(k, path)) + ": ", self._item(value, k, v, (*path, k)))
            for k, v in value.items()
        ]
        return Group("{", items, "}")

    def _set(self, value: set[Any] | frozenset[Any], path: KeyPath) -> Doc:
        docs = sorted((self.value(v, path) for v in value), key=flat)
        items: list[tuple[str, Doc]] = [("", d) for d in docs]
        if isinstance(value, frozenset):
            return Group("frozenset({", items, "})") if items else "frozenset()"
        return Group("{", items, "}") if items else "set()"

    def _scalar(self, value: Any, path: KeyPath) -> Doc:
        if isinstance(value, float) and not math.isfinite(value):
            return f"float({str(value)!r})"
        return repr(value)

    def env(self, ref: EnvRef, path: KeyPath) -> Doc:
        """``env_value('${oc.env:STEPS,100}', to=int)``: nemorun's own reading, embedded."""
        self.helpers.add("env_value")
        for module in ENTRY_MODULES:
            self.names.module(module)
        items: list[tuple[str, Doc]] = [("", repr(ref.template))]
        for key, value in env_reading(ref.annotation).items():
            items.append((f"{key}=", self._reading_argument(value, path)))
        return Group("env_value(", items, ")")

    def _reading_argument(self, value: Any, path: KeyPath) -> Doc:
        """A type (``int``, ``pathlib.Path``, an Enum by name), a tuple of them, or choices."""
        if isinstance(value, tuple):
            items = [("", self._reading_argument(v, path)) for v in value]
            return Group("(", items, ")", single_comma=True)
        if isinstance(value, type) and issubclass(value, pathlib.PurePath):
            return f"{self.names.module('pathlib')}.Path"
        return self.value(value, path)


def _is_name(text: Any) -> bool:
    return isinstance(text, str) and text.isidentifier() and not keyword.iskeyword(text)


def _enum(writer: Writer, value: enum.Enum, path: KeyPath) -> Doc:
    cls = writer.names.of(type(value), path)
    return f"{cls}.{value.name}" if _is_name(value.name) else f"{cls}[{value.name!r}]"


# Enum members first: an IntEnum or StrEnum member is also an int or a str.
_WRITERS: list[tuple[type | tuple[type, ...], Callable[[Writer, Any, KeyPath], Doc]]] = [
    (enum.Enum, _enum),
    (EnvRef, Writer.env),
    ((bool, int, float, str, bytes, type(None)), Writer._scalar),
    (list, Writer._list),
    (tuple, Writer._tuple),
    (dict, Writer._dict),
    ((set, frozenset), Writer._set),
]
HELPERS = {
    "env_value": "\n\n\n".join(
        [f"ENV_REFERENCE = {ENV_REFERENCE!r}"]
        + [inspect.getsource(f).rstrip("\n") for f in ENTRY_FUNCTIONS]
    ),
}
"""Functions an entry point defines when it uses them, by name."""
