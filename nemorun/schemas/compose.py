"""Compose a spec from its file and the files it ``extends``.

Bases are listed relative to the file that names them and merged in order, each later one
winning, then the file itself wins: mappings merge key by key, anything else is replaced whole
(lists included, as in Hydra). A cycle (``a`` extends ``b`` extends ``a``) is an error that names
the chain.

Also resolves ``{_ref_: task.model}``, the way JSON and TOML exports write a shared node: the
mapping is replaced by the very object found at that path, so sharing survives those formats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors, format_path
from nemorun.schemas import versions
from nemorun.schemas.source import Document, check_size, display_name, load_document

EXTENDS_KEY = "extends"
REF_KEY = "_ref_"


@dataclass
class Composed:
    """The merged tree of a spec and its bases, with every file that went into it."""

    tree: dict[str, Any]
    origins: dict[KeyPath, Origin]
    files: list[Path] = field(default_factory=list)
    """The spec itself first, then every file it extends, in the order they were read."""
    root: Document | None = None
    migrated: list[str] = field(default_factory=list)


def compose(path: Path) -> Composed:
    """Load ``path`` and everything it extends into one tree."""
    document = load_document(path)
    composed = _compose(document, (path.resolve(),))
    composed.root = document
    resolve_refs(composed.tree, composed.origins)
    check_size(composed.tree, display_name(path))  # ``_ref_`` can share as YAML aliases do
    return composed


def upgrade_document(document: Document) -> tuple[Any, dict[KeyPath, Origin], list[str]]:
    """The document's tree in the current format; refuses format 0, which needs `migrate`."""
    version = versions.detect_version(document.tree, document.display, document.origins)
    if version == 0:
        raise SpecErrors(
            [
                SpecError(
                    "this looks like a NeMo-Run YAML file (spec format 0), not a nemorun spec",
                    origin=document.origins.get(()),
                    file=document.display,
                    suggestion=(
                        f"convert it once with 'nemorun migrate {document.display} --in-place'"
                    ),
                )
            ]
        )
    return versions.upgrade(document.tree, document.origins, version)


