"""Inspect a callable (function, class, dataclass) into a `CallableSchema`: its parameters, their
type hints, defaults and docs.

This is the "inspect" step of inspect → validate → emit. It runs once per callable (cached), and
the same code reads nemorun's own option dataclasses, so user arguments and executor options are
checked by one validator.

Hints are resolved with `typing.get_type_hints` (``Annotated`` kept, for its bounds). A hint
naming something imported only under ``if TYPE_CHECKING:`` is resolved by making that import;
one that still cannot be resolved becomes ``Annotated[Any, Unchecked(...)]`` rather than
failing: the parameter is still known, accepted unchecked with a warning that names it. Types
without a signature, and classes that forward ``*args, **kwargs`` to a base, are read as
`nemorun.schemas.signatures` says.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import sys
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nemorun.schemas.docstrings import parameter_docs
from nemorun.schemas.formats import Format, formats_of
from nemorun.schemas.signatures import (
    Forwarded,
    Unchecked,
    forwarded_to,
    known_signature,
    names_in,
    type_checking_names,
    type_checking_source,
)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _MadeWhenCalled:
    def __repr__(self) -> str:
        return "<made when called>"


MADE_WHEN_CALLED: Any = _MadeWhenCalled()
"""The default of a dataclass field with a ``default_factory``: optional, its value unknown."""


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
    forwarded = forwarded_to(target) if isinstance(target, type) else None
    if forwarded is not None:
        return _inspect_forwarded(target, forwarded, docs)
    init = _constructor(target) if isinstance(target, type) else None
    hints = _hints(init if init is not None else target)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        known = known_signature(target)
        if known is None:
            raise
        signature = known
    return _schema(target, signature.parameters.values(), hints, docs)


def _schema(
    target: Any,
    parameters: Iterable[inspect.Parameter],
    hints: dict[str, Any],
    docs: dict[str, str],
) -> CallableSchema:
    params: dict[str, Param] = {}
    var_keyword = None
    for p in parameters:
        declared = Any if p.annotation is p.empty or isinstance(p.annotation, str) else p.annotation
        if p.kind == p.VAR_KEYWORD:
            var_keyword = hints.get(p.name, declared)
            continue
        if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY):
            continue
        default = MISSING if p.default is p.empty else p.default
        params[p.name] = Param(p.name, hints.get(p.name, declared), default, docs.get(p.name))
    return CallableSchema(target, params, var_keyword, _summary(inspect.getdoc(target)))


def _constructor(cls: type) -> Any:
    """What holds the hints of ``cls``'s arguments: its ``__init__``, or for a
    ``typing.NamedTuple`` the class itself (its fields; its generated ``__new__`` holds them
    as text it cannot resolve)."""
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return cls
    return cls.__init__  # type: ignore[misc]


def _inspect_forwarded(cls: type, forwarded: Forwarded, docs: dict[str, str]) -> CallableSchema:
    """``cls``'s keywords as `signatures.forwarded_to` says where they go."""
    if forwarded.overload is not None:
        declared = list(inspect.signature(forwarded.overload).parameters.values())[1:]
        return _schema(cls, declared, _hints(forwarded.overload), docs)
    assert forwarded.base is not None
    base = inspect_callable(forwarded.base)
    kept = list(base.params.values())[forwarded.filled_positional :]
    params = {
        p.name: dataclasses.replace(p, doc=docs.get(p.name) or p.doc)
        for p in kept
        if p.name not in forwarded.filled_keywords
    }
    doc = _summary(inspect.getdoc(cls))
    return CallableSchema(cls, params, base.var_keyword, doc)


def _inspect_dataclass(cls: type, docs: dict[str, str]) -> CallableSchema:
    hints = _hints(cls)
    params: dict[str, Param] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = MADE_WHEN_CALLED  # never run here: it may read the environment, or fail
        else:
            default = MISSING
        hint = hints.get(f.name, Any)
        params[f.name] = Param(f.name, hint, default, docs.get(f.name), formats_of(f))
    params.update(_init_vars(cls, hints, docs, params))
    return CallableSchema(cls, params, None, _summary(inspect.getdoc(cls)))


