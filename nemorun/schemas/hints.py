"""Inspect a callable (function, class, dataclass) into a `CallableSchema`: its parameters, their
type hints, defaults and docs.

This is the "inspect" step of inspect → validate → emit. It runs once per callable (cached), and
the same code reads nemorun's own option dataclasses, so user arguments and executor options are
checked by one validator.

Hints are resolved with `typing.get_type_hints`; a hint that cannot be resolved (a forward
reference to a name the module never defines) degrades to `Any` rather than failing: the
parameter is still known, only unchecked.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import typing
from dataclasses import dataclass, field
from typing import Any

from nemorun.schemas.docstrings import parameter_docs
from nemorun.schemas.formats import Format, formats_of


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Param:
    """One parameter of a callable."""

    name: str
    annotation: Any = Any
    default: Any = MISSING
    doc: str | None = None
    formats: tuple[Format, ...] = ()
    """What the value must look like beyond its type (declared on a dataclass field)."""

    def is_required(self) -> bool:
        """True when the caller must give a value."""
        return self.default is MISSING


@dataclass(frozen=True)
class CallableSchema:
    """What a callable accepts, by keyword."""

    target: Any
    params: dict[str, Param] = field(default_factory=dict)
    var_keyword: Any = None
    """The annotation of ``**kwargs`` (``Any`` if unannotated), or None when there is none."""
    doc: str | None = None

    @property
    def name(self) -> str:
        return getattr(self.target, "__qualname__", None) or repr(self.target)

    def accepts_any_keyword(self) -> bool:
        """True when ``**kwargs`` lets the callable take names it does not declare."""
        return self.var_keyword is not None

    def required(self) -> list[str]:
        return [p.name for p in self.params.values() if p.is_required()]


def is_config_class(tp: Any) -> bool:
    """True for classes whose values are written as mappings: dataclasses, and classes with an
    ``__init__`` of their own that takes keyword arguments."""
    if not isinstance(tp, type):
        return False
    if dataclasses.is_dataclass(tp):
        return True
    if tp.__module__ == "builtins" or issubclass(tp, (BaseException,)):
        return False
    init = tp.__dict__.get("__init__") or getattr(tp, "__init__", None)
    if init is None or init is object.__init__:
        return False
    try:
        params = list(inspect.signature(tp).parameters.values())
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)


@functools.cache
def inspect_callable(target: Any) -> CallableSchema:
    """Parameters of ``target``. Raises TypeError when it has no inspectable signature."""
    docs = parameter_docs(target)
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        return _inspect_dataclass(target, docs)
    init = target.__init__ if isinstance(target, type) else None  # type: ignore[misc]
    hints = _hints(init if init is not None else target)
    signature = inspect.signature(target)
    params: dict[str, Param] = {}
    var_keyword = None
    for p in signature.parameters.values():
        if p.kind == p.VAR_KEYWORD:
            var_keyword = hints.get(p.name, Any)
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        default = MISSING if p.default is p.empty else p.default
        params[p.name] = Param(p.name, hints.get(p.name, Any), default, docs.get(p.name))
    return CallableSchema(target, params, var_keyword, _summary(inspect.getdoc(target)))


def _inspect_dataclass(cls: type, docs: dict[str, str]) -> CallableSchema:
    hints = _hints(cls)
    params: dict[str, Param] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        hint = hints.get(f.name, Any)
        params[f.name] = Param(f.name, hint, default, docs.get(f.name), formats_of(f))
    return CallableSchema(cls, params, None, _summary(inspect.getdoc(cls)))


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj)
    except Exception:  # one unresolvable name (a TYPE_CHECKING import, say): the others still count
        return _hints_one_by_one(obj)


def _hints_one_by_one(obj: Any) -> dict[str, Any]:
    """Each annotation evaluated on its own; those that cannot be are left out (``Any``)."""
    if isinstance(obj, type):
        sources = [
            (vars(c).get("__annotations__", {}), vars(sys.modules.get(c.__module__, None) or c))
            for c in reversed(obj.__mro__)
        ]
    else:
        sources = [(getattr(obj, "__annotations__", None) or {}, getattr(obj, "__globals__", {}))]
    out: dict[str, Any] = {}
    for declared, namespace in sources:
        for name, hint in declared.items():
            try:
                out[name] = typing.get_type_hints(_Holder(name, hint), dict(namespace))[name]
            except Exception:
                out.pop(name, None)
    return out


class _Holder:
    """An object whose only annotation is ``name: hint``, for `typing.get_type_hints`."""

    def __init__(self, name: str, hint: Any) -> None:
        self.__annotations__ = {name: hint}


def _summary(doc: str | None) -> str | None:
    if not doc:
        return None
    return doc.strip().split("\n\n")[0].strip() or None