def _bases(tree: dict[str, Any], origins: dict[KeyPath, Origin], display: str) -> list[str]:
    """The files ``extends`` names (one name or a list), or a located error."""
    bases = tree.get(EXTENDS_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        origin = origins.get((EXTENDS_KEY,))
        raise SpecErrors(
            [
                SpecError(
                    "wrong type",
                    path=(EXTENDS_KEY,),
                    origin=origin.at_value() if origin else None,
                    file=display,
                    expected="a list of spec files, relative to this file",
                    found=repr(bases),
                )
            ]
        )
    return bases


def _compose(document: Document, stack: tuple[Path, ...]) -> Composed:
    tree, origins, migrated = upgrade_document(document)
    bases = _bases(tree, origins, document.display)
    merged: dict[str, Any] = {}
    merged_origins: dict[KeyPath, Origin] = {}
    files = [document.path]
    errors: list[SpecError] = []
    for index, name in enumerate(bases):
        origin = origins.get((EXTENDS_KEY, index)) or origins.get((EXTENDS_KEY,))
        if "\0" in name:
            errors.append(
                SpecError(
                    "a file path cannot hold a NUL character",
                    path=(EXTENDS_KEY, index),
                    origin=origin.at_value() if origin else None,
                    found=repr(name),
                    suggestion="remove the NUL character",
                )
            )
            continue
        base_path = (document.path.parent / name).resolve()
        if base_path in stack:
            chain = " → ".join(p.name for p in (*stack, base_path))
            errors.append(
                SpecError(
                    f"'extends' forms a cycle: {chain}",
                    path=(EXTENDS_KEY, index),
                    origin=origin,
                    suggestion="remove one of the 'extends' entries in the cycle",
                )
            )
            continue
        try:
            base = _compose(load_document(base_path), (*stack, base_path))
        except SpecErrors as exc:
            if not _exists(base_path):
                errors.append(
                    SpecError(
                        f"base spec '{name}' not found (looked for {base_path})",
                        path=(EXTENDS_KEY, index),
                        origin=origin.at_value() if origin else None,
                        suggestion="paths in 'extends' are relative to the file that lists them",
                    )
                )
                continue
            errors.extend(exc.errors)
            continue
        merge_into(merged, base.tree, merged_origins, base.origins, ())
        files.extend(f for f in base.files if f not in files)
        migrated.extend(base.migrated)
    if errors:
        raise SpecErrors(errors)
    own = {k: v for k, v in tree.items() if k != EXTENDS_KEY}
    merge_into(merged, own, merged_origins, origins, ())
    if versions.VERSION_KEY in merged:
        merged[versions.VERSION_KEY] = versions.CURRENT_VERSION
    return Composed(merged, merged_origins, files, document, migrated)


def merge_into(
    target: dict[str, Any],
    source: dict[str, Any],
    target_origins: dict[KeyPath, Origin],
    source_origins: dict[KeyPath, Origin],
    prefix: KeyPath,
) -> None:
    """Deep-merge ``source`` into ``target`` (source wins); origins follow the winning value."""
    for key, value in source.items():
        path = (*prefix, key)
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and current is not value:
            if path in source_origins:
                target_origins[path] = source_origins[path]
            merge_into(current, value, target_origins, source_origins, path)
            continue
        target[key] = value
        for stale in [p for p in target_origins if p[: len(path)] == path]:
            del target_origins[stale]
        for p, origin in source_origins.items():
            if p[: len(path)] == path:
                target_origins[p] = origin


def split_path(text: str) -> KeyPath:
    """``tasks.train.layers.0`` → ("tasks", "train", "layers", 0)."""
    return tuple(int(p) if p.isdigit() else p for p in text.split(".") if p != "")


def _exists(path: Path) -> bool:
    """`Path.exists`, False for a name the file system cannot even look up (too long, …)."""
    try:
        return path.exists()
    except OSError:
        return False


def child_key(node: Any, part: Any) -> Any:
    """The key ``part`` names in ``node``: in a mapping an integer segment (``list.0``) names
    the integer key if there is one, else the string key, which is also what a new key is
    (as in Hydra, where ``+a.0=1`` on a mapping adds the key ``'0'``)."""
    if isinstance(node, dict) and isinstance(part, int) and part not in node:
        return str(part)
    return part


def merge(target: dict[Any, Any], source: dict[Any, Any]) -> None:
    """Merge ``source`` into ``target`` as Hydra merges a mapping override: mappings merge
    key by key, at every depth; anything else (lists included) replaces."""
    for key, value in source.items():
        key = child_key(target, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def get_path(tree: Any, path: KeyPath) -> Any:
    node = tree
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            raise KeyError(format_path(path))
    return node


def resolve_refs(tree: Any, origins: dict[KeyPath, Origin]) -> None:
    """Replace every ``{_ref_: path}`` mapping by the object at ``path`` (the same object)."""
    errors: list[SpecError] = []

    def target_of(ref: Any, at: KeyPath, seen: tuple[KeyPath, ...]) -> Any:
        if not isinstance(ref, str):
            errors.append(SpecError("'_ref_' must be a key path string", at, origins.get(at)))
            return None
        path = split_path(ref)
        if path in seen:
            errors.append(SpecError(f"'_ref_: {ref}' refers to itself", at, origins.get(at)))
            return None
        try:
            found = get_path(tree, path)
        except KeyError:
            errors.append(SpecError(f"'_ref_: {ref}' points at nothing", at, origins.get(at)))
            return None
        if isinstance(found, dict) and set(found) == {REF_KEY}:
            return target_of(found[REF_KEY], path, (*seen, path))
        return found

    def walk(node: Any, path: KeyPath, active: set[int]) -> None:
        if id(node) in active:
            return
        active = active | {id(node)}
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(items):
            if isinstance(child, dict) and set(child) == {REF_KEY}:
                node[key] = target_of(child[REF_KEY], (*path, key), ((*path, key),))
            elif isinstance(child, (dict, list)):
                walk(child, (*path, key), active)

    if isinstance(tree, (dict, list)):
        walk(tree, (), set())
    if errors:
        raise SpecErrors(errors)
