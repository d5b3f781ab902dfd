"""``nemorun import MODULE:FUNCTION``: a Python function returning a Fiddle config → a spec.

The function is called with no arguments (user code runs here, as when Python imports it); its
``fdl.Partial`` or ``fdl.Config`` becomes the spec's ``task``, written by the same
`GraphWriter` as the exports, so ``nemorun import`` then ``nemorun export --format python``
round-trips. The spec is named after the function, and its ``pythonpath`` lists where the code
its config names was imported from (relative to the output file, as exports write it), unless
the standard library or an installed distribution provides it: so the spec validates and runs
from any directory, as ``nemorun export`` specs do.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import fiddle as fdl

from nemorun.compiler.dumps import dump, relative_path
from nemorun.compiler.graphwriter import GraphWriter
from nemorun.errors import SpecError, SpecErrors
from nemorun.schemas.imports import TargetImportError, code_root, resolve, search_path
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY


def import_config(reference: str, fmt: str = "yaml", dest_dir: Path | None = None) -> str:
    """The text of a format-1 spec whose task is what ``reference()`` returns; ``dest_dir`` is
    where the file will live (default: the current directory)."""
    with search_path([]):
        try:
            factory = resolve(reference)
        except TargetImportError as exc:
            raise SpecErrors([SpecError(exc.message, suggestion=exc.suggestion)]) from None
        if not callable(factory):
            raise SpecErrors([SpecError(f"'{reference}' is not a function")])
        try:
            config: Any = factory()
        except Exception as exc:
            raise SpecErrors(
                [SpecError(f"calling '{reference}()' raised {type(exc).__name__}: {exc}")]
            ) from None
    if not isinstance(config, fdl.Buildable):
        raise SpecErrors(
            [
                SpecError(
                    f"'{reference}()' did not return a Fiddle config",
                    expected="fdl.Partial or fdl.Config",
                    found=type(config).__name__,
                )
            ]
        )
    task = GraphWriter(fmt).root(config, ("task",))
    tree: dict[str, Any] = {VERSION_KEY: CURRENT_VERSION, "name": _name(factory, reference)}
    roots: list[Path] = []
    for obj in _callables(config):
        root = code_root(obj)
        if root is not None and root not in roots:
            roots.append(root)
    if roots:
        tree["pythonpath"] = [relative_path(r, dest_dir or Path.cwd()) for r in roots]
    tree["task"] = task
    return dump(tree, fmt)


def _name(factory: Any, reference: str) -> str:
    """The function's name (``pretrain`` for ``mypkg.configs:pretrain``)."""
    name = getattr(factory, "__name__", None) or re.split(r"[:.]", reference)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "imported"


def _callables(value: Any) -> list[Any]:
    """Every callable ``value`` names (each buildable's, those given as values, the classes of
    other values), in order."""
    found: list[Any] = []
    seen: list[Any] = []  # buildables met (compared by identity; the graph is alive throughout)

    def walk(node: Any) -> None:
        if isinstance(node, fdl.Buildable):
            if any(node is s for s in seen):
                return
            seen.append(node)
            found.append(fdl.get_callable(node))
            for item in node.__arguments__.values():
                walk(item)
        elif isinstance(node, (list, tuple, set, frozenset)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)
        else:  # a function or class given as a value, or an enum member's class
            found.append(node if callable(node) else type(node))

    walk(value)
    return found
