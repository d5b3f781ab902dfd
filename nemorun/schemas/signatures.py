"""Signatures that `inspect` alone does not give: what `hints.inspect_callable` asks when the
plain signature or type hints of a callable say too little.

- **Types without a signature** (``datetime.timedelta``, ``torch.device``) get a declared one
  (`known_signature`), so a mapping of their arguments is checked like any call.
- **Keywords forwarded to a base** (``class LSTM(RNNBase): def __init__(self, *args,
  **kwargs): super().__init__("LSTM", *args, **kwargs)``): the rule is in `forwarded_to`.
- **Hints naming what is imported only under ``if TYPE_CHECKING:``**: the module's
  TYPE_CHECKING imports are read from its source and imported on demand, only for a hint
  that needs them (`type_checking_names`); a hint that still cannot be resolved becomes
  ``Annotated[Any, Unchecked(...)]``, which validation accepts with a warning naming it.

Nothing here imports an optional library: a torch signature is declared only when the type
asked about already is torch's (so torch is already imported).
"""

from __future__ import annotations

import ast
import datetime
import functools
import importlib
import importlib.util
import inspect
import sys
import textwrap
import typing
from dataclasses import dataclass
from typing import Any

from nemorun.schemas.imports import import_module


@dataclass(frozen=True)
class Unchecked:
    """Marks a parameter whose hint could not be resolved: accepted as any value, with a
    warning that says why (``Annotated[Any, Unchecked(...)]``)."""

    owner: str
    name: str
    hint: str
    reason: str

    def warning(self) -> str:
        return (
            f"argument '{self.name}' of {self.owner} is not checked: its type hint "
            f"'{self.hint}' {self.reason}"
        )


def known_signature(target: Any) -> inspect.Signature | None:
    """A declared signature for a type that has none (C types), or None."""
    if target is datetime.timedelta:
        units = ("days", "seconds", "microseconds", "milliseconds", "minutes", "hours", "weeks")
        return _keywords([(unit, float, 0) for unit in units])
    if _is_torch(target, "device"):
        return _keywords([("type", str, inspect.Parameter.empty), ("index", int | None, None)])
    return None


def _keywords(params: list[tuple[str, Any, Any]]) -> inspect.Signature:
    kind = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [inspect.Parameter(n, kind, default=d, annotation=a) for n, a, d in params]
    )


def _is_torch(target: Any, name: str) -> bool:
    """True when ``target`` is ``torch.<name>`` (checked without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and target is getattr(torch, name, None)


# --- keywords forwarded to a base class --------------------------------------------------------


@dataclass(frozen=True)
class Forwarded:
    """Where a class's ``*args, **kwargs`` go: a typed overload of its ``__init__``, or a base
    class minus the leading positional arguments and the keywords the subclass fills in."""

    overload: Any = None
    base: type | None = None
    filled_positional: int = 0
    filled_keywords: frozenset[str] = frozenset()


def forwarded_to(cls: type) -> Forwarded | None:
    """Where the keywords of ``cls`` are checked, when its own ``__init__`` takes nothing but
    ``*args, **kwargs``; None when it declares its own parameters or the target is unclear.

    The rule: (1) the first ``typing.overload`` of that ``__init__`` that names parameters
    (torch declares them for ``nn.LSTM``); else (2) the next class in the MRO defining an
    ``__init__``, when the subclass's ``__init__`` calls it as ``super().__init__(<literals>,
    *args, **kwargs)`` (or ``Base.__init__(self, …)``): the literals fill the base's first
    parameters, explicit keywords fill theirs. Any other body (the keywords could go anywhere)
    leaves the class unchecked, as before.
    """
    owners = [c for c in cls.__mro__ if "__init__" in c.__dict__]
    init = owners[0].__dict__["__init__"]  # a subclass without one of its own inherits it
    if not inspect.isfunction(init) or not _only_varargs(init):
        return None
    for overload in _overloads(init):
        if not _only_varargs(overload):
            return Forwarded(overload=overload)
    base = owners[1] if len(owners) > 1 else object
    if base is object:
        return None
    filled = _super_call(init)
    if filled is None:
        return None
    if filled[2] is not None:  # ``Base.__init__(self, …)``: the class it names, not the next
        named = init.__globals__.get(filled[2])
        if not (isinstance(named, type) and named in cls.__mro__):
            return None
        base = next((c for c in named.__mro__ if "__init__" in c.__dict__), object)
        if base is object:
            return None
    return Forwarded(base=base, filled_positional=filled[0], filled_keywords=filled[1])


def _overloads(function: Any) -> list[Any]:
    """The ``typing.overload`` variants of ``function`` (Python 3.11 records them)."""
    get: Any = getattr(typing, "get_overloads", None)
    return list(get(function)) if get is not None else []


def _only_varargs(function: Any) -> bool:
    try:
        params = list(inspect.signature(function).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    kinds = {p.kind for p in params}
    return inspect.Parameter.VAR_KEYWORD in kinds and kinds <= {
        inspect.Parameter.VAR_POSITIONAL,
        inspect.Parameter.VAR_KEYWORD,
    }


def _super_call(init: Any) -> tuple[int, frozenset[str], str | None] | None:
    """(positional literals before ``*args``, explicit keywords, the name in
    ``Name.__init__(self, …)`` or None for ``super()``) of the one statement of ``init``'s
    body that calls the base's ``__init__`` with ``**kwargs``; None otherwise."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return None
    function = tree.body[0] if tree.body else None
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    body = [s for s in function.body if not _is_docstring(s)]
    if len(body) != 1 or not isinstance(body[0], ast.Expr):
        return None
    call = body[0].value
    if not (isinstance(call, ast.Call) and _calls_base_init(call)):
        return None
    args = call.args[1:] if _explicit_self(call) else call.args
    positional = 0
    for arg in args:
        if isinstance(arg, ast.Starred):
            break
        positional += 1
    forwards_kwargs = any(k.arg is None for k in call.keywords)
    if not forwards_kwargs:
        return None
    named = None
    if _explicit_self(call):
        owner = call.func.value if isinstance(call.func, ast.Attribute) else None
        if not isinstance(owner, ast.Name):
            return None  # ``mod.Base.__init__(…)`` or stranger: not followed
        named = owner.id
    return positional, frozenset(k.arg for k in call.keywords if k.arg is not None), named


