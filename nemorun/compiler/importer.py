"""``nemorun import MODULE:FUNCTION``: a Python function returning a Fiddle config → a spec.

The function is called with no arguments (user code runs here, as when Python imports it); its
``fdl.Partial`` or ``fdl.Config`` becomes the spec's ``task``, written by the same
`GraphWriter` as the exports, so ``nemorun import`` then ``nemorun export --format python``
round-trips.
"""

from __future__ import annotations

from typing import Any

import fiddle as fdl

from nemorun.compiler.export import GraphWriter, dump
from nemorun.errors import SpecError, SpecErrors
from nemorun.schemas.imports import TargetImportError, resolve, search_path
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY


def import_config(reference: str, fmt: str = "yaml") -> str:
    """The text of a format-1 spec whose task is what ``reference()`` returns."""
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
    return dump({VERSION_KEY: CURRENT_VERSION, "task": task}, fmt)
