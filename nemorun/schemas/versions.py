"""Spec format versions and the migrations between them.

Every spec says which format it is written in (``nemorun: 1``). A spec in an older known format is
upgraded in memory by the chain of registered migrations; `nemorun migrate` writes the result
back. A newer format than this release knows is refused with the fix (upgrade nemorun), never
guessed at.

Format 0 is the YAML NeMo-Run writes with ``--to-yaml``: a top-level ``_target_`` with
``_partial_: true``, nested ``_target_`` blocks, dotted targets, and ``_call_: false`` for
references to functions. It carries no version key, so it is recognised by its shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors

CURRENT_VERSION = 1
VERSION_KEY = "nemorun"

Tree = Any
Origins = dict[KeyPath, Origin]


@dataclass(frozen=True)
class Migration:
    """Rewrites a tree of format ``source`` into format ``source + 1``."""

    source: int
    summary: str
    apply: Callable[[Tree, Origins], tuple[Tree, Origins]]


MIGRATIONS: dict[int, Migration] = {}


def register(source: int, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(fn: Callable[[Tree, Origins], tuple[Tree, Origins]]) -> Callable[..., Any]:
        MIGRATIONS[source] = Migration(source, summary, fn)
        return fn

    return wrap


def looks_like_nemo_run(tree: Any) -> bool:
    """True for the YAML NeMo-Run writes (format 0)."""
    return isinstance(tree, dict) and VERSION_KEY not in tree and "_target_" in tree


def detect_version(tree: Any, display: str, origins: Origins) -> int:
    """The format version of ``tree``; format 0 is recognised by shape."""
    if not isinstance(tree, dict):
        raise SpecErrors(
            [
                SpecError(
                    "a spec must be a mapping of keys",
                    origin=origins.get(()),
                    file=display,
                    expected=f"a mapping starting with '{version_line(display)}'",
                    found="empty file" if tree is None else type(tree).__name__,
                )
            ]
        )
    if VERSION_KEY not in tree:
        if looks_like_nemo_run(tree):
            return 0
        raise SpecErrors(
            [
                SpecError(
                    f"missing '{VERSION_KEY}:' key (the spec format version)",
                    origin=origins.get(()),
                    file=display,
                    suggestion=f"add '{version_line(display)}' as the first line",
                )
            ]
        )
    version = tree[VERSION_KEY]
    origin = origins.get((VERSION_KEY,))
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise SpecErrors(
            [
                SpecError(
                    "the spec format version must be a whole number",
                    path=(VERSION_KEY,),
                    origin=origin.at_value() if origin else None,
                    file=display,
                    expected=str(CURRENT_VERSION),
                    found=repr(version),
                )
            ]
        )
    if version > CURRENT_VERSION:
        raise SpecErrors(
            [
                SpecError(
                    f"spec format {version} is newer than this nemorun understands "
                    f"(formats 0 to {CURRENT_VERSION})",
                    path=(VERSION_KEY,),
                    origin=origin.at_value() if origin else None,
                    file=display,
                    suggestion="upgrade nemorun ('pip install -U nemorun') to read it",
                )
            ]
        )
    return version


def version_line(display: str) -> str:
    """``nemorun: 1``, or ``nemorun = 1`` in a TOML file."""
    sep = " =" if display.lower().endswith(".toml") else ":"
    return f"{VERSION_KEY}{sep} {CURRENT_VERSION}"


def upgrade(tree: Tree, origins: Origins, version: int) -> tuple[Tree, Origins, list[str]]:
    """Apply the migrations from ``version`` up to the current format; returns their summaries."""
    applied = []
    while version < CURRENT_VERSION:
        migration = MIGRATIONS[version]
        tree, origins = migration.apply(tree, origins)
        applied.append(migration.summary)
        version += 1
    return tree, origins, applied


# --- format 0 (NeMo-Run YAML) → 1 -------------------------------------------------------------


@register(0, "NeMo-Run YAML (format 0) → nemorun spec format 1")
def _from_nemo_run(tree: Tree, origins: Origins) -> tuple[Tree, Origins]:
    task = {k: _convert_v0(v) for k, v in tree.items() if k not in ("_partial_", "run")}
    task = _convert_v0(task)
    out = {VERSION_KEY: 1, "task": task}
    shifted = {("task", *path): origin for path, origin in origins.items() if path}
    return out, shifted


def _convert_v0(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("_call_") is False and "_target_" in value:
            # The function itself: written so, it stays one even where no type hint says so.
            return {"_call_": _colon_form(str(value["_target_"]))}
        out = {}
        for key, item in value.items():
            if key == "_target_" and isinstance(item, str):
                out[key] = _colon_form(item)
            elif key == "_call_" and isinstance(item, bool):  # NeMo-Run's flag, said otherwise
                continue
            else:
                out[key] = _convert_v0(item)
        return out
    if isinstance(value, list):
        return [_convert_v0(v) for v in value]
    return value


def _colon_form(dotted: str) -> str:
    """``trainlib.models.ModelConfig`` → ``trainlib.models:ModelConfig`` when the module imports;
    the dotted form (also valid) otherwise."""
    if ":" in dotted:
        return dotted
    from nemorun.schemas.imports import import_module

    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            import_module(".".join(parts[:cut]))
        except Exception:
            continue
        return ".".join(parts[:cut]) + ":" + ".".join(parts[cut:])
    return dotted