def _is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _calls_base_init(call: ast.Call) -> bool:
    """``super().__init__(…)``, ``super(C, self).__init__(…)`` or ``Base.__init__(self, …)``."""
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "__init__"


def _explicit_self(call: ast.Call) -> bool:
    """True for ``Base.__init__(self, …)``, whose first argument is the instance."""
    func = call.func
    assert isinstance(func, ast.Attribute)
    is_super = isinstance(func.value, ast.Call) and getattr(func.value.func, "id", "") == "super"
    return not is_super


# --- names imported only for type checkers -----------------------------------------------------


@functools.cache
def _type_checking_imports(module_name: str) -> dict[str, tuple[str, str | None]]:
    """Names bound by the imports under ``if TYPE_CHECKING:`` in a module's source:
    local name → (module to import, attribute of it or None for the module itself)."""
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else ""
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return {}
    out: dict[str, tuple[str, str | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.body:
                out.update(_bindings(statement, module_name))
    return out


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _bindings(statement: ast.stmt, module_name: str) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            head = alias.name.split(".")[0]
            out[alias.asname or head] = (alias.name if alias.asname else head, None)
    elif isinstance(statement, ast.ImportFrom):
        source = "." * statement.level + (statement.module or "")
        package = getattr(sys.modules.get(module_name), "__package__", None) or ""
        try:
            resolved = importlib.util.resolve_name(source, package)
        except ImportError:
            return out
        for alias in statement.names:
            if alias.name != "*":
                out[alias.asname or alias.name] = (resolved, alias.name)
    return out


def type_checking_names(module_name: str, names: set[str]) -> dict[str, Any]:
    """The objects that ``module_name`` imports under ``if TYPE_CHECKING:`` as any of
    ``names``, imported now; a name whose import fails is left out."""
    out: dict[str, Any] = {}
    imports = _type_checking_imports(module_name)
    for name in names & set(imports):
        module, attribute = imports[name]
        try:
            obj: Any = import_module(module)
            if attribute is not None:
                obj = getattr(obj, attribute)
        except Exception:  # an import that fails here is reported as an unchecked argument
            continue
        out[name] = obj
    return out


def type_checking_source(module_name: str, name: str) -> str | None:
    """The module ``module_name`` imports ``name`` from under ``if TYPE_CHECKING:``, if it does."""
    found = _type_checking_imports(module_name).get(name)
    return found[0] if found is not None else None


def names_in(hint: Any) -> set[str]:
    """The top-level names a string hint refers to (``"Optional[np.ndarray]"`` →
    ``{"Optional", "np"}``)."""
    text = hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else hint
    if not isinstance(text, str):
        return set()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
