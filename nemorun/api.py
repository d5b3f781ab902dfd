"""The Python API behind every command: ``load(path, overrides) → Spec`` and what follows.

The pipeline runs one way: compose the file and its bases, apply command-line overrides,
resolve interpolations, validate against the schemas. Each step raises `SpecErrors` for the
user's mistakes; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nemorun.schemas.compose import compose
from nemorun.schemas.spec import Resolved, Spec, validate_tree


def resolve(path: str | Path, overrides: Sequence[str] = ()) -> Resolved:
    """The spec tree after ``extends``, overrides and interpolation, not yet validated."""
    from nemorun.compiler.interpolate import resolve_interpolations

    source = Path(path)
    composed = compose(source)
    axes = []
    if overrides:
        from nemorun.compiler.overrides import apply_overrides, parse_overrides

        axes = apply_overrides(composed.tree, composed.origins, parse_overrides(list(overrides)))
    swept = bool(axes) or bool(composed.tree.get("sweep"))
    interpolations = resolve_interpolations(composed.tree, composed.origins, swept)
    return Resolved(
        tree=composed.tree,
        origins=composed.origins,
        source=source,
        files=composed.files,
        overrides=list(overrides),
        axes=axes,
        interpolations=interpolations,
    )


def load(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Load, resolve and validate a spec; raises `nemorun.errors.SpecErrors` on bad input."""
    return validate_tree(resolve(path, overrides))
