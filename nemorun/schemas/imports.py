"""Resolve ``module:qualname`` (or dotted ``module.qualname``) references to Python objects.

The user's code is found the way Python finds it: the current directory, the spec's
``pythonpath:`` entries (relative to the spec file) and ``PYTHONPATH``. `search_path` adds the
first two to `sys.path` for the duration of a load.

Importing runs the user's module, which can fail in any way; such failures become a
`TargetImportError` that names the module and the user's own line where it raised, never a
traceback through nemorun. `import_module` writes no ``__pycache__`` beside the user's code
(loading a spec writes nothing), while nemorun's own modules keep their bytecode cache.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nemorun.errors import closest

_PACKAGE_DIR = str(Path(__file__).resolve().parent.parent) + os.sep


class TargetImportError(Exception):
    """A reference that does not resolve; ``suggestion`` is a likely fix, if any."""

    def __init__(self, message: str, suggestion: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.suggestion = suggestion


@contextlib.contextmanager
def search_path(entries: Sequence[Path]) -> Iterator[None]:
    """Put the current directory and ``entries`` first on `sys.path` while the block runs."""
    added = [str(p) for p in [Path.cwd(), *entries] if str(p) not in sys.path]
    sys.path[:0] = added
    importlib.invalidate_caches()
    try:
        yield
    finally:
        for entry in added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def split_reference(ref: str) -> tuple[str, str | None]:
    """``pkg.mod:Class.method`` → (``pkg.mod``, ``Class.method``); dotted form → (whole, None)."""
    if ":" in ref:
        module, _, qualname = ref.partition(":")
        return module.strip(), qualname.strip()
    return ref.strip(), None


def resolve(ref: str) -> Any:
    """The object that ``ref`` names, or raise `TargetImportError`."""
    if not isinstance(ref, str) or not ref.strip():
        raise TargetImportError("a target must be a non-empty 'module:name' string")
    module_name, qualname = split_reference(ref)
    if qualname is not None:
        if not module_name or not qualname:
            raise TargetImportError(f"'{ref}' is not of the form 'module:name'")
        return _attribute_path(_import(module_name), qualname, module_name)
    # Dotted form: the longest importable prefix is the module, the rest attributes.
    parts = module_name.split(".")
    if len(parts) == 1:
        raise TargetImportError(
            f"'{ref}' names no module",
            suggestion=f"write it as 'module:{ref}' (for example 'mypkg.train:{ref}')",
        )
    last_error: TargetImportError | None = None
    for cut in range(len(parts) - 1, 0, -1):
        mod_name = ".".join(parts[:cut])
        try:
            module = _import(mod_name, quiet_missing=True)
        except _Missing:
            continue
        except TargetImportError as exc:
            last_error = exc
            break
        return _attribute_path(module, ".".join(parts[cut:]), mod_name)
    if last_error is not None:
        raise last_error
    raise TargetImportError(
        f"cannot import module '{parts[0]}'",
        suggestion=_missing_module_hint(parts[0]),
    )


class _Missing(Exception):
    pass


def import_module(name: str) -> Any:
    """`importlib.import_module`, writing no bytecode beside what it imports: the user's
    files stay as they were."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        return importlib.import_module(name)
    finally:
        sys.dont_write_bytecode = saved


def _import(name: str, quiet_missing: bool = False) -> Any:
    try:
        return import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            if quiet_missing:
                raise _Missing from None
            raise TargetImportError(
                f"cannot import module '{name}'", suggestion=_missing_module_hint(exc.name)
            ) from None
        raise TargetImportError(
            f"importing '{name}' failed: {exc}{_where(exc)}",
            suggestion=f"install '{exc.name}' in this environment" if exc.name else None,
        ) from None
    except SyntaxError as exc:
        raise TargetImportError(
            f"importing '{name}' failed: syntax error at {_shown(exc.filename)}:{exc.lineno}: "
            f"{exc.msg}"
        ) from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise TargetImportError(
            f"importing '{name}' raised {type(exc).__name__}: {exc}{_where(exc)}"
        ) from None


def _where(exc: BaseException) -> str:
    """`` (at mymod.py:12)``: the innermost frame outside the import machinery."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if "importlib" not in f.filename and not f.filename.startswith(_PACKAGE_DIR)
    ]
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {_shown(last.filename)}:{last.lineno})"


def _shown(filename: str | None) -> str:
    """A file name as messages show it: relative to the current directory when inside it."""
    if not filename:
        return "<unknown>"
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return filename


def _missing_module_hint(name: str) -> str:
    return (
        f"check the spelling, or make '{name}' importable: run from the directory that holds it, "
        "list that directory under 'pythonpath:', or set PYTHONPATH"
    )


def _attribute_path(module: Any, qualname: str, module_name: str) -> Any:
    obj = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            best = closest(part, names)
            raise TargetImportError(
                f"module '{module_name}' has no attribute '{qualname}'",
                suggestion=f"did you mean '{module_name}:{best}'?" if best else None,
            ) from None
    return obj


def code_root(obj: Any) -> Path | None:
    """The directory to put on ``pythonpath`` so that ``obj``'s module imports: the one holding
    its top-level package (or module). None for the standard library and for what an installed
    distribution provides (a plain interpreter imports those without help)."""
    top = str(getattr(obj, "__module__", None) or "").partition(".")[0]
    module = sys.modules.get(top)
    if not top or module is None or top in sys.stdlib_module_names or top in _distributed():
        return None
    file = getattr(module, "__file__", None)
    if file:
        where = Path(file).resolve()
        return where.parent.parent if where.name == "__init__.py" else where.parent
    locations = list(getattr(module, "__path__", []))  # a namespace package
    return Path(locations[0]).resolve().parent if locations else None


@functools.cache
def _distributed() -> frozenset[str]:
    """Top-level module names that installed distributions provide (read once: it scans every
    distribution's file list, seconds with torch installed)."""
    import importlib.metadata

    return frozenset(importlib.metadata.packages_distributions())


def reference_of(obj: Any) -> str:
    """The ``module:qualname`` string that `resolve` turns back into ``obj``."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or "<locals>" in qualname:
        raise TargetImportError(f"{obj!r} cannot be named as 'module:name'")
    return f"{module}:{qualname}"