def _init_vars(
    cls: type, hints: dict[str, Any], docs: dict[str, str], fields: dict[str, Param]
) -> dict[str, Param]:
    """``dataclasses.InitVar`` parameters: passed to ``__init__``, not fields."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, p in signature.parameters.items():
        hint = hints.get(name)
        if name not in fields and isinstance(hint, dataclasses.InitVar):
            default = MISSING if p.default is p.empty else p.default
            out[name] = Param(name, hint.type, default, docs.get(name))
    return out


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception:  # one unresolvable name (a TYPE_CHECKING import, say): the others still count
        return _hints_one_by_one(obj)


def _hints_one_by_one(obj: Any) -> dict[str, Any]:
    """Each annotation evaluated on its own. One that names something the module imports only
    under ``if TYPE_CHECKING:`` is evaluated again with that import made; one that still
    fails is ``Annotated[Any, Unchecked(...)]``: accepted as any value, with a warning."""
    if isinstance(obj, type):
        sources = [
            (vars(c).get("__annotations__", {}), vars(sys.modules.get(c.__module__, None) or c))
            for c in reversed(obj.__mro__)
        ]
    else:
        sources = [(getattr(obj, "__annotations__", None) or {}, getattr(obj, "__globals__", {}))]
    owner = getattr(obj, "__qualname__", repr(obj)).removesuffix(".__init__")
    module = getattr(obj, "__module__", None) or ""
    out: dict[str, Any] = {}
    for declared, namespace in sources:
        for name, hint in declared.items():
            try:
                out[name] = _evaluate(name, hint, dict(namespace))
                continue
            except Exception as exc:
                problem = exc
            extra = type_checking_names(module, names_in(hint))
            try:
                out[name] = _evaluate(name, hint, {**namespace, **extra})
            except Exception as exc:
                why = _why_unresolved(module, problem if not extra else exc)
                text = hint if isinstance(hint, str) else repr(hint)
                out[name] = typing.Annotated[Any, Unchecked(owner, name, text, why)]
    return out


def _evaluate(name: str, hint: Any, namespace: dict[str, Any]) -> Any:
    return typing.get_type_hints(_Holder(name, hint), namespace, include_extras=True)[name]


def _why_unresolved(module: str, problem: Exception) -> str:
    """Why a hint could not be evaluated, in words for a warning."""
    name = getattr(problem, "name", None) if isinstance(problem, NameError) else None
    if name is None:
        return f"cannot be evaluated ({type(problem).__name__}: {problem})"
    source = type_checking_source(module, name)
    if source is not None:
        return (
            f"names '{name}', imported only under 'if TYPE_CHECKING:' from '{source}', "
            "which cannot be imported here"
        )
    return f"names '{name}', which is not defined in {module or 'its module'}"


class _Holder:
    """An object whose only annotation is ``name: hint``, for `typing.get_type_hints`."""

    def __init__(self, name: str, hint: Any) -> None:
        self.__annotations__ = {name: hint}


def _summary(doc: str | None) -> str | None:
    if not doc:
        return None
    return doc.strip().split("\n\n")[0].strip() or None


# --- what a callable makes: class-typed hints, factories and protocols ---------------------------


def made_by(target: Any) -> type | None:
    """The class of what calling ``target`` makes: ``target`` itself when it is a class, else the
    class its return annotation names (``-> Model``, ``-> Model | None``, ``-> Self`` on a
    classmethod). None when that cannot be told: no return annotation, or one naming no class."""
    if isinstance(target, type):
        return target
    try:
        returned = typing.get_type_hints(target).get("return")
    except Exception:  # an unresolvable return annotation says nothing we can check
        return None
    if returned is typing_self():
        owner = getattr(target, "__self__", None)
        return owner if isinstance(owner, type) else None
    options = typing.get_args(returned) if _is_union(returned) else (returned,)
    classes = [typing.get_origin(o) or o for o in options if o is not type(None)]
    if len(classes) == 1 and isinstance(classes[0], type):
        return classes[0]
    return None


def produces(target: Any, expected: Any) -> bool | None:
    """Whether calling ``target`` makes an ``expected``: True, False, or None when it cannot be
    told (a factory without a return annotation, a protocol member only assigned in
    ``__init__``)."""
    expected = typing.get_origin(expected) or expected
    if expected is Any or expected is object or not isinstance(expected, type):
        return True
    made = made_by(target)
    if made is None:
        return None
    if is_protocol(expected):
        return implements(made, expected)
    try:
        return issubclass(made, expected)
    except TypeError:
        return None


def is_protocol(tp: Any) -> bool:
    """True for a `typing.Protocol` class (not for its concrete subclasses)."""
    return isinstance(tp, type) and bool(tp.__dict__.get("_is_protocol", False))


def implements(cls: type, protocol: type) -> bool | None:
    """Whether instances of ``cls`` have every member of ``protocol``: False when a method is
    missing, None when only a data member is (it may be set in ``__init__``)."""
    missing = [name for name in protocol_members(protocol) if not hasattr(cls, name)]
    if not missing:
        return True
    annotated = {n for c in cls.__mro__ for n in vars(c).get("__annotations__", {})}
    data = _protocol_data(protocol)
    if any(name not in data for name in missing):
        return False
    return True if all(name in annotated for name in missing) else None


def protocol_members(protocol: type) -> list[str]:
    """The names a class must have to implement ``protocol``, its own and its base protocols'."""
    names: list[str] = []
    for base in protocol.__mro__:
        if base is object or not is_protocol(base) or base is typing.Protocol:
            continue
        for name in [*vars(base), *vars(base).get("__annotations__", {})]:
            if name not in _PROTOCOL_INTERNALS and not name.startswith("_abc_"):
                names.append(name)
    return list(dict.fromkeys(names))


def _protocol_data(protocol: type) -> set[str]:
    """Members declared only by annotation (``name: int``), with no value in the class."""
    out: set[str] = set()
    for base in protocol.__mro__:
        if is_protocol(base):
            out.update(n for n in vars(base).get("__annotations__", {}) if n not in vars(base))
    return out


_PROTOCOL_INTERNALS = frozenset(
    {
        "__abstractmethods__", "__annotations__", "__dict__", "__doc__", "__init__",
        "__module__", "__new__", "__slots__", "__subclasshook__", "__weakref__",
        "__class_getitem__", "__parameters__", "__orig_bases__", "__qualname__",
        "__protocol_attrs__", "__non_callable_proto_members__", "__type_params__",
        "__firstlineno__", "__static_attributes__", "__callable_proto_members_only__",
        "_is_protocol", "_is_runtime_protocol", "__annotate__", "__annotate_func__",
        "__annotations_cache__",
    }
)  # fmt: skip


def typing_self() -> Any:
    """`typing.Self` where this Python has it (3.11+), else a value no annotation equals."""
    return getattr(typing, "Self", _Missing)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def type_hints(obj: Any) -> dict[str, Any]:
    """The resolved hints of ``obj`` (``Annotated`` kept), each unresolvable one marked
    ``Annotated[Any, Unchecked(...)]`` as for a callable's parameters."""
    return _hints(obj)
